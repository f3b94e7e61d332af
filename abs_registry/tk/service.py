"""What a community does with its TK beyond declaring it, and who may read what of it.

- the protected body (text in each language, attachments) is read through ``body`` and
  ``attachment``, which check ``auth.permissions.require_body`` (404 exactly like a missing
  record) and log every read of a non-public body in the TK access log;
- stewards grant and withdraw access for a named user or organization until an end date;
  both go through the one audit writer;
- officials and patent examiners look up prior art: they learn that matching knowledge
  exists and whom to ask, never the body; secret records are left out by the query itself.

Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from abs_registry.attachments.service import AUDIO, DOCUMENTS, clean_filename, store_upload
from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import Organization, User
from abs_registry.auth.service import normalize_email
from abs_registry.db import unit_of_work, utcnow
from abs_registry.declarations import search
from abs_registry.declarations.models import LISTED, Status, TKRecord, Visibility
from abs_registry.declarations.states import EDITABLE
from abs_registry.errors import InvalidTransition, NotFound, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.tk import labels as tk_labels
from abs_registry.tk.models import (
    TKAccessEvent,
    TKAccessGrant,
    TKAttachment,
    TKLabel,
    TKTranslation,
)

MEDIA = DOCUMENTS + AUDIO
MEDIA_REFUSAL = N_("Attach a PDF, PNG or JPEG document, or an MP3, OGG or WAV recording.")
PRIOR_ART_LIMIT = 50
LOG_PAGE = 100


def today() -> date:
    """The registry's calendar day; a grant works through its end date, then stops."""
    return utcnow().date()


# --- the record's parts, kept by DeclarationService ---------------------------------------

CHILDREN = ("translations", "labels")


def _sync(existing: list, wanted: list[dict], key: str, make: Callable[[dict], object],
          fields: Iterable[str]) -> bool:
    """Make ``existing`` hold one row per wanted entry, matched by ``key``, in place: the
    rows kept are updated rather than replaced, so a unique key is never held twice."""
    by_key = {getattr(row, key): row for row in existing}
    wanted_keys = [entry[key] for entry in wanted]
    changed = False
    for row in [r for r in existing if getattr(r, key) not in wanted_keys]:
        existing.remove(row)
        changed = True
    for entry in wanted:
        row = by_key.get(entry[key])
        if row is None:
            existing.append(make(entry))
            changed = True
            continue
        for name in fields:
            if getattr(row, name) != entry.get(name):
                setattr(row, name, entry.get(name))
                changed = True
    return changed


def set_child(decl: TKRecord, field: str, value: list[dict]) -> bool:
    """Apply validated translations or labels to the record; True if anything changed."""
    if field == "translations":
        return _sync(decl.translations, value, "language",
                     lambda e: TKTranslation(language=e["language"], title=e["title"],
                                             description=e.get("description")),
                     ("title", "description"))
    return _sync(decl.labels, [{"code": e["code"], "texts": dict(e.get("texts") or {})}
                               for e in value], "code",
                 lambda e: TKLabel(code=e["code"], texts=e["texts"]), ("texts",))


def copy_children(old: TKRecord, new: TKRecord) -> None:
    """An amendment starts from the whole record: translations, labels and attachments."""
    new.translations = [TKTranslation(language=t.language, title=t.title,
                                      description=t.description) for t in old.translations]
    new.labels = [TKLabel(code=label.code, texts=dict(label.texts)) for label in old.labels]
    new.attachments = [TKAttachment(uploaded_by_id=a.uploaded_by_id, filename=a.filename,
                                    content_type=a.content_type, size=a.size, sha256=a.sha256,
                                    language=a.language, created_at=a.created_at)
                       for a in old.attachments]


def _species_key(name: str, genus_only: bool = False) -> str:
    words = " ".join(name.split()).casefold().split(" ")
    return ("gn:" + words[0]) if genus_only else ("sp:" + "+".join(words))


def knowledge_document(title: str, description: str, translations: list[tuple[str, str | None]],
                       species: list[str]) -> str:
    """Every token of the knowledge, body included, and a key per species and genus, each
    between spaces so that a LIKE pattern finds whole tokens (see ``prior_art``)."""
    text = " ".join([title, description, *(f"{t} {d or ''}" for t, d in translations),
                     *species])
    keys = [k for name in species for k in (_species_key(name), _species_key(name, True))]
    return " " + " ".join([*search.document_tokens(text), *keys]) + " "


def refresh_document(decl: TKRecord) -> None:
    decl.knowledge_document = knowledge_document(
        decl.tk_title, decl.description,
        [(t.title, t.description) for t in decl.translations], list(decl.associated_species))


def register_details(decl: TKRecord) -> list[str]:
    """What the public register indexes: for restricted records, the summary alone."""
    summary = [decl.domain.value, *decl.associated_species, *(t.title for t in decl.translations),
               *(tk_labels.LABELS[label.code].name["en"] for label in decl.labels)]
    if decl.visibility is not Visibility.PUBLIC:
        return summary
    return [decl.description, *(t.description or "" for t in decl.translations), *summary]


def shown_labels(decl: TKRecord, language: str | None = None) -> list[tk_labels.ShownLabel]:
    language = language or _reader_language()
    return [tk_labels.shown(label.code, label.texts, language) for label in decl.labels]


def _reader_language() -> str:
    from flask import has_request_context
    from flask_babel import get_locale

    return str(get_locale() or "en") if has_request_context() else "en"


# --- reading the body, granting access, the log, prior art --------------------------------


@dataclass(frozen=True)
class PriorArtQuery:
    q: str | None = None
    species: str | None = None


@dataclass
class TKService:
    session: Session
    directory: Path  # where attachments are stored, under their SHA-256

    def _load(self, reference: str) -> TKRecord | None:
        if "\x00" in reference:
            return None
        return self.session.scalar(select(TKRecord).where(TKRecord.reference == reference))

    def _log(self, actor: User, decl: TKRecord, action: str, basis: str, via: str,
             attachment: TKAttachment | None = None, detail: str | None = None) -> None:
        self.session.add(TKAccessEvent(tk_id=decl.id, user_id=actor.id, at=utcnow(),
                                       action=action, basis=basis, via=via,
                                       attachment_id=attachment.id if attachment else None,
                                       detail=detail))

    def body(self, actor: User | None, reference: str, via: str) -> TKRecord:
        """The record with its body; every read of a body that is not public is logged."""
        with unit_of_work(self.session):
            decl = self._load(reference)
            basis = perm.require_body(actor, decl, today())
            if decl.visibility is not Visibility.PUBLIC:
                self._log(actor, decl, "view", basis, via)
        return decl

    def may_read_body(self, actor: User | None, decl: TKRecord) -> bool:
        return perm.body_basis(actor, decl, today()) is not None

    def attachment(self, actor: User | None, reference: str, attachment_id: int,
                   via: str) -> tuple[TKAttachment, Path]:
        with unit_of_work(self.session):
            decl = self._load(reference)
            basis = perm.require_body(actor, decl, today())
            found = next((a for a in decl.attachments if a.id == attachment_id), None)
            if found is None:
                raise NotFound("declaration")
            if decl.visibility is not Visibility.PUBLIC:
                self._log(actor, decl, "download", basis, via, attachment=found)
        return found, self.directory / found.sha256

    def add_attachment(self, actor: User, reference: str, stream: BinaryIO,
                       filename: str | None, language: str | None = None) -> TKAttachment:
        decl = perm.require_tk_steward(actor, self._load(reference))
        if decl.status not in EDITABLE:
            raise InvalidTransition("attach", decl.status.value, [])
        sha256, size, content_type = store_upload(self.directory, stream, MEDIA, MEDIA_REFUSAL)
        with unit_of_work(self.session):
            found = TKAttachment(tk_id=decl.id, uploaded_by_id=actor.id,
                                 filename=clean_filename(filename), content_type=content_type,
                                 size=size, sha256=sha256, language=language)
            self.session.add(found)
            decl.updated_at = utcnow()
            self.session.flush()
            # The file's name is the community's; the history is the public's (restricted).
            audit.record(self.session, actor=actor, subject_type="declaration",
                         subject_id=decl.id, subject_ref=decl.reference, action="attach",
                         data={"attachment_id": found.id})
        return found

    # --- grants ---------------------------------------------------------------------------

    def grants(self, actor: User | None, reference: str) -> list[TKAccessGrant]:
        decl = perm.require_tk_steward(actor, self._load(reference))
        return list(self.session.scalars(
            select(TKAccessGrant).where(TKAccessGrant.tk_id == decl.id)
            .options(selectinload(TKAccessGrant.grantee_user),
                     selectinload(TKAccessGrant.grantee_org))
            .order_by(TKAccessGrant.id.desc())))

    def _grantee(self, data: dict) -> tuple[User | None, Organization | None]:
        email, org_name = data.get("user"), data.get("organization")
        if bool(email) == bool(org_name):
            raise ValidationError({"user": [N_("Name either a user (e-mail address) or an "
                                               "organization, not both.")]})
        if email:
            user = self.session.scalar(select(User).where(User.email == normalize_email(email),
                                                          User.active.is_(True)))
            if user is None:
                raise ValidationError({"user": [N_("No active account has this e-mail "
                                                   "address.")]})
            return user, None
        org = self.session.scalar(select(Organization).where(Organization.name == org_name))
        if org is None:
            raise ValidationError({"organization": [N_("No organization has this name.")]})
        return None, org

    def grant(self, actor: User, reference: str, data: dict) -> TKAccessGrant:
        """data: user (e-mail) or organization (name), ends_on (date), note (optional)."""
        with unit_of_work(self.session):
            decl = perm.require_tk_steward(actor, self._load(reference))
            if decl.visibility is not Visibility.RESTRICTED:
                raise ValidationError({"visibility": [N_(
                    "Access can be granted only to restricted knowledge: a public body is "
                    "public, and secret knowledge stays within the community.")]})
            if data["ends_on"] < today():
                raise ValidationError({"ends_on": [N_("The end date has passed.")]})
            user, org = self._grantee(data)
            grant = TKAccessGrant(tk_id=decl.id, grantee_user=user, grantee_org=org,
                                  ends_on=data["ends_on"], note=(data.get("note") or None),
                                  granted_by_id=actor.id, granted_at=utcnow())
            self.session.add(grant)
            self.session.flush()
            audit.record(self.session, actor=actor, subject_type="tk_access",
                         subject_id=decl.id, subject_ref=decl.reference, action="grant_access",
                         comment=grant.note,
                         data={"grant_id": grant.id, "grantee": grant.grantee_name,
                               "ends_on": grant.ends_on.isoformat()})
        return grant

    def withdraw_grant(self, actor: User, reference: str, grant_id: int) -> TKAccessGrant:
        with unit_of_work(self.session):
            decl = perm.require_tk_steward(actor, self._load(reference))
            grant = self.session.get(TKAccessGrant, grant_id)
            if grant is None or grant.tk_id != decl.id:
                raise NotFound("grant")
            if grant.withdrawn_at is not None:
                raise InvalidTransition("withdraw", "withdrawn", [])
            grant.withdrawn_at = utcnow()
            grant.withdrawn_by_id = actor.id
            audit.record(self.session, actor=actor, subject_type="tk_access",
                         subject_id=decl.id, subject_ref=decl.reference,
                         action="withdraw_access",
                         data={"grant_id": grant.id, "grantee": grant.grantee_name})
        return grant

    # --- the access log -------------------------------------------------------------------

    def access_log(self, actor: User | None, reference: str,
                   page: int = 1) -> tuple[TKRecord, list[TKAccessEvent], bool]:
        """The newest reads first, a page at a time; and whether an older page exists."""
        decl = perm.require_access_log(actor, self._load(reference))
        rows = list(self.session.scalars(
            select(TKAccessEvent).where(TKAccessEvent.tk_id == decl.id)
            .options(selectinload(TKAccessEvent.user).selectinload(User.organization),
                     selectinload(TKAccessEvent.attachment))
            .order_by(TKAccessEvent.id.desc())
            .offset((page - 1) * LOG_PAGE).limit(LOG_PAGE + 1)))
        return decl, rows[:LOG_PAGE], len(rows) > LOG_PAGE

    # --- prior art ------------------------------------------------------------------------

    def prior_art(self, actor: User | None, query: PriorArtQuery, via: str) -> list[TKRecord]:
        """Registered public and restricted knowledge matching every word and the species.

        The words are matched against the whole knowledge, body included, so an examiner
        learns that it exists and whom to ask; the answer carries the summary only. The
        visibility filter is in the query: a secret record is never a candidate. Each
        restricted record found is logged for its community, with the query.
        """
        perm.require_prior_art_search(actor)
        terms = search.query_terms(query.q or "")
        if not terms and not query.species:
            raise ValidationError({"q": [N_("Give words to look for, or a species.")]})
        stmt = select(TKRecord).where(TKRecord.visibility.in_(LISTED),
                                      TKRecord.status == Status.REGISTERED)
        for term in terms:
            pattern = f"% {_like_escape(term.token)}{'' if term.prefix else ' '}%"
            stmt = stmt.where(TKRecord.knowledge_document.like(pattern, escape="\\"))
        if query.species:
            key = _species_key(query.species, genus_only=" " not in query.species.strip())
            stmt = stmt.where(TKRecord.knowledge_document.like(
                f"% {_like_escape(key)} %", escape="\\"))
        stmt = stmt.options(selectinload(TKRecord.organization),
                            selectinload(TKRecord.labels),
                            selectinload(TKRecord.translations))
        with unit_of_work(self.session):
            found = list(self.session.scalars(
                stmt.order_by(TKRecord.registered_at.desc(), TKRecord.id.desc())
                .limit(PRIOR_ART_LIMIT)))
            detail = " ".join(p for p in (query.q, query.species) if p)[:200]
            for decl in found:
                if decl.visibility is Visibility.RESTRICTED:
                    self._log(actor, decl, "prior_art", "search", via, detail=detail)
        return found


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
