"""Bad input of every kind gets a clear 4xx that names the field or the rule, and changes nothing.

Each case checks three things: the status, a body of the form ``{"errors": {name: [message]}}``
naming what is wrong, and that the stored state (declarations, their versions, links, history,
register, reference counters) is exactly what it was before the request.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import OfficialLevel, Role
from abs_registry.declarations.models import (
    Declaration,
    Kind,
    RegisterEntry,
    dsi_sources,
    tk_resources,
)
from abs_registry.references import Counter
from tests.conftest import PASSWORD, dsi_payload, gr_payload, tk_payload

API = "/api/v1/declarations"
PATHS = {
    Kind.GENETIC_RESOURCE: "genetic-resources",
    Kind.DSI: "dsi",
    Kind.TRADITIONAL_KNOWLEDGE: "traditional-knowledge",
}
PAYLOADS = {Kind.GENETIC_RESOURCE: gr_payload, Kind.DSI: dsi_payload,
            Kind.TRADITIONAL_KNOWLEDGE: tk_payload}
TOMORROW = (date.today() + timedelta(days=1)).isoformat()


# --- helpers ------------------------------------------------------------------------------


def snapshot(session) -> dict:
    """Everything a refused request must leave untouched, read fresh from the database."""
    session.rollback()  # end any open read transaction so committed requests are seen
    return {
        "declarations": session.execute(
            select(Declaration.reference, Declaration.status, Declaration.version,
                   Declaration.needs_national_review).order_by(Declaration.id)
        ).all(),
        # issuing the test's own bearer tokens is setup, not the request under test
        "audit": session.scalar(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.subject_type != "api_token")),
        "register": session.scalars(
            select(RegisterEntry.reference).order_by(RegisterEntry.reference)).all(),
        "dsi_links": session.scalar(select(func.count()).select_from(dsi_sources)),
        "tk_links": session.scalar(select(func.count()).select_from(tk_resources)),
        "counters": session.execute(select(Counter.name, Counter.value)
                                    .order_by(Counter.name)).all(),
    }


def assert_refused(response, status: int, name: str, *, message: str | None = None) -> dict:
    """The answer is JSON, has the status, and names ``name`` with at least one message."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"errors"}
    errors = body["errors"]
    assert name in errors, errors
    messages = errors[name]
    assert isinstance(messages, list) and messages, errors
    assert all(isinstance(m, (str, dict)) and m for m in messages), errors
    if message is not None:
        assert any(message in str(m) for m in messages), errors
    return body


@pytest.fixture
def member(world):
    return world.member()


@pytest.fixture
def steward(world):
    return world.steward()


@pytest.fixture
def national(world):
    return world.official(OfficialLevel.NATIONAL, tk_clearance=True)


def _declarant(kind, member, steward):
    return steward if kind is Kind.TRADITIONAL_KNOWLEDGE else member


def _valid_payload(world, member, kind) -> dict:
    """A payload that would be accepted; DSI needs a registered genetic resource to cite."""
    if kind is Kind.DSI:
        source = world.registered(member)
        return dsi_payload(source_resources=[source.reference])
    return PAYLOADS[kind]()


def test_a_valid_payload_is_accepted_for_every_kind(client, world, member, steward):
    """The baseline the refusals below differ from by one field."""
    for kind in Kind:
        actor = _declarant(kind, member, steward)
        response = client.post(f"{API}/{PATHS[kind]}", json=_valid_payload(world, member, kind),
                               headers=world.headers(actor))
        assert response.status_code == 201, response.get_json()


# --- one bad field at a time --------------------------------------------------------------

LONG = "x" * 5000
GR_BAD_FIELDS = [
    ("scientific_name", ""),
    ("scientific_name", "   "),
    ("scientific_name", "Oryza " + "a" * 200),
    ("scientific_name", "oryza sativa"),
    ("scientific_name", "Oryza sativa; DROP TABLE"),
    ("scientific_name", 42),
    ("scientific_name", None),
    ("scientific_name", ["Oryza sativa"]),
    ("scientific_name", {"genus": "Oryza"}),
    ("taxon_rank", "superspecies"),
    ("taxon_rank", "SPECIES"),
    ("taxon_rank", ""),
    ("taxon_rank", 7),
    ("ncbi_taxon_id", "abc"),
    ("ncbi_taxon_id", 0),
    ("ncbi_taxon_id", -4530),
    ("ncbi_taxon_id", 4530.5),
    ("ncbi_taxon_id", True),
    ("ncbi_taxon_id", 10**20),
    ("common_name", "r" * 201),
    ("common_name", 5),
    ("material_type", "plasma"),
    ("material_type", ""),
    ("material_type", None),
    ("quantity", "-1"),
    ("quantity", -0.5),
    ("quantity", 0),
    ("quantity", "0.000"),
    ("quantity", "abc"),
    ("quantity", ""),
    ("quantity", "NaN"),
    ("quantity", "nan"),
    ("quantity", "Infinity"),
    ("quantity", "-Infinity"),
    ("quantity", float("inf")),
    ("quantity", "1e13"),
    ("quantity", "1000000000000"),
    ("quantity", 10**12),
    ("quantity", "1.0000001"),
    ("quantity", 10**13),
    ("quantity", "9" * 400),
    ("quantity", True),
    ("quantity", [1]),
    ("quantity", None),
    ("quantity_unit", "tonnes"),
    ("quantity_unit", "KG"),
    ("collection_region", "999999"),
    ("collection_region", "5328"),
    ("collection_region", "5328221"),
    ("collection_region", "abcdef"),
    ("collection_region", ""),
    ("collection_region", 532822),
    ("latitude", "90.0001"),
    ("latitude", -91),
    ("latitude", "NaN"),
    ("latitude", "Infinity"),
    ("latitude", float("-inf")),
    ("latitude", "north"),
    ("latitude", None),
    ("latitude", "1e400"),
    ("latitude", "21.1234567"),
    ("longitude", 180.5),
    ("longitude", "-181"),
    ("longitude", "-Infinity"),
    ("longitude", "1" * 50),
    ("longitude", False),
    ("collection_date", TOMORROW),
    ("collection_date", "2999-01-01"),
    ("collection_date", "2025-02-30"),
    ("collection_date", "yesterday"),
    ("collection_date", 20251012),
    ("collection_date", ""),
    ("collector", ""),
    ("collector", "c" * 201),
    ("collector", "   "),
    ("collector", None),
    ("collector", 12),
    ("holder", ""),
    ("holder", "h" * 201),
    ("holder", []),
    ("conservation", "both"),
    ("conservation", None),
    ("intended_use", ""),
    ("intended_use", "u" * 4001),
    ("intended_use", LONG),
]


@pytest.mark.parametrize(("field", "value"), GR_BAD_FIELDS,
                         ids=[f"{f}={str(v)[:20]!r}" for f, v in GR_BAD_FIELDS])
def test_bad_genetic_resource_field_is_named_and_nothing_is_stored(client, world, session,
                                                                   member, field, value):
    headers = world.headers(member)
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", json=gr_payload(**{field: value}),
                           headers=headers)
    body = assert_refused(response, 422, field)
    assert set(body["errors"]) == {field}
    assert snapshot(session) == before


@pytest.mark.parametrize("field", [
    "scientific_name", "taxon_rank", "material_type", "quantity", "quantity_unit",
    "collection_region", "latitude", "longitude", "collection_date", "collector", "holder",
    "conservation", "intended_use",
])
def test_missing_genetic_resource_field_is_named(client, world, session, member, field):
    payload = gr_payload()
    del payload[field]
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", json=payload,
                           headers=world.headers(member))
    assert_refused(response, 422, field, message="Missing data for required field")
    assert snapshot(session) == before


def test_quantity_with_more_precision_than_stored_is_refused(client, world, session, member):
    """A quantity too fine to store would be rounded to zero (or to another value): refuse it."""
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", json=gr_payload(quantity="0.0000001"),
                           headers=world.headers(member))
    assert_refused(response, 422, "quantity")
    assert snapshot(session) == before


@pytest.mark.parametrize(("field", "value"), [
    ("quantity", "999999999999.999999"),
    ("quantity", "0.000001"),
    ("latitude", "-90"),
    ("latitude", "89.123456"),
    ("longitude", "180"),
    ("collection_date", date.today().isoformat()),
    ("ncbi_taxon_id", None),
    ("common_name", None),
])
def test_values_at_the_edge_of_the_ranges_are_accepted(client, world, member, field, value):
    response = client.post(f"{API}/genetic-resources", json=gr_payload(**{field: value}),
                           headers=world.headers(member))
    assert response.status_code == 201, response.get_json()
    shown = response.get_json()["genetic_resource"][field]
    if value is not None and field in {"quantity", "latitude", "longitude"}:
        assert Decimal(shown) == Decimal(value)


DSI_BAD_FIELDS = [
    ("title", ""),
    ("title", "t" * 301),
    ("title", "  \t"),
    ("title", None),
    ("title", 5),
    ("molecule_type", "dnaa"),
    ("molecule_type", "DNA"),
    ("source_resources", []),
    ("source_resources", "CN-GR-2026-000001"),
    ("source_resources", ["not-a-reference"]),
    ("source_resources", [17]),
    ("source_resources", [None]),
    ("source_resources", ["CN-GR-2026-000001"] * 51),
    ("accessions", ["ABC"]),
    ("accessions", ["123456"]),
    ("accessions", ["MN123456.1 "]),
    ("accessions", "MN123456.1"),
    ("accessions", [{"id": "MN123456.1"}]),
    ("accessions", ["MN123456"] * 201),
]


@pytest.mark.parametrize(("field", "value"), DSI_BAD_FIELDS,
                         ids=[f"{f}={str(v)[:20]!r}" for f, v in DSI_BAD_FIELDS])
def test_bad_dsi_field_is_named_and_nothing_is_stored(client, world, session, member,
                                                      field, value):
    source = world.registered(member)
    payload = dsi_payload(source_resources=[source.reference])
    payload[field] = value
    before = snapshot(session)
    response = client.post(f"{API}/dsi", json=payload, headers=world.headers(member))
    assert_refused(response, 422, field)
    assert snapshot(session) == before


def test_dsi_accession_with_a_trailing_newline_is_refused(client, world, session, member):
    """``$`` in a regex accepts a final newline; an accession must be exactly the number."""
    source = world.registered(member)
    before = snapshot(session)
    response = client.post(
        f"{API}/dsi",
        json=dsi_payload(source_resources=[source.reference], accessions=["MN123456.1\n"]),
        headers=world.headers(member))
    assert_refused(response, 422, "accessions")
    assert snapshot(session) == before


def _unusable_sources(world, member):
    """Genetic resources a DSI or TK record may not cite, keyed by why."""
    other = world.member()
    service = world.declarations
    withdrawn = world.declare(member)
    service.transition(member, withdrawn.reference, "withdraw", "mistake")
    rejected = world.declare(member)
    service.transition(member, rejected.reference, "submit")
    service.transition(world.official(OfficialLevel.NATIONAL), rejected.reference, "reject",
                       "incomplete")
    dsi = world.registered(member, Kind.DSI,
                           source_resources=[world.registered(member).reference])
    return {
        "never issued": "CN-GR-2020-999999",
        "another organization's draft": world.declare(other).reference,
        "another organization's submitted record": service.transition(
            other, world.declare(other).reference, "submit").reference,
        "withdrawn": withdrawn.reference,
        "rejected": rejected.reference,
        "not a genetic resource": dsi.reference,
    }


def test_dsi_source_that_is_missing_invisible_or_unusable_is_refused_alike(client, world,
                                                                         session, member):
    """Each answer has the same words, so a refusal does not tell another org's draft exists."""
    sources = _unusable_sources(world, member)
    headers = world.headers(member)
    messages = {}
    for why, ref in sources.items():
        before = snapshot(session)
        response = client.post(f"{API}/dsi", json=dsi_payload(source_resources=[ref]),
                               headers=headers)
        body = assert_refused(response, 422, "source_resources")
        assert snapshot(session) == before, why
        messages[why] = body["errors"]["source_resources"][0].replace(ref, "<ref>")
    assert len(set(messages.values())) == 1, messages


def test_tk_associated_resource_that_is_another_orgs_draft_is_refused(client, world, session,
                                                                     steward):
    draft = world.declare(world.member())
    before = snapshot(session)
    response = client.post(f"{API}/traditional-knowledge",
                           json=tk_payload(associated_resources=[draft.reference]),
                           headers=world.headers(steward))
    assert_refused(response, 422, "associated_resources", message="no usable genetic resource")
    assert snapshot(session) == before


TK_BAD_FIELDS = [
    ("title", ""),
    ("title", "t" * 301),
    ("description", ""),
    ("description", "d" * 10001),
    ("description", "\n\t "),
    ("description", None),
    ("domain", "medicine"),
    ("domain", None),
    ("associated_species", ["oryza sativa"]),
    ("associated_species", "Oryza sativa"),
    ("associated_species", ["Oryza sativa"] * 51),
    ("associated_species", [3]),
    ("associated_resources", ["bad"]),
    ("associated_resources", ["CN-GR-2020-999999"]),
    ("visibility", "private"),
    ("visibility", "PUBLIC"),
    ("visibility", ""),
    ("visibility", None),
    ("visibility", ["public"]),
]


@pytest.mark.parametrize(("field", "value"), TK_BAD_FIELDS,
                         ids=[f"{f}={str(v)[:20]!r}" for f, v in TK_BAD_FIELDS])
def test_bad_tk_field_is_named_and_nothing_is_stored(client, world, session, steward,
                                                     field, value):
    before = snapshot(session)
    response = client.post(f"{API}/traditional-knowledge", json=tk_payload(**{field: value}),
                           headers=world.headers(steward))
    assert_refused(response, 422, field)
    assert snapshot(session) == before


def test_tk_without_visibility_is_refused(client, world, session, steward):
    payload = tk_payload()
    del payload["visibility"]
    before = snapshot(session)
    response = client.post(f"{API}/traditional-knowledge", json=payload,
                           headers=world.headers(steward))
    assert_refused(response, 422, "visibility", message="Missing data for required field")
    assert snapshot(session) == before


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("extra", [
    {"colour": "red"},
    {"status": "registered"},
    {"reference": "CN-GR-2026-000001"},
    {"organization_id": 1},
    {"version": 1},
    {"needs_national_review": False},
])
def test_unknown_fields_are_refused_by_name(client, world, session, member, steward, kind,
                                            extra):
    payload = {**_valid_payload(world, member, kind), **extra}
    if kind is not Kind.TRADITIONAL_KNOWLEDGE and "visibility" in payload:
        del payload["visibility"]
    before = snapshot(session)
    response = client.post(f"{API}/{PATHS[kind]}", json=payload,
                           headers=world.headers(_declarant(kind, member, steward)))
    (name,) = extra
    assert_refused(response, 422, name, message="Unknown field")
    assert snapshot(session) == before


@pytest.mark.parametrize("kind", [Kind.GENETIC_RESOURCE, Kind.DSI])
def test_only_tk_may_set_a_visibility(client, world, session, member, kind):
    payload = {**_valid_payload(world, member, kind), "visibility": "secret"}
    before = snapshot(session)
    response = client.post(f"{API}/{PATHS[kind]}", json=payload, headers=world.headers(member))
    assert_refused(response, 422, "visibility", message="Unknown field")
    assert snapshot(session) == before


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("field_value", [
    "Li\x00Wei",
    "\ud800 lone surrogate",
])
def test_text_that_no_database_can_store_is_refused(client, world, session, member, steward,
                                                    kind, field_value):
    """A NUL byte or a lone surrogate must be a 422 on the field, not a 500 from the driver."""
    field = {Kind.GENETIC_RESOURCE: "collector", Kind.DSI: "title",
             Kind.TRADITIONAL_KNOWLEDGE: "description"}[kind]
    payload = {**_valid_payload(world, member, kind), field: field_value}
    before = snapshot(session)
    response = client.post(f"{API}/{PATHS[kind]}", data=json.dumps(payload),
                           content_type="application/json",
                           headers=world.headers(_declarant(kind, member, steward)))
    assert_refused(response, 422, field)
    assert snapshot(session) == before


# --- bodies that are not a JSON object ----------------------------------------------------

BAD_BODIES = [
    # (id, raw body, content type, status, the name the error carries)
    ("malformed json", b'{"scientific_name": ', "application/json", 400, "json"),
    ("trailing garbage", b'{"a": 1} x', "application/json", 400, "json"),
    ("not utf-8", b'{"collector": "\xff\xfe"}', "application/json", 400, "json"),
    ("bare NaN", b"NaN", "application/json", 422, "json"),
    ("json array", b"[]", "application/json", 422, "json"),
    ("array of objects", json.dumps([gr_payload()]).encode(), "application/json", 422, "json"),
    ("json string", b'"Oryza sativa"', "application/json", 422, "json"),
    ("json number", b"42", "application/json", 422, "json"),
    ("json null", b"null", "application/json", 422, "json"),
    ("empty object", b"{}", "application/json", 422, "scientific_name"),
    ("text/plain", json.dumps(gr_payload()).encode(), "text/plain", 415, "content_type"),
    ("form encoded", b"scientific_name=Oryza+sativa", "application/x-www-form-urlencoded",
     415, "content_type"),
    ("multipart", b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n",
     "multipart/form-data; boundary=b", 415, "content_type"),
    ("xml", b"<declaration/>", "application/xml", 415, "content_type"),
    ("no content type", json.dumps(gr_payload()).encode(), None, 415, "content_type"),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "name"),
                         [case[1:] for case in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
def test_body_that_is_not_a_json_object_is_refused(client, world, session, member, raw,
                                                   content_type, status, name):
    headers = world.headers(member)
    if content_type:
        headers["Content-Type"] = content_type
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", data=raw, headers=headers)
    assert_refused(response, status, name)
    assert snapshot(session) == before


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_empty_body_is_refused_naming_every_missing_field(client, world, session, member,
                                                         content_type):
    headers = world.headers(member)
    if content_type:
        headers["Content-Type"] = content_type
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", data=b"", headers=headers)
    body = assert_refused(response, 422, "scientific_name", message="Missing data")
    assert set(body["errors"]) == {
        "scientific_name", "taxon_rank", "material_type", "quantity", "quantity_unit",
        "collection_region", "latitude", "longitude", "collection_date", "collector",
        "holder", "conservation", "intended_use"}
    assert snapshot(session) == before


def test_body_over_the_size_limit_is_refused(client, world, session, member):
    before = snapshot(session)
    payload = gr_payload(intended_use="u" * (3 * 1024 * 1024))
    response = client.post(f"{API}/genetic-resources", json=payload,
                           headers=world.headers(member))
    assert_refused(response, 413, "_schema")
    assert snapshot(session) == before


def test_deeply_nested_json_is_refused_without_a_server_error(client, world, session, member):
    before = snapshot(session)
    raw = b'{"holder": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post(f"{API}/genetic-resources", data=raw,
                           content_type="application/json", headers=world.headers(member))
    assert 400 <= response.status_code < 500, response.status_code
    assert response.get_json()["errors"]
    assert snapshot(session) == before


# --- who is asking ------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer ", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "token abc",
])
def test_creating_without_a_valid_token_is_401(client, session, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", json=gr_payload(), headers=headers)
    assert_refused(response, 401, "_schema")
    assert snapshot(session) == before


def test_a_revoked_token_is_401(client, world, session, member):
    token_row, secret = world.accounts.issue_token(member, "to revoke")
    world.accounts.revoke_token(member, token_row.id)
    before = snapshot(session)
    response = client.post(f"{API}/genetic-resources", json=gr_payload(),
                           headers={"Authorization": f"Bearer {secret}"})
    assert_refused(response, 401, "_schema")
    assert snapshot(session) == before


@pytest.mark.parametrize(("who", "kind"), [
    ("steward", Kind.GENETIC_RESOURCE),
    ("steward", Kind.DSI),
    ("member", Kind.TRADITIONAL_KNOWLEDGE),
    ("official", Kind.GENETIC_RESOURCE),
    ("official", Kind.TRADITIONAL_KNOWLEDGE),
    ("admin", Kind.DSI),
])
def test_declaring_a_kind_ones_role_may_not_is_403_role(client, world, session, member,
                                                         steward, who, kind):
    actor = {"steward": steward, "member": member, "official": world.official(),
             "admin": world.admin()}[who]
    payload = _valid_payload(world, member, kind)
    before = snapshot(session)
    response = client.post(f"{API}/{PATHS[kind]}", json=payload, headers=world.headers(actor))
    assert_refused(response, 403, "role")
    assert snapshot(session) == before


# --- updating: PUT /api/v1/declarations/<kind-path>/<ref> ----------------------------------


def _draft(world, member, steward, kind):
    """A draft of this kind, its declarant, and a full valid payload to PUT over it."""
    actor = _declarant(kind, member, steward)
    payload = _valid_payload(world, member, kind)
    return actor, world.declare(actor, kind, **payload), payload


@pytest.mark.parametrize("kind", list(Kind))
def test_update_with_a_stale_version_is_409_and_changes_nothing(client, world, session,
                                                                member, steward, kind):
    actor, draft, payload = _draft(world, member, steward, kind)
    headers = world.headers(actor)
    first = client.put(f"{API}/{PATHS[kind]}/{draft.reference}",
                       json={**payload, "version": draft.version}, headers=headers)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["version"] == draft.version  # nothing changed, nothing bumped
    changed = {**payload, "version": draft.version}
    changed.update({"collector": "Wang Fang"} if kind is Kind.GENETIC_RESOURCE
                   else {"title": "A better title"})
    second = client.put(f"{API}/{PATHS[kind]}/{draft.reference}", json=changed, headers=headers)
    assert second.status_code == 200, second.get_json()
    current = second.get_json()["version"]
    assert current > draft.version

    before = snapshot(session)
    stale = client.put(f"{API}/{PATHS[kind]}/{draft.reference}",
                       json={**changed, "version": draft.version}, headers=headers)
    body = assert_refused(stale, 409, "version")
    assert body["current_version"] == current
    assert snapshot(session) == before


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize(("version", "message"), [
    ("missing", "Missing data for required field"),
    ("1", "Not a valid integer"),
    (1.5, "Not a valid integer"),
    (None, "Field may not be null"),
])
def test_update_without_a_usable_version_is_422(client, world, session, member, steward, kind,
                                                version, message):
    actor, draft, payload = _draft(world, member, steward, kind)
    body = dict(payload) if version == "missing" else {**payload, "version": version}
    before = snapshot(session)
    response = client.put(f"{API}/{PATHS[kind]}/{draft.reference}", json=body,
                          headers=world.headers(actor))
    assert_refused(response, 422, "version", message=message)
    assert snapshot(session) == before


@pytest.mark.parametrize(("kind", "field", "value"), [
    (Kind.GENETIC_RESOURCE, "latitude", "-90.5"),
    (Kind.GENETIC_RESOURCE, "quantity", "-3"),
    (Kind.GENETIC_RESOURCE, "collection_date", TOMORROW),
    (Kind.DSI, "accessions", ["nope"]),
    (Kind.DSI, "source_resources", ["CN-GR-2020-999999"]),
    (Kind.TRADITIONAL_KNOWLEDGE, "visibility", "hidden"),
    (Kind.TRADITIONAL_KNOWLEDGE, "colour", "red"),
])
def test_update_with_a_bad_field_is_422_and_changes_nothing(client, world, session, member,
                                                            steward, kind, field, value):
    actor, draft, payload = _draft(world, member, steward, kind)
    before = snapshot(session)
    response = client.put(f"{API}/{PATHS[kind]}/{draft.reference}",
                          json={**payload, field: value, "version": draft.version},
                          headers=world.headers(actor))
    assert_refused(response, 422, field)
    assert snapshot(session) == before
    read = client.get(f"{API}/{draft.reference}", headers=world.headers(actor)).get_json()
    assert read["version"] == draft.version


def test_update_of_another_orgs_draft_is_404_like_a_missing_record(client, world, session,
                                                                   member):
    draft = world.declare(world.member())
    headers = world.headers(member)
    before = snapshot(session)
    hidden = client.put(f"{API}/genetic-resources/{draft.reference}",
                        json={**gr_payload(), "version": draft.version}, headers=headers)
    missing = client.put(f"{API}/genetic-resources/CN-GR-2020-999999",
                         json={**gr_payload(), "version": 1}, headers=headers)
    assert_refused(hidden, 404, "_schema")
    assert hidden.get_data() == missing.get_data()
    assert snapshot(session) == before


def test_update_of_another_orgs_registered_record_is_403_organization(client, world, session,
                                                                      member):
    other = world.registered(world.member())
    before = snapshot(session)
    response = client.put(f"{API}/genetic-resources/{other.reference}",
                          json={**gr_payload(), "version": other.version},
                          headers=world.headers(member))
    assert_refused(response, 403, "organization")
    assert snapshot(session) == before


def test_update_through_the_path_of_another_kind_is_404(client, world, session, member):
    draft = world.declare(member)
    payload = _valid_payload(world, member, Kind.DSI)
    before = snapshot(session)
    response = client.put(f"{API}/dsi/{draft.reference}",
                          json={**payload, "version": draft.version},
                          headers=world.headers(member))
    assert_refused(response, 404, "_schema")
    assert snapshot(session) == before


@pytest.mark.parametrize("path", [
    "{API}/CN-GR-2026-000001%00", "{API}/%00/history", "/declarations/CN%00GR",
])
def test_a_nul_in_a_reference_is_404_not_a_server_error(client, world, member, path):
    response = client.get(path.format(API=API), headers=world.headers(member))
    assert response.status_code == 404


def test_update_of_a_submitted_record_is_409_with_state_and_allowed(client, world, session,
                                                                    member):
    decl = world.declare(member)
    world.declarations.transition(member, decl.reference, "submit")
    session.refresh(decl)
    before = snapshot(session)
    response = client.put(f"{API}/genetic-resources/{decl.reference}",
                          json={**gr_payload(), "version": decl.version},
                          headers=world.headers(member))
    body = assert_refused(response, 409, "status")
    assert body["state"] == "submitted"
    assert body["allowed"] == ["withdraw"]
    assert snapshot(session) == before


def test_update_without_a_token_is_401(client, world, session, member):
    draft = world.declare(member)
    before = snapshot(session)
    response = client.put(f"{API}/genetic-resources/{draft.reference}",
                          json={**gr_payload(), "version": draft.version})
    assert_refused(response, 401, "_schema")
    assert snapshot(session) == before


# --- moving a declaration: wrong person, wrong state, wrong body --------------------------


def _submitted(world, actor, kind=Kind.GENETIC_RESOURCE, **overrides):
    decl = world.declare(actor, kind, **overrides)
    return world.declarations.transition(actor, decl.reference, "submit")


def test_submitting_another_orgs_draft_is_404(client, world, session, member):
    draft = world.declare(world.member())
    before = snapshot(session)
    response = client.post(f"{API}/{draft.reference}/submit", json={},
                           headers=world.headers(member))
    assert_refused(response, 404, "_schema")
    assert snapshot(session) == before


def test_withdrawing_another_orgs_registered_record_is_403_organization(client, world,
                                                                        session, member):
    other = world.registered(world.member())
    before = snapshot(session)
    response = client.post(f"{API}/{other.reference}/withdraw", json={"comment": "mine now"},
                           headers=world.headers(member))
    assert_refused(response, 403, "organization")
    assert snapshot(session) == before


@pytest.mark.parametrize("action", ["register", "return", "reject"])
def test_an_official_may_not_review_their_own_organizations_declaration(client, world, session,
                                                                        action):
    """An official filed under the declaring organization (the CLI allows it) is refused."""
    org = world.org()
    declarant = world.member(org)
    insider = world.user(org, role=Role.OFFICIAL, level=OfficialLevel.NATIONAL,
                         tk_clearance=True)
    decl = _submitted(world, declarant)
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/{action}", json={"comment": "fine"},
                           headers=world.headers(insider))
    assert_refused(response, 403, "own_declaration")
    assert snapshot(session) == before


def test_a_declarant_may_not_review_their_own_declaration(client, world, session, member):
    decl = _submitted(world, member)
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/register", json={},
                           headers=world.headers(member))
    assert_refused(response, 403, "role")
    assert snapshot(session) == before


def test_an_official_may_not_review_a_draft_they_cannot_see(client, world, session, member,
                                                            national):
    draft = world.declare(member)
    before = snapshot(session)
    response = client.post(f"{API}/{draft.reference}/register", json={},
                           headers=world.headers(national))
    assert_refused(response, 404, "_schema")
    assert snapshot(session) == before


@pytest.mark.parametrize(("state", "action"), [
    ("submitted", "submit"),
    ("registered", "register"),
    ("registered", "submit"),
    ("draft", "amend"),
])
def test_acting_in_a_state_that_does_not_allow_it_is_409(client, world, session, member,
                                                         national, state, action):
    decl = world.declare(member)
    if state != "draft":
        decl = world.declarations.transition(member, decl.reference, "submit")
    if state == "registered":
        decl = world.declarations.transition(national, decl.reference, "register")
    actor = national if action == "register" else member
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/{action}", json={},
                           headers=world.headers(actor))
    if action == "amend":
        response = client.post(f"{API}/{decl.reference}/amend", headers=world.headers(actor))
    body = assert_refused(response, 409, "status")
    assert body["state"] == state
    assert isinstance(body["allowed"], list)
    assert snapshot(session) == before


@pytest.mark.parametrize(("action", "body"), [
    ("return", {}),
    ("return", {"comment": None}),
    ("return", {"comment": ""}),
    ("reject", {"comment": "   \n\t"}),
    ("withdraw", {}),
])
def test_actions_that_need_a_reason_refuse_without_one(client, world, session, member,
                                                       national, action, body):
    decl = _submitted(world, member)
    actor = member if action == "withdraw" else national
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/{action}", json=body,
                           headers=world.headers(actor))
    assert_refused(response, 422, "comment")
    assert snapshot(session) == before


@pytest.mark.parametrize(("body", "name", "status"), [
    ({"comment": "c" * 4001}, "comment", 422),
    ({"comment": 5}, "comment", 422),
    ({"comment": ["why"]}, "comment", 422),
    ({"reason": "typo"}, "reason", 422),
    ({"version": "one"}, "version", 422),
    ({"version": 999}, "version", 409),
])
def test_action_body_is_checked_like_any_other(client, world, session, member, national,
                                               body, name, status):
    decl = _submitted(world, member)
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/reject", json=body,
                           headers=world.headers(national))
    assert_refused(response, status, name)
    assert snapshot(session) == before


@pytest.mark.parametrize(("raw", "content_type", "status", "name"), [
    (b'{"comment": ', "application/json", 400, "json"),
    (b"[]", "application/json", 422, "json"),
    (b"comment=ok", "application/x-www-form-urlencoded", 415, "content_type"),
    (b'{"comment": "ok"}', "text/plain", 415, "content_type"),
])
def test_action_body_that_is_not_a_json_object_is_refused(client, world, session, member,
                                                          national, raw, content_type, status,
                                                          name):
    decl = _submitted(world, member)
    headers = {**world.headers(national), "Content-Type": content_type}
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/return", data=raw, headers=headers)
    assert_refused(response, status, name)
    assert snapshot(session) == before


def test_a_provincial_official_may_not_register_a_key_listed_taxon(client, world, session,
                                                                   member):
    from abs_registry.declarations import keylist

    keylist.import_list(session, None, "scientific_name,rank\nOryza,genus\n")
    decl = _submitted(world, member)
    provincial = world.official(OfficialLevel.PROVINCIAL, tk_clearance=True)
    before = snapshot(session)
    response = client.post(f"{API}/{decl.reference}/register", json={},
                           headers=world.headers(provincial))
    assert_refused(response, 403, "national_review_required")
    assert snapshot(session) == before


def test_amending_twice_is_409_naming_the_open_amendment(client, world, session, member):
    decl = world.registered(member)
    headers = world.headers(member)
    first = client.post(f"{API}/{decl.reference}/amend", headers=headers)
    assert first.status_code == 201
    before = snapshot(session)
    second = client.post(f"{API}/{decl.reference}/amend", headers=headers)
    body = assert_refused(second, 409, "status")
    assert body["amendment"] == first.get_json()["reference"]
    assert snapshot(session) == before


def test_unknown_action_is_404_and_get_on_an_action_is_405(client, world, session, member):
    decl = world.declare(member)
    headers = world.headers(member)
    before = snapshot(session)
    assert_refused(client.post(f"{API}/{decl.reference}/approve", json={}, headers=headers),
                   404, "_schema")
    wrong_method = client.get(f"{API}/{decl.reference}/submit", headers=headers)
    assert_refused(wrong_method, 405, "_schema")
    assert "POST" in wrong_method.headers["Allow"]
    assert snapshot(session) == before


def test_review_queue_needs_an_official(client, world, member):
    assert_refused(client.get("/api/v1/review-queue"), 401, "_schema")
    assert_refused(client.get("/api/v1/review-queue", headers=world.headers(member)),
                   403, "role")


def test_list_filter_with_an_unknown_status_is_422(client, world, member):
    response = client.get(f"{API}?status=lost", headers=world.headers(member))
    assert_refused(response, 422, "status")


def test_a_misspelt_list_filter_is_422_not_ignored(client, world, member):
    response = client.get(f"{API}?stauts=draft", headers=world.headers(member))
    assert_refused(response, 422, "stauts", message="Unknown field")


# --- the HTML form ------------------------------------------------------------------------

def _sign_in(client, user) -> None:
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def _error_beside(html: str, name: str) -> str:
    """The message shown inside the field's own block, next to its input."""
    match = re.search(
        rf'<div class="field has-error">\s*<label for="{name}">.*?'
        rf'<p class="field-error" id="error-{name}" role="alert">(.*?)</p>',
        html, re.S)
    assert match, f"no error shown beside {name}"
    block = match.group(0)
    assert f'name="{name}"' in block and 'aria-invalid="true"' in block
    assert block.count('<div class="field') == 1, "the message belongs to another field"
    return match.group(1).strip()


def _form(payload: dict) -> dict:
    return {k: ("\n".join(v) if isinstance(v, list) else ("" if v is None else str(v)))
            for k, v in payload.items()}


@pytest.mark.parametrize(("kind_path", "field", "value", "message"), [
    ("genetic-resource", "latitude", "95", "90"),
    ("genetic-resource", "quantity", "-2", "greater than 0"),
    ("genetic-resource", "quantity", "lots", "Not a valid number"),
    ("genetic-resource", "collection_date", TOMORROW, "future"),
    ("genetic-resource", "collection_region", "999999", "region code"),
    ("genetic-resource", "scientific_name", "", "Missing data"),
    ("genetic-resource", "material_type", "plasma", "Must be one of"),
    ("genetic-resource", "collector", "c" * 201, "200"),
    ("dsi", "source_resources", "CN-GR-2020-999999", "no usable genetic resource"),
    ("dsi", "accessions", "nope", "INSDC"),
    ("traditional-knowledge", "visibility", "private", "Must be one of"),
    ("traditional-knowledge", "associated_species", "oryza", "scientific name"),
])
def test_form_with_a_bad_field_shows_the_message_beside_it(app_nocsrf, client, world, session,
                                                           member, steward, kind_path, field,
                                                           value, message):
    kind = {"genetic-resource": Kind.GENETIC_RESOURCE, "dsi": Kind.DSI,
            "traditional-knowledge": Kind.TRADITIONAL_KNOWLEDGE}[kind_path]
    payload = _valid_payload(world, member, kind)
    payload[field] = value
    _sign_in(client, _declarant(kind, member, steward))
    before = snapshot(session)
    response = client.post(f"/declarations/new/{kind_path}",
                           data={**_form(payload), "intent": "submit"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in _error_beside(html, field)
    assert html.count('class="field-error"') == 1
    if isinstance(value, str) and value and field not in {"material_type", "visibility"}:
        assert value.splitlines()[0] in html  # what was typed is shown again
    assert snapshot(session) == before


def test_form_keeps_the_csrf_protection_and_accepts_its_token(client, world, session, member):
    """With CSRF on: no token is 400 and stores nothing; the form's own token gets to validation."""
    _sign_in_with_csrf(client, member)
    before = snapshot(session)
    no_token = client.post("/declarations/new/genetic-resource",
                           data={**_form(gr_payload()), "intent": "save"})
    assert no_token.status_code == 400
    assert snapshot(session) == before

    token = _csrf_token(client.get("/declarations/new/genetic-resource"))
    bad = client.post("/declarations/new/genetic-resource",
                      data={**_form(gr_payload(longitude="200")), "csrf_token": token,
                            "intent": "save"})
    assert bad.status_code == 422
    assert "180" in _error_beside(bad.get_data(as_text=True), "longitude")
    assert snapshot(session) == before

    good = client.post("/declarations/new/genetic-resource",
                       data={**_form(gr_payload()), "csrf_token": token, "intent": "save"})
    assert good.status_code == 302
    assert len(snapshot(session)["declarations"]) == len(before["declarations"]) + 1


def _csrf_token(response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match
    return match.group(1)


def _sign_in_with_csrf(client, user) -> None:
    token = _csrf_token(client.get("/sign-in"))
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD,
                                             "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_edit_form_saves_through_the_page(app_nocsrf, client, world, session, member):
    draft = world.declare(member)
    _sign_in(client, member)
    form = client.get(f"/declarations/{draft.reference}/edit").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    response = client.post(f"/declarations/{draft.reference}/edit",
                           data={**_form(gr_payload(collector="Zhao Lei")), "version": version,
                                 "intent": "save"})
    assert response.status_code == 302, _errors_shown(response)
    session.expire_all()
    assert world.declarations.get(member, draft.reference).collector == "Zhao Lei"


def test_edit_form_with_a_bad_field_shows_it_and_keeps_the_record(app_nocsrf, client, world,
                                                                  session, member):
    draft = world.declare(member)
    _sign_in(client, member)
    before = snapshot(session)
    response = client.post(f"/declarations/{draft.reference}/edit",
                           data={**_form(gr_payload(latitude="-95")),
                                 "version": str(draft.version), "intent": "save"})
    assert response.status_code == 422
    assert "90" in _error_beside(response.get_data(as_text=True), "latitude")
    assert snapshot(session) == before


def test_edit_form_with_a_stale_version_says_so_and_keeps_what_was_typed(app_nocsrf, client,
                                                                         world, session,
                                                                         member):
    draft = world.declare(member)
    read_at = draft.version  # the version the form was read at
    world.declarations.update(member, draft.reference,
                              {**_schema_load(gr_payload(collector="Wang Fang")),
                               "version": read_at})
    _sign_in(client, member)
    before = snapshot(session)
    response = client.post(f"/declarations/{draft.reference}/edit",
                           data={**_form(gr_payload(collector="Zhao Lei")),
                                 "version": str(read_at), "intent": "save"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed since version 1" in html and 'id="error-version"' in html
    assert 'value="Zhao Lei"' in html
    assert snapshot(session) == before


def _errors_shown(response) -> list[str]:
    return re.findall(r'class="field-error"[^>]*>([^<]*)', response.get_data(as_text=True))


def _schema_load(payload: dict) -> dict:
    from abs_registry.declarations.schemas import GeneticResourceIn

    return GeneticResourceIn().load(payload)
