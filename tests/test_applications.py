"""The access-application workflow through the API: filing, completeness, consent, agreement,
review and decision, with every step in the history."""

from __future__ import annotations

import json

import pytest

from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.declarations.models import Kind
from tests.conftest import tk_payload

EXAMPLE = "contracts/non_commercial_research/v1/example.json"


@pytest.fixture
def case(world, client, repo_root):
    """A provider institute with a registered resource, a community with public TK, an
    applicant enterprise, and officials of both levels."""
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE, name="Provider Institute"))
    steward = world.steward(world.org(OrgKind.COMMUNITY, name="Hani Community", region="532800"))
    applicant = world.member(world.org(OrgKind.ENTERPRISE, name="Applicant Co"))
    national = world.official(OfficialLevel.NATIONAL)
    provincial = world.official(OfficialLevel.PROVINCIAL)
    resource = world.registered(provider, reviewer=national)
    tk = world.registered(steward, Kind.TRADITIONAL_KNOWLEDGE, reviewer=national,
                          **tk_payload(associated_species=["Oryza sativa"]))
    example = json.loads((repo_root / EXAMPLE).read_text(encoding="utf-8"))

    class Case:
        pass

    c = Case()
    c.world, c.client = world, client
    c.provider, c.steward, c.applicant = provider, steward, applicant
    c.national, c.provincial = national, provincial
    c.resource, c.tk, c.example = resource, tk, example
    c.h = {u: world.headers(u) for u in (provider, steward, applicant, national, provincial)}
    return c


def application_body(case, **overrides) -> dict:
    body = {
        "title": "Drought tolerance in rice landraces",
        "resources": [case.resource.reference],
        "tk_records": [case.tk.reference],
        "purpose": "non_commercial",
        "activities": "Genotyping and field trials of drought tolerance.",
        "work_location": "Kunming laboratories",
        "duration_months": 24,
    }
    body.update(overrides)
    return body


def post(case, user, url, body=None, **kw):
    return case.client.post(url, json=body if body is not None else {}, headers=case.h[user], **kw)


def test_full_workflow_from_application_to_approval(case):
    created = post(case, case.applicant, "/api/v1/applications", application_body(case))
    assert created.status_code == 201, created.get_json()
    ref = created.get_json()["reference"]
    assert ref.startswith("CN-APP-")
    url = f"/api/v1/applications/{ref}"

    assert post(case, case.applicant, f"{url}/submit").get_json()["status"] == "submitted"
    returned = post(case, case.provincial, f"{url}/return_incomplete",
                    {"missing": ["work plan", "sampling permit"]})
    assert returned.get_json()["status"] == "returned"
    assert post(case, case.applicant, f"{url}/submit").get_json()["completeness_round"] == 1
    accepted = post(case, case.provincial, f"{url}/accept_complete").get_json()
    assert accepted["status"] == "consent"
    kinds = {c["kind"]: c for c in accepted["consents"]}
    assert set(kinds) == {"pic", "fpic"}

    queue = case.client.get("/api/v1/consents", headers=case.h[case.steward]).get_json()
    assert [c["id"] for c in queue] == [kinds["fpic"]["id"]]
    post(case, case.provider, f"{url}/consents/{kinds['pic']['id']}",
         {"grant": True, "conditions": "Cite the institute."})
    post(case, case.steward, f"{url}/consents/{kinds['fpic']['id']}", {"grant": True})
    assert case.client.get(url, headers=case.h[case.applicant]).get_json()["status"] == "agreement"

    proposal = post(case, case.applicant, f"{url}/agreement",
                    {"template_id": "non_commercial_research", "template_version": 1,
                     "values": case.example["values"], "terms": case.example["terms"]})
    assert proposal.status_code == 201, proposal.get_json()
    agreement = proposal.get_json()
    for party in (case.provider, case.steward, case.applicant):
        answer = post(case, party, f"{url}/agreement/accept",
                      {"revision": agreement["revision"], "text_sha256": agreement["text_sha256"]})
        assert answer.status_code == 200, answer.get_json()
    app = case.client.get(url, headers=case.h[case.applicant]).get_json()
    assert app["status"] == "review"
    assert app["agreement"]["status"] == "accepted"
    assert {a["text_sha256"] for a in app["agreement"]["acceptances"]} == {agreement["text_sha256"]}

    post(case, case.national, f"{url}/notes", {"kind": "expert_opinion",
                                               "text": "Sampling is sustainable."})
    approved = post(case, case.provincial, f"{url}/approve",
                    {"comment": "Report results yearly."}).get_json()
    assert approved["status"] == "approved"
    assert approved["decision_text"] == "Report results yearly."

    history = case.client.get(f"{url}/history", headers=case.h[case.applicant]).get_json()
    assert [e["action"] for e in history] == [
        "create", "submit", "return_incomplete", "submit", "accept_complete", "pic_granted",
        "fpic_granted", "consent_complete", "propose_agreement", "accept_agreement",
        "accept_agreement", "accept_agreement", "agreement_accepted", "expert_opinion",
        "approve",
    ]
    assert history[2]["data"]["missing"] == ["work plan", "sampling permit"]


def test_a_move_the_state_does_not_allow_answers_409_and_changes_nothing(case):
    ref = post(case, case.applicant, "/api/v1/applications",
               application_body(case)).get_json()["reference"]
    answer = post(case, case.national, f"/api/v1/applications/{ref}/approve")
    assert answer.status_code in (404, 409)
    post(case, case.applicant, f"/api/v1/applications/{ref}/submit")
    answer = post(case, case.national, f"/api/v1/applications/{ref}/approve")
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["state"] == "submitted"
    assert set(body["allowed"]) == {"accept_complete", "return_incomplete"}
    again = case.client.get(f"/api/v1/applications/{ref}", headers=case.h[case.applicant])
    assert again.get_json()["status"] == "submitted"


def test_one_refusal_of_consent_stops_the_application(case):
    ref = post(case, case.applicant, "/api/v1/applications",
               application_body(case)).get_json()["reference"]
    url = f"/api/v1/applications/{ref}"
    post(case, case.applicant, f"{url}/submit")
    consents = post(case, case.provincial, f"{url}/accept_complete").get_json()["consents"]
    fpic = next(c for c in consents if c["kind"] == "fpic")
    no_reason = post(case, case.steward, f"{url}/consents/{fpic['id']}", {"grant": False})
    assert no_reason.status_code == 422
    assert "reason" in no_reason.get_json()["errors"]
    refused = post(case, case.steward, f"{url}/consents/{fpic['id']}",
                   {"grant": False, "reason": "Sacred knowledge is not for sale."})
    assert refused.status_code == 200
    assert case.client.get(url, headers=case.h[case.applicant]).get_json()["status"] == \
        "consent_refused"


def test_changing_the_agreement_voids_earlier_acceptances(case):
    ref = post(case, case.applicant, "/api/v1/applications",
               application_body(case, tk_records=[])).get_json()["reference"]
    url = f"/api/v1/applications/{ref}"
    post(case, case.applicant, f"{url}/submit")
    pic = post(case, case.provincial, f"{url}/accept_complete").get_json()["consents"][0]
    post(case, case.provider, f"{url}/consents/{pic['id']}", {"grant": True})
    body = {"template_id": "non_commercial_research", "template_version": 1,
            "values": case.example["values"], "terms": case.example["terms"]}
    first = post(case, case.applicant, f"{url}/agreement", body).get_json()
    post(case, case.provider, f"{url}/agreement/accept",
         {"revision": first["revision"], "text_sha256": first["text_sha256"]})
    changed = dict(case.example["values"], report_interval_months=6)
    second = post(case, case.provider, f"{url}/agreement", dict(body, values=changed)).get_json()
    assert second["revision"] == 2 and second["text_sha256"] != first["text_sha256"]
    assert second["acceptances"] == []
    stale = post(case, case.applicant, f"{url}/agreement/accept",
                 {"revision": first["revision"], "text_sha256": first["text_sha256"]})
    assert stale.status_code == 409
    assert stale.get_json()["current_sha256"] == second["text_sha256"]


def test_commercial_purpose_needs_a_national_official_and_no_one_decides_their_own(case):
    ref = post(case, case.applicant, "/api/v1/applications",
               application_body(case, tk_records=[], purpose="commercial")).get_json()["reference"]
    url = f"/api/v1/applications/{ref}"
    submitted = post(case, case.applicant, f"{url}/submit").get_json()
    assert submitted["needs_national_review"] is True
    assert submitted["review_reasons"] == ["commercial_purpose"]
    pic = post(case, case.provincial, f"{url}/accept_complete").get_json()["consents"][0]
    post(case, case.provider, f"{url}/consents/{pic['id']}", {"grant": True})
    body = {"template_id": "non_commercial_research", "template_version": 1,
            "values": case.example["values"], "terms": case.example["terms"]}
    agreement = post(case, case.applicant, f"{url}/agreement", body).get_json()
    for party in (case.provider, case.applicant):
        post(case, party, f"{url}/agreement/accept",
             {"revision": agreement["revision"], "text_sha256": agreement["text_sha256"]})
    refused = post(case, case.provincial, f"{url}/approve")
    assert refused.status_code == 403
    assert "national_review_required" in refused.get_json()["errors"]
    insider = case.world.user(case.applicant.organization, role=Role.OFFICIAL,
                              level=OfficialLevel.NATIONAL)
    provider_side = case.world.user(case.provider.organization, role=Role.OFFICIAL,
                                    level=OfficialLevel.NATIONAL)
    for official, rule in ((insider, "own_application"), (provider_side, "party_to_application")):
        case.h[official] = case.world.headers(official)
        answer = post(case, official, f"{url}/approve")
        assert answer.status_code == 403
        assert rule in answer.get_json()["errors"]
    assert post(case, case.national, f"{url}/approve").get_json()["status"] == "approved"


def test_same_idempotency_key_returns_the_first_answer_and_creates_nothing(case, session):
    headers = dict(case.h[case.applicant], **{"Idempotency-Key": "file-once-123"})
    first = case.client.post("/api/v1/applications", json=application_body(case), headers=headers)
    second = case.client.post("/api/v1/applications", json=application_body(case),
                              headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    mine = case.client.get("/api/v1/applications", headers=case.h[case.applicant]).get_json()
    assert len(mine) == 1
    other = case.client.post("/api/v1/applications",
                             json=application_body(case, title="Another title"), headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["errors"]


def test_withdrawal_before_decision_needs_a_reason(case):
    ref = post(case, case.applicant, "/api/v1/applications",
               application_body(case)).get_json()["reference"]
    url = f"/api/v1/applications/{ref}"
    assert post(case, case.applicant, f"{url}/withdraw").status_code == 422
    done = post(case, case.applicant, f"{url}/withdraw", {"comment": "Project cancelled."})
    assert done.get_json()["status"] == "withdrawn"
    assert post(case, case.applicant, f"{url}/submit").status_code == 409
