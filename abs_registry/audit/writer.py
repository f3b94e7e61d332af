"""The one place that writes history.

Rows are hash-chained (hash = SHA-256(prev_hash || canonical row)) so that an edit, a
deletion or a reordering done behind the application's back is detected by ``verify_chain``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from abs_registry.audit.models import AuditChainHead, AuditEvent
from abs_registry.auth.models import User
from abs_registry.db import utcnow

GENESIS = "0" * 64


# The columns a row's hash covers, in addition to the previous row's hash.
CHAINED = ("seq", "at", "actor_id", "actor_name", "subject_type", "subject_id", "subject_ref",
           "action", "from_state", "to_state", "comment", "data")

_HEAD = AuditChainHead.__table__
_EVENTS = AuditEvent.__table__
# Built once: constructing statements costs more than running them on every change of state.
_BUMP_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=_HEAD.c.seq + bindparam("count", type_=Integer))
    .returning(_HEAD.c.seq, _HEAD.c.head_hash)
)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(head_hash=bindparam("new_hash"))
_INSERT_EVENTS = insert(_EVENTS)


def _canonical_values(values: Mapping) -> bytes:
    body = {name: values[name] for name in CHAINED}
    body["at"] = body["at"].isoformat()
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _canonical(event: AuditEvent) -> bytes:
    return _canonical_values({name: getattr(event, name) for name in CHAINED})


def _hash_values(prev_hash: str, values: Mapping) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + _canonical_values(values)).hexdigest()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + _canonical(event)).hexdigest()


def _bump_head(session: Session, count: int):
    return session.execute(_BUMP_HEAD, {"count": count}).first()


def _advance_head(session: Session, count: int = 1) -> tuple[int, str]:
    """Take the chain's lock by writing to its head row before reading it.

    Reserves ``count`` sequence numbers and answers the first of them with the hash of the
    row before it. The first writer of a new registry creates the head row; ON CONFLICT DO
    NOTHING makes the writers racing it wait for that row instead of failing on its primary
    key.
    """
    row = _bump_head(session, count)
    if row is None:
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(AuditChainHead).values(id=1, seq=0, head_hash=GENESIS)
                        .on_conflict_do_nothing())
        row = _bump_head(session, count)
    return row.seq - count + 1, row.head_hash


def event_values(
    *,
    actor: User | None,
    subject_type: str,
    subject_id: int,
    subject_ref: str,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> dict:
    """One event's columns before it is chained (``append`` adds seq and the hashes)."""
    return {
        "at": at or utcnow(),
        "actor_id": actor.id if actor else None,
        "actor_name": actor.display_name if actor else "system",
        "subject_type": subject_type,
        "subject_id": subject_id,
        "subject_ref": subject_ref,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "comment": comment,
        "data": data or {},
    }


def append(session: Session, events: Sequence[dict]) -> None:
    """Chain ``events`` (from ``event_values``) onto the history, in order, in one go.

    The head row is locked once for all of them, which is what makes bulk imports cheap;
    the rows become visible with the caller's transaction, or never.
    """
    if not events:
        return
    seq, prev_hash = _advance_head(session, len(events))
    rows = []
    for values in events:
        row = {**values, "seq": seq, "prev_hash": prev_hash}
        row["hash"] = prev_hash = _hash_values(row["prev_hash"], row)
        rows.append(row)
        seq += 1
    session.execute(_INSERT_EVENTS, rows if len(rows) > 1 else rows[0])
    session.execute(_SET_HEAD_HASH, {"new_hash": prev_hash})


def record(
    session: Session,
    *,
    actor: User | None,
    subject_type: str,
    subject_id: int,
    subject_ref: str,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str | None = None,
    data: dict | None = None,
) -> None:
    append(session, [event_values(
        actor=actor, subject_type=subject_type, subject_id=subject_id, subject_ref=subject_ref,
        action=action, from_state=from_state, to_state=to_state, comment=comment, data=data,
    )])


def history(session: Session, subject_type: str, subject_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
            .order_by(AuditEvent.seq)
        )
    )


@dataclass(frozen=True)
class PublicEvent:
    """A history row as the public sees it: the acting organization instead of the person."""

    seq: int
    at: object
    actor_name: str
    action: str
    from_state: str | None
    to_state: str | None
    comment: str | None
    data: dict


def as_organization(event: AuditEvent, details: bool = True) -> PublicEvent:
    """``details=False`` also leaves out the comment and the data (restricted TK's body)."""
    org = event.actor.organization if event.actor is not None else None
    return PublicEvent(seq=event.seq, at=event.at,
                       actor_name=org.name if org is not None else "ABS Registry",
                       action=event.action, from_state=event.from_state,
                       to_state=event.to_state, comment=event.comment if details else None,
                       data=event.data if details else {})


@dataclass
class ChainReport:
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify_chain(session: Session) -> ChainReport:
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(1000):
        if event.seq != expected_seq:
            return ChainReport(checked, expected_seq, f"row with seq {expected_seq} is missing")
        if event.prev_hash != prev:
            return ChainReport(checked, event.seq, "prev_hash does not match the row before")
        if chain_hash(prev, event) != event.hash:
            return ChainReport(checked, event.seq, "row content does not match its hash")
        prev = event.hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq != checked or head.head_hash != prev):
        return ChainReport(checked, checked + 1, "rows after the last one are missing")
    return ChainReport(checked)
