"""The demo data shows a newcomer every state of a declaration and of an application."""

from sqlalchemy import select

from abs_registry.applications.models import Application, AppStatus
from abs_registry.declarations.models import Declaration, Status
from abs_registry.permits.models import Permit


def test_demo_load_covers_every_state_and_is_idempotent(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "demo-password-2026" in first.output
    declared = set(session.scalars(select(Declaration.status)))
    assert declared == set(Status)
    applied = set(session.scalars(select(Application.status)))
    assert {AppStatus.APPROVED, AppStatus.CONSENT, AppStatus.DRAFT} <= applied
    [permit] = session.scalars(select(Permit)).all()
    assert permit.application.status is AppStatus.APPROVED and permit.exits
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    assert [k["kid"] for k in jwks["keys"]] == [permit.kid]
    again = runner.invoke(args=["demo", "load"])
    assert "already present" in again.output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
