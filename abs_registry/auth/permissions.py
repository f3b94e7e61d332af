"""Who may see and do what: the one place where access is decided.

Services call ``require_*`` before they touch an object. Anything the caller may not see is
reported as not found, so a refusal never reveals that a confidential record exists.
"""

from __future__ import annotations

from datetime import date

from abs_registry.auth.models import Role, User
from abs_registry.declarations.models import LISTED, Declaration, Kind, Status, Visibility
from abs_registry.errors import NotFound, PermissionDenied
from abs_registry.i18n_marker import N_

DECLARANT_ROLE = {
    Kind.GENETIC_RESOURCE: Role.MEMBER,
    Kind.DSI: Role.MEMBER,
    Kind.TRADITIONAL_KNOWLEDGE: Role.STEWARD,
}
PUBLISHED = frozenset({Status.REGISTERED, Status.WITHDRAWN, Status.SUPERSEDED})


def is_declarant(actor: User | None, decl: Declaration) -> bool:
    return (
        actor is not None
        and actor.active
        and actor.organization_id == decl.organization_id
        and actor.role is DECLARANT_ROLE[decl.kind]
    )


def in_organization(actor: User | None, decl: Declaration) -> bool:
    """For TK: the holding community, whatever the person's role in it."""
    return actor is not None and actor.active and actor.organization_id == decl.organization_id


def _official_may_see(actor: User, decl: Declaration) -> bool:
    # A draft withdrawn before it was ever submitted was never sent to anyone.
    if decl.status is Status.DRAFT or decl.submitted_at is None:
        return False
    if decl.visibility is not Visibility.PUBLIC:
        return actor.tk_clearance
    return True


def _summary_is_public(decl: Declaration) -> bool:
    # Withdrawn counts as published only if it was on the register before.
    return (decl.visibility in LISTED and decl.status in PUBLISHED
            and decl.registered_at is not None)


def can_view(actor: User | None, decl: Declaration) -> bool:
    """May ``actor`` know the record exists and read its summary (for TK: not its body)?"""
    if in_organization(actor, decl):
        return True
    if actor is not None and actor.active and actor.is_official and \
            _official_may_see(actor, decl):
        return True
    return _summary_is_public(decl)


def require_view(actor: User | None, decl: Declaration | None) -> Declaration:
    if decl is None or not can_view(actor, decl):
        raise NotFound("declaration")
    return decl


# --- the protected body of traditional knowledge ------------------------------------------


def body_basis(actor: User | None, decl: Declaration, today: date) -> str | None:
    """Why ``actor`` may read the record's body ("public", "community", "clearance",
    "grant"), or None. For GR and DSI, and public TK, the body is the record itself."""
    if not can_view(actor, decl):
        return None
    if decl.visibility is Visibility.PUBLIC:
        return "public"
    if in_organization(actor, decl):
        return "community"
    if actor is not None and actor.active and actor.is_official and actor.tk_clearance:
        return "clearance"
    if decl.visibility is Visibility.RESTRICTED and any(
            grant.covers(actor, today) for grant in decl.access_grants):
        return "grant"
    return None


def require_body(actor: User | None, decl: Declaration | None, today: date) -> str:
    """The body, or 404 exactly as for a record that does not exist."""
    basis = body_basis(actor, decl, today) if decl is not None else None
    if basis is None:
        raise NotFound("declaration")
    return basis


def require_tk_steward(actor: User | None, decl: Declaration | None) -> Declaration:
    """Grants, labels and attachments are the holding community's stewards' to decide."""
    decl = require_view(actor, decl)
    if decl.kind != Kind.TRADITIONAL_KNOWLEDGE or not is_declarant(actor, decl):
        raise PermissionDenied(
            N_("only the stewards of the community that holds this knowledge may do this"),
            rule="steward")
    return decl


def require_access_log(actor: User | None, decl: Declaration | None) -> Declaration:
    """Who read the body is the community's to know: its people, nobody else."""
    decl = require_view(actor, decl)
    if decl.kind != Kind.TRADITIONAL_KNOWLEDGE or not in_organization(actor, decl):
        raise PermissionDenied(
            N_("only the community that holds this knowledge sees who read it"),
            rule="community")
    return decl


def may_search_prior_art(actor: User | None) -> bool:
    """Officials, and people the administrator made prior-art searchers (patent examiners)."""
    return actor is not None and actor.active and (actor.is_official or actor.prior_art_search)


def require_prior_art_search(actor: User | None) -> None:
    if not may_search_prior_art(actor):
        raise PermissionDenied(
            N_("only officials and patent examiners may look up traditional knowledge as "
               "prior art"), rule="role")


def sees_people(actor: User | None, decl: Declaration) -> bool:
    """Names of declarants and officials are personal data: the public sees their organizations."""
    return actor is not None and actor.active and (
        actor.organization_id == decl.organization_id or actor.is_official)


def require_can_declare(actor: User | None, kind: Kind) -> None:
    if actor is None or actor.role is not DECLARANT_ROLE[kind]:
        raise PermissionDenied(
            N_("only community stewards may declare this kind of record")
            if kind is Kind.TRADITIONAL_KNOWLEDGE else
            N_("only members of an enterprise or research institute may declare this kind of "
               "record"),
            rule="role",
        )


def require_declarant(actor: User | None, decl: Declaration) -> None:
    require_view(actor, decl)
    if not is_declarant(actor, decl):
        raise PermissionDenied(
            N_("only the declaring organization may change this declaration"),
            rule="organization",
        )


def review_refusal(actor: User | None, decl: Declaration) -> PermissionDenied | None:
    """Why this actor may not review this declaration, or None if they may."""
    if actor is None or not actor.is_official:
        return PermissionDenied(N_("only officials may review declarations"), rule="role")
    if actor.id == decl.created_by_id or actor.organization_id == decl.organization_id:
        return PermissionDenied(
            N_("you may not review a declaration you or your organization filed"),
            rule="own_declaration",
        )
    if decl.needs_national_review and not actor.is_national_official:
        return PermissionDenied(
            N_("this declaration involves a taxon on the key regulatory list and needs a "
               "national-level official"),
            rule="national_review_required",
        )
    return None


def require_reviewer(actor: User | None, decl: Declaration) -> None:
    require_view(actor, decl)
    if refusal := review_refusal(actor, decl):
        raise refusal


def may_see_review_queue(actor: User | None) -> bool:
    return actor is not None and actor.active and actor.is_official


# --- access applications -------------------------------------------------------------------
# Imported lazily by type only: applications depend on declarations, not the other way round.

APPLICANT_ROLE = Role.MEMBER
CONSENTING_ROLE = {"pic": Role.MEMBER, "fpic": Role.STEWARD}


def is_applicant(actor: User | None, app) -> bool:
    return (
        actor is not None
        and actor.active
        and actor.role is APPLICANT_ROLE
        and actor.organization_id == app.applicant_org_id
    )


def _consenting_orgs(app) -> set[int]:
    return {c.organization_id for c in app.consents}


def touches_secret_tk(app) -> bool:
    return any(t.visibility is Visibility.SECRET for t in app.tk_records)


def can_view_application(actor: User | None, app) -> bool:
    """Officials handle a case that touches secret TK only with TK clearance: the case itself
    would tell them the record exists (DOMAIN rule 4). Restricted TK has a public summary."""
    if actor is None or not actor.active:
        return False
    if actor.organization_id == app.applicant_org_id:
        return True
    if app.status.value == "draft":
        return False
    if actor.is_official:
        return actor.tk_clearance or not touches_secret_tk(app)
    return actor.organization_id in _consenting_orgs(app)


def visible_subjects(actor: User | None, app) -> set[str]:
    """References of the case's resources and TK records this reader may see; the others are
    left out wherever the case is shown, not merely left without a title."""
    return {d.reference for d in [*app.resources, *app.tk_records] if can_view(actor, d)}


def require_view_application(actor: User | None, app):
    if app is None or not can_view_application(actor, app):
        raise NotFound("application")
    return app


def require_official(actor: User | None) -> None:
    if actor is None or not actor.active or not actor.is_official:
        raise PermissionDenied(N_("only officials may do this"), rule="role")


def require_can_apply(actor: User | None) -> None:
    if actor is None or actor.role is not APPLICANT_ROLE or actor.organization_id is None:
        raise PermissionDenied(
            N_("only members of an enterprise or research institute may apply for access"),
            rule="role",
        )


def require_applicant(actor: User | None, app) -> None:
    require_view_application(actor, app)
    if not is_applicant(actor, app):
        raise PermissionDenied(N_("only the applicant may do this"), rule="applicant")


def _conflict_of_interest(actor: User, app) -> PermissionDenied | None:
    if actor.organization_id == app.applicant_org_id or actor.id == app.created_by_id:
        return PermissionDenied(
            N_("you may not review an application you or your organization filed"),
            rule="own_application",
        )
    if actor.organization_id in _consenting_orgs(app):
        return PermissionDenied(
            N_("you may not review an application your organization is a party to"),
            rule="party_to_application",
        )
    return None


def application_move_refusal(actor: User | None, app, by: str) -> PermissionDenied | None:
    """Why this actor may not make a move of this kind (see applications/states.py)."""
    if by == "applicant":
        if is_applicant(actor, app):
            return None
        return PermissionDenied(N_("only the applicant may do this"), rule="applicant")
    if actor is None or not actor.active or not actor.is_official:
        return PermissionDenied(N_("only officials may do this"), rule="role")
    if refusal := _conflict_of_interest(actor, app):
        return refusal
    if by == "decider" and app.needs_national_review and not actor.is_national_official:
        return PermissionDenied(
            N_("this application needs a national-level official (key regulatory list, "
               "commercial purpose or material leaving the country)"),
            rule="national_review_required",
        )
    return None


def party_org(actor: User | None, app, parties: list[int]) -> bool:
    return (
        actor is not None
        and actor.active
        and actor.organization_id in parties
        and actor.role in (Role.MEMBER, Role.STEWARD)
    )


def require_party(actor: User | None, app, parties: list[int]) -> None:
    if not party_org(actor, app, parties):
        raise PermissionDenied(N_("only the parties to the agreement may do this"), rule="party")


def require_consenting_party(actor: User | None, consent) -> None:
    if (
        actor is None
        or actor.organization_id != consent.organization_id
        or actor.role is not CONSENTING_ROLE[consent.kind.value]
    ):
        raise PermissionDenied(N_("only the provider or community asked may decide"),
                               rule="consenting_party")


def may_add_review_note(actor: User | None, app) -> bool:
    return (
        actor is not None
        and actor.active
        and actor.is_official
        and _conflict_of_interest(actor, app) is None
    )


def may_read_review_notes(actor: User | None, app) -> bool:
    """Review notes are between the authority and the applicant: officials and the applicant's
    organization read them; providers and communities see that a note was added, not its text.
    """
    return actor is not None and (actor.is_official
                                  or actor.organization_id == app.applicant_org_id)


def require_review_note(actor: User | None, app) -> None:
    if not may_add_review_note(actor, app):
        raise PermissionDenied(N_("only officials without a conflict of interest may review"),
                               rule="reviewer")


def may_attach(actor: User | None, app) -> bool:
    """The applicant, the parties asked for consent, and officials may attach documents."""
    return actor is not None and actor.active and (
        is_applicant(actor, app) or actor.is_official
        or actor.organization_id in _consenting_orgs(app))


def require_attach(actor: User | None, app) -> None:
    if actor is None or not actor.active:
        raise PermissionDenied(N_("sign in to attach documents"), rule="role")
    if not may_attach(actor, app):
        raise PermissionDenied(N_("only the parties and officials may attach documents"),
                               rule="party")


# --- benefit-sharing obligations -----------------------------------------------------------
# The user (the payer's organization) sees what it owes, the beneficiary what it is owed,
# officials everything, nobody else anything. What a fund receives is confirmed by officials,
# who administer the national fund and report to the Cali Fund.

def is_payer(actor: User | None, obligation) -> bool:
    return (actor is not None and actor.active and actor.role is Role.MEMBER
            and actor.organization_id == obligation.payer_org_id)


def is_beneficiary(actor: User | None, obligation) -> bool:
    return (actor is not None and actor.active
            and actor.role in (Role.MEMBER, Role.STEWARD)
            and obligation.beneficiary_org_id is not None
            and actor.organization_id == obligation.beneficiary_org_id)


def can_view_obligation(actor: User | None, obligation) -> bool:
    if actor is None or not actor.active:
        return False
    return actor.is_official or actor.organization_id in (obligation.payer_org_id,
                                                           obligation.beneficiary_org_id)


def require_view_obligation(actor: User | None, obligation):
    if obligation is None or not can_view_obligation(actor, obligation):
        raise NotFound("obligation")
    return obligation


def require_payer(actor: User | None, obligation) -> None:
    """Payments, evidence and reports come from the organization that owes them."""
    require_view_obligation(actor, obligation)
    if not is_payer(actor, obligation):
        raise PermissionDenied(N_("only the organization that owes this benefit may report on it"),
                               rule="payer")


def may_confirm_receipt(actor: User | None, obligation) -> bool:
    if obligation.beneficiary_org_id is None:
        return actor is not None and actor.active and actor.is_official
    return is_beneficiary(actor, obligation)


def require_confirmer(actor: User | None, obligation) -> None:
    require_view_obligation(actor, obligation)
    if not may_confirm_receipt(actor, obligation):
        raise PermissionDenied(N_("only the beneficiary may confirm or dispute receipt"),
                               rule="beneficiary")


def may_waive(actor: User | None) -> bool:
    return actor is not None and actor.active and actor.is_official


def require_waiver(actor: User | None, obligation) -> None:
    require_view_obligation(actor, obligation)
    if not may_waive(actor):
        raise PermissionDenied(N_("only officials may waive an obligation"), rule="role")


def may_file_cali_fund_return(actor: User | None) -> bool:
    return (actor is not None and actor.active and actor.role is Role.MEMBER
            and actor.organization_id is not None)


def require_cali_fund_filer(actor: User | None) -> None:
    if not may_file_cali_fund_return(actor):
        raise PermissionDenied(N_("only members of an enterprise or research institute file "
                                  "figures for the Cali Fund"), rule="role")
# --- movements of material under a permit, and checkpoints ---------------------------------
# A permit's movements are its holder's business: the holder's organization, officials and
# checkpoint officers see them; to anyone else the permit's movements do not exist (404).


def is_checkpoint_officer(actor: User | None) -> bool:
    return actor is not None and actor.active and actor.checkpoint_officer


def is_permit_holder(actor: User | None, permit) -> bool:
    """A member of the organization the permit was issued to: records its movements."""
    return (
        actor is not None
        and actor.active
        and actor.role is Role.MEMBER
        and actor.organization_id == permit.holder_org_id
    )


def can_view_movements(actor: User | None, permit) -> bool:
    if actor is None or not actor.active:
        return False
    return (actor.organization_id == permit.holder_org_id or actor.is_official
            or is_checkpoint_officer(actor))


def require_view_movements(actor: User | None, permit):
    if permit is None or not can_view_movements(actor, permit):
        raise NotFound("permit")
    return permit


def require_can_record_movements(actor: User | None) -> None:
    if actor is None or not actor.active or actor.role is not Role.MEMBER:
        raise PermissionDenied(N_("only members of the organization holding the permit may "
                                  "record movements of its material"), rule="role")


def require_permit_holder(actor: User | None, permit) -> None:
    require_view_movements(actor, permit)
    if not is_permit_holder(actor, permit):
        raise PermissionDenied(N_("only the permit holder may do this"), rule="holder")


def may_use_checkpoint(actor: User | None) -> bool:
    """Checkpoint officers act at the checkpoint; officials may look, to follow movements."""
    return is_checkpoint_officer(actor) or (actor is not None and actor.active
                                            and actor.is_official)


def require_checkpoint_lookup(actor: User | None) -> None:
    if not may_use_checkpoint(actor):
        raise PermissionDenied(N_("only checkpoint officers and officials may look permits up "
                                  "at the checkpoint"), rule="role")


def require_checkpoint_officer(actor: User | None) -> None:
    if not is_checkpoint_officer(actor):
        raise PermissionDenied(N_("only checkpoint officers may confirm or stop a movement"),
                               rule="role")
