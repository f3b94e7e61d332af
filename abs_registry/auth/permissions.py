"""Who may see and do what: the one place where access is decided.

Services call ``require_*`` before they touch an object. Anything the caller may not see is
reported as not found, so a refusal never reveals that a confidential record exists.
"""

from __future__ import annotations

from abs_registry.auth.models import Role, User
from abs_registry.declarations.models import Declaration, Kind, Status, Visibility
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


def _official_may_see(actor: User, decl: Declaration) -> bool:
    # A draft withdrawn before it was ever submitted was never sent to anyone.
    if decl.status is Status.DRAFT or decl.submitted_at is None:
        return False
    if decl.visibility is not Visibility.PUBLIC:
        return actor.tk_clearance
    return True


def can_view(actor: User | None, decl: Declaration) -> bool:
    if actor is not None and actor.active and actor.organization_id == decl.organization_id:
        return True
    if actor is not None and actor.active and actor.is_official:
        return _official_may_see(actor, decl)
    # Withdrawn counts as published only if it was on the register before.
    return (decl.visibility is Visibility.PUBLIC and decl.status in PUBLISHED
            and decl.registered_at is not None)


def require_view(actor: User | None, decl: Declaration | None) -> Declaration:
    if decl is None or not can_view(actor, decl):
        raise NotFound("declaration")
    return decl


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
