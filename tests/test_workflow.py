"""The declaration workflow: every action from every state, the review rules, amendments,
the key regulatory list, the history and the reference numbers.

Expectations are written out here as a table of their own, not read from ``states.py``, so
that a change to the product's table shows up as a failing test.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.declarations import keylist
from abs_registry.declarations.models import Kind
from abs_registry.references import next_reference
from tests.conftest import PASSWORD, dsi_payload, gr_payload, tk_payload
from tests.test_api_bad_input import assert_refused, snapshot

API = "/api/v1/declarations"

STATES = ["draft", "submitted", "returned", "registered", "rejected", "withdrawn", "superseded"]
ACTIONS = ["submit", "withdraw", "register", "return", "reject", "amend", "edit"]
DECLARANT_ACTIONS = {"submit", "withdraw", "amend", "edit"}
REVIEWER_ACTIONS = {"register", "return", "reject"}
ALLOWED = {
    "draft": {"submit", "withdraw", "edit"},
    "submitted": {"withdraw", "register", "return", "reject"},
    "returned": {"submit", "withdraw", "edit"},
    "registered": {"withdraw", "amend"},
    "rejected": set(),
    "withdrawn": set(),
    "superseded": set(),
}
LEADS_TO = {"submit": "submitted", "withdraw": "withdrawn", "register": "registered",
            "return": "returned", "reject": "rejected"}


@pytest.fixture
def member(world):
    return world.member()


@pytest.fixture
def national(world):
    return world.official(OfficialLevel.NATIONAL, tk_clearance=True)


def build(world, declarant, reviewer, state: str, kind: Kind = Kind.GENETIC_RESOURCE, **over):
    """A declaration brought to ``state`` through the service, as people would."""
    service = world.declarations
    decl = world.declare(declarant, kind, **over)
    ref = decl.reference
    if state == "draft":
        return decl
    service.transition(declarant, ref, "submit")
    if state == "submitted":
        return service.get(declarant, ref)
    if state == "withdrawn":
        return service.transition(declarant, ref, "withdraw", "filed twice by mistake")
    if state in {"returned", "rejected"}:
        action = "return" if state == "returned" else "reject"
        return service.transition(reviewer, ref, action, "the collection permit is missing")
    service.transition(reviewer, ref, "register")
    if state == "registered":
        return service.get(declarant, ref)
    amendment = service.amend(declarant, ref)
    service.transition(declarant, amendment.reference, "submit")
    service.transition(reviewer, amendment.reference, "register")
    return service.get(declarant, ref)


def act(client, world, decl, action: str, actor, comment: str = "a reason given"):
    """Take ``action`` through the JSON API, as a client would."""
    headers = world.headers(actor)
    if action == "amend":
        return client.post(f"{API}/{decl.reference}/amend", headers=headers)
    if action == "edit":
        return client.put(f"{API}/genetic-resources/{decl.reference}",
                          json={**gr_payload(collector="Wang Fang"), "version": decl.version},
                          headers=headers)
    return client.post(f"{API}/{decl.reference}/{action}", json={"comment": comment},
                       headers=headers)


def _read(client, world, reference, actor):
    response = client.get(f"{API}/{reference}", headers=world.headers(actor))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_every_action_from_every_state(client, world, session, member, national, state,
                                       action):
    decl = build(world, member, national, state)
    actor = national if action in REVIEWER_ACTIONS else member
    mine = DECLARANT_ACTIONS if actor is member else REVIEWER_ACTIONS
    session.refresh(decl)
    before = snapshot(session)
    response = act(client, world, decl, action, actor)

    if state == "draft" and actor is national:
        # nobody outside the organization sees a draft: not found, whatever the action
        assert_refused(response, 404, "_schema")
        assert snapshot(session) == before
        return
    if action not in ALLOWED[state]:
        body = assert_refused(response, 409, "status")
        assert body["state"] == state
        assert sorted(body["allowed"]) == sorted(ALLOWED[state] & mine)
        assert snapshot(session) == before
        return

    assert response.status_code == (201 if action == "amend" else 200), response.get_json()
    result = response.get_json()
    if action == "amend":
        assert result["status"] == "draft"
        assert result["supersedes"] == decl.reference
        assert result["reference"] != decl.reference
        assert _read(client, world, decl.reference, member)["status"] == "registered"
    elif action == "edit":
        assert result["status"] == state
        assert result["genetic_resource"]["collector"] == "Wang Fang"
        assert result["version"] > decl.version
    else:
        assert result["status"] == LEADS_TO[action]
        assert result["version"] > decl.version
        history = client.get(f"{API}/{decl.reference}/history",
                             headers=world.headers(member)).get_json()
        last = history[-1]
        assert (last["action"], last["from_state"], last["to_state"]) == (
            action, state, LEADS_TO[action])


@pytest.mark.parametrize("state", STATES)
def test_allowed_actions_shown_to_each_party_follow_the_table(client, world, member, national,
                                                              state):
    decl = build(world, member, national, state)
    as_declarant = _read(client, world, decl.reference, member)["allowed_actions"]
    assert sorted(as_declarant) == sorted(ALLOWED[state] & DECLARANT_ACTIONS)
    as_official = client.get(f"{API}/{decl.reference}", headers=world.headers(national))
    if state == "draft":
        assert as_official.status_code == 404
    else:
        assert sorted(as_official.get_json()["allowed_actions"]) == sorted(
            ALLOWED[state] & REVIEWER_ACTIONS)


def test_the_html_action_form_refuses_a_move_the_state_does_not_allow(app_nocsrf, client,
                                                                      world, session, member,
                                                                      national):
    decl = build(world, member, national, "registered")
    client.post("/sign-in", data={"email": member.email, "password": PASSWORD})
    before = snapshot(session)
    response = client.post(f"/declarations/{decl.reference}/act/submit", data={})
    assert response.status_code == 409
    assert "registered" in response.get_data(as_text=True)
    assert snapshot(session) == before


# --- who may review -----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["register", "return", "reject"])
def test_an_official_may_not_review_what_their_organization_filed(client, world, session,
                                                                  action):
    org = world.org()
    declarant = world.member(org)
    colleague = world.user(org, role=Role.OFFICIAL, level=OfficialLevel.NATIONAL)
    decl = build(world, declarant, None, "submitted")
    assert "register" not in _read(client, world, decl.reference, colleague)["allowed_actions"]
    before = snapshot(session)
    response = act(client, world, decl, action, colleague)
    assert_refused(response, 403, "own_declaration", message="you or your organization")
    assert snapshot(session) == before
    other = world.official(OfficialLevel.NATIONAL)
    assert act(client, world, decl, action, other).status_code == 200


def test_a_steward_who_is_also_an_official_may_not_review_their_communitys_tk(client, world,
                                                                              session):
    community = world.org(OrgKind.COMMUNITY, region="532822")
    steward = world.steward(community)
    insider = world.user(community, role=Role.OFFICIAL, level=OfficialLevel.NATIONAL,
                         tk_clearance=True)
    decl = build(world, steward, None, "submitted", Kind.TRADITIONAL_KNOWLEDGE,
                 visibility="restricted")
    before = snapshot(session)
    assert_refused(act(client, world, decl, "register", insider), 403, "own_declaration")
    assert snapshot(session) == before


KEY_LIST = """scientific_name,rank,category,note
Oryza,genus,crop wild relatives,every wild and cultivated rice
Panax ginseng,species,medicinal plants,
"""


def test_key_listed_taxon_is_flagged_and_needs_a_national_official(client, world, session,
                                                                   member):
    report = keylist.import_list(session, None, KEY_LIST)
    assert (report.added, report.deactivated) == (2, 0)
    decl = build(world, member, None, "submitted", scientific_name="Oryza rufipogon")
    shown = _read(client, world, decl.reference, member)
    assert shown["needs_national_review"] is True
    assert shown["key_list_matches"] == ["Oryza"]

    provincial = world.official(OfficialLevel.PROVINCIAL, tk_clearance=True)
    queue = client.get("/api/v1/review-queue", headers=world.headers(provincial)).get_json()
    assert [d["needs_national_review"] for d in queue if d["reference"] == decl.reference] == [
        True]
    assert "register" not in next(d for d in queue
                                  if d["reference"] == decl.reference)["allowed_actions"]
    before = snapshot(session)
    for action in ("register", "return", "reject"):
        assert_refused(act(client, world, decl, action, provincial), 403,
                       "national_review_required", message="key regulatory list")
    assert snapshot(session) == before

    national = world.official(OfficialLevel.NATIONAL)
    registered = act(client, world, decl, "register", national)
    assert registered.status_code == 200
    assert registered.get_json()["status"] == "registered"


def test_unlisted_taxon_may_be_registered_by_a_provincial_official(client, world, session,
                                                                   member):
    keylist.import_list(session, None, KEY_LIST)
    decl = build(world, member, None, "submitted", scientific_name="Camellia sinensis")
    assert _read(client, world, decl.reference, member)["needs_national_review"] is False
    provincial = world.official(OfficialLevel.PROVINCIAL)
    assert act(client, world, decl, "register", provincial).get_json()["status"] == "registered"


def test_tk_naming_a_listed_species_is_flagged_too(client, world, session):
    keylist.import_list(session, None, KEY_LIST)
    steward = world.steward()
    decl = build(world, steward, None, "submitted", Kind.TRADITIONAL_KNOWLEDGE,
                 associated_species=["Panax ginseng"])
    assert _read(client, world, decl.reference, steward)["key_list_matches"] == ["Panax ginseng"]
    provincial = world.official(OfficialLevel.PROVINCIAL)
    assert_refused(act(client, world, decl, "register", provincial), 403,
                   "national_review_required")


def test_dsi_inherits_the_flag_of_the_resource_it_derives_from(client, world, session, member):
    national = world.official(OfficialLevel.NATIONAL)
    source = world.registered(member, scientific_name="Oryza sativa", reviewer=national)
    keylist.import_list(session, None, KEY_LIST)
    decl = build(world, member, None, "submitted", Kind.DSI,
                 source_resources=[source.reference])
    assert _read(client, world, decl.reference, member)["needs_national_review"] is True


def test_reimporting_the_list_deactivates_removed_taxa_and_reflags_waiting_declarations(
        client, world, session, member, tmp_path, app):
    """Through the administrator's command, as it is used."""
    runner = app.test_cli_runner()
    first = tmp_path / "key-list.csv"
    first.write_text(KEY_LIST, encoding="utf-8")
    result = runner.invoke(args=["keylist", "import", str(first)])
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output

    waiting = build(world, member, None, "submitted", scientific_name="Oryza sativa")
    returned = build(world, member, world.official(OfficialLevel.NATIONAL), "returned",
                     scientific_name="Oryza sativa")
    assert _read(client, world, waiting.reference, member)["needs_national_review"] is True

    second = tmp_path / "key-list-2.csv"
    second.write_text("scientific_name,rank\nPanax ginseng,species\n", encoding="utf-8")
    result = runner.invoke(args=["keylist", "import", str(second)])
    assert result.exit_code == 0, result.output
    assert "deactivated 1" in result.output and "1 waiting declaration(s)" in result.output

    listed = client.get("/api/v1/key-list").get_json()
    assert [e["scientific_name"] for e in listed] == ["Panax ginseng"]
    now = _read(client, world, waiting.reference, member)
    assert (now["needs_national_review"], now["key_list_matches"]) == (False, [])
    provincial = world.official(OfficialLevel.PROVINCIAL)
    assert act(client, world, waiting, "register", provincial).status_code == 200

    # a returned declaration is checked again when it is submitted again
    resubmitted = act(client, world, returned, "submit", member).get_json()
    assert resubmitted["needs_national_review"] is False

    # listing the genus again flags what waits again
    result = runner.invoke(args=["keylist", "import", str(first)])
    assert result.exit_code == 0, result.output
    assert "added 0, updated 2, deactivated 0; 1 waiting declaration(s)" in result.output
    assert _read(client, world, returned.reference, member)["needs_national_review"] is True


@pytest.mark.parametrize(("content", "problem"), [
    ("name,rank\nOryza,genus\n", "missing column"),
    ("scientific_name,rank\nOryza,tribe\n", "unknown rank"),
    ("scientific_name,rank\n,genus\n", "empty"),
    ("scientific_name,rank\nOryza,genus\noryza,genus\n", "twice"),
])
def test_a_bad_key_list_file_is_refused_and_the_list_stays(client, world, session, app,
                                                           tmp_path, content, problem):
    keylist.import_list(session, None, KEY_LIST)
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    before = snapshot(session)
    result = app.test_cli_runner().invoke(args=["keylist", "import", str(path)])
    assert result.exit_code != 0
    assert problem in result.output and "file" in result.output
    assert snapshot(session) == before
    assert len(client.get("/api/v1/key-list").get_json()) == 2


def test_only_an_administrator_may_import_the_key_list(world, session, member):
    from abs_registry.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        keylist.import_list(session, world.official(OfficialLevel.NATIONAL), KEY_LIST)
    assert keylist.active_entries(session) == []
    assert keylist.import_list(session, world.admin(), KEY_LIST).added == 2


# --- reasons, returns and resubmission ----------------------------------------------------


@pytest.mark.parametrize(("state", "action"), [
    ("submitted", "return"), ("submitted", "reject"), ("submitted", "withdraw"),
    ("draft", "withdraw"), ("registered", "withdraw"), ("returned", "withdraw"),
])
@pytest.mark.parametrize("comment", ["", "   "])
def test_return_reject_and_withdraw_need_a_reason(client, world, session, member, national,
                                                  state, action, comment):
    decl = build(world, member, national, state)
    actor = national if action in REVIEWER_ACTIONS else member
    before = snapshot(session)
    response = act(client, world, decl, action, actor, comment=comment)
    assert_refused(response, 422, "comment", message=action)
    assert snapshot(session) == before


def test_submit_and_register_need_no_reason(client, world, member, national):
    decl = build(world, member, national, "draft")
    assert client.post(f"{API}/{decl.reference}/submit", json={},
                       headers=world.headers(member)).status_code == 200
    assert client.post(f"{API}/{decl.reference}/register", json={},
                       headers=world.headers(national)).status_code == 200


def test_a_returned_declaration_is_edited_and_resubmitted_and_the_message_is_seen(
        app_nocsrf, client, world, member, national):
    message = "Please add the collection permit number to the intended use."
    decl = build(world, member, national, "submitted")
    returned = act(client, world, decl, "return", national, comment=message).get_json()
    assert returned["status"] == "returned"

    history = client.get(f"{API}/{decl.reference}/history",
                         headers=world.headers(member)).get_json()
    back = history[-1]
    assert (back["action"], back["comment"], back["actor"]) == (
        "return", message, national.display_name)

    client.post("/sign-in", data={"email": member.email, "password": PASSWORD})
    page = client.get(f"/declarations/{decl.reference}").get_data(as_text=True)
    assert message in page

    edited = client.put(
        f"{API}/genetic-resources/{decl.reference}",
        json={**gr_payload(intended_use="Screening for drought tolerance; permit 2025-77"),
              "version": returned["version"]},
        headers=world.headers(member))
    assert edited.status_code == 200, edited.get_json()
    resubmitted = act(client, world, decl, "submit", member).get_json()
    assert resubmitted["status"] == "submitted"
    registered = act(client, world, decl, "register", national).get_json()
    assert registered["status"] == "registered"
    actions = [e["action"] for e in client.get(f"{API}/{decl.reference}/history").get_json()]
    assert actions == ["create", "submit", "return", "edit", "submit", "register"]


def test_a_returned_declaration_is_corrected_and_resubmitted_through_the_pages(
        app_nocsrf, client, world, session, member, national):
    decl = build(world, member, national, "returned")
    client.post("/sign-in", data={"email": member.email, "password": PASSWORD})
    form_page = client.get(f"/declarations/{decl.reference}/edit").get_data(as_text=True)
    assert "returned this declaration for changes" in form_page
    version = re.search(r'name="version" value="(\d+)"', form_page).group(1)
    form = {k: str(v) for k, v in gr_payload(intended_use="Drought screening; permit 77")
            .items()}
    response = client.post(f"/declarations/{decl.reference}/edit",
                           data={**form, "version": version, "intent": "submit"})
    assert response.status_code == 302
    history = client.get(f"{API}/{decl.reference}/history",
                         headers=world.headers(member)).get_json()
    assert [e["action"] for e in history][-3:] == ["return", "edit", "submit"]
    assert history[-2]["data"]["fields"] == ["intended_use"]
    assert history[-1]["to_state"] == "submitted"


def test_the_review_form_asks_for_the_missing_message_beside_its_box(app_nocsrf, client,
                                                                     world, session, member,
                                                                     national):
    decl = build(world, member, national, "submitted")
    client.post("/sign-in", data={"email": national.email, "password": PASSWORD})
    before = snapshot(session)
    refused = client.post(f"/declarations/{decl.reference}/act/return",
                          data={"comment": "  ", "version": str(decl.version)})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'<textarea id="comment-return"[^>]*aria-invalid="true"', html)
    assert 'id="error-comment"' in html
    assert snapshot(session) == before
    done = client.post(f"/declarations/{decl.reference}/act/return",
                       data={"comment": "Add the permit.", "version": str(decl.version)})
    assert done.status_code == 302
    assert _read(client, world, decl.reference, member)["status"] == "returned"


def test_the_review_form_refuses_a_provincial_official_on_a_listed_taxon(
        app_nocsrf, client, world, session, member):
    keylist.import_list(session, None, KEY_LIST)
    decl = build(world, member, None, "submitted")
    provincial = world.official(OfficialLevel.PROVINCIAL)
    client.post("/sign-in", data={"email": provincial.email, "password": PASSWORD})
    before = snapshot(session)
    response = client.post(f"/declarations/{decl.reference}/act/register", data={})
    assert response.status_code == 403
    assert "national-level official" in response.get_data(as_text=True)
    assert snapshot(session) == before


def test_an_edit_that_changes_nothing_records_nothing(client, world, session, member):
    decl = world.declare(member)
    before = snapshot(session)
    response = client.put(f"{API}/genetic-resources/{decl.reference}",
                          json={**gr_payload(), "version": decl.version},
                          headers=world.headers(member))
    assert response.status_code == 200
    assert snapshot(session) == before


def test_the_edit_event_names_the_fields_that_changed(client, world, member):
    decl = world.declare(member)
    client.put(f"{API}/genetic-resources/{decl.reference}",
               json={**gr_payload(collector="Wang Fang", holder="Seed bank B"),
                     "version": decl.version},
               headers=world.headers(member))
    history = client.get(f"{API}/{decl.reference}/history",
                         headers=world.headers(member)).get_json()
    assert history[-1]["action"] == "edit"
    assert sorted(history[-1]["data"]["fields"]) == ["collector", "holder"]


# --- amendments ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
def test_an_amendment_supersedes_the_registered_declaration_once_registered(
        client, world, member, national, kind):
    declarant = world.steward() if kind is Kind.TRADITIONAL_KNOWLEDGE else member
    over = {}
    if kind is Kind.DSI:
        over["source_resources"] = [world.registered(member, reviewer=national).reference]
    old = build(world, declarant, national, "registered", kind, **over)
    headers = world.headers(declarant)

    amendment = client.post(f"{API}/{old.reference}/amend", headers=headers).get_json()
    new_ref = amendment["reference"]
    assert amendment["supersedes"] == old.reference
    assert amendment["status"] == "draft"
    section = {Kind.GENETIC_RESOURCE: "genetic_resource", Kind.DSI: "dsi",
               Kind.TRADITIONAL_KNOWLEDGE: "traditional_knowledge"}[kind]
    old_shown = _read(client, world, old.reference, declarant)
    assert amendment[section] == old_shown[section]  # the draft starts as a copy

    # while the amendment is open, the old record stays registered and findable
    register = client.get("/api/v1/register").get_json()
    assert old.reference in [i["reference"] for i in register["items"]]

    path = {Kind.GENETIC_RESOURCE: "genetic-resources", Kind.DSI: "dsi",
            Kind.TRADITIONAL_KNOWLEDGE: "traditional-knowledge"}[kind]
    payload = {Kind.GENETIC_RESOURCE: gr_payload(quantity="2.5"),
               Kind.DSI: dsi_payload(title="Amended title", **over),
               Kind.TRADITIONAL_KNOWLEDGE: tk_payload(title="Amended title")}[kind]
    edited = client.put(f"{API}/{path}/{new_ref}",
                        json={**payload, "version": amendment["version"]}, headers=headers)
    assert edited.status_code == 200, edited.get_json()
    assert act(client, world, _Ref(new_ref), "submit", declarant).status_code == 200
    assert act(client, world, _Ref(new_ref), "register", national).status_code == 200

    old_now = client.get(f"{API}/{old.reference}").get_json()
    new_now = client.get(f"{API}/{new_ref}").get_json()
    assert old_now["status"] == "superseded"
    assert new_now["status"] == "registered"
    assert new_now["supersedes"] == old.reference
    refs = [i["reference"] for i in client.get("/api/v1/register").get_json()["items"]]
    assert new_ref in refs and old.reference not in refs

    old_history = client.get(f"{API}/{old.reference}/history").get_json()
    assert [e["action"] for e in old_history] == ["create", "submit", "register", "supersede"]
    assert old_history[-1]["from_state"] == "registered"
    assert old_history[-1]["to_state"] == "superseded"
    assert new_ref in old_history[-1]["comment"]
    new_history = client.get(f"{API}/{new_ref}/history").get_json()
    assert [e["action"] for e in new_history] == ["create", "edit", "submit", "register"]
    assert old.reference in new_history[0]["comment"]


class _Ref:
    """Just enough of a declaration for ``act``: its reference."""

    def __init__(self, reference: str):
        self.reference = reference
        self.version = None


def test_a_rejected_amendment_leaves_the_original_registered(client, world, member, national):
    old = build(world, member, national, "registered")
    new_ref = client.post(f"{API}/{old.reference}/amend",
                          headers=world.headers(member)).get_json()["reference"]
    assert act(client, world, _Ref(new_ref), "submit", member).status_code == 200
    assert act(client, world, _Ref(new_ref), "reject", national).status_code == 200
    assert client.get(f"{API}/{old.reference}").get_json()["status"] == "registered"
    # once the amendment is closed, another may be opened
    again = client.post(f"{API}/{old.reference}/amend", headers=world.headers(member))
    assert again.status_code == 201


def test_an_amendment_registered_after_the_original_was_withdrawn_supersedes_nothing(
        client, world, member, national):
    old = build(world, member, national, "registered")
    new_ref = client.post(f"{API}/{old.reference}/amend",
                          headers=world.headers(member)).get_json()["reference"]
    assert act(client, world, old, "withdraw", member, comment="sold").status_code == 200
    assert act(client, world, _Ref(new_ref), "submit", member).status_code == 200
    assert act(client, world, _Ref(new_ref), "register", national).status_code == 200
    old_history = client.get(f"{API}/{old.reference}/history",
                             headers=world.headers(member)).get_json()
    assert old_history[-1]["action"] == "withdraw"
    assert client.get(f"{API}/{old.reference}",
                      headers=world.headers(member)).get_json()["status"] == "withdrawn"


def test_only_the_declaring_organization_may_amend(client, world, session, member, national):
    old = build(world, member, national, "registered")
    stranger = world.member()
    before = snapshot(session)
    assert_refused(client.post(f"{API}/{old.reference}/amend",
                               headers=world.headers(stranger)), 403, "organization")
    assert_refused(client.post(f"{API}/{old.reference}/amend",
                               headers=world.headers(national)), 403, "organization")
    assert snapshot(session) == before


# --- history ------------------------------------------------------------------------------


def test_history_is_append_only_ordered_and_complete(client, world, member, national):
    decl = world.declare(member)
    ref = decl.reference
    seen: list[dict] = []
    steps = [
        (member, "submit", None),
        (national, "return", "Give the county code, not the province."),
        (member, "submit", None),
        (national, "register", None),
        (member, "withdraw", "The material was destroyed in a flood."),
    ]
    for actor, action, comment in steps:
        response = client.post(f"{API}/{ref}/{action}", json={"comment": comment},
                               headers=world.headers(actor))
        assert response.status_code == 200, response.get_json()
        history = client.get(f"{API}/{ref}/history", headers=world.headers(member)).get_json()
        assert history[: len(seen)] == seen, "an earlier event changed or disappeared"
        seen = history

    assert [e["action"] for e in seen] == ["create", "submit", "return", "submit", "register",
                                           "withdraw"]
    assert [(e["from_state"], e["to_state"]) for e in seen] == [
        (None, "draft"), ("draft", "submitted"), ("submitted", "returned"),
        ("returned", "submitted"), ("submitted", "registered"), ("registered", "withdrawn")]
    assert [e["actor"] for e in seen] == [member.display_name, member.display_name,
                                          national.display_name, member.display_name,
                                          national.display_name, member.display_name]
    assert [e["comment"] for e in seen] == [None, None, steps[1][2], None, None, steps[4][2]]
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    times = [datetime.fromisoformat(e["at"]) for e in seen]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in times)


def test_the_record_page_shows_its_history(app_nocsrf, client, world, member, national):
    decl = build(world, member, national, "returned")
    client.post("/sign-in", data={"email": member.email, "password": PASSWORD})
    page = client.get(f"/declarations/{decl.reference}").get_data(as_text=True)
    assert "the collection permit is missing" in page
    assert national.display_name in page


def test_a_refused_move_leaves_no_trace_in_the_history(client, world, member, national):
    decl = build(world, member, national, "submitted")
    before = client.get(f"{API}/{decl.reference}/history",
                        headers=world.headers(member)).get_json()
    assert act(client, world, decl, "submit", member).status_code == 409
    assert act(client, world, decl, "return", national, comment="").status_code == 422
    assert act(client, world, decl, "register", world.member()).status_code == 404
    assert act(client, world, decl, "register", member).status_code == 403
    after = client.get(f"{API}/{decl.reference}/history",
                       headers=world.headers(member)).get_json()
    assert after == before


# --- reference numbers --------------------------------------------------------------------


def test_reference_numbers_are_readable_sequential_for_gr_and_dsi_random_for_tk(client, world, member):
    year = datetime.now(UTC).year
    steward = world.steward()
    national = world.official(OfficialLevel.NATIONAL)
    first = world.registered(member, reviewer=national)
    made = [first.reference]
    for _kind, actor, payload_fn, path in [
        (Kind.GENETIC_RESOURCE, member, gr_payload, "genetic-resources"),
        (Kind.DSI, member, lambda: dsi_payload(source_resources=[first.reference]), "dsi"),
        (Kind.TRADITIONAL_KNOWLEDGE, steward, tk_payload, "traditional-knowledge"),
        (Kind.GENETIC_RESOURCE, member, gr_payload, "genetic-resources"),
        (Kind.DSI, member, lambda: dsi_payload(source_resources=["CN-GR-2020-999999"]), "dsi"),
        (Kind.DSI, member, lambda: dsi_payload(source_resources=[first.reference]), "dsi"),
        (Kind.TRADITIONAL_KNOWLEDGE, steward, tk_payload, "traditional-knowledge"),
    ]:
        response = client.post(f"{API}/{path}", json=payload_fn(),
                               headers=world.headers(actor))
        if response.status_code == 201:
            made.append(response.get_json()["reference"])
    # an amendment takes the next number of its kind, too
    made.append(client.post(f"{API}/{first.reference}/amend",
                            headers=world.headers(member)).get_json()["reference"])
    tk = [ref for ref in made if "-TK-" in ref]
    assert [ref for ref in made if "-TK-" not in ref] == [
        f"CN-GR-{year}-000001", f"CN-GR-{year}-000002", f"CN-DSI-{year}-000001",
        f"CN-GR-{year}-000003",
        # the refused DSI (unknown source) used no number
        f"CN-DSI-{year}-000002", f"CN-GR-{year}-000004",
    ]
    # TK numbers are drawn at random, so that they do not tell how many (secret) TK exist
    assert len(tk) == len(set(tk)) == 2
    assert all(re.fullmatch(rf"CN-TK-{year}-\d{{6}}", ref) for ref in tk)


def test_each_year_starts_its_own_series(world, session):
    from abs_registry.db import unit_of_work

    with unit_of_work(session):
        numbers = [next_reference(session, "CN", "GR", 2026),
                   next_reference(session, "CN", "GR", 2026),
                   next_reference(session, "CN", "GR", 2027),
                   next_reference(session, "CN", "DSI", 2027),
                   next_reference(session, "CN", "GR", 2026)]
    assert numbers == ["CN-GR-2026-000001", "CN-GR-2026-000002", "CN-GR-2027-000001",
                       "CN-DSI-2027-000001", "CN-GR-2026-000003"]


def test_a_reference_never_changes_through_the_workflow(client, world, member, national):
    decl = build(world, member, national, "registered")
    assert _read(client, world, decl.reference, member)["reference"] == decl.reference
