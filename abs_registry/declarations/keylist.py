"""The key regulatory list: taxa whose declarations need a national-level official.

An entry at genus rank covers every species of the genus; a species entry covers its
subspecies and varieties. An import replaces the list: taxa missing from the new file are
deactivated, never deleted, so the history of what was listed stays readable.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.audit import writer as audit
from abs_registry.auth.models import Role, User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.declarations.models import Declaration, KeyListEntry, Status, TaxonRank
from abs_registry.errors import PermissionDenied, ValidationError

REQUIRED_COLUMNS = ("scientific_name", "rank")


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _candidate_keys(name: str) -> set[str]:
    words = name_key(name).split()
    return {" ".join(words[:n]) for n in range(1, len(words) + 1)}


def matches(session: Session, names: list[str]) -> list[str]:
    """The listed taxa that cover any of these names."""
    keys: set[str] = set()
    for name in names:
        keys |= _candidate_keys(name)
    if not keys:
        return []
    entries = session.scalars(
        select(KeyListEntry).where(KeyListEntry.active, KeyListEntry.name_key.in_(keys))
    )
    return sorted({e.scientific_name for e in entries})


@dataclass(frozen=True)
class Matcher:
    """``matches`` for many declarations in a row: the active list is read once.

    Plain data, so a bulk import can hand it to a worker process.
    """

    listed: dict[str, str]

    def __call__(self, names: list[str]) -> list[str]:
        keys = set().union(*(_candidate_keys(name) for name in names))
        return sorted({self.listed[key] for key in keys if key in self.listed})


def matcher(session: Session) -> Matcher:
    return Matcher({e.name_key: e.scientific_name
                    for e in session.scalars(select(KeyListEntry).where(KeyListEntry.active))})


@dataclass
class ImportReport:
    added: int
    updated: int
    deactivated: int
    reflagged: int


def _parse(content: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError({"file": [f"missing column(s): {', '.join(missing)}"]})
    rows, seen = [], set()
    ranks = {r.value for r in TaxonRank}
    for line, row in enumerate(reader, start=2):
        name = " ".join((row.get("scientific_name") or "").split())
        rank = (row.get("rank") or "").strip().lower()
        if not name:
            raise ValidationError({"file": [f"line {line}: scientific_name is empty"]})
        if rank not in ranks:
            raise ValidationError({"file": [f"line {line}: unknown rank {rank!r}"]})
        if name_key(name) in seen:
            raise ValidationError({"file": [f"line {line}: {name} is listed twice"]})
        seen.add(name_key(name))
        rows.append({"scientific_name": name, "rank": TaxonRank(rank),
                     "category": (row.get("category") or "").strip() or None,
                     "note": (row.get("note") or "").strip() or None})
    return rows


def import_list(session: Session, actor: User | None, content: str) -> ImportReport:
    """Replace the list with the CSV's taxa; actor None means the administrator's CLI."""
    if actor is not None and actor.role is not Role.ADMIN:
        raise PermissionDenied("only administrators may import the key regulatory list")
    rows = _parse(content)
    with unit_of_work(session):
        existing = {e.name_key: e for e in session.scalars(select(KeyListEntry))}
        added = updated = 0
        for row in rows:
            entry = existing.pop(name_key(row["scientific_name"]), None)
            if entry is None:
                session.add(KeyListEntry(name_key=name_key(row["scientific_name"]),
                                         active=True, updated_at=utcnow(), **row))
                added += 1
            else:
                for field, value in row.items():
                    setattr(entry, field, value)
                entry.active = True
                entry.updated_at = utcnow()
                updated += 1
        deactivated = 0
        for entry in existing.values():
            if entry.active:
                entry.active = False
                entry.updated_at = utcnow()
                deactivated += 1
        session.flush()
        reflagged = _reflag_waiting(session)
        audit.record(session, actor=actor, subject_type="key_list", subject_id=0,
                     subject_ref="key-regulatory-list", action="import",
                     data={"added": added, "updated": updated, "deactivated": deactivated,
                           "reflagged": reflagged, "entries": len(rows)})
    return ImportReport(added, updated, deactivated, reflagged)


def flag(session: Session, decl: Declaration) -> None:
    found = matches(session, decl.taxon_names)
    decl.key_list_matches = found
    decl.needs_national_review = bool(found)


def _reflag_waiting(session: Session) -> int:
    """Declarations already waiting for review follow the list as it is now."""
    changed = 0
    for decl in session.scalars(select(Declaration).where(Declaration.status == Status.SUBMITTED)):
        before = decl.needs_national_review
        flag(session, decl)
        changed += before != decl.needs_national_review
    return changed


def active_entries(session: Session) -> list[KeyListEntry]:
    return list(session.scalars(
        select(KeyListEntry).where(KeyListEntry.active).order_by(KeyListEntry.scientific_name)
    ))
