"""Transfers to third parties and changes of use: blocked until new consent and agreement
(a permit covering them) exist, or the permit's transfer terms allow them."""

from __future__ import annotations

import pytest

from abs_registry.auth.models import OrgKind
from abs_registry.movements.models import UseChange
from tests.test_movements import count, make_scene


def transfer(client, world, user, number, **body):
    return client.post(f"/api/v1/permits/{number}/transfers", json=body,
                       headers=world.headers(user))


def change_use(client, world, user, number, purpose):
    return client.post(f"/api/v1/permits/{number}/change-of-use", json={"purpose": purpose},
                       headers=world.headers(user))


def provider_of(world, scene):
    """A member of the organization that declared the permit's resource: it consents."""
    return world.user(scene.permit.resources[0].organization)


def permit_for(world, scene, applicant, **application):
    """Another approved application for the same resource, and its permit."""
    from abs_registry.permits.service import PermitService

    app, official = world.approved_application(
        applicant=applicant, provider=provider_of(world, scene), exports=False,
        resources=[scene.material], **application)
    return PermitService(world.session, world.app.extensions["abs"].keys).issue(
        official, app.reference, {})


# --- transfers ------------------------------------------------------------------------------


def test_a_transfer_barred_by_the_permit_is_refused_naming_what_is_missing(client, world,
                                                                           session):
    scene = make_scene(world)
    assert scene.permit.third_party_transfer is None
    answer = transfer(client, world, scene.holder, scene.permit.number,
                      material=scene.material, third_party="Yunnan Seeds Co.")
    assert answer.status_code == 409
    [message] = answer.json["errors"]["third_party"]
    assert "bars transfer" in message and "Yunnan Seeds Co." in message
    assert "prior informed consent and agreement" in message
    assert count(session, UseChange) == 0


def test_a_third_party_with_its_own_permit_for_the_material_may_receive_it(client, world):
    scene = make_scene(world)
    party = world.member(world.org(OrgKind.ENTERPRISE, name="Yunnan Seeds Co."))
    theirs = permit_for(world, scene, party)
    answer = transfer(client, world, scene.holder, scene.permit.number,
                      material=scene.material, third_party="  yunnan seeds co. ")
    assert answer.status_code == 201, answer.json
    assert answer.json["covering_permit"] == theirs.label
    assert answer.json["conditions"] is None


def test_a_third_partys_suspended_permit_covers_nothing(client, world):
    scene = make_scene(world)
    party = world.member(world.org(OrgKind.ENTERPRISE, name="Yunnan Seeds Co."))
    theirs = permit_for(world, scene, party)
    scene.permits.suspend(scene.official, theirs.number, "inquiry")
    answer = transfer(client, world, scene.holder, scene.permit.number,
                      material=scene.material, third_party="Yunnan Seeds Co.")
    assert answer.status_code == 409


def test_a_permit_allowing_transfers_on_terms_records_them_with_the_transfer(client, world):
    permit = world.permit(third_party_transfer=True,
                          third_party_details="To non-profit partners on the same terms")
    holder = world.member(permit.holder)
    answer = transfer(client, world, holder, permit.number,
                      material=permit.resources[0].reference, third_party="Partner Lab")
    assert answer.status_code == 201, answer.json
    assert answer.json["conditions"] == "To non-profit partners on the same terms"
    assert answer.json["covering_permit"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"material": "CN-GR-2026-999999", "third_party": "Yunnan Seeds Co."}, "material"),
    ({"third_party": "Yunnan Seeds Co."}, "material"),
    ({"material": None, "third_party": "   "}, "third_party"),
])
def test_a_bad_transfer_request_names_the_field(client, world, session, body, field):
    scene = make_scene(world)
    body = {k: (scene.material if v is None else v) for k, v in body.items()}
    answer = transfer(client, world, scene.holder, scene.permit.number, **body)
    assert answer.status_code == 422 and field in answer.json["errors"], answer.json
    assert count(session, UseChange) == 0


def test_the_holder_cannot_transfer_to_itself(client, world):
    scene = make_scene(world)
    answer = transfer(client, world, scene.holder, scene.permit.number,
                      material=scene.material, third_party=scene.permit.holder.name.upper())
    assert answer.status_code == 422 and "third_party" in answer.json["errors"]


def test_only_the_holder_records_transfers(client, world):
    scene = make_scene(world)
    body = {"material": scene.material, "third_party": "Yunnan Seeds Co."}
    assert transfer(client, world, world.member(), scene.permit.number, **body).status_code \
        == 404
    assert transfer(client, world, scene.official, scene.permit.number, **body).status_code \
        == 403


# --- change of use --------------------------------------------------------------------------


def test_a_change_to_commercial_use_is_blocked_until_a_permit_covers_it(client, world,
                                                                      session):
    scene = make_scene(world, template="non_commercial_research")
    assert scene.permit.purpose.value == "non_commercial"
    refused = change_use(client, world, scene.holder, scene.permit.number, "commercial")
    assert refused.status_code == 409
    [message] = refused.json["errors"]["purpose"]
    assert "new prior informed consent and a new agreement" in message
    assert scene.material in message
    assert count(session, UseChange) == 0

    commercial = permit_for(world, scene, scene.holder)
    assert commercial.purpose.value == "commercial"
    allowed = change_use(client, world, scene.holder, scene.permit.number, "commercial")
    assert allowed.status_code == 201, allowed.json
    assert (allowed.json["from_purpose"], allowed.json["to_purpose"],
            allowed.json["covering_permit"]) == ("non_commercial", "commercial",
                                                 commercial.label)


def test_a_use_the_permit_already_covers_needs_no_change(client, world):
    scene = make_scene(world)
    answer = change_use(client, world, scene.holder, scene.permit.number, "commercial")
    assert answer.status_code == 422 and "purpose" in answer.json["errors"]


def test_a_revoked_permit_changes_nothing(client, world):
    scene = make_scene(world, template="non_commercial_research")
    scene.permits.revoke(scene.official, scene.permit.number, "breach")
    answer = change_use(client, world, scene.holder, scene.permit.number, "commercial")
    assert answer.status_code == 409 and "permit" in answer.json["errors"]


def test_transfer_and_change_forms_show_the_refusal_beside_the_field(app_nocsrf, client,
                                                                     world):
    from tests.test_checkpoints import sign_in

    scene = make_scene(world, template="non_commercial_research")
    sign_in(client, scene.holder)
    page = client.post(f"/permits/{scene.permit.number}/transfers",
                       data={"material": scene.material, "third_party": "Yunnan Seeds Co."})
    assert page.status_code == 409
    text = page.get_data(as_text=True)
    assert 'id="error-third_party"' in text and 'value="Yunnan Seeds Co."' in text
    page = client.post(f"/permits/{scene.permit.number}/change-of-use",
                       data={"purpose": "commercial"})
    assert page.status_code == 409 and 'id="error-purpose"' in page.get_data(as_text=True)
