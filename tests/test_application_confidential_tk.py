"""A case that names confidential TK does not reveal it: not to officials without TK clearance,
not to the other parties, not in the API, the page, the queue or the history (DOMAIN rule 4).
"""

from __future__ import annotations

from abs_registry.applications.service import ApplicationService
from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.declarations.models import Kind
from tests.conftest import PASSWORD


def _case(world):
    community = world.org(OrgKind.COMMUNITY, region="532822")
    steward = world.steward(community)
    member = world.user(community, role=Role.MEMBER)
    cleared = world.official(OfficialLevel.NATIONAL, tk_clearance=True)
    secret = world.registered(steward, Kind.TRADITIONAL_KNOWLEDGE, reviewer=cleared,
                              visibility="secret", title="Grove rites")
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE))
    resource = world.registered(provider, reviewer=cleared)
    service = ApplicationService(world.session)
    ref = service.create(member, {
        "title": "Uses of the grove plants", "resources": [resource.reference],
        "tk_records": [secret.reference], "purpose": "non_commercial",
        "activities": "Documenting uses with the community.", "work_location": "Xishuangbanna",
        "duration_months": 12}).reference
    service.transition(member, ref, "submit")
    service.transition(cleared, ref, "accept_complete")
    pic = next(c for c in service.get(cleared, ref).consents if c.kind.value == "pic")
    service.decide_consent(provider, ref, pic.id, grant=True)
    return ref, secret.reference, cleared, provider


def test_officials_without_tk_clearance_do_not_see_the_case(world, client):
    ref, secret_ref, cleared, _ = _case(world)
    uncleared = world.official(OfficialLevel.NATIONAL)
    headers = world.headers(uncleared)
    missing = client.get("/api/v1/applications/CN-APP-2026-999999", headers=headers)
    hidden = client.get(f"/api/v1/applications/{ref}", headers=headers)
    assert hidden.status_code == 404 and hidden.data == missing.data
    queue = client.get("/api/v1/application-queue?status=consent", headers=headers)
    assert ref not in queue.get_data(as_text=True)
    seen = client.get(f"/api/v1/applications/{ref}", headers=world.headers(cleared))
    assert seen.get_json()["tk_records"] == [secret_ref]


def test_the_other_parties_see_the_case_without_the_confidential_record(world, client,
                                                                       app_nocsrf):
    ref, secret_ref, _, provider = _case(world)
    headers = world.headers(provider)
    for url in (f"/api/v1/applications/{ref}", f"/api/v1/applications/{ref}/history"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        assert secret_ref not in response.get_data(as_text=True), url
    body = client.get(f"/api/v1/applications/{ref}", headers=headers).get_json()
    assert body["tk_records"] == []
    assert all(secret_ref not in c["subjects"] for c in body["consents"])
    browser = app_nocsrf.test_client()
    assert browser.post("/sign-in", data={"email": provider.email,
                                          "password": PASSWORD}).status_code == 302
    page = browser.get(f"/applications/{ref}")
    assert page.status_code == 200 and secret_ref not in page.get_data(as_text=True)
