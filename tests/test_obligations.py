"""Benefit-sharing obligations: from the issued permit's agreement terms to the last payment.

The default case is the commercial_monetary template's example, issued as a permit:
0 access fee 80,000.00 CNY (due at once, within 30 days), 1 milestone 500,000.00 CNY on patent
grant, 2 milestone 200,000.00 USD on product approval, 3 royalty by tiers (2% to 50M, 3%
above) on first sale, 4 royalty 0.5% to the national fund, 5 training (non-monetary).
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import OrgKind
from abs_registry.notifications.models import Notification
from abs_registry.obligations import royalty
from abs_registry.obligations.models import (
    Obligation,
    ObligationStatus,
    Payment,
    SalesReport,
)
from abs_registry.obligations.service import ObligationService

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TODAY = date.today()


@pytest.fixture
def case(world, session, settings, client):
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE))
    applicant = world.member(world.org(OrgKind.ENTERPRISE))
    permit = world.permit(provider=provider, applicant=applicant)
    official = world.official()
    outsider = world.member()
    obligations = list(session.scalars(select(Obligation).where(
        Obligation.permit_id == permit.id).order_by(Obligation.term_index)))
    return SimpleNamespace(world=world, session=session, client=client, provider=provider,
                           applicant=applicant, official=official, outsider=outsider,
                           permit=permit, obligations=obligations,
                           service=ObligationService(session, settings))


def api(case, user, method, path, **kwargs):
    return getattr(case.client, method)(f"/api/v1/obligations{path}",
                                        headers=case.world.headers(user), **kwargs)


def pay(case, ob, amount="100.00", currency=None, user=None, **extra):
    body = {"amount": amount, "currency": currency or ob.currency,
            "paid_on": TODAY.isoformat(), "reference": "TT-1", **extra}
    return api(case, user or case.applicant, "post", f"/{ob.reference}/payments", json=body)


def fresh(case, ob) -> Obligation:
    case.session.expire_all()
    return case.session.get(Obligation, ob.id)


def unchanged(case, ob, version: int) -> None:
    now = fresh(case, ob)
    assert now.version == version and now.paid == 0
    assert case.session.scalar(select(func.count()).select_from(Payment)) == 0


# --- from terms to obligations --------------------------------------------------------------


def test_issuing_a_permit_turns_each_term_into_an_obligation(case):
    obs = case.obligations
    assert [o.kind.value for o in obs] == ["access_fee", "milestone_payment",
                                           "milestone_payment", "royalty", "royalty", "training"]
    fee, patent, approval, tiered, fund, training = obs
    assert (fee.amount, fee.currency, fee.status) == (Decimal("80000"), "CNY",
                                                      ObligationStatus.DUE)
    assert fee.due_on == case.permit.valid_from + timedelta(days=30)
    assert fee.beneficiary_org_id == case.provider.organization_id
    assert (patent.status, patent.due_on, patent.trigger.value) == (
        ObligationStatus.PENDING, None, "patent_granted")
    assert approval.currency == "USD" and approval.amount == Decimal("200000")
    assert tiered.amount is None and tiered.tiers == [
        {"from_turnover": "0.00", "rate": "2"}, {"from_turnover": "50000000.00", "rate": "3"}]
    assert fund.rate == Decimal("0.5") and fund.beneficiary_org_id is None
    assert fund.beneficiary_name == "National Biodiversity Conservation Fund"
    assert training.currency is None and training.status is ObligationStatus.DUE
    assert training.description["en"].startswith("one month of training")
    assert "participants" in training.expected_evidence
    assert {o.payer_org_id for o in obs} == {case.applicant.organization_id}
    created = case.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.subject_type == "obligation", AuditEvent.action == "create"))
    assert created == 6
    told = {n.user_id for n in case.session.scalars(
        select(Notification).where(Notification.kind == "obligations_created"))}
    assert told == {case.applicant.id, case.provider.id}
    assert case.service.create_for_permit(case.permit) == []  # nothing twice


EVERY_KIND = [
    {"kind": "upfront_payment", "amount": "1000.50", "currency": "EUR",
     "due_date": "2020-01-01"},
    {"kind": "licence_fee", "amount": "300", "currency": "JPY", "due_date": "2099-01-01"},
    {"kind": "research_funding", "amount": "12.345", "currency": "KWD", "period": "annual",
     "trigger": "permit_issued"},
    {"kind": "results_sharing", "description": "Copies of all papers", "trigger": "publication"},
    {"kind": "joint_research", "description": "A joint field season",
     "due_date": "2099-06-30"},
    {"kind": "technology_transfer", "description": "The extraction protocol",
     "trigger": "research_completed", "within_days": 10},
    {"kind": "co_authorship", "description": "Provider scientists as co-authors",
     "trigger": "publication"},
    {"kind": "samples_returned", "description": "Unused samples back",
     "trigger": "research_completed"},
]


def test_every_kind_of_term_maps_to_an_obligation(world, session):
    terms = [{**t, "beneficiary": {"kind": "community", "name": "Hani village"}}
             if i == 3 else {**t, "beneficiary": {"kind": "provider", "name": "Seed bank"}}
             for i, t in enumerate(EVERY_KIND)]
    permit = world.permit(terms=terms)
    obs = {o.kind.value: o for o in session.scalars(
        select(Obligation).where(Obligation.permit_id == permit.id))}
    assert set(obs) == {t["kind"] for t in EVERY_KIND}
    assert obs["upfront_payment"].status is ObligationStatus.DUE  # its date has passed
    assert obs["upfront_payment"].amount == Decimal("1000.5")
    assert obs["licence_fee"].status is ObligationStatus.PENDING
    assert obs["research_funding"].amount == Decimal("12.345")
    assert obs["research_funding"].status is ObligationStatus.DUE  # due on the permit's issue
    assert obs["results_sharing"].beneficiary_kind.value == "community"
    assert obs["results_sharing"].beneficiary_org_id is None  # no community consented
    for kind in ("results_sharing", "joint_research", "technology_transfer", "co_authorship",
                 "samples_returned"):
        assert obs[kind].currency is None and obs[kind].expected_evidence
    assert obs["technology_transfer"].within_days == 10


# --- payments -------------------------------------------------------------------------------


def test_partial_payments_add_up_exactly_to_met(case):
    fee = case.obligations[0]
    for amount, status in (("33333.33", "partly_met"), ("33333.33", "partly_met"),
                           ("13333.34", "met")):
        answer = pay(case, fee, amount)
        assert answer.status_code == 201, answer.json
        assert answer.json["amount"] == amount
        assert fresh(case, fee).status.value == status
    assert fresh(case, fee).paid == Decimal("80000.00")
    body = api(case, case.applicant, "get", f"/{fee.reference}").json
    assert (body["paid"], body["outstanding"], body["status"]) == ("80000.00", "0.00", "met")
    assert pay(case, fee, "0.01").status_code == 409  # nothing left to pay on a met one


@pytest.mark.parametrize("amount, currency, field", [
    ("100.00", "USD", "currency"),
    ("-5.00", None, "amount"),
    ("0", None, "amount"),
    ("0.00", None, "amount"),
    ("1.001", None, "amount"),
    (5.0, None, "amount"),
    ("80000.01", None, "amount"),
    ("1e3", None, "amount"),
])
def test_bad_payments_are_refused_naming_the_field_and_change_nothing(case, amount, currency,
                                                                      field):
    fee = case.obligations[0]
    version = fee.version
    answer = pay(case, fee, amount, currency)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]
    unchanged(case, fee, version)


def test_a_payment_dated_in_the_future_or_with_a_foreign_proof_is_refused(case):
    fee, patent = case.obligations[0], case.obligations[1]
    answer = pay(case, fee, paid_on=(TODAY + timedelta(days=2)).isoformat())
    assert answer.status_code == 422 and "paid_on" in answer.json["errors"]
    doc = api(case, case.applicant, "post", f"/{patent.reference}/attachments",
              data={"file": (io.BytesIO(PDF), "receipt.pdf")},
              content_type="multipart/form-data")
    assert doc.status_code == 201
    answer = pay(case, fee, proof=doc.json["id"])
    assert answer.status_code == 422 and "proof" in answer.json["errors"]
    unchanged(case, fee, fee.version)


def test_a_payment_with_its_proof_is_recorded_and_the_proof_downloads(case):
    fee = case.obligations[0]
    doc = api(case, case.applicant, "post", f"/{fee.reference}/attachments",
              data={"file": (io.BytesIO(PDF), "bank slip.pdf")},
              content_type="multipart/form-data").json
    answer = pay(case, fee, "500.00", proof=doc["id"])
    assert answer.status_code == 201 and answer.json["proof"]["filename"] == "bank slip.pdf"
    got = api(case, case.provider, "get", f"/{fee.reference}/attachments/{doc['id']}")
    assert got.status_code == 200 and got.data == PDF
    assert api(case, case.outsider, "get",
               f"/{fee.reference}/attachments/{doc['id']}").status_code == 404
    told = case.session.scalars(select(Notification).where(
        Notification.kind == "payment_recorded")).all()
    assert [n.user_id for n in told] == [case.provider.id]


def test_only_the_payer_records_payments_and_evidence(case):
    fee, training = case.obligations[0], case.obligations[5]
    assert pay(case, fee, user=case.outsider).status_code == 404  # someone else's obligation
    answer = pay(case, fee, user=case.provider)
    assert answer.status_code == 403 and "payer" in answer.json["errors"]
    answer = api(case, case.outsider, "post", f"/{training.reference}/evidence",
                 json={"text": "We trained them"})
    assert answer.status_code == 404
    unchanged(case, fee, fee.version)


def test_evidence_meets_a_non_monetary_obligation_and_money_takes_none(case):
    fee, training = case.obligations[0], case.obligations[5]
    answer = api(case, case.applicant, "post", f"/{training.reference}/evidence",
                 json={"text": "   "})
    assert answer.status_code == 422 and "text" in answer.json["errors"]
    answer = api(case, case.applicant, "post", f"/{training.reference}/evidence",
                 json={"text": "Two technicians trained in May 2026."})
    assert answer.status_code == 201
    assert fresh(case, training).status is ObligationStatus.MET
    assert api(case, case.applicant, "post", f"/{fee.reference}/evidence",
               json={"text": "paid"}).status_code == 409
    assert pay(case, training, "1.00", "CNY").status_code == 409


# --- the beneficiary's answer, waivers ------------------------------------------------------


def test_the_beneficiary_confirms_or_disputes_and_a_dispute_reopens(case):
    fee = case.obligations[0]
    first = pay(case, fee, "80000.00").json
    assert fresh(case, fee).status is ObligationStatus.MET
    path = f"/{fee.reference}/payments/{first['id']}/decision"
    answer = api(case, case.applicant, "post", path, json={"confirm": True})
    assert answer.status_code == 403 and "beneficiary" in answer.json["errors"]
    assert api(case, case.outsider, "post", path, json={"confirm": True}).status_code == 404
    answer = api(case, case.provider, "post", path, json={"confirm": False})
    assert answer.status_code == 422 and "reason" in answer.json["errors"]
    assert fresh(case, fee).status is ObligationStatus.MET  # nothing changed
    answer = api(case, case.provider, "post", path,
                 json={"confirm": False, "reason": "Nothing arrived on our account."})
    assert answer.status_code == 200 and answer.json["confirmation"] == "disputed"
    now = fresh(case, fee)
    assert (now.status, now.paid) == (ObligationStatus.DISPUTED, Decimal(0))
    assert api(case, case.provider, "post", path, json={"confirm": True}).status_code == 409
    second = pay(case, fee, "80000.00").json
    assert fresh(case, fee).status is ObligationStatus.MET
    answer = api(case, case.provider, "post",
                 f"/{fee.reference}/payments/{second['id']}/decision", json={"confirm": True})
    assert answer.json["confirmation"] == "confirmed"
    told = {n.user_id for n in case.session.scalars(
        select(Notification).where(Notification.kind == "receipt_disputed"))}
    assert case.applicant.id in told and case.official.id in told


def test_officials_confirm_what_the_national_fund_receives(case):
    fund = case.obligations[4]
    assert fund.beneficiary_org_id is None
    case.service.report_milestone(case.applicant, case.permit.number, "first_sale",
                                  date(2025, 3, 1))
    report = case.service.file_sales_report(case.applicant, fund.reference, {
        "period": "2025", "turnover": Decimal("1000000.00"), "currency": "CNY"})
    payable = report.payable
    assert payable.amount == Decimal("5000") and payable.parent_id == fund.id
    payment = pay(case, payable, "5000.00").json
    path = f"/{payable.reference}/payments/{payment['id']}/decision"
    assert api(case, case.provider, "post", path, json={"confirm": True}).status_code == 404
    assert api(case, case.official, "post", path, json={"confirm": True}).status_code == 200


def test_waiving_needs_an_official_and_a_reason(case):
    patent = case.obligations[1]
    answer = api(case, case.applicant, "post", f"/{patent.reference}/waive",
                 json={"reason": "please"})
    assert answer.status_code == 403 and "role" in answer.json["errors"]
    answer = api(case, case.official, "post", f"/{patent.reference}/waive", json={"reason": " "})
    assert answer.status_code == 422 and "reason" in answer.json["errors"]
    assert fresh(case, patent).status is ObligationStatus.PENDING
    answer = api(case, case.official, "post", f"/{patent.reference}/waive",
                 json={"reason": "The patent was abandoned by agreement.", "version": 99})
    assert answer.status_code == 409 and "version" in answer.json["errors"]
    answer = api(case, case.official, "post", f"/{patent.reference}/waive",
                 json={"reason": "The patent was abandoned by agreement."})
    assert answer.status_code == 200 and answer.json["status"] == "waived"
    assert api(case, case.official, "post", f"/{patent.reference}/waive",
               json={"reason": "again"}).status_code == 409


# --- milestones and royalties ---------------------------------------------------------------


def test_a_reported_milestone_makes_its_payment_due(case):
    patent = case.obligations[1]
    body = {"permit": case.permit.number, "event": "patent_granted",
            "occurred_on": (TODAY - timedelta(days=5)).isoformat()}
    answer = api(case, case.provider, "post", "/milestones", json=body)
    assert answer.status_code == 403
    assert api(case, case.outsider, "post", "/milestones", json=body).status_code == 404
    future = {**body, "occurred_on": (TODAY + timedelta(days=1)).isoformat()}
    answer = api(case, case.applicant, "post", "/milestones", json=future)
    assert answer.status_code == 422 and "occurred_on" in answer.json["errors"]
    answer = api(case, case.applicant, "post", "/milestones", json={**body, "event": "publication"})
    assert answer.status_code == 422 and "event" in answer.json["errors"]
    assert fresh(case, patent).status is ObligationStatus.PENDING
    answer = api(case, case.applicant, "post", "/milestones", json=body)
    assert answer.status_code == 201 and answer.json["obligations_due"] == [patent.reference]
    now = fresh(case, patent)
    assert now.status is ObligationStatus.DUE
    assert now.due_on == TODAY - timedelta(days=5) + timedelta(days=60)
    answer = api(case, case.applicant, "post", "/milestones", json=body)
    assert answer.status_code == 409 and "event" in answer.json["errors"]


def test_sales_reports_compute_the_royalty_with_marginal_tiers(case):
    tiered, fund = case.obligations[3], case.obligations[4]
    report = {"period": "2025", "turnover": "60000000.00", "currency": "CNY"}
    answer = api(case, case.applicant, "post", f"/{tiered.reference}/sales-reports", json=report)
    assert answer.status_code == 409 and "status" in answer.json["errors"]  # no first sale yet
    case.service.report_milestone(case.applicant, case.permit.number, "first_sale",
                                  date(2025, 2, 1))
    for bad, field in (({"currency": "USD"}, "currency"), ({"period": "2025-Q1"}, "period"),
                       ({"period": str(TODAY.year)}, "period"), ({"turnover": "-1"}, "turnover"),
                       ({"turnover": "1.005"}, "turnover")):
        answer = api(case, case.applicant, "post", f"/{tiered.reference}/sales-reports",
                     json={**report, **bad})
        assert answer.status_code == 422 and field in answer.json["errors"], (bad, answer.json)
    assert case.session.scalar(select(func.count()).select_from(SalesReport)) == 0
    answer = api(case, case.applicant, "post", f"/{tiered.reference}/sales-reports", json=report)
    assert answer.status_code == 201
    # 2% of the first 50,000,000 and 3% of the 10,000,000 above: 1,000,000 + 300,000.
    assert answer.json["royalty"] == "1300000.00"
    payable = api(case, case.applicant, "get", f"/{answer.json['payable']}").json
    assert (payable["amount"], payable["status"], payable["royalty"]) == (
        "1300000.00", "due", tiered.reference)
    again = api(case, case.applicant, "post", f"/{tiered.reference}/sales-reports", json=report)
    assert again.status_code == 409 and "period" in again.json["errors"]
    flat = api(case, case.applicant, "post", f"/{fund.reference}/sales-reports", json=report)
    assert flat.json["royalty"] == "300000.00"  # 0.5%


def test_quarterly_royalties_on_annual_tiers_add_up_to_the_whole_year():
    tiers = [(Decimal(0), Decimal("2")), (Decimal("50000000"), Decimal("3"))]
    assert royalty.on_turnover(Decimal("50000000"), tiers=tiers) == Decimal("1000000")
    assert royalty.on_turnover(Decimal("40000000"), tiers=tiers) == Decimal("800000")
    quarters, before, owed = ["20000000.01", "20000000", "20000000", "0.33"], Decimal(0), []
    for q in quarters:
        owed.append(royalty.for_period(Decimal(q), before, "CNY", tiers=tiers))
        before += Decimal(q)
    whole = royalty.rounded(royalty.on_turnover(before, tiers=tiers), "CNY")
    assert sum(owed) == whole == Decimal("1300000.01")
    assert owed[2] == Decimal("500000.00")  # 10M at 2%, then 10M at 3%
    assert royalty.for_period(Decimal("333.33"), Decimal(0), "JPY", rate=Decimal("1.5")) == 5
    assert royalty.parse_period(royalty.Period.QUARTERLY, "2026-Q3") == (2026, 3)
    assert royalty.period_end(royalty.Period.SEMIANNUAL, 2026, 1) == date(2026, 6, 30)


# --- who sees what --------------------------------------------------------------------------


def test_each_party_sees_what_it_owes_or_is_owed_and_nobody_else_anything(case):
    refs = {o.reference for o in case.obligations}
    owed = api(case, case.applicant, "get", "?scope=owed").json
    assert {i["reference"] for i in owed["items"]} == refs
    owed_to = api(case, case.provider, "get", "?scope=owed_to").json
    assert {i["reference"] for i in owed_to["items"]} == refs - {case.obligations[4].reference}
    assert api(case, case.provider, "get", "?scope=owed").json["items"] == []
    assert api(case, case.outsider, "get", "?scope=owed_to").json["items"] == []
    assert api(case, case.outsider, "get", f"/{case.obligations[0].reference}").status_code == 404
    assert api(case, case.applicant, "get", "?scope=all").status_code == 403
    everything = api(case, case.official, "get", "?scope=all&status=due").json
    assert {i["reference"] for i in everything["items"]} == {
        case.obligations[0].reference, case.obligations[5].reference}
    detail = api(case, case.provider, "get", f"/{case.obligations[0].reference}").json
    assert detail["amount"] == "80000.00" and detail["allowed_actions"] == []
    assert "record_payment" in api(case, case.applicant, "get",
                                   f"/{case.obligations[0].reference}").json["allowed_actions"]


def test_pages_show_what_we_owe_and_are_owed_and_the_detail_acts(case, app_nocsrf):
    client = app_nocsrf.test_client()

    def sign_in(user):
        client.post("/sign-in", data={"email": user.email,
                                      "password": "correct horse battery staple"})

    fee = case.obligations[0]
    sign_in(case.applicant)
    page = client.get("/obligations")
    assert page.status_code == 200 and fee.reference in page.text
    assert "What we owe" in page.text
    page = client.post(f"/obligations/{fee.reference}/payments", data={
        "amount": "10.001", "currency": "CNY", "paid_on": TODAY.isoformat(),
        "reference": "TT-9", "version": str(fee.version)})
    assert page.status_code == 422 and "at most 2 decimal places" in page.text
    page = client.post(f"/obligations/{fee.reference}/payments", data={
        "amount": "10.00", "currency": "CNY", "paid_on": TODAY.isoformat(),
        "reference": "TT-9", "version": str(fee.version),
        "proof_file": (io.BytesIO(PDF), "slip.pdf")}, content_type="multipart/form-data")
    assert page.status_code == 302
    assert fresh(case, fee).paid == Decimal("10")
    detail = client.get(f"/obligations/{fee.reference}")
    assert "slip.pdf" in detail.text and "10.00 CNY" in detail.text
    assert client.get("/obligations/overdue").status_code == 403
    client.post("/sign-out")
    sign_in(case.outsider)
    assert client.get(f"/obligations/{fee.reference}").status_code == 404
    client.post("/sign-out")
    sign_in(case.provider)
    page = client.get("/obligations")
    assert "What we are owed" in page.text and fee.reference in page.text


# --- reports --------------------------------------------------------------------------------


def test_benefits_received_per_beneficiary_resource_and_year_with_csv_and_chart(case,
                                                                                app_nocsrf):
    fee, approval = case.obligations[0], case.obligations[2]
    pay(case, fee, "1000.00", paid_on="2025-05-01")
    pay(case, fee, "2000.50")
    disputed = pay(case, fee, "7.00").json
    api(case, case.provider, "post", f"/{fee.reference}/payments/{disputed['id']}/decision",
        json={"confirm": False, "reason": "never arrived"})
    case.service.report_milestone(case.applicant, case.permit.number, "product_approved",
                                  TODAY)
    pay(case, approval, "10.00")
    resource = case.permit.resources[0].reference
    csv_text = api(case, case.provider, "get", "/benefits.csv").text
    lines = csv_text.strip().splitlines()
    assert lines[0] == ("year,beneficiary,beneficiary_kind,resource,resource_name,currency,"
                        "amount,payments")
    name = case.provider.organization.name
    assert f"2025,{name},provider,{resource},Oryza sativa,CNY,1000.00,1" in lines
    assert f"{TODAY.year},{name},provider,{resource},Oryza sativa,CNY,2000.50,1" in lines
    assert f"{TODAY.year},{name},provider,{resource},Oryza sativa,USD,10.00,1" in lines
    assert len(lines) == 4  # the disputed payment does not count
    assert api(case, case.outsider, "get", "/benefits.csv").text.strip().count("\n") == 0
    assert api(case, case.official, "get", "/benefits.csv").text == csv_text
    body = api(case, case.provider, "get", "/benefits").json
    assert {tuple(r["key"]) + (r["amount"],) for r in body["by_beneficiary"]} == {
        (name, "provider", 2025, "CNY", "1000.00"),
        (name, "provider", TODAY.year, "CNY", "2000.50"),
        (name, "provider", TODAY.year, "USD", "10.00")}
    client = app_nocsrf.test_client()
    client.post("/sign-in", data={"email": case.provider.email,
                                  "password": "correct horse battery staple"})
    page = client.get("/obligations/benefits")
    assert page.status_code == 200 and page.text.count("<svg") == 2
    assert "2,000.50 CNY" in page.text and "<script" not in page.text


def test_officials_see_everything_overdue_by_user_with_totals_per_currency(case, app):
    fee, training = case.obligations[0], case.obligations[5]
    pay(case, fee, "0.50")
    run = app.test_cli_runner().invoke(args=[
        "obligations", "daily", "--today", (TODAY + timedelta(days=400)).isoformat()])
    assert run.exit_code == 0, run.output
    groups = api(case, case.official, "get", "/overdue").json
    assert groups == [{"organization": case.applicant.organization.name, "count": 2,
                       "totals": [{"currency": "CNY", "count": 1, "outstanding": "79999.50"},
                                  {"currency": None, "count": 1, "outstanding": None}]}]
    assert {fresh(case, o).status for o in (fee, training)} == {ObligationStatus.OVERDUE}
    assert api(case, case.applicant, "get", "/overdue").status_code == 403
