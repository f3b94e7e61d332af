"""Telling each party when it is their turn.

Services call ``notify`` inside their unit of work, so a notification exists exactly when the
step that caused it was committed. Delivery by e-mail is a separate, optional sender
(``mail.py``) that drains the outbox; the pages always show it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from abs_registry.auth.models import OfficialLevel, Role, User
from abs_registry.db import utcnow
from abs_registry.notifications.models import Notification


def members(session: Session, organization_id: int) -> list[User]:
    return list(session.scalars(
        select(User).where(User.organization_id == organization_id, User.active)
    ))


def officials(session: Session, *, national_only: bool = False) -> list[User]:
    stmt = select(User).where(User.role == Role.OFFICIAL, User.active)
    if national_only:
        stmt = stmt.where(User.official_level == OfficialLevel.NATIONAL)
    return list(session.scalars(stmt))


def notify(session: Session, recipients: Iterable[User], kind: str, link: str,
           **params) -> int:
    seen: set[int] = set()
    for user in recipients:
        if user.id in seen:
            continue
        seen.add(user.id)
        session.add(Notification(user_id=user.id, kind=kind, params=params, link=link))
    return len(seen)


def inbox(session: Session, user: User, limit: int = 100) -> list[Notification]:
    return list(session.scalars(
        select(Notification).where(Notification.user_id == user.id)
        .order_by(Notification.id.desc()).limit(limit)
    ))


def unread_count(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count()).where(Notification.user_id == user.id,
                                   Notification.read_at.is_(None))
    )


def mark_read(session: Session, user: User) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    session.commit()
