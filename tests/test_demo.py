"""The demo data shows a newcomer every state of a declaration and of an application."""

from sqlalchemy import select

from abs_registry.applications.models import Application, AppStatus
from abs_registry.declarations.models import Declaration, Status


def test_demo_load_covers_every_state_and_is_idempotent(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "demo-password-2026" in first.output
    declared = set(session.scalars(select(Declaration.status)))
    assert declared == set(Status)
    applied = set(session.scalars(select(Application.status)))
    assert {AppStatus.APPROVED, AppStatus.CONSENT, AppStatus.DRAFT} <= applied
    again = runner.invoke(args=["demo", "load"])
    assert "already present" in again.output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
