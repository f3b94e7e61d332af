"""Who sees what: confidential traditional knowledge, drafts and never-published records.

What a caller may not see answers exactly like what does not exist, byte for byte, on every
way in: the record's page and API, its history, the register, the review queue, and the
endpoints that would change it.
"""

from __future__ import annotations

import re

import pytest

from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.declarations.models import Kind
from tests.conftest import PASSWORD, gr_payload, tk_payload
from tests.test_api_bad_input import snapshot

API = "/api/v1/declarations"
SECRET_TITLE = "Sacred rite of the first rice harvest"


@pytest.fixture
def people(world, app):
    """Everyone who might look, each with a bearer token and a signed-in browser."""
    community = world.org(OrgKind.COMMUNITY, region="532822")
    cast = {
        "steward": world.steward(community),
        "fellow steward": world.steward(community),
        "official of the community": world.user(community, role=Role.OFFICIAL,
                                                level=OfficialLevel.PROVINCIAL),
        "other community": world.steward(),
        "enterprise member": world.member(),
        "provincial official": world.official(OfficialLevel.PROVINCIAL),
        "national official": world.official(OfficialLevel.NATIONAL),
        "cleared provincial official": world.official(OfficialLevel.PROVINCIAL,
                                                      tk_clearance=True),
        "cleared national official": world.official(OfficialLevel.NATIONAL,
                                                    tk_clearance=True),
        "administrator": world.admin(),
    }
    return {name: _Person(world, app, user) for name, user in cast.items()} | {
        "anonymous": _Person(world, app, None)}


class _Person:
    def __init__(self, world, app, user):
        self.user = user
        self.headers = world.headers(user) if user is not None else {}
        self.browser = app.test_client()
        if user is not None:
            form = self.browser.get("/sign-in").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            response = self.browser.post("/sign-in", data={
                "email": user.email, "password": PASSWORD, "csrf_token": token})
            assert response.status_code == 302

    @property
    def is_official(self) -> bool:
        return self.user is not None and self.user.is_official


TK_INSIDERS = {"steward", "fellow steward", "official of the community"}
CLEARED = {"cleared provincial official", "cleared national official"}
EVERYONE = TK_INSIDERS | CLEARED | {"other community", "enterprise member",
                                    "provincial official", "national official",
                                    "administrator", "anonymous"}


def _tk(world, people, visibility: str, state: str):
    steward = people["steward"].user
    service = world.declarations
    decl = world.declare(steward, Kind.TRADITIONAL_KNOWLEDGE, title=SECRET_TITLE,
                         visibility=visibility)
    if state != "draft":
        service.transition(steward, decl.reference, "submit")
    if state == "registered":
        service.transition(people["cleared national official"].user, decl.reference,
                           "register")
    return service.get(steward, decl.reference)


def _missing_like(reference: str) -> str:
    """A well-formed reference of the same kind and length that was never issued."""
    kind = reference.split("-")[1]
    return f"CN-{kind}-2020-999999"


def assert_hidden_from(client_or_person, reference: str) -> None:
    """Every read answers as if the reference had never been issued."""
    person = client_or_person
    missing = _missing_like(reference)
    for path in (f"{API}/{{}}", f"{API}/{{}}/history"):
        hidden = person.browser.get(path.format(reference), headers=person.headers)
        absent = person.browser.get(path.format(missing), headers=person.headers)
        assert hidden.status_code == 404, (path, hidden.get_data(as_text=True)[:200])
        assert hidden.get_data() == absent.get_data()
        assert _headers(hidden) == _headers(absent)
    hidden = person.browser.get(f"/declarations/{reference}")
    absent = person.browser.get(f"/declarations/{missing}")
    assert hidden.status_code == absent.status_code == 404
    # the page repeats its own address (the language switch returns there) and carries a
    # time-stamped CSRF token; nothing else may differ
    assert _page(hidden, reference) == _page(absent, missing)
    assert SECRET_TITLE not in hidden.get_data(as_text=True)


def _headers(response) -> dict:
    """The headers, but for the browser's session cookie, which is re-signed with the time."""
    return {k: v for k, v in response.headers.items() if k != "Set-Cookie"}


def _page(response, reference: str) -> str:
    text = response.get_data(as_text=True).replace(reference, "REF")
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value="T"', text)


def assert_visible_to(person, reference: str) -> None:
    response = person.browser.get(f"{API}/{reference}", headers=person.headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:200]
    assert person.browser.get(f"{API}/{reference}/history",
                              headers=person.headers).status_code == 200
    page = person.browser.get(f"/declarations/{reference}")
    assert page.status_code == 200
    assert reference in page.get_data(as_text=True)


def _in_queue(person, reference: str) -> bool:
    queue = person.browser.get("/api/v1/review-queue", headers=person.headers).get_json()
    page = person.browser.get("/review").get_data(as_text=True)
    in_api = reference in [d["reference"] for d in queue]
    assert in_api == (reference in page), "the queue page and the API disagree"
    return in_api


def _in_register(client, reference: str, words: str) -> bool:
    found = client.get("/api/v1/register", query_string={"q": words}).get_json()
    everything = client.get("/api/v1/register", query_string={"per_page": 100}).get_json()
    page = client.get("/register", query_string={"q": words}).get_data(as_text=True)
    refs = {i["reference"] for i in found["items"]} | {
        i["reference"] for i in everything["items"]}
    return reference in refs or reference in page


@pytest.mark.parametrize(("visibility", "state"), [
    ("restricted", "submitted"), ("secret", "submitted"), ("secret", "registered")])
def test_confidential_tk_is_seen_only_by_its_community_and_cleared_officials(
        client, world, people, visibility, state):
    decl = _tk(world, people, visibility, state)
    for name in sorted(EVERYONE):
        person = people[name]
        if name in TK_INSIDERS | CLEARED:
            assert_visible_to(person, decl.reference)
        else:
            assert_hidden_from(person, decl.reference)
    assert not _in_register(client, decl.reference, "sacred rite rice")


@pytest.mark.parametrize("visibility", ["restricted", "secret"])
def test_confidential_tk_is_in_the_review_queue_only_of_cleared_officials(client, world,
                                                                          people, visibility):
    decl = _tk(world, people, visibility, "submitted")
    for name in ("provincial official", "national official"):
        assert not _in_queue(people[name], decl.reference), name
    for name in CLEARED:
        assert _in_queue(people[name], decl.reference), name


@pytest.mark.parametrize("visibility", ["restricted", "secret"])
def test_confidential_tk_draft_is_seen_only_by_its_community(client, world, people,
                                                             visibility):
    decl = _tk(world, people, visibility, "draft")
    for name in sorted(EVERYONE):
        if name in TK_INSIDERS:
            assert_visible_to(people[name], decl.reference)
        else:
            assert_hidden_from(people[name], decl.reference)
    for name in CLEARED:
        assert not _in_queue(people[name], decl.reference)


def test_public_tk_once_registered_is_seen_by_everyone_and_in_the_register(client, world,
                                                                           people):
    decl = _tk(world, people, "public", "registered")
    for name in sorted(EVERYONE):
        assert_visible_to(people[name], decl.reference)
    assert _in_register(client, decl.reference, "sacred rite rice")


def test_public_tk_while_submitted_is_seen_by_any_official_but_not_the_public(world, people):
    decl = _tk(world, people, "public", "submitted")
    for name in ("provincial official", "national official") + tuple(CLEARED):
        assert_visible_to(people[name], decl.reference)
        assert _in_queue(people[name], decl.reference)
    for name in ("anonymous", "enterprise member", "other community", "administrator"):
        assert_hidden_from(people[name], decl.reference)


@pytest.mark.parametrize("action", ["submit", "withdraw", "register", "return", "reject",
                                    "amend"])
def test_acting_on_hidden_tk_answers_like_a_missing_record(world, session, people, action):
    decl = _tk(world, people, "secret", "submitted")
    missing = _missing_like(decl.reference)
    for name in ("enterprise member", "other community", "national official"):
        person = people[name]
        before = snapshot(session)
        hidden = person.browser.post(f"{API}/{decl.reference}/{action}",
                                     json={"comment": "why"}, headers=person.headers)
        absent = person.browser.post(f"{API}/{missing}/{action}", json={"comment": "why"},
                                     headers=person.headers)
        if action == "amend":
            hidden = person.browser.post(f"{API}/{decl.reference}/amend", headers=person.headers)
            absent = person.browser.post(f"{API}/{missing}/amend", headers=person.headers)
        assert hidden.status_code == 404, (name, hidden.get_json())
        assert hidden.get_data() == absent.get_data()
        assert snapshot(session) == before


def test_editing_hidden_tk_answers_like_a_missing_record(world, session, people):
    decl = _tk(world, people, "restricted", "submitted")
    person = people["other community"]
    body = {**tk_payload(), "version": decl.version}
    before = snapshot(session)
    hidden = person.browser.put(f"{API}/traditional-knowledge/{decl.reference}", json=body,
                                headers=person.headers)
    absent = person.browser.put(f"{API}/traditional-knowledge/{_missing_like(decl.reference)}",
                                json=body, headers=person.headers)
    assert hidden.status_code == 404
    assert hidden.get_data() == absent.get_data()
    assert snapshot(session) == before


def test_hidden_tk_is_not_in_other_organizations_lists(world, people):
    decl = _tk(world, people, "secret", "submitted")
    for name in ("other community", "enterprise member"):
        person = people[name]
        own = person.browser.get(API, headers=person.headers).get_json()
        assert decl.reference not in [d["reference"] for d in own]
        assert SECRET_TITLE not in person.browser.get("/dashboard").get_data(as_text=True)
    own = people["fellow steward"].browser.get(API, headers=people["fellow steward"].headers)
    assert decl.reference in [d["reference"] for d in own.get_json()]


def test_secret_tk_leaves_no_trace_in_the_register_counts(client, world, people):
    empty = client.get("/api/v1/register").get_json()
    _tk(world, people, "secret", "registered")
    _tk(world, people, "restricted", "submitted")
    after = client.get("/api/v1/register").get_json()
    assert (after["total"], after["items"]) == (empty["total"], empty["items"])
    assert client.get("/api/v1/register",
                      query_string={"kind": "traditional_knowledge"}).get_json()["total"] == 0


def test_registered_restricted_tk_shows_its_summary_to_everyone_and_its_body_to_insiders(
        client, world, people):
    """Restricted: the summary is public and listed; the body answers 404 like a missing
    record to everyone but the community and cleared officials."""
    decl = _tk(world, people, "restricted", "registered")
    missing = _missing_like(decl.reference)
    for name in sorted(EVERYONE):
        person = people[name]
        assert_visible_to(person, decl.reference)
        body = person.browser.get(f"/api/v1/traditional-knowledge/{decl.reference}/body",
                                  headers=person.headers)
        page = person.browser.get(f"/declarations/{decl.reference}").get_data(as_text=True)
        description = tk_payload()["description"]
        if name in TK_INSIDERS | CLEARED:
            assert body.status_code == 200, name
            assert body.get_json()["description"] == description
            assert description in page
        else:
            absent = person.browser.get(f"/api/v1/traditional-knowledge/{missing}/body",
                                        headers=person.headers)
            assert body.status_code == 404, name
            assert body.get_data() == absent.get_data()
            assert description not in page
            assert description not in person.browser.get(
                f"{API}/{decl.reference}", headers=person.headers).get_data(as_text=True)
    assert _in_register(client, decl.reference, "sacred rite rice")


# --- drafts and records that were never published -----------------------------------------


@pytest.fixture
def enterprise(world, app):
    org = world.org(OrgKind.ENTERPRISE)
    return _Person(world, app, world.member(org)), _Person(world, app, world.member(org))


def test_a_draft_is_seen_only_by_its_organization(client, world, people, enterprise):
    author, colleague = enterprise
    draft = world.declare(author.user)
    assert_visible_to(author, draft.reference)
    assert_visible_to(colleague, draft.reference)
    for name in sorted(EVERYONE - TK_INSIDERS):
        assert_hidden_from(people[name], draft.reference)
    for name in ("provincial official", "national official") + tuple(CLEARED):
        assert not _in_queue(people[name], draft.reference)
    assert not _in_register(client, draft.reference, "drought")


def test_an_amendment_draft_is_hidden_while_the_original_stays_public(client, world, people,
                                                                     enterprise):
    author, _colleague = enterprise
    original = world.registered(author.user, reviewer=people["national official"].user)
    amendment = world.declarations.amend(author.user, original.reference)
    for name in ("anonymous", "enterprise member", "cleared national official"):
        assert_hidden_from(people[name], amendment.reference)
        assert_visible_to(people[name], original.reference)


def test_a_draft_withdrawn_before_submission_stays_private(client, world, people, enterprise):
    """Withdrawing an unsubmitted draft must not publish what was never sent to anyone."""
    author, colleague = enterprise
    draft = world.declare(author.user, intended_use="Confidential breeding programme")
    world.declarations.transition(author.user, draft.reference, "withdraw", "abandoned")
    assert_visible_to(author, draft.reference)
    assert_visible_to(colleague, draft.reference)
    for name in ("anonymous", "enterprise member", "other community", "administrator",
                 "national official", "cleared national official"):
        assert_hidden_from(people[name], draft.reference)


def test_a_declaration_withdrawn_or_rejected_before_registration_is_not_public(
        world, people, enterprise):
    author, _colleague = enterprise
    official = people["national official"].user
    withdrawn = world.declare(author.user)
    world.declarations.transition(author.user, withdrawn.reference, "submit")
    world.declarations.transition(author.user, withdrawn.reference, "withdraw", "sold")
    rejected = world.declare(author.user)
    world.declarations.transition(author.user, rejected.reference, "submit")
    world.declarations.transition(official, rejected.reference, "reject", "no permit")
    for decl in (withdrawn, rejected):
        for name in ("anonymous", "enterprise member", "administrator"):
            assert_hidden_from(people[name], decl.reference)
        # the officials saw it when it was submitted; they still may
        assert_visible_to(people["provincial official"], decl.reference)


def test_a_record_withdrawn_after_registration_stays_readable_but_leaves_the_register(
        client, world, people, enterprise):
    """Nothing is deleted: the published record and its history remain, off the register."""
    author, _colleague = enterprise
    decl = world.registered(author.user, reviewer=people["national official"].user)
    assert _in_register(client, decl.reference, "drought")
    world.declarations.transition(author.user, decl.reference, "withdraw", "material lost")
    assert not _in_register(client, decl.reference, "drought")
    assert_visible_to(people["anonymous"], decl.reference)
    history = client.get(f"{API}/{decl.reference}/history").get_json()
    assert history[-1]["action"] == "withdraw"


def test_a_registered_genetic_resource_is_public_to_everyone(client, world, people,
                                                             enterprise):
    author, _colleague = enterprise
    decl = world.registered(author.user, reviewer=people["national official"].user)
    for name in sorted(EVERYONE):
        assert_visible_to(people[name], decl.reference)


def test_a_submitted_genetic_resource_is_seen_by_officials_not_by_the_public(world, people,
                                                                            enterprise):
    author, _colleague = enterprise
    decl = world.declare(author.user)
    world.declarations.transition(author.user, decl.reference, "submit")
    for name in ("provincial official", "national official"):
        assert_visible_to(people[name], decl.reference)
    for name in ("anonymous", "enterprise member", "other community", "administrator"):
        assert_hidden_from(people[name], decl.reference)


def test_a_deactivated_account_sees_only_what_the_public_sees(world, session, people,
                                                              enterprise):
    author, colleague = enterprise
    draft = world.declare(author.user)
    colleague.user.active = False
    session.commit()
    response = colleague.browser.get(f"{API}/{draft.reference}", headers=colleague.headers)
    assert response.status_code in (401, 404)
    assert colleague.browser.get(f"/declarations/{draft.reference}").status_code == 404


def test_the_create_form_payload_of_another_org_cannot_cite_its_draft(client, world, people,
                                                                      enterprise):
    """Linking is reading: a draft another organization cannot see cannot be cited either."""
    author, _colleague = enterprise
    draft = world.declare(author.user)
    other = people["enterprise member"]
    response = other.browser.post(f"{API}/dsi", json={
        "title": "Sequences", "molecule_type": "dna", "source_resources": [draft.reference]},
        headers=other.headers)
    assert response.status_code == 422
    assert gr_payload()["intended_use"] not in response.get_data(as_text=True)
