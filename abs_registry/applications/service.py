"""Access applications: filing, completeness check, consent, agreement, review and decision.

Every method takes the acting user first, checks permission through ``auth.permissions``,
writes inside one unit of work, records each step in the audit history and tells the next
party through the notification outbox. Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from abs_registry import agreements
from abs_registry.applications import states
from abs_registry.applications.models import (
    Agreement,
    AgreementAcceptance,
    AgreementStatus,
    Application,
    AppStatus,
    ConsentKind,
    ConsentRequest,
    ConsentStatus,
    NoteKind,
    Recommendation,
    ReviewNote,
)
from abs_registry.attachments.service import linked as linked_attachments
from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.declarations import keylist
from abs_registry.declarations.models import GeneticResource, Status, TKRecord, Visibility
from abs_registry.errors import Conflict, InvalidTransition, StaleVersion, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.notifications import outbox
from abs_registry.references import next_reference

SUBJECT = "application"
LINKED = {"resources": GeneticResource, "tk_records": TKRecord}


def require_consent_and_agreement(app: Application) -> None:
    """DOMAIN rule 1, checked again where it matters most: at approval and at issuing."""
    if any(c.status is not ConsentStatus.GRANTED for c in app.consents):
        raise Conflict(N_("not every provider and community has consented"), field="consents")
    current = app.current_agreement
    if current is None or current.status is not AgreementStatus.ACCEPTED:
        raise Conflict(N_("there is no agreement accepted by every party"), field="agreement")


@dataclass
class ApplicationService:
    session: Session
    country: str = "CN"

    # --- reading --------------------------------------------------------------------------

    def _load(self, reference: str) -> Application | None:
        return self.session.scalar(select(Application).where(Application.reference == reference))

    def _load_for_change(self, reference: str) -> Application | None:
        """Queue on the application's row before reading what a change depends on.

        The loser of a race then reads the winner's state and answers 409 naming it, instead
        of failing on the version check without saying what happened; and every writer locks
        the application before the history head, so two writers can never deadlock. SQLite
        needs no row lock: the unit of work already holds its write lock.
        """
        return self.session.scalar(
            select(Application).where(Application.reference == reference)
            .with_for_update().execution_options(populate_existing=True))

    def get(self, actor: User | None, reference: str) -> Application:
        return perm.require_view_application(actor, self._load(reference))

    def history(self, actor: User | None, reference: str) -> list:
        app = self.get(actor, reference)
        return audit.history(self.session, SUBJECT, app.id)

    def list_own(self, actor: User) -> list[Application]:
        if actor.organization_id is None:
            return []
        return list(self.session.scalars(
            select(Application).where(Application.applicant_org_id == actor.organization_id)
            .order_by(Application.updated_at.desc())
        ))

    def queue(self, actor: User | None, status: AppStatus | None = None, *, page: int = 1,
              per_page: int = 50, details: bool = False) -> tuple[list[Application], int]:
        """Open applications for officials, oldest first: the review queue.

        The page's ids are picked from the (status, submitted_at) index alone, then only those
        rows are read: sorting and skipping whole rows made deep pages of a 50,000-row queue
        slow on SQLite. ``details`` loads what the API shows of each application (links,
        consents, agreement, notes) in a few queries for the page, not several per row.
        """
        perm.require_official(actor)
        waiting = [status] if status else [AppStatus.SUBMITTED, AppStatus.REVIEW]
        where = Application.status.in_(waiting)
        if not actor.tk_clearance:  # the same rule as perm.can_view_application, in SQL
            where &= ~Application.tk_records.any(TKRecord.visibility == Visibility.SECRET)
        total = self.session.scalar(select(func.count()).select_from(Application).where(where))
        order = (Application.submitted_at, Application.id)
        page_ids = (select(Application.id).where(where).order_by(*order)
                    .offset((page - 1) * per_page).limit(per_page))
        options = [selectinload(Application.applicant)]
        if details:
            options += [
                selectinload(Application.resources), selectinload(Application.tk_records),
                selectinload(Application.consents).joinedload(ConsentRequest.organization),
                selectinload(Application.agreements).selectinload(Agreement.acceptances)
                .options(joinedload(AgreementAcceptance.organization),
                         joinedload(AgreementAcceptance.user)),
                selectinload(Application.notes).joinedload(ReviewNote.author),
            ]
        rows = self.session.scalars(
            select(Application).where(Application.id.in_(page_ids.scalar_subquery()))
            .options(*options).order_by(*order)
        )
        return list(rows), total

    def consent_queue(self, actor: User) -> list[ConsentRequest]:
        """Consent requests waiting for the actor's organization (a provider or a community)."""
        if actor.organization_id is None:
            return []
        return list(self.session.scalars(
            select(ConsentRequest)
            .join(Application)
            .where(ConsentRequest.organization_id == actor.organization_id,
                   ConsentRequest.status == ConsentStatus.PENDING,
                   Application.status == AppStatus.CONSENT)
            .order_by(ConsentRequest.id)
        ))

    def parties(self, app: Application) -> list[int]:
        """Organizations that must accept the agreement: the applicant and every consenting party."""
        providers = {c.organization_id for c in app.consents}
        return [app.applicant_org_id, *sorted(providers - {app.applicant_org_id})]

    def allowed_actions(self, actor: User | None, app: Application) -> list[str]:
        allowed = []
        for name in states.moves_from(app.status):
            if perm.application_move_refusal(actor, app, states.ACTIONS[name].by) is None:
                allowed.append(name)
        if app.status in states.EDITABLE and perm.is_applicant(actor, app):
            allowed.append("edit")
        if app.status is AppStatus.AGREEMENT and perm.party_org(actor, app, self.parties(app)):
            allowed.append("propose_agreement")
            current = app.current_agreement
            if current and not any(a.organization_id == actor.organization_id
                                   for a in current.acceptances):
                allowed.append("accept_agreement")
        if app.status in (AppStatus.REVIEW, AppStatus.INFORMATION_REQUESTED) and \
                perm.may_add_review_note(actor, app):
            allowed.append("add_note")
        return allowed

    # --- filing ---------------------------------------------------------------------------

    def _resolve(self, actor: User, data: dict) -> dict:
        resolved = {}
        for field, model in LINKED.items():
            found = []
            for ref in dict.fromkeys(data.get(field) or []):
                decl = self.session.scalar(select(model).where(model.reference == ref))
                if decl is None or not perm.can_view(actor, decl) or \
                        decl.status is not Status.REGISTERED:
                    raise ValidationError(
                        {field: [N_("%(ref)s: no registered declaration with this number") % {"ref": ref}]}
                    )
                found.append(decl)
            resolved[field] = found
        if not resolved["resources"] and not resolved["tk_records"]:
            raise ValidationError(
                {"resources": [N_("Name at least one registered genetic resource or TK record.")]}
            )
        return resolved

    def _apply(self, actor: User, app: Application, data: dict) -> list[str]:
        linked = self._resolve(actor, data) if set(LINKED) & set(data) else {}
        changed = []
        for field, value in {**data, **linked}.items():
            if field == "version":
                continue
            if getattr(app, field) != value:
                setattr(app, field, value)
                changed.append(field)
        if not app.exports_material:
            app.export_country = app.export_recipient = None
        if not app.third_party_transfer:
            app.third_party_details = None
        return changed

    def create(self, actor: User, data: dict) -> Application:
        perm.require_can_apply(actor)
        with unit_of_work(self.session):
            now = utcnow()
            app = Application(
                reference=next_reference(self.session, self.country, "APP", now.year),
                status=AppStatus.DRAFT, applicant_org_id=actor.organization_id,
                created_by_id=actor.id, created_at=now, updated_at=now, review_reasons=[],
            )
            self._apply(actor, app, data)
            self.session.add(app)
            self.session.flush()
            self._record(actor, app, "create", None, AppStatus.DRAFT)
        return app

    def update(self, actor: User, reference: str, data: dict) -> Application:
        with unit_of_work(self.session):
            app = self._load_for_change(reference)
            perm.require_applicant(actor, app)
            if app.status not in states.EDITABLE:
                raise InvalidTransition("edit", app.status.value, self.allowed_actions(actor, app))
            self._check_version(app, data.get("version"))
            changed = self._apply(actor, app, data)
            if changed:
                app.updated_at = utcnow()
                self._record(actor, app, "edit", data={"fields": changed})
        return app

    # --- moves ----------------------------------------------------------------------------

    def transition(self, actor: User | None, reference: str, action: str,
                   comment: str | None = None, version: int | None = None,
                   missing: list[str] | None = None,
                   attachments: list[int] | None = None) -> Application:
        move = states.ACTIONS.get(action)
        if move is None:
            raise ValidationError({"action": [N_("unknown action %(action)s") % {"action": action}]})
        with unit_of_work(self.session):
            app = self._load_for_change(reference)
            perm.require_view_application(actor, app)
            if app.status not in move.from_states:
                raise InvalidTransition(action, app.status.value, self.allowed_actions(actor, app))
            self._check_version(app, version)
            if refusal := perm.application_move_refusal(actor, app, move.by):
                raise refusal
            comment = (comment or "").strip() or None
            if action == "return_incomplete" and missing and not comment:
                comment = "Missing: " + "; ".join(missing)
            if move.needs_comment and not comment:
                raise ValidationError({"comment": [N_("a reason is required to %(action)s")
                                                    % {"action": action}]})
            getattr(self, f"_on_{action}", lambda *a: None)(actor, app, comment)
            before = app.status
            app.status = move.to_state
            app.updated_at = utcnow()
            data = {"missing": missing} if missing else {}
            if attached := linked_attachments(self.session, app, attachments):
                data["attachments"] = attached
            self._record(actor, app, action, before, move.to_state, comment, data or None)
            self._after(actor, app, action)
        return app

    def _on_submit(self, actor: User, app: Application, _comment) -> None:
        reasons = []
        names = [r.scientific_name for r in app.resources]
        names += [n for tk in app.tk_records for n in tk.taxon_names]
        if any(r.needs_national_review for r in app.resources) or keylist.matches(
                self.session, names):
            reasons.append("key_regulatory_list")
        if app.is_commercial:
            reasons.append("commercial_purpose")
        if app.exports_material:
            reasons.append("material_leaves_country")
        app.review_reasons = reasons
        app.needs_national_review = bool(reasons)
        app.submitted_at = utcnow()
        if app.status is AppStatus.RETURNED:
            app.completeness_round += 1

    def _on_approve(self, actor: User, app: Application, comment) -> None:
        require_consent_and_agreement(app)
        self._decide(actor, app, comment)

    def _on_refuse(self, actor: User, app: Application, comment) -> None:
        self._decide(actor, app, comment)

    def _decide(self, actor: User, app: Application, text: str | None) -> None:
        app.decision_text = text
        app.decided_by_id = actor.id
        app.decided_at = utcnow()

    def _on_accept_complete(self, actor: User, app: Application, _comment) -> None:
        wanted: dict[tuple[int, ConsentKind], list[str]] = {}
        for resource in app.resources:
            if resource.organization_id != app.applicant_org_id:
                wanted.setdefault((resource.organization_id, ConsentKind.PIC), []).append(
                    resource.reference)
        for tk in app.tk_records:
            wanted.setdefault((tk.organization_id, ConsentKind.FPIC), []).append(tk.reference)
        for (org_id, kind), subjects in wanted.items():
            self.session.add(ConsentRequest(application=app, organization_id=org_id,
                                            kind=kind, subjects=subjects))

    def _after(self, actor: User, app: Application, action: str) -> None:
        """Tell whoever must act next; move on by itself where nobody needs to act."""
        link = f"/applications/{app.reference}"
        ref = app.reference
        applicant = outbox.members(self.session, app.applicant_org_id)
        if action in ("submit", "respond"):
            outbox.notify(self.session, outbox.officials(self.session), f"application_{action}",
                          link, reference=ref)
        elif action in ("return_incomplete", "request_information", "approve", "refuse"):
            outbox.notify(self.session, applicant, f"application_{action}", link, reference=ref)
        elif action == "accept_complete":
            self.session.flush()
            if not app.consents:
                self._auto(app, AppStatus.AGREEMENT, "consent_complete",
                           "no consent is needed: the applicant provides every resource")
                outbox.notify(self.session, applicant, "agreement_needed", link, reference=ref)
            for consent in app.consents:
                outbox.notify(self.session, outbox.members(self.session, consent.organization_id),
                              "consent_requested", f"/consents#{consent.id}", reference=ref)
        if action == "approve":
            for consent in app.consents:
                outbox.notify(self.session, outbox.members(self.session, consent.organization_id),
                              "application_approve", link, reference=ref)

    def _auto(self, app: Application, to_state: AppStatus, action: str, comment: str) -> None:
        before = app.status
        app.status = to_state
        app.updated_at = utcnow()
        self._record(None, app, action, before, to_state, comment)

    # --- consent --------------------------------------------------------------------------

    def decide_consent(self, actor: User, reference: str, consent_id: int, *, grant: bool,
                       conditions: str | None = None, reason: str | None = None,
                       version: int | None = None,
                       attachments: list[int] | None = None) -> ConsentRequest:
        with unit_of_work(self.session):
            app = self._load_for_change(reference)
            perm.require_view_application(actor, app)
            consent = next((c for c in app.consents if c.id == consent_id), None)
            if consent is None:
                raise perm.NotFound("consent request")
            perm.require_consenting_party(actor, consent)
            if app.status is not AppStatus.CONSENT or consent.status is not ConsentStatus.PENDING:
                raise InvalidTransition("decide consent", consent.status.value
                                        if app.status is AppStatus.CONSENT else app.status.value,
                                        self.allowed_actions(actor, app))
            self._check_version(app, version)
            reason = (reason or "").strip() or None
            if not grant and not reason:
                raise ValidationError({"reason": [N_("a reason is required to refuse consent")]})
            consent.status = ConsentStatus.GRANTED if grant else ConsentStatus.REFUSED
            consent.conditions = (conditions or "").strip() or None
            consent.reason = reason
            consent.decided_by_id = actor.id
            consent.decided_at = utcnow()
            app.updated_at = utcnow()
            action = f"{consent.kind.value}_{'granted' if grant else 'refused'}"
            self._record(actor, app, action, comment=reason or consent.conditions,
                         data={"consent_id": consent.id, "organization": consent.organization.name,
                               "subjects": consent.subjects,
                               "attachments": linked_attachments(self.session, app, attachments)})
            link = f"/applications/{app.reference}"
            applicant = outbox.members(self.session, app.applicant_org_id)
            if not grant:
                self._auto(app, AppStatus.CONSENT_REFUSED, "consent_refused",
                           f"{consent.organization.name} refused: {reason}")
                outbox.notify(self.session, applicant, "consent_refused", link,
                              reference=app.reference)
            elif all(c.status is ConsentStatus.GRANTED for c in app.consents):
                self._auto(app, AppStatus.AGREEMENT, "consent_complete",
                           "every provider and community consented")
                outbox.notify(self.session, applicant, "agreement_needed", link,
                              reference=app.reference)
        return consent

    # --- agreement ------------------------------------------------------------------------

    def propose_agreement(self, actor: User, reference: str, *, template_id: str,
                          template_version: int, values: dict, terms: list[dict],
                          version: int | None = None) -> Agreement:
        with unit_of_work(self.session):
            app = self._load_for_change(reference)
            perm.require_view_application(actor, app)
            parties = self.parties(app)
            perm.require_party(actor, app, parties)
            if app.status is not AppStatus.AGREEMENT:
                raise InvalidTransition("propose agreement", app.status.value,
                                        self.allowed_actions(actor, app))
            self._check_version(app, version)
            text = agreements.draft(template_id, template_version, values, terms)
            voided = []
            for old in app.agreements:
                if old.status is not AgreementStatus.VOID:
                    old.status = AgreementStatus.VOID
                    voided.append(old.revision)
            agreement = Agreement(
                application=app, revision=len(app.agreements) + 1, template_id=template_id,
                template_version=template_version, parameters=text.values, terms=text.terms,
                text_sha256=text.sha256, created_by_id=actor.id,
            )
            self.session.add(agreement)
            app.updated_at = utcnow()
            self._record(actor, app, "propose_agreement",
                         data={"revision": agreement.revision, "template": template_id,
                               "template_version": template_version,
                               "text_sha256": text.sha256, "voided_revisions": voided})
            others = [o for o in parties if o != actor.organization_id]
            for org_id in others:
                outbox.notify(self.session, outbox.members(self.session, org_id),
                              "agreement_proposed", f"/applications/{app.reference}/agreement",
                              reference=app.reference, revision=agreement.revision)
        return agreement

    def accept_agreement(self, actor: User, reference: str, *, revision: int,
                         text_sha256: str) -> Agreement:
        """Accept the exact text: the hash the party was shown must be the current one."""
        with unit_of_work(self.session):
            app = self._load_for_change(reference)
            perm.require_view_application(actor, app)
            parties = self.parties(app)
            perm.require_party(actor, app, parties)
            current = app.current_agreement
            if app.status is not AppStatus.AGREEMENT or current is None:
                raise InvalidTransition("accept agreement", app.status.value,
                                        self.allowed_actions(actor, app))
            if current.revision != revision or current.text_sha256 != text_sha256:
                raise Conflict(N_("the agreement text changed since you read it; read it again"),
                               field="text_sha256", current_revision=current.revision,
                               current_sha256=current.text_sha256)
            if any(a.organization_id == actor.organization_id for a in current.acceptances):
                raise Conflict(N_("your organization already accepted this text"), field="revision")
            current.acceptances.append(AgreementAcceptance(
                organization_id=actor.organization_id, user_id=actor.id,
                text_sha256=text_sha256))
            self._record(actor, app, "accept_agreement",
                         data={"revision": revision, "text_sha256": text_sha256})
            accepted = {a.organization_id for a in current.acceptances}
            if accepted >= set(parties):
                current.status = AgreementStatus.ACCEPTED
                self._auto(app, AppStatus.REVIEW, "agreement_accepted",
                           f"every party accepted revision {revision}")
                outbox.notify(self.session,
                              outbox.officials(self.session,
                                               national_only=app.needs_national_review),
                              "review_needed", f"/applications/{app.reference}",
                              reference=app.reference)
            app.updated_at = utcnow()
        return current

    # --- review ---------------------------------------------------------------------------

    def add_note(self, actor: User, reference: str, *, kind: NoteKind, text: str,
                 recommendation: Recommendation | None = None) -> ReviewNote:
        with unit_of_work(self.session):
            app = self._load_for_change(reference)
            perm.require_view_application(actor, app)
            perm.require_review_note(actor, app)
            if app.status not in (AppStatus.REVIEW, AppStatus.INFORMATION_REQUESTED):
                raise InvalidTransition("add a review note", app.status.value,
                                        self.allowed_actions(actor, app))
            if kind is NoteKind.RECOMMENDATION and recommendation is None:
                raise ValidationError({"recommendation": [N_("say approve or refuse")]})
            note = ReviewNote(application_id=app.id, author_id=actor.id, kind=kind,
                              text=text.strip(), recommendation=recommendation)
            self.session.add(note)
            self._record(actor, app, kind.value, comment=note.text,
                         data={"recommendation": recommendation.value}
                         if recommendation else None)
        return note

    # --- helpers --------------------------------------------------------------------------

    def _check_version(self, app: Application, expected: int | None) -> None:
        if expected is not None and expected != app.version:
            raise StaleVersion(expected, app.version)

    def _record(self, actor, app: Application, action: str, from_state=None, to_state=None,
                comment: str | None = None, data: dict | None = None) -> None:
        audit.record(self.session, actor=actor, subject_type=SUBJECT, subject_id=app.id,
                     subject_ref=app.reference, action=action,
                     from_state=from_state.value if from_state else None,
                     to_state=to_state.value if to_state else None, comment=comment, data=data)
