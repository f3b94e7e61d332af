"""The daily job: due and overdue moves, one history event per batch and move, notifications
once per organization, and nothing more when it runs twice on the same day."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.audit.writer import verify_chain
from abs_registry.auth.models import OrgKind
from abs_registry.notifications.models import Notification
from abs_registry.obligations.models import Obligation, ObligationStatus
from abs_registry.obligations.service import ObligationService

TERMS = [
    {"kind": "access_fee", "amount": "100.00", "currency": "CNY", "due_date": "2099-03-01"},
    {"kind": "upfront_payment", "amount": "50.00", "currency": "CNY", "due_date": "2099-01-10"},
    {"kind": "training", "description": "A course", "due_date": "2099-01-10"},
    {"kind": "milestone_payment", "amount": "9.99", "currency": "USD", "trigger": "first_sale"},
    {"kind": "royalty", "rate": "1", "currency": "CNY", "period": "annual",
     "due_date": "2099-01-10"},
]


def run(app, day: date):
    result = app.test_cli_runner().invoke(args=["obligations", "daily", "--today",
                                                day.isoformat(), "--batch", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def statuses(session, permit) -> list[str]:
    session.expire_all()
    return [o.status.value for o in session.scalars(
        select(Obligation).where(Obligation.permit_id == permit.id)
        .order_by(Obligation.term_index))]


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_obligations_fall_due_then_overdue_and_a_second_run_changes_nothing(app, world, session):
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE))
    applicant = world.member(world.org(OrgKind.ENTERPRISE))
    official = world.official()
    terms = [{**t, "beneficiary": {"kind": "provider", "name": "Seed bank"}} for t in TERMS]
    permit = world.permit(provider=provider, applicant=applicant, terms=terms)
    assert statuses(session, permit) == ["pending"] * 5

    output = run(app, date(2099, 1, 10))
    assert "3 fell due, 0 became overdue" in output
    assert statuses(session, permit) == ["pending", "due", "due", "pending", "due"]
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "daily_due")).all()
    assert sum(e.data["count"] for e in events) == 3
    assert sorted(i for e in events for first, last in e.data["ids"]
                  for i in range(first, last + 1)) == sorted(
        o.id for o in session.scalars(select(Obligation).where(
            Obligation.status == ObligationStatus.DUE)))
    told = {(n.user_id, n.kind, n.params.get("count", n.params.get("due"))) for n in session.scalars(select(Notification)
            .where(Notification.kind.in_(["obligations_fell_due", "owed_fell_due",
                                           "obligations_daily"])))}
    assert (applicant.id, "obligations_fell_due", 3) in told
    assert (provider.id, "owed_fell_due", 3) in told
    assert any(user == official.id and kind == "obligations_daily" for user, kind, _c in told)

    notifications, audit_rows = count(session, Notification), count(session, AuditEvent)
    assert "0 fell due, 0 became overdue, 0 notification(s)" in run(app, date(2099, 1, 10))
    assert (count(session, Notification), count(session, AuditEvent)) == (notifications,
                                                                          audit_rows)

    # 30 grace days after 2099-01-10: overdue from 2099-02-10; the royalty itself never is.
    run(app, date(2099, 2, 9))
    assert statuses(session, permit) == ["pending", "due", "due", "pending", "due"]
    ObligationService(session).report_milestone(applicant, permit.number, "first_sale",
                                                date(2024, 1, 1), today=date(2099, 2, 9))
    output = run(app, date(2099, 2, 10))
    assert "0 fell due, 3 became overdue" in output
    assert statuses(session, permit) == ["pending", "overdue", "overdue", "overdue", "due"]
    assert "2099-03-01: 1 fell due, 0 became overdue" in run(app, date(2099, 3, 1))
    assert verify_chain(session).ok


def test_a_payment_moved_by_the_job_meanwhile_is_refused_as_stale(app, world, session, client):
    applicant = world.member(world.org(OrgKind.ENTERPRISE))
    terms = [{**TERMS[1], "beneficiary": {"kind": "provider", "name": "Seed bank"}}]
    permit = world.permit(applicant=applicant, terms=terms)
    ob = session.scalar(select(Obligation).where(Obligation.permit_id == permit.id))
    read_version = ob.version
    run(app, date(2099, 1, 10))
    answer = client.post(f"/api/v1/obligations/{ob.reference}/payments",
                         headers=world.headers(applicant),
                         json={"amount": "1.00", "currency": "CNY", "paid_on": "2026-01-01",
                               "reference": "x", "version": read_version})
    assert answer.status_code == 409 and "version" in answer.json["errors"]
    assert count(session, Obligation, Obligation.paid > 0) == 0


def test_a_partial_payment_past_the_grace_days_stays_overdue(world, session, settings):
    applicant = world.member(world.org(OrgKind.ENTERPRISE))
    terms = [{**TERMS[1], "beneficiary": {"kind": "provider", "name": "Seed bank"}}]
    permit = world.permit(applicant=applicant, terms=terms)
    ob = session.scalar(select(Obligation).where(Obligation.permit_id == permit.id))
    service = ObligationService(session, settings)
    late = date(2099, 1, 10) + timedelta(days=31)
    service.record_payment(applicant, ob.reference, {
        "amount": "10.00", "currency": "CNY", "paid_on": date(2026, 1, 1), "reference": "a"},
        today=late)
    assert ob.status is ObligationStatus.OVERDUE
    service.record_payment(applicant, ob.reference, {
        "amount": "40.00", "currency": "CNY", "paid_on": date(2026, 1, 1), "reference": "b"},
        today=late)
    assert ob.status is ObligationStatus.MET
