"""Traditional knowledge under the control of its community (issue 7): summary and body by
role and visibility, access grants and their end, the access log, labels wherever the record
shows, prior-art look-up without disclosure, and bad input refused with nothing changed.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from abs_registry.auth.models import OfficialLevel, OrgKind
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Kind
from abs_registry.tk import service as tk_service
from abs_registry.tk.labels import LABELS
from abs_registry.tk.models import TKAccessEvent, TKAccessGrant, TKAttachment, TKLabel
from tests.conftest import PASSWORD, tk_payload
from tests.test_api_bad_input import assert_refused, snapshot

BODY = "Boil the leaves of the third terrace at dawn; LEAKBODY-{}."
TK_API = "/api/v1/traditional-knowledge"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64
OGG = b"OggS\x00\x02" + b"\x00" * 64
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def attachments_dir(app):
    return app.extensions["abs"].settings.instance_path / "attachments"


class Cast:
    """One person per role, each with a token and a signed-in browser; records by visibility."""

    def __init__(self, world, app):
        self.world, self.app = world, app
        self.community = world.org(OrgKind.COMMUNITY, name="Hani Terraces", region="532822")
        self.grantee_org = world.org(OrgKind.RESEARCH_INSTITUTE, name="Terrace Institute")
        self.users = {
            "steward": world.steward(self.community),
            "outsider": world.member(),
            "other steward": world.steward(),
            "official": world.official(OfficialLevel.PROVINCIAL),
            "cleared": world.official(OfficialLevel.NATIONAL, tk_clearance=True),
            "grantee": world.member(),
            "grantee colleague": world.member(self.grantee_org),
        }
        self.headers = {name: world.headers(u) for name, u in self.users.items()}
        self.headers["anonymous"] = {}
        self.records = {v: self._record(v) for v in ("public", "restricted", "secret")}

    def _record(self, visibility: str):
        steward = self.users["steward"]
        decl = self.world.declare(
            steward, Kind.TRADITIONAL_KNOWLEDGE, title=f"Terrace rice rite {visibility}",
            description=BODY.format(visibility), visibility=visibility,
            associated_species=["Oryza sativa"], community_language="hni",
            translations=[{"language": "en", "title": f"Rite ({visibility})",
                           "description": f"English body LEAKBODY-{visibility}-en"}],
            labels=[{"code": "tk_attribution", "texts": {}},
                    {"code": "tk_seasonal", "texts": {"en": "Only after the harvest.",
                                                      "hni": "Haqniq adapted text"}}])
        service = self.world.declarations
        service.transition(steward, decl.reference, "submit")
        return service.transition(self.users["cleared"], decl.reference, "register")

    def grant(self, reference: str, **data):
        return tk_service.TKService(self.world.session, attachments_dir(self.app)).grant(
            self.users["steward"], reference, {"ends_on": date.today(), **data})

    def browser(self, name: str):
        client = self.app.test_client()
        if name != "anonymous":
            form = client.get("/sign-in").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            assert client.post("/sign-in", data={"email": self.users[name].email,
                                                 "password": PASSWORD,
                                                 "csrf_token": token}).status_code == 302
        return client


@pytest.fixture
def cast(world, app) -> Cast:
    return Cast(world, app)


ROLES = ("anonymous", "outsider", "other steward", "official", "cleared", "steward",
         "grantee", "grantee colleague")
# (may see the summary, may read the body) per visibility and role
MATRIX = {
    "public": {role: (True, True) for role in ROLES},
    "restricted": {**{role: (True, False) for role in ROLES},
                   "cleared": (True, True), "steward": (True, True),
                   "grantee": (True, True), "grantee colleague": (True, True)},
    "secret": {**{role: (False, False) for role in ROLES},
               "cleared": (True, True), "steward": (True, True)},
}


@pytest.mark.parametrize("visibility", ["public", "restricted", "secret"])
def test_summary_and_body_by_role_and_visibility_through_api_and_pages(client, cast,
                                                                      visibility):
    decl = cast.records[visibility]
    cast.grant(cast.records["restricted"].reference, user=cast.users["grantee"].email)
    cast.grant(cast.records["restricted"].reference, organization=cast.grantee_org.name)
    missing = "CN-TK-2020-999999"
    for role in ROLES:
        sees_summary, reads_body = MATRIX[visibility][role]
        headers = cast.headers[role]
        summary = client.get(f"/api/v1/declarations/{decl.reference}", headers=headers)
        body = client.get(f"{TK_API}/{decl.reference}/body", headers=headers)
        page = cast.browser(role).get(f"/declarations/{decl.reference}")
        text = page.get_data(as_text=True)
        assert (summary.status_code == 200) is sees_summary, (role, summary.status_code)
        assert (page.status_code == 200) is sees_summary, role
        if sees_summary:
            got = summary.get_json()["traditional_knowledge"]
            assert got["title"] == f"Terrace rice rite {visibility}"
            assert [label["code"] for label in got["labels"]] == ["tk_attribution", "tk_seasonal"]
            assert "description" not in got and f"LEAKBODY-{visibility}" not in summary.get_data(
                as_text=True)
            assert "TK Seasonal" in text and "Only after the harvest." in text
        if reads_body:
            assert body.status_code == 200, role
            assert body.get_json()["description"] == BODY.format(visibility)
            assert body.get_json()["translations"][0]["description"].endswith("-en")
            assert f"LEAKBODY-{visibility}" in text
        else:
            absent = client.get(f"{TK_API}/{missing}/body", headers=headers)
            assert body.status_code == absent.status_code == 404, role
            assert body.get_data() == absent.get_data()
            assert f"LEAKBODY-{visibility}" not in text


def test_a_grant_works_until_its_end_date_and_stops_when_withdrawn(client, cast, monkeypatch):
    restricted = cast.records["restricted"].reference
    grantee = cast.headers["grantee"]
    url = f"{TK_API}/{restricted}/body"
    assert client.get(url, headers=grantee).status_code == 404
    steward = cast.headers["steward"]
    response = client.post(f"{TK_API}/{restricted}/grants", headers=steward, json={
        "user": cast.users["grantee"].email, "ends_on": (date.today() + timedelta(days=3))
        .isoformat(), "note": "joint study"})
    assert response.status_code == 201, response.get_json()
    grant_id = response.get_json()["id"]
    assert client.get(url, headers=grantee).status_code == 200
    # the last day still works; the day after, nothing has to run for it to stop
    monkeypatch.setattr(tk_service, "today", lambda: date.today() + timedelta(days=3))
    assert client.get(url, headers=grantee).status_code == 200
    monkeypatch.setattr(tk_service, "today", lambda: date.today() + timedelta(days=4))
    assert client.get(url, headers=grantee).status_code == 404
    listed = client.get(f"{TK_API}/{restricted}/grants", headers=steward).get_json()
    assert listed[0]["active"] is False and listed[0]["note"] == "joint study"
    monkeypatch.undo()
    assert client.get(url, headers=grantee).status_code == 200
    withdrawn = client.post(f"{TK_API}/{restricted}/grants/{grant_id}/withdraw", headers=steward)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["withdrawn_at"]
    assert client.get(url, headers=grantee).status_code == 404
    again = client.post(f"{TK_API}/{restricted}/grants/{grant_id}/withdraw", headers=steward)
    assert again.status_code == 409


def test_grants_and_withdrawals_go_into_the_audit_history_not_the_public_one(
        client, cast, session):
    from abs_registry.audit.models import AuditEvent
    from abs_registry.audit.writer import verify_chain

    restricted = cast.records["restricted"]
    grant = cast.grant(restricted.reference, user=cast.users["grantee"].email, note="secret note")
    tk_service.TKService(session, attachments_dir(cast.app)).withdraw_grant(
        cast.users["steward"], restricted.reference, grant.id)
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "tk_access", AuditEvent.subject_id == restricted.id)).all()
    assert actions == ["grant_access", "withdraw_access"]
    assert verify_chain(session).ok
    public = client.get(f"/api/v1/declarations/{restricted.reference}/history").get_data(
        as_text=True)
    assert "secret note" not in public and cast.users["grantee"].email not in public


def test_only_the_stewards_grant_and_only_restricted_knowledge(client, cast, session):
    for role in ("outsider", "official", "cleared", "grantee"):
        response = client.post(f"{TK_API}/{cast.records['restricted'].reference}/grants",
                               headers=cast.headers[role],
                               json={"user": cast.users[role].email,
                                     "ends_on": date.today().isoformat()})
        assert response.status_code == 403, role
    secret = client.post(f"{TK_API}/{cast.records['secret'].reference}/grants",
                         headers=cast.headers["outsider"],
                         json={"user": cast.users["outsider"].email,
                               "ends_on": date.today().isoformat()})
    absent = client.post(f"{TK_API}/CN-TK-2020-999999/grants", headers=cast.headers["outsider"],
                         json={"user": cast.users["outsider"].email,
                               "ends_on": date.today().isoformat()})
    assert secret.status_code == 404 and secret.get_data() == absent.get_data()
    for visibility in ("public", "secret"):
        assert_refused(client.post(
            f"{TK_API}/{cast.records[visibility].reference}/grants",
            headers=cast.headers["steward"], json={"user": cast.users["grantee"].email,
                                                   "ends_on": date.today().isoformat()}),
            422, "visibility")
    assert session.scalar(select(func.count()).select_from(TKAccessGrant)) == 0


def test_every_read_of_a_restricted_body_is_logged_for_the_community(client, cast, session):
    restricted = cast.records["restricted"].reference
    cast.grant(restricted, user=cast.users["grantee"].email)
    steward = cast.headers["steward"]
    upload = client.post(f"{TK_API}/{restricted}/attachments", headers=steward,
                         data={"file": (io.BytesIO(PNG), "terrace.png")})
    assert upload.status_code in (409,), upload.get_json()  # registered: not editable
    attachment = _attached(cast, session, restricted)
    client.get(f"{TK_API}/{restricted}/body", headers=cast.headers["grantee"])
    client.get(f"{TK_API}/{restricted}/attachments/{attachment.id}",
               headers=cast.headers["grantee"])
    cast.browser("cleared").get(f"/declarations/{restricted}")
    client.get(f"{TK_API}/{restricted}/body", headers=cast.headers["outsider"])  # refused
    log = client.get(f"{TK_API}/{restricted}/access-log", headers=steward).get_json()["items"]
    got = [(e["email"], e["action"], e["basis"], e["via"], e["attachment"]) for e in log]
    assert got == [
        (cast.users["cleared"].email, "view", "clearance", "page", None),
        (cast.users["grantee"].email, "download", "grant", "api", "terrace.png"),
        (cast.users["grantee"].email, "view", "grant", "api", None),
    ]
    page = cast.browser("steward").get(f"/traditional-knowledge/{restricted}/access-log")
    assert page.status_code == 200 and cast.users["grantee"].email in page.get_data(as_text=True)
    for role in ("grantee", "outsider", "cleared"):
        assert client.get(f"{TK_API}/{restricted}/access-log",
                          headers=cast.headers[role]).status_code == 403, role
    # public knowledge is nobody's secret: reading it is not logged
    client.get(f"{TK_API}/{cast.records['public'].reference}/body")
    assert session.scalar(select(func.count()).select_from(TKAccessEvent).where(
        TKAccessEvent.tk_id == cast.records["public"].id)) == 0


def _attached(cast, session, reference: str) -> TKAttachment:
    """An attachment added while the record was editable, carried into the registered record
    by an amendment: the way a registered record's body changes."""
    steward = cast.users["steward"]
    service = cast.world.declarations
    amendment = service.amend(steward, reference)
    found = tk_service.TKService(session, attachments_dir(cast.app)).add_attachment(
        steward, amendment.reference, io.BytesIO(PNG), "terrace.png")
    assert found.content_type == "image/png"
    old = service.get(steward, reference)
    old.attachments.append(TKAttachment(uploaded_by_id=steward.id, filename=found.filename,
                                        content_type=found.content_type, size=found.size,
                                        sha256=found.sha256))
    session.commit()
    return old.attachments[-1]


@pytest.mark.parametrize(("content", "kind"), [(MP3, "audio/mpeg"), (OGG, "audio/ogg"),
                                               (WAV, "audio/wav"), (PNG, "image/png")])
def test_recordings_and_images_are_attached_by_their_content(client, world, content, kind):
    steward = world.steward()
    decl = world.declare(steward, Kind.TRADITIONAL_KNOWLEDGE, visibility="restricted")
    response = client.post(f"{TK_API}/{decl.reference}/attachments?language=ii",
                           headers=world.headers(steward),
                           data={"file": (io.BytesIO(content), "song.bin")})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["content_type"] == kind
    assert response.get_json()["language"] == "ii"
    body = client.get(f"{TK_API}/{decl.reference}/body", headers=world.headers(steward))
    assert [a["content_type"] for a in body.get_json()["attachments"]] == [kind]


def test_prior_art_finds_restricted_knowledge_by_its_body_without_disclosing_it(client, cast,
                                                                              session):
    examiner = cast.headers["official"]
    response = client.get(f"{TK_API}/prior-art", headers=examiner,
                          query_string={"q": "third terrace dawn"})
    assert response.status_code == 200, response.get_json()
    hits = response.get_json()
    assert {h["reference"] for h in hits} == {cast.records["public"].reference,
                                              cast.records["restricted"].reference}
    text = response.get_data(as_text=True)
    assert "LEAKBODY" not in text and "description" not in text
    restricted = next(h for h in hits if h["visibility"] == "restricted")
    assert restricted["community"]["name"] == "Hani Terraces"
    assert restricted["contact"] == f"/declarations/{restricted['reference']}"
    assert [label["code"] for label in restricted["labels"]] == ["tk_attribution", "tk_seasonal"]
    by_species = client.get(f"{TK_API}/prior-art", headers=examiner,
                            query_string={"species": "Oryza"}).get_json()
    assert cast.records["secret"].reference not in {h["reference"] for h in by_species}
    assert len(by_species) == 2
    assert client.get(f"{TK_API}/prior-art", headers=examiner,
                      query_string={"species": "Oryza glaberrima"}).get_json() == []
    # the community sees that it was found, and by what
    logged = session.scalars(select(TKAccessEvent).where(
        TKAccessEvent.tk_id == cast.records["restricted"].id)).all()
    assert [(e.action, e.detail) for e in logged][:1] == [("prior_art", "third terrace dawn")]
    page = cast.browser("official").get("/traditional-knowledge/prior-art",
                                        query_string={"q": "dawn"}).get_data(as_text=True)
    assert cast.records["restricted"].reference in page and "LEAKBODY" not in page
    assert cast.records["secret"].reference not in page


def test_prior_art_is_for_officials_and_examiners_only(client, cast, world):
    examiner = world.accounts.create_user(
        None, email="examiner@cnipa.example", display_name="Examiner", password=PASSWORD,
        organization=world.org(OrgKind.ENTERPRISE, name="Patent Office Examination"),
        prior_art_search=True)
    assert client.get(f"{TK_API}/prior-art", headers=world.headers(examiner),
                      query_string={"q": "dawn"}).status_code == 200
    for role in ("outsider", "steward", "grantee"):
        assert client.get(f"{TK_API}/prior-art", headers=cast.headers[role],
                          query_string={"q": "dawn"}).status_code == 403, role
    assert client.get(f"{TK_API}/prior-art", query_string={"q": "dawn"}).status_code == 401
    assert_refused(client.get(f"{TK_API}/prior-art", headers=cast.headers["official"]), 422, "q")


def test_labels_show_on_the_register_and_first_on_consent_and_application_pages(
        client, cast, world):
    register = client.get("/api/v1/register", query_string={"kind": "traditional_knowledge"})
    items = {i["reference"]: i for i in register.get_json()["items"]}
    assert set(items) == {cast.records["public"].reference, cast.records["restricted"].reference}
    assert items[cast.records["restricted"].reference]["labels"] == ["tk_attribution",
                                                                     "tk_seasonal"]
    assert "TK Seasonal" in client.get("/register").get_data(as_text=True)
    from abs_registry.applications.service import ApplicationService

    applicant = cast.users["outsider"]
    apps = ApplicationService(world.session)
    app = apps.create(applicant, {
        "title": "Terrace rice study", "tk_records": [cast.records["restricted"].reference],
        "resources": [], "purpose": "non_commercial", "activities": "Field work.",
        "work_location": "Yuanyang", "duration_months": 6})
    apps.transition(applicant, app.reference, "submit")
    apps.transition(cast.users["official"], app.reference, "accept_complete")
    consents = cast.browser("steward").get("/consents").get_data(as_text=True)
    assert consents.index("TK Seasonal") < consents.index("Only after the harvest.") < \
        consents.index(cast.records["restricted"].reference + "</a> ")
    shown = cast.browser("outsider").get(f"/applications/{app.reference}").get_data(as_text=True)
    assert shown.index("TK Attribution") < shown.index("Only after the harvest.") < shown.index(
        "Terrace rice study</h1>") + 10_000
    assert shown.index("TK Attribution") < shown.index(app.activities)


def test_the_public_history_of_restricted_knowledge_carries_no_comments(client, world):
    steward = world.steward()
    decl = world.declare(steward, Kind.TRADITIONAL_KNOWLEDGE, visibility="restricted")
    official = world.official(OfficialLevel.NATIONAL, tk_clearance=True)
    world.declarations.transition(steward, decl.reference, "submit")
    world.declarations.transition(official, decl.reference, "return",
                                  "Please spell out the LEAKBODY boiling time")
    world.declarations.transition(steward, decl.reference, "submit")
    world.declarations.transition(official, decl.reference, "register")
    public = client.get(f"/api/v1/declarations/{decl.reference}/history")
    assert public.status_code == 200
    assert [e["action"] for e in public.get_json()][-1] == "register"
    assert "LEAKBODY" not in public.get_data(as_text=True)
    assert "LEAKBODY" not in client.get(f"/declarations/{decl.reference}").get_data(as_text=True)
    own = client.get(f"/api/v1/declarations/{decl.reference}/history",
                     headers=world.headers(steward))
    assert "LEAKBODY" in own.get_data(as_text=True)


def test_the_form_takes_translations_and_adapted_labels(app_nocsrf, world):
    steward = world.steward()
    browser = app_nocsrf.test_client()
    browser.post("/sign-in", data={"email": steward.email, "password": PASSWORD})
    response = browser.post("/declarations/new/traditional-knowledge", data={
        "title": "诺苏火把节草药", "description": "Body text", "domain": "traditional_medicine",
        "visibility": "restricted", "language": "zh", "community_language": "ii",
        "tr-0-language": "en", "tr-0-title": "Nuosu torch festival herbs",
        "tr-1-language": "ii", "tr-1-title": "ꃅꏂ", "tr-1-description": "ꃅꏂꌠ",
        "label": ["tk_attribution", "tk_seasonal"],
        "label-tk_seasonal-own": "ꃅꏂ adapted", "label-tk_seasonal-zh": "火把节时节",
        "intent": "save"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    decl = world.declarations.list_own(steward)[0]
    assert [(t.language, t.title) for t in decl.translations] == [
        ("en", "Nuosu torch festival herbs"), ("ii", "ꃅꏂ")]
    assert {label.code: label.texts for label in decl.labels} == {
        "tk_attribution": {}, "tk_seasonal": {"zh": "火把节时节", "ii": "ꃅꏂ adapted"}}
    edit = browser.get(f"/declarations/{decl.reference}/edit").get_data(as_text=True)
    assert "ꃅꏂ adapted" in edit and "Nuosu torch festival herbs" in edit
    bad = browser.post("/declarations/new/traditional-knowledge", data={
        "title": "x", "description": "y", "domain": "food", "visibility": "restricted",
        "language": "not a tag", "intent": "save"})
    assert bad.status_code == 422
    assert "Not a language tag" in bad.get_data(as_text=True)


# --- bad input: 4xx naming the field, nothing changed ----------------------------------------


def _tk_counts(session) -> dict:
    session.rollback()
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (TKLabel, TKAccessGrant, TKAttachment, TKAccessEvent)} | snapshot(session)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"labels": [{"code": "tk_unknown"}]}, "labels"),
    ({"labels": [{"code": "tk_attribution"}, {"code": "tk_attribution"}]}, "labels"),
    ({"labels": [{"code": "tk_attribution", "texts": {"not a tag": "x"}}]}, "labels"),
    ({"labels": [{"code": "tk_attribution", "texts": {"en": "a\x00b"}}]}, "labels"),
    ({"language": "english please"}, "language"),
    ({"language": 12}, "language"),
    ({"community_language": "x"}, "community_language"),
    ({"translations": [{"language": "zh", "title": "same as the record's"}]}, "translations"),
    ({"translations": [{"language": "en", "title": "a"}, {"language": "EN", "title": "b"}]},
     "translations"),
    ({"translations": [{"language": "en"}]}, "translations"),
    ({"visibility": "community"}, "visibility"),
])
def test_bad_tk_input_is_refused_naming_the_field(client, world, session, overrides, field):
    steward = world.steward()
    headers = world.headers(steward)
    before = _tk_counts(session)
    response = client.post("/api/v1/declarations/traditional-knowledge", headers=headers,
                           json=tk_payload(**overrides))
    assert_refused(response, 422, field)
    assert _tk_counts(session) == before


TODAY = date.today().isoformat()


@pytest.mark.parametrize(("body", "field"), [
    ({"user": "nobody@example.org", "ends_on": TODAY}, "user"),
    ({"organization": "No Such Org", "ends_on": TODAY}, "organization"),
    ({"ends_on": TODAY}, "user"),
    ({"user": "GRANTEE", "organization": "Hani Terraces", "ends_on": TODAY}, "user"),
    ({"user": "GRANTEE", "ends_on": (date.today() - timedelta(days=1)).isoformat()}, "ends_on"),
    ({"user": "GRANTEE", "ends_on": "tomorrow"}, "ends_on"),
    ({"user": "GRANTEE"}, "ends_on"),
    ({"user": "GRANTEE", "ends_on": TODAY, "note": "n" * 2001}, "note"),
    ({"user": "GRANTEE", "ends_on": TODAY, "surprise": 1}, "surprise"),
])
def test_bad_grants_are_refused_naming_the_field(client, cast, session, body, field):
    payload = {k: cast.users["grantee"].email if v == "GRANTEE" else v for k, v in body.items()}
    before = _tk_counts(session)
    response = client.post(f"{TK_API}/{cast.records['restricted'].reference}/grants",
                           headers=cast.headers["steward"], json=payload)
    assert_refused(response, 422, field)
    assert _tk_counts(session) == before


@pytest.mark.parametrize(("content", "message"), [
    (b"just some text, not a recording", "MP3"),
    (b"", "empty"),
    (b"ID3" + b"\x00" * (10 * 1024 * 1024), "larger"),
])
def test_bad_attachments_are_refused_naming_the_file(client, world, session, content, message):
    steward = world.steward()
    decl = world.declare(steward, Kind.TRADITIONAL_KNOWLEDGE, visibility="restricted")
    before = _tk_counts(session)
    response = client.post(f"{TK_API}/{decl.reference}/attachments",
                           headers=world.headers(steward),
                           data={"file": (io.BytesIO(content), "x.mp3")})
    body = assert_refused(response, 422, "file")
    assert message in " ".join(body["errors"]["file"])
    assert _tk_counts(session) == before
    stored = attachments_dir(world.app)
    assert not stored.exists() or not [p for p in stored.iterdir() if p.is_file()]


def test_every_label_has_english_and_chinese_text():
    assert len(LABELS) >= 16
    for label in LABELS.values():
        assert set(label.name) == set(label.text) == {"en", "zh"}
    schema = schemas.TraditionalKnowledgeIn()
    loaded = schema.load(tk_payload(labels=[{"code": c} for c in LABELS],
                                    community_language="II", language="ZH-hans-cn"))
    assert loaded["community_language"] == "ii" and loaded["language"] == "zh-Hans-CN"
