"""Delivering the outbox by e-mail through a configured SMTP host (off by default).

The sender runs apart from the requests (``abs-registry notifications send``, from a
scheduler), so a slow or absent mail server never holds up a step of the workflow. Each
message is marked sent in its own commit, so a failure half-way resends nothing twice.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.auth.models import User
from abs_registry.config import Settings
from abs_registry.db import utcnow
from abs_registry.notifications.models import Notification

Composer = Callable[[Notification], tuple[str, str]]


def pending(session: Session, limit: int) -> list[Notification]:
    return list(session.scalars(
        select(Notification).join(User)
        .where(Notification.emailed_at.is_(None), User.active)
        .order_by(Notification.id).limit(limit)
    ))


def send_pending(session: Session, settings: Settings, compose: Composer,
                 limit: int = 500) -> int:
    if not settings.smtp_host:
        return 0
    rows = pending(session, limit)
    if not rows:
        return 0
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        for notification in rows:
            subject, body = compose(notification)
            message = EmailMessage()
            message["From"] = settings.mail_from
            message["To"] = notification.user.email
            message["Subject"] = subject
            message.set_content(body)
            smtp.send_message(message)
            notification.emailed_at = utcnow()
            session.commit()
    return len(rows)
