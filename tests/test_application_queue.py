"""The officials' queue through the API: oldest first, paged without gaps or repeats, filtered
by state, each item with its consents and agreement, in the same few queries at any size."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from tests.test_application_concurrency import EXAMPLE, Parties

QUEUE = "/api/v1/application-queue"


@pytest.fixture
def parties(world, repo_root) -> Parties:
    return Parties(world, json.loads((repo_root / EXAMPLE).read_text(encoding="utf-8")))


@pytest.fixture
def filed(parties):
    """Four submitted and three in review, filed in this order."""
    refs = {"submitted": [], "review": []}
    for n in range(7):
        if n % 2 and len(refs["review"]) < 3:
            refs["review"].append(parties.in_review())
        else:
            refs["submitted"].append(parties.submitted())
    return refs


def get(client, parties, **query):
    answer = client.get(QUEUE, query_string=query,
                        headers=parties.headers[parties.officials[0].id])
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_pages_walk_the_waiting_applications_oldest_first(client, parties, filed):
    seen, page = [], 1
    while True:
        body = get(client, parties, per_page=3, page=page)
        assert body["total"] == 7
        if not body["items"]:
            break
        seen += body["items"]
        page += 1
    assert page == 4
    assert [i["submitted_at"] for i in seen] == sorted(i["submitted_at"] for i in seen)
    assert sorted(i["reference"] for i in seen) == sorted(filed["submitted"] + filed["review"])


def test_a_state_filter_shows_only_that_state_with_each_items_details(client, parties, filed):
    body = get(client, parties, status="review")
    assert body["total"] == 3
    assert [i["reference"] for i in body["items"]] == filed["review"]
    for item in body["items"]:
        assert item["status"] == "review"
        assert [c["status"] for c in item["consents"]] == ["granted"]
        assert item["agreement"]["status"] == "accepted"
        assert len(item["agreement"]["acceptances"]) == 2
        assert item["resources"] == [parties.resource.reference]
        assert {"approve", "refuse", "request_information"} <= set(item["allowed_actions"])
    submitted = get(client, parties, status="submitted")
    assert [i["reference"] for i in submitted["items"]] == filed["submitted"]
    assert all(i["agreement"] is None for i in submitted["items"])


def test_a_bigger_page_costs_no_more_queries(app, client, parties, filed):
    engine = app.extensions["abs"].engine
    counted = [0]

    def count(*_args) -> None:
        counted[0] += 1

    get(client, parties)  # the token's first use is recorded once, not on every request
    event.listen(engine, "before_cursor_execute", count)
    try:
        costs = []
        for per_page in (1, 3):
            counted[0] = 0
            body = get(client, parties, status="review", per_page=per_page)
            assert len(body["items"]) == per_page
            costs.append(counted[0])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert costs[0] == costs[1], f"queries for 1 application in review vs 3: {costs}"
