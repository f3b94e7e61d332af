"""Declaring, reviewing and finding genetic resources, DSI and traditional knowledge.

Every method takes the acting user first, checks permission through ``auth.permissions``,
does its writes inside one unit of work and records each change in the audit history.
Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, with_polymorphic

from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.declarations import keylist, search, states
from abs_registry.declarations.models import (
    LISTED,
    SERIES,
    Declaration,
    DSIRecord,
    GeneticResource,
    Kind,
    Status,
    TKRecord,
    Visibility,
)
from abs_registry.dsi import events as dsi_events
from abs_registry.errors import Conflict, InvalidTransition, StaleVersion, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.references import next_reference, unguessable_reference
from abs_registry.tk import service as tk

MODEL = {
    Kind.GENETIC_RESOURCE: GeneticResource,
    Kind.DSI: DSIRecord,
    Kind.TRADITIONAL_KNOWLEDGE: TKRecord,
}
# Field names in the boundary schemas that differ from the model's columns.
RENAMED = {Kind.DSI: {"title": "dsi_title"}, Kind.TRADITIONAL_KNOWLEDGE: {"title": "tk_title"}}
LINKS = {Kind.DSI: "source_resources", Kind.TRADITIONAL_KNOWLEDGE: "associated_resources"}
UNUSABLE_SOURCES = frozenset({Status.WITHDRAWN, Status.REJECTED})
ANY_DECLARATION = with_polymorphic(Declaration, "*")


@dataclass
class DeclarationService:
    session: Session
    country: str = "CN"

    # --- reading --------------------------------------------------------------------------

    def _load(self, reference: str) -> Declaration | None:
        if "\x00" in reference:  # PostgreSQL refuses NUL in a query; no reference holds one
            return None
        return self.session.scalar(
            select(ANY_DECLARATION).where(ANY_DECLARATION.reference == reference)
        )

    def get(self, actor: User | None, reference: str) -> Declaration:
        return perm.require_view(actor, self._load(reference))

    def history(self, actor: User | None, reference: str) -> list:
        """The record's history; the public sees organizations, not the people who acted.

        Of restricted knowledge, whoever may not read the body sees the moves and their
        dates, not the comments (a reviewer's message may quote the body).
        """
        decl = self.get(actor, reference)
        events = audit.history(self.session, "declaration", decl.id)
        details = decl.visibility is Visibility.PUBLIC or \
            perm.body_basis(actor, decl, tk.today()) is not None
        if perm.sees_people(actor, decl) and details:
            return events
        return [audit.as_organization(event, details=details) for event in events]

    def list_own(self, actor: User, status: Status | None = None) -> list[Declaration]:
        if actor.organization_id is None:
            return []
        stmt = select(ANY_DECLARATION).where(
            ANY_DECLARATION.organization_id == actor.organization_id
        )
        if status is not None:
            stmt = stmt.where(ANY_DECLARATION.status == status)
        return list(self.session.scalars(stmt.order_by(ANY_DECLARATION.updated_at.desc())))

    def review_queue(self, actor: User | None) -> list[Declaration]:
        """Submitted declarations this official may see, oldest first, flagged ones marked."""
        if not perm.may_see_review_queue(actor):
            raise perm.PermissionDenied(N_("only officials have a review queue"), rule="role")
        stmt = (
            select(ANY_DECLARATION)
            .where(ANY_DECLARATION.status == Status.SUBMITTED)
            .options(selectinload(ANY_DECLARATION.organization))
            .order_by(ANY_DECLARATION.submitted_at)
        )
        if not actor.tk_clearance:
            stmt = stmt.where(ANY_DECLARATION.visibility == Visibility.PUBLIC)
        return [d for d in self.session.scalars(stmt) if perm.can_view(actor, d)]

    def allowed_actions(self, actor: User | None, decl: Declaration) -> list[str]:
        allowed = []
        for name in states.actions_from(decl.status):
            action = states.ACTIONS[name]
            if action.by == "declarant" and perm.is_declarant(actor, decl) or action.by == "reviewer" and perm.review_refusal(actor, decl) is None:
                allowed.append(name)
        if decl.status in states.EDITABLE and perm.is_declarant(actor, decl):
            allowed.append("edit")
        if decl.status in states.AMENDABLE and perm.is_declarant(actor, decl):
            allowed.append("amend")
        return allowed

    # --- declaring ------------------------------------------------------------------------

    def _resolve_links(self, actor: User, field: str, references: list[str]) -> list:
        found = []
        for ref in dict.fromkeys(references):
            target = self._load(ref)
            if (
                not isinstance(target, GeneticResource)
                or not perm.can_view(actor, target)
                or target.status in UNUSABLE_SOURCES
            ):
                raise ValidationError(
                    {field: [N_("%(ref)s: no usable genetic resource declaration with this number")
                             % {"ref": ref}]}
                )
            found.append(target)
        return found

    def _apply(self, actor: User, decl: Declaration, data: dict) -> list[str]:
        """Copy validated fields onto the record; return the names of those that changed."""
        kind = Kind(decl.kind)
        renamed = RENAMED.get(kind, {})
        changed = []
        for field, value in data.items():
            if field == "version":
                continue
            if kind is Kind.TRADITIONAL_KNOWLEDGE and field in tk.CHILDREN:
                if tk.set_child(decl, field, value):
                    changed.append(field)
                continue
            if field == LINKS.get(kind):
                value = self._resolve_links(actor, field, value)
            attr = renamed.get(field, field)
            if getattr(decl, attr, None) != value:
                setattr(decl, attr, value)
                changed.append(field)
        if kind is not Kind.TRADITIONAL_KNOWLEDGE:
            decl.visibility = Visibility.PUBLIC
        else:
            tk.refresh_document(decl)
        return changed

    def create(self, actor: User, kind: Kind, data: dict) -> Declaration:
        perm.require_can_declare(actor, kind)
        with unit_of_work(self.session):
            now = utcnow()
            decl = MODEL[kind](
                reference=self._new_reference(kind, now.year),
                status=Status.DRAFT,
                organization_id=actor.organization_id,
                created_by_id=actor.id,
                created_at=now,
                updated_at=now,
                key_list_matches=[],
            )
            decl.organization = actor.organization
            self._apply(actor, decl, data)
            self.session.add(decl)
            self.session.flush()
            audit.record(self.session, actor=actor, subject_type="declaration",
                         subject_id=decl.id, subject_ref=decl.reference, action="create",
                         to_state=Status.DRAFT.value)
        return decl

    def _new_reference(self, kind: Kind, year: int) -> str:
        if kind is Kind.TRADITIONAL_KNOWLEDGE:
            return unguessable_reference(
                self.session, self.country, SERIES[kind], year,
                taken=lambda ref: self._load(ref) is not None)
        return next_reference(self.session, self.country, SERIES[kind], year)

    def _check_version(self, decl: Declaration, expected: int | None) -> None:
        if expected is not None and expected != decl.version:
            raise StaleVersion(expected, decl.version)

    def update(self, actor: User, reference: str, data: dict) -> Declaration:
        with unit_of_work(self.session):
            decl = self._load(reference)
            perm.require_declarant(actor, decl)
            if decl.status not in states.EDITABLE:
                raise InvalidTransition("edit", decl.status.value,
                                        self.allowed_actions(actor, decl))
            self._check_version(decl, data.get("version"))
            changed = self._apply(actor, decl, data)
            if changed:
                decl.updated_at = utcnow()
                audit.record(self.session, actor=actor, subject_type="declaration",
                             subject_id=decl.id, subject_ref=decl.reference, action="edit",
                             data={"fields": changed})
        return decl

    def amend(self, actor: User, reference: str) -> Declaration:
        """Start a new version of a registered declaration; it supersedes the old on registration."""
        with unit_of_work(self.session):
            old = self._load(reference)
            perm.require_declarant(actor, old)
            # Amendments opened at once would each find none pending: queue on the old row
            # (PostgreSQL; on SQLite a unit of work already runs alone), then re-read it.
            self.session.refresh(old, with_for_update=True)
            if old.status not in states.AMENDABLE:
                raise InvalidTransition("amend", old.status.value,
                                        self.allowed_actions(actor, old))
            pending = self.session.scalar(
                select(Declaration.reference).where(
                    Declaration.supersedes_id == old.id,
                    Declaration.status.in_([Status.DRAFT, Status.SUBMITTED, Status.RETURNED]),
                )
            )
            if pending:
                raise Conflict(N_("an amendment is already open: %(ref)s") % {"ref": pending},
                               field="status",
                               amendment=pending)
            kind = Kind(old.kind)
            now = utcnow()
            new = MODEL[kind](
                reference=self._new_reference(kind, now.year),
                status=Status.DRAFT, organization_id=old.organization_id,
                created_by_id=actor.id, created_at=now, updated_at=now,
                visibility=old.visibility, supersedes_id=old.id, key_list_matches=[],
            )
            new.organization = old.organization
            for column in MODEL[kind].__table__.columns:
                if column.name != "id":
                    setattr(new, column.key, getattr(old, column.key))
            if kind in LINKS:
                setattr(new, LINKS[kind], list(getattr(old, LINKS[kind])))
            if kind is Kind.TRADITIONAL_KNOWLEDGE:
                tk.copy_children(old, new)
            self.session.add(new)
            self.session.flush()
            dsi_events.declaration_amended(self.session, old, new)
            audit.record(self.session, actor=actor, subject_type="declaration",
                         subject_id=new.id, subject_ref=new.reference, action="create",
                         to_state=Status.DRAFT.value,
                         comment=f"amendment of {old.reference}",
                         data={"supersedes": old.reference})
        return new

    # --- moving through the workflow ------------------------------------------------------

    def transition(
        self,
        actor: User | None,
        reference: str,
        action_name: str,
        comment: str | None = None,
        version: int | None = None,
    ) -> Declaration:
        action = states.ACTIONS.get(action_name)
        if action is None:
            raise ValidationError({"action": [N_("unknown action %(action)s")
                                              % {"action": repr(action_name)}]})
        with unit_of_work(self.session):
            decl = self._load(reference)
            if action.by == "declarant":
                perm.require_declarant(actor, decl)
            else:
                perm.require_view(actor, decl)
                if not perm.may_see_review_queue(actor):
                    raise perm.PermissionDenied(N_("only officials may review declarations"),
                                                rule="role")
            if decl.status not in action.from_states:
                raise InvalidTransition(action.name, decl.status.value,
                                        self.allowed_actions(actor, decl))
            self._check_version(decl, version)
            if action.by == "reviewer":
                perm.require_reviewer(actor, decl)
            comment = (comment or "").strip() or None
            if action.needs_comment and not comment:
                raise ValidationError({"comment": [N_("a reason is required to %(action)s")
                                                   % {"action": action.name}]})
            self._enter(actor, decl, action, comment)
        return decl

    def _enter(self, actor: User, decl: Declaration, action: states.Action,
               comment: str | None) -> None:
        before = decl.status
        now = utcnow()
        if action.name == "submit":
            keylist.flag(self.session, decl)
            decl.submitted_at = now
        if before is Status.REGISTERED:
            search.unindex(self.session, decl)
        decl.status = action.to_state
        decl.updated_at = now
        if action.to_state is Status.REGISTERED:
            decl.registered_at = now
            self.session.flush()
            if decl.visibility in LISTED:
                search.index(self.session, decl)
            dsi_events.declaration_registered(self.session, decl)
            if decl.supersedes_id is not None:
                self._supersede(actor, decl)
        audit.record(self.session, actor=actor, subject_type="declaration",
                     subject_id=decl.id, subject_ref=decl.reference, action=action.name,
                     from_state=before.value, to_state=action.to_state.value, comment=comment,
                     data={"key_list_matches": decl.key_list_matches}
                     if action.name == "submit" and decl.key_list_matches else None)

    def _supersede(self, actor: User, new: Declaration) -> None:
        old = self.session.get(Declaration, new.supersedes_id)
        if old.status is not Status.REGISTERED:
            return
        search.unindex(self.session, old)
        old.status = Status.SUPERSEDED
        old.updated_at = utcnow()
        audit.record(self.session, actor=actor, subject_type="declaration", subject_id=old.id,
                     subject_ref=old.reference, action="supersede",
                     from_state=Status.REGISTERED.value, to_state=Status.SUPERSEDED.value,
                     comment=f"superseded by {new.reference}",
                     data={"superseded_by": new.reference})
