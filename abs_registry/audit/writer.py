"""The one place that writes history.

Rows are hash-chained (hash = SHA-256(prev_hash || canonical row)) so that an edit, a
deletion or a reordering done behind the application's back is detected by ``verify_chain``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from abs_registry.audit.models import AuditChainHead, AuditEvent
from abs_registry.auth.models import User
from abs_registry.db import utcnow

GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "subject_ref": event.subject_ref,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "comment": event.comment,
        "data": event.data,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + _canonical(event)).hexdigest()


def _bump_head(session: Session):
    return session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(seq=AuditChainHead.seq + 1)
        .returning(AuditChainHead.seq, AuditChainHead.head_hash)
    ).first()


def _advance_head(session: Session) -> tuple[int, str]:
    """Take the chain's lock by writing to its head row before reading it.

    The first writer of a new registry creates the head row; ON CONFLICT DO NOTHING makes
    the writers racing it wait for that row instead of failing on its primary key.
    """
    row = _bump_head(session)
    if row is None:
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(AuditChainHead).values(id=1, seq=0, head_hash=GENESIS)
                        .on_conflict_do_nothing())
        row = _bump_head(session)
    return row.seq, row.head_hash


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
) -> AuditEvent:
    seq, prev_hash = _advance_head(session)
    event = AuditEvent(
        seq=seq,
        at=utcnow(),
        actor_id=actor.id if actor else None,
        actor_name=actor.display_name if actor else "system",
        subject_type=subject_type,
        subject_id=subject_id,
        subject_ref=subject_ref,
        action=action,
        from_state=from_state,
        to_state=to_state,
        comment=comment,
        data=data or {},
        prev_hash=prev_hash,
    )
    event.hash = chain_hash(prev_hash, event)
    session.add(event)
    session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(head_hash=event.hash)
    )
    return event


def history(session: Session, subject_type: str, subject_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
            .order_by(AuditEvent.seq)
        )
    )


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
