"""Checkpoints: looking a permit up by number or QR code, confirming or stopping a movement,
the checkpoint communiqué in the ABS Clearing-House's field names, who may do what, and
the pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.movements.models import CheckpointCommunique, Movement
from tests.conftest import PASSWORD
from tests.test_movements import count, make_scene, movements_of, post

# The fields of the Clearing-House's checkpoint communiqué that every one of ours carries.
ABSCH_FIELDS = {"header", "government", "title", "absCheckpoints", "absIRCCsNotAvailable",
                "absIRCCs", "sourceCountries", "subjectMatter", "evidenceOfPIC",
                "entityWhoGrantedPIC", "entityToWhomPICGranted", "evidenceOfMAT",
                "dateOfAccess", "description", "personsAtCheckpoint", "dateCollected",
                "relevantInformation"}


def checkpoint_officer(world, name="Kunming Customs"):
    customs = world.org(OrgKind.AUTHORITY, name=name, region="530000")
    return world.accounts.create_user(
        None, email=f"officer{world._next()}@customs.example.cn", display_name="Officer Zhao",
        password=PASSWORD, organization=customs, role=Role.OFFICIAL,
        official_level=OfficialLevel.PROVINCIAL, checkpoint_officer=True)


@pytest.fixture
def scene(world):
    return make_scene(world)


@pytest.fixture
def officer(world):
    return checkpoint_officer(world)


def recorded(client, world, scene, **body) -> str:
    answer = post(client, world, scene.holder, scene.body(**body))
    assert answer.status_code == 201, answer.json
    return answer.json["reference"]


def decide(client, world, user, reference, action, **body):
    body.setdefault("persons_at_checkpoint", "Wang Fang, courier of China Post EMS")
    return client.post(f"/api/v1/movements/{reference}/{action}", json=body,
                       headers=world.headers(user))


def lookup(client, world, user, q):
    return client.get("/api/v1/checkpoint/lookup", query_string={"q": q},
                      headers=world.headers(user))


# --- look-up --------------------------------------------------------------------------------


def test_a_checkpoint_finds_the_permit_by_number_url_or_signed_copy(client, world, scene,
                                                                    officer):
    recorded(client, world, scene, quantity="300", unit="g")
    number = scene.permit.number
    for q in (number, f"https://abs.example.cn/verify/{number}",
              f"https://abs.example.cn/verify?token={scene.permit.jws}", scene.permit.jws):
        answer = lookup(client, world, officer, q)
        assert answer.status_code == 200, (q, answer.json)
        assert answer.json["permit"] == number
        assert answer.json["status"] == "valid"
        [allowance] = answer.json["allowances"]
        assert (allowance["allowed"], allowance["left"], allowance["remaining"],
                allowance["unit"]) == ("1", "0.3", "0.7", "kg")
        assert len(answer.json["movements"]) == 1


@pytest.mark.parametrize(("q", "status"), [("rice", 422), ("CN-ABS-2026-999999", 404),
                                           ("", 422)])
def test_a_look_up_of_nothing_usable_says_so(client, world, officer, q, status):
    answer = lookup(client, world, officer, q)
    assert answer.status_code == status
    if status == 422:
        assert "q" in answer.json["errors"]


def test_officials_may_look_up_but_members_and_communities_may_not(client, world, scene):
    assert lookup(client, world, world.official(), scene.permit.number).status_code == 200
    for user in (scene.holder, world.member(), world.steward()):
        assert lookup(client, world, user, scene.permit.number).status_code == 403


# --- confirming and stopping ----------------------------------------------------------------


def test_a_confirmation_is_a_communique_in_the_clearing_house_field_names(client, world, scene,
                                                                          officer):
    reference = recorded(client, world, scene)
    answer = decide(client, world, officer, reference, "confirm")
    assert answer.status_code == 201, answer.json
    assert answer.json["decision"] == "confirmed"
    document = client.get(f"/api/v1/communiques/{answer.json['reference']}",
                          headers=world.headers(scene.holder)).json
    assert set(document) >= ABSCH_FIELDS
    assert document["header"] == {"identifier": answer.json["reference"],
                                  "schema": "absCheckpointCommunique", "languages": ["en"]}
    assert document["absCheckpoints"] == [{"identifier": "Kunming Customs"}]
    assert document["absIRCCs"] == [{"identifier": f"{scene.permit.number}@1"}]
    assert document["sourceCountries"] == [{"identifier": "cn"}]
    assert document["dateOfAccess"] == scene.permit.valid_from.isoformat()
    assert scene.material in document["subjectMatter"]["en"]
    assert scene.permit.application.reference in document["evidenceOfPIC"]["en"]
    assert "PIC granted by" in document["evidenceOfPIC"]["en"]
    assert scene.permit.application.current_agreement.text_sha256 in \
        document["evidenceOfMAT"]["en"]
    assert document["entityToWhomPICGranted"] == [{"identifier": scene.permit.holder.name}]
    assert document["personsAtCheckpoint"] == [
        {"identifier": "Wang Fang, courier of China Post EMS"}]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", document["dateCollected"])
    status = client.get(f"/api/v1/movements/{reference}", headers=world.headers(officer)).json
    assert status["status"] == "confirmed"
    assert status["communique"] == answer.json["reference"]


def test_a_stop_needs_a_reason_and_frees_the_quantity(client, world, session, scene, officer):
    reference = recorded(client, world, scene, quantity="1", unit="kg")
    refused = decide(client, world, officer, reference, "stop")
    assert refused.status_code == 422 and "reason" in refused.json["errors"]
    assert count(session, CheckpointCommunique) == 0
    assert session.scalar(select(Movement.status).where(
        Movement.reference == reference)).value == "recorded"
    stopped = decide(client, world, officer, reference, "stop",
                     reason="The declared recipient differs from the shipping papers.")
    assert stopped.status_code == 201
    document = client.get(f"/api/v1/communiques/{stopped.json['reference']}",
                          headers=world.headers(officer)).json
    assert "stopped" in document["description"]["en"]
    assert "shipping papers" in document["description"]["en"]
    allowance = movements_of(client, world, scene.holder, scene.permit.number).json[
        "allowances"][0]
    assert allowance["remaining"] == "1"
    assert post(client, world, scene.holder, scene.body(quantity="1", unit="kg")).status_code \
        == 201


def test_a_movement_is_decided_once(client, world, scene, officer):
    reference = recorded(client, world, scene)
    assert decide(client, world, officer, reference, "confirm").status_code == 201
    again = decide(client, world, officer, reference, "stop", reason="second thoughts")
    assert again.status_code == 409
    assert again.json["state"] == "confirmed"


def test_an_exit_under_a_permit_suspended_since_is_not_confirmed(client, world, session, scene,
                                                                 officer):
    reference = recorded(client, world, scene)
    scene.permits.suspend(scene.official, scene.permit.number, "inquiry")
    answer = decide(client, world, officer, reference, "confirm")
    assert answer.status_code == 409 and "permit" in answer.json["errors"]
    assert count(session, CheckpointCommunique) == 0
    assert decide(client, world, officer, reference, "stop",
                  reason="permit suspended").status_code == 201


def test_only_checkpoint_officers_confirm_or_stop(client, world, scene):
    reference = recorded(client, world, scene)
    for user in (world.official(OfficialLevel.NATIONAL), scene.holder):
        assert decide(client, world, user, reference, "confirm").status_code == 403
    assert decide(client, world, world.member(), reference, "confirm").status_code == 403


def test_a_checkpoint_officer_does_no_review_work(client, world, officer):
    assert client.get("/api/v1/application-queue",
                      headers=world.headers(officer)).status_code == 403
    assert not officer.is_official


def test_only_officials_may_be_made_checkpoint_officers(world):
    from abs_registry.errors import ValidationError

    with pytest.raises(ValidationError) as refused:
        world.accounts.create_user(None, email="x@example.org", display_name="X",
                                   password=PASSWORD, organization=world.org(),
                                   checkpoint_officer=True)
    assert refused.value.field == "checkpoint_officer"


def test_a_communique_is_hidden_from_those_who_may_not_see_the_permits_movements(
        client, world, scene, officer):
    reference = recorded(client, world, scene)
    communique = decide(client, world, officer, reference, "confirm").json["reference"]
    for user in (world.member(), world.steward()):
        assert client.get(f"/api/v1/communiques/{communique}",
                          headers=world.headers(user)).status_code == 404
        assert client.get(f"/api/v1/movements/{reference}",
                          headers=world.headers(user)).status_code == 404


def test_the_cli_creates_a_checkpoint_officer(app, world):
    world.org(OrgKind.AUTHORITY, name="Ruili Customs")
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "li@customs.example.cn", "--name", "Li Na", "--org", "Ruili Customs",
        "--checkpoint-officer", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "checkpoint officer" in result.output


# --- pages ----------------------------------------------------------------------------------


def csrf_of(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, user):
    answer = client.post("/sign-in", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": csrf_of(client, "/sign-in")})
    assert answer.status_code in (302, 303), answer.status_code


def test_the_checkpoint_page_looks_up_and_confirms(app_nocsrf, client, world, scene, officer):
    reference = recorded(client, world, scene, quantity="250", unit="g")
    sign_in(client, officer)
    page = client.get("/checkpoint", query_string={
        "q": f"https://abs.example.cn/verify/{scene.permit.number}"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert reference in text and "0.75 kg" in text
    missing = client.post(f"/movements/{reference}/stop", data={"persons_at_checkpoint": "Wang"})
    assert missing.status_code == 422
    assert 'id="error-reason"' in missing.get_data(as_text=True)
    done = client.post(f"/movements/{reference}/confirm",
                       data={"persons_at_checkpoint": "Wang Fang"})
    assert done.status_code == 302
    communique = client.get(f"/checkpoint?q={scene.permit.number}").get_data(as_text=True)
    [ref] = re.findall(r"/communiques/(CN-CPC-\d{4}-\d{6})\.json", communique)
    download = client.get(f"/communiques/{ref}.json")
    assert download.status_code == 200
    assert download.json["header"]["schema"] == "absCheckpointCommunique"


def test_the_checkpoint_page_is_for_checkpoints_and_officials(client, world, scene):
    sign_in(client, scene.holder)
    assert client.get("/checkpoint").status_code == 403


def test_checkpoint_forms_need_the_csrf_token(client, world, scene, officer):
    reference = recorded(client, world, scene)
    sign_in(client, officer)
    answer = client.post(f"/movements/{reference}/confirm", data={"persons_at_checkpoint": "W"})
    assert answer.status_code == 400


def test_the_holder_records_an_exit_through_the_form(app_nocsrf, client, world, session, scene):
    sign_in(client, scene.holder)
    form = client.get(f"/permits/{scene.permit.number}/movements/new?direction=exit")
    assert form.status_code == 200
    body = scene.body(quantity="2", unit="kg")
    refused = client.post(f"/permits/{scene.permit.number}/movements/new", data=body)
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert 'id="error-quantity"' in text and 'value="2"' in text
    assert count(session, Movement) == 0
    bad_unit = client.post(f"/permits/{scene.permit.number}/movements/new",
                           data=scene.body(unit="ml"))
    assert bad_unit.status_code == 422 and 'id="error-unit"' in bad_unit.get_data(as_text=True)
    done = client.post(f"/permits/{scene.permit.number}/movements/new", data=body | {
        "quantity": "0.5"})
    assert done.status_code == 302
    page = client.get(f"/permits/{scene.permit.number}/movements").get_data(as_text=True)
    assert "0.5 kg" in page


def test_the_movements_page_is_hidden_from_other_organizations(client, world, scene):
    sign_in(client, world.member())
    assert client.get(f"/permits/{scene.permit.number}/movements").status_code == 404
    assert client.get(f"/permits/{scene.permit.number}/movements/new").status_code == 404


def test_officials_see_the_movements_page_but_get_no_form(client, world, scene):
    sign_in(client, world.official())
    page = client.get(f"/permits/{scene.permit.number}/movements")
    assert page.status_code == 200
    assert "/movements/new" not in page.get_data(as_text=True)
    assert client.get(f"/permits/{scene.permit.number}/movements/new").status_code == 403


def test_the_demo_has_a_confirmed_exit_and_one_waiting_for_customs(app, session):
    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
    statuses = sorted(m.status.value for m in session.scalars(select(Movement)))
    assert statuses == ["confirmed", "recorded"]
    [communique] = session.scalars(select(CheckpointCommunique)).all()
    assert communique.document["absCheckpoints"] == [
        {"identifier": "Kunming Changshui Airport Customs"}]


def _permit_touching_tk(world, visibility: str):
    """A permit whose case named a community's TK record of the given visibility, with the
    community's FPIC and the provider's PIC, through the real services. The applicant is a
    member of the community: only those the community let in may name its confidential TK."""
    import json
    from decimal import Decimal

    from abs_registry.applications.service import ApplicationService
    from abs_registry.config import REPO_ROOT
    from abs_registry.declarations.models import Kind
    from abs_registry.permits.service import PermitService

    example = json.loads((REPO_ROOT / "contracts" / "commercial_monetary" / "v1" /
                          "example.json").read_text(encoding="utf-8"))
    official = world.official(OfficialLevel.NATIONAL, tk_clearance=True)
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE))
    community = world.org(OrgKind.COMMUNITY, region="532822")
    steward = world.steward(community)
    applicant = world.user(community, role=Role.MEMBER)
    resource = world.registered(provider, reviewer=official)
    tk = world.registered(steward, Kind.TRADITIONAL_KNOWLEDGE, reviewer=official,
                          visibility=visibility)
    apps = ApplicationService(world.session)
    ref = apps.create(applicant, {
        "title": "Rice landraces and their keepers", "resources": [resource.reference],
        "tk_records": [tk.reference], "purpose": "commercial",
        "activities": "Genotyping and field trials.", "work_location": "Kunming",
        "duration_months": 24, "exports_material": True, "export_country": "DE",
        "export_recipient": "Leibniz Institute"}).reference
    apps.transition(applicant, ref, "submit")
    app = apps.transition(official, ref, "accept_complete")
    for consent in list(app.consents):
        party = provider if consent.kind.value == "pic" else steward
        apps.decide_consent(party, ref, consent.id, grant=True)
    agreement = apps.propose_agreement(applicant, ref, template_id="commercial_monetary",
                                       template_version=1, values=example["values"],
                                       terms=example["terms"])
    for party in (applicant, provider):
        apps.accept_agreement(party, ref, revision=agreement.revision,
                              text_sha256=agreement.text_sha256)
    apps.transition(official, ref, "approve")
    keys = world.app.extensions["abs"].keys
    keys.ensure(world.session)
    permit = PermitService(world.session, keys).issue(official, ref, {"exits": [
        {"resource": resource.reference, "quantity": Decimal("1"), "unit": "kg",
         "destination_country": "DE", "recipient": "Leibniz Institute"}]})
    return permit, tk, community


@pytest.mark.parametrize(("visibility", "named"), [("public", True), ("restricted", False),
                                                   ("secret", False)])
def test_a_communique_names_consent_to_tk_only_when_the_tk_is_public(
        client, world, officer, visibility, named):
    from tests.test_movements import Scene

    permit, tk, _community = _permit_touching_tk(world, visibility)
    scene = Scene(world, permit, world.user(permit.holder, role=Role.MEMBER), None)
    reference = recorded(client, world, scene, recipient="Leibniz Institute")
    communique = decide(client, world, officer, reference, "confirm").json["reference"]
    text = client.get(f"/api/v1/communiques/{communique}",
                      headers=world.headers(officer)).get_data(as_text=True)
    assert (tk.reference in text) is named
    assert ("FPIC granted by" in text) is named  # not even that there was one
    assert "PIC granted by" in text
