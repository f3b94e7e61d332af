"""Per-request access to the database session, the services and the acting user."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g
from sqlalchemy.orm import Session

from abs_registry.applications.service import ApplicationService
from abs_registry.attachments.service import AttachmentService
from abs_registry.auth.models import User
from abs_registry.auth.service import AccountService
from abs_registry.declarations.service import DeclarationService
from abs_registry.movements.checkpoints import CheckpointService
from abs_registry.movements.service import MovementService
from abs_registry.movements.uses import UseService
from abs_registry.obligations.service import ObligationService
from abs_registry.permits.service import PermitService
from abs_registry.tk.service import TKService


def db() -> Session:
    if "db" not in g:
        g.db = current_app.extensions["abs"].session_factory()
    return g.db


def close_db(_exc=None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def actor() -> User | None:
    return g.get("actor")


def accounts() -> AccountService:
    ext = current_app.extensions["abs"]
    s = ext.settings
    return AccountService(
        db(),
        ext.passwords,
        idle=timedelta(minutes=s.session_idle_minutes),
        absolute=timedelta(hours=s.session_absolute_hours),
        login_attempts=s.login_attempts_per_15min,
    )


def declarations() -> DeclarationService:
    return DeclarationService(db(), country=current_app.extensions["abs"].settings.reference_country)


def applications() -> ApplicationService:
    return ApplicationService(db(), country=current_app.extensions["abs"].settings.reference_country)


def attachments() -> AttachmentService:
    ext = current_app.extensions["abs"]
    return AttachmentService(db(), ext.settings.instance_path / "attachments")


def tk() -> TKService:
    ext = current_app.extensions["abs"]
    return TKService(db(), ext.settings.instance_path / "attachments")
def permits() -> PermitService:
    ext = current_app.extensions["abs"]
    s = ext.settings
    return PermitService(db(), ext.keys, public_url=s.public_url, authority=s.authority_name,
                         country=s.reference_country)


def obligations() -> ObligationService:
    s = current_app.extensions["abs"].settings
    return ObligationService(db(), s, country=s.reference_country)
def movements() -> MovementService:
    return MovementService(db(), country=current_app.extensions["abs"].settings.reference_country)


def checkpoints() -> CheckpointService:
    return CheckpointService(db(), country=current_app.extensions["abs"].settings.reference_country)


def uses() -> UseService:
    return UseService(db())
