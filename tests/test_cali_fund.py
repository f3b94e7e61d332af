"""The Cali Fund: annual figures in, the expected contribution out, as an obligation."""

from __future__ import annotations

from sqlalchemy import func, select

from abs_registry.auth.models import OrgKind
from abs_registry.obligations.models import CaliFundReturn, Obligation

# Just above two thresholds (sales 50M, profits 5M), assets below 20M: liable.
ABOVE = {"year": 2025, "currency": "USD", "revenue": "50000000.01", "profit": "5000000.01",
         "assets": "1000000.00"}


def post(client, world, user, body):
    return client.post("/api/v1/obligations/cali-fund/returns", headers=world.headers(user),
                       json=body)


def test_above_two_thresholds_the_contribution_becomes_an_obligation(client, world, session):
    member = world.member(world.org(OrgKind.ENTERPRISE))
    answer = post(client, world, member, ABOVE)
    assert answer.status_code == 201, answer.json
    assert (answer.json["thresholds_exceeded"], answer.json["contribution"]) == (2, "50000.00")
    ob = session.scalar(select(Obligation).where(
        Obligation.reference == answer.json["obligation"]))
    assert (ob.kind.value, ob.beneficiary_kind.value, ob.beneficiary_name, ob.amount,
            ob.status.value) == ("dsi_contribution", "cali_fund", "Cali Fund",
                                 ob.amount, "due")
    assert str(ob.amount) == "50000"  # 1% of 5,000,000.01 rounded half-up to the cent
    revenue = post(client, world, member, {**ABOVE, "year": 2024, "basis": "revenue"})
    assert revenue.json["contribution"] == "50000.00"  # 0.1% of revenue


def test_at_or_below_the_thresholds_nothing_is_owed(client, world, session):
    member = world.member(world.org(OrgKind.ENTERPRISE))
    at = {**ABOVE, "revenue": "50000000.00", "profit": "5000000.00"}
    answer = post(client, world, member, at)
    assert answer.status_code == 201
    assert (answer.json["thresholds_exceeded"], answer.json["contribution"],
            answer.json["obligation"]) == (0, "0.00", None)
    below = post(client, world, member, {**ABOVE, "year": 2024, "assets": "0.00",
                                         "revenue": "1.00"})
    assert below.json["thresholds_exceeded"] == 1 and below.json["obligation"] is None
    assert session.scalar(select(func.count()).select_from(Obligation)) == 0


def test_the_average_over_three_years_and_the_exchange_rate_decide(client, world):
    member = world.member(world.org(OrgKind.ENTERPRISE))
    # CNY at 0.14 USD: 400M CNY revenue = 56M USD, 40M CNY profit = 5.6M USD.
    cny = {"currency": "CNY", "revenue": "400000000.00", "profit": "40000000.00",
           "assets": "1.00", "usd_rate": "0.14"}
    first = post(client, world, member, {**cny, "year": 2023})
    assert first.json["thresholds_exceeded"] == 2 and first.json["contribution"] == "400000.00"
    small = post(client, world, member, {**cny, "year": 2024, "revenue": "100000000.00",
                                         "profit": "1000000.00"})
    # averages over 2023-2024: revenue 35M USD, profit 2.87M USD: below both now.
    assert small.json["thresholds_exceeded"] == 0
    assert small.json["computation"]["years_averaged"] == [2023, 2024]


def test_bad_figures_are_refused_naming_the_field(client, world, session):
    member = world.member(world.org(OrgKind.ENTERPRISE))
    for bad, field in (({"currency": "XXX"}, "currency"),
                       ({"currency": "CNY"}, "usd_rate"),
                       ({"revenue": "-1.00"}, "revenue"),
                       ({"assets": "1.001"}, "assets"),
                       ({"profit": 5.0}, "profit"),
                       ({"year": 2999}, "year"),
                       ({"basis": "vibes"}, "basis")):
        answer = post(client, world, member, {**ABOVE, **bad})
        assert answer.status_code == 422 and field in answer.json["errors"], (bad, answer.json)
    assert session.scalar(select(func.count()).select_from(CaliFundReturn)) == 0
    assert post(client, world, member, ABOVE).status_code == 201
    again = post(client, world, member, ABOVE)
    assert again.status_code == 409 and "year" in again.json["errors"]
    steward = world.steward()
    assert post(client, world, steward, ABOVE).status_code == 403


def test_returns_are_seen_by_their_organization_and_officials(client, world):
    member, other, official = world.member(), world.member(), world.official()
    post(client, world, member, ABOVE)
    path = "/api/v1/obligations/cali-fund/returns"
    assert len(client.get(path, headers=world.headers(member)).json) == 1
    assert client.get(path, headers=world.headers(other)).json == []
    assert len(client.get(path, headers=world.headers(official)).json) == 1
