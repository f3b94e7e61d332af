"""Exits and returns of material under a permit: the exit check of DOMAIN rule 5, unit
conversion, bad input refused with the field named and nothing stored, and concurrency."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.declarations.models import QuantityUnit as U
from abs_registry.errors import Conflict, ValidationError
from abs_registry.movements import units
from abs_registry.movements.models import Movement
from abs_registry.movements.service import MovementService, permit_number_in, recipient_key
from abs_registry.permits.service import PermitService

RECIPIENT = "Leibniz Institute, Gatersleben"


@dataclass
class Scene:
    """A permit allowing 1 kg of one resource to leave for Germany, and who is who."""

    world: object
    permit: object
    holder: object  # a member of the holding organization
    official: object  # the national official who issued the permit

    @property
    def material(self) -> str:
        return self.permit.resources[0].reference

    def body(self, **overrides) -> dict:
        body = {"permit": self.permit.number, "direction": "exit", "material": self.material,
                "quantity": "100", "unit": "g", "origin_country": "CN",
                "destination_country": "DE", "recipient": RECIPIENT,
                "carrier": "China Post EMS", "port": "Kunming Changshui Airport",
                "planned_date": "2026-12-01", "customs_declaration": "530120261234567890"}
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    @property
    def permits(self) -> PermitService:
        return PermitService(self.world.session, self.world.app.extensions["abs"].keys)


def make_scene(world, exits=None, **application) -> Scene:
    """``exits(resource_reference)`` gives the permit's exits; default 1 kg to DE."""
    app, official = world.approved_application(**application)
    keys = world.app.extensions["abs"].keys
    keys.ensure(world.session)
    ref = app.resources[0].reference
    rows = exits(ref) if exits else [{"resource": ref, "quantity": Decimal("1"), "unit": "kg",
                                      "destination_country": "DE", "recipient": RECIPIENT}]
    permit = PermitService(world.session, keys).issue(official, app.reference, {"exits": rows})
    return Scene(world, permit, world.member(permit.holder), official)


@pytest.fixture
def scene(world) -> Scene:
    return make_scene(world)


def post(client, world, user, body, headers=None):
    return client.post("/api/v1/movements", json=body, headers=headers or world.headers(user))


def movements_of(client, world, user, number):
    return client.get(f"/api/v1/permits/{number}/movements", headers=world.headers(user))


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


# --- units ----------------------------------------------------------------------------------

CONVERSIONS = [
    ("1", U.KG, U.G, "1000"), ("1", U.KG, U.MG, "1000000"), ("1", U.G, U.KG, "0.001"),
    ("0.000001", U.KG, U.MG, "1"), ("1", U.MG, U.KG, "0.000001"), ("2.5", U.G, U.MG, "2500"),
    ("1", U.L, U.ML, "1000"), ("1", U.ML, U.UL, "1000"), ("250", U.UL, U.L, "0.00025"),
    ("3", U.ITEMS, U.ITEMS, "3"), ("0.1", U.KG, U.G, "100"),
]


@pytest.mark.parametrize(("quantity", "source", "target", "expected"), CONVERSIONS)
def test_units_convert_exactly(quantity, source, target, expected):
    assert units.convert(Decimal(quantity), source, target) == Decimal(expected)


@pytest.mark.parametrize(("source", "target"), [(U.KG, U.L), (U.ML, U.G), (U.ITEMS, U.KG),
                                                (U.UL, U.ITEMS)])
def test_mass_volume_and_count_do_not_convert_into_each_other(source, target):
    with pytest.raises(ValidationError) as refused:
        units.convert(Decimal(1), source, target)
    assert refused.value.field == "unit"


def test_tenths_add_up_to_the_whole_where_floats_would_not():
    total = sum((units.to_base(Decimal("0.1"), U.KG) for _ in range(10)), Decimal(0))
    assert total == units.to_base(Decimal(1), U.KG)


def test_recipients_match_ignoring_case_and_spacing_only():
    assert recipient_key("  leibniz  INSTITUTE, gatersleben ") == recipient_key(RECIPIENT)
    assert recipient_key("Leibniz Institute") != recipient_key(RECIPIENT)


# --- recording exits ------------------------------------------------------------------------


def test_an_exit_within_the_permit_is_recorded_and_counted(client, world, scene):
    answer = post(client, world, scene.holder, scene.body(quantity="0.25", unit="kg"))
    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "recorded"
    assert answer.json["permit"] == scene.permit.number
    assert answer.json["reference"].startswith("CN-MOV-")
    seen = movements_of(client, world, scene.holder, scene.permit.number).json
    [allowance] = seen["allowances"]
    assert (allowance["allowed"], allowance["left"], allowance["remaining"]) == \
        ("1", "0.25", "0.75")
    assert [m["reference"] for m in seen["movements"]] == [answer.json["reference"]]


def test_quantities_in_other_units_add_up_to_the_limit_exactly(client, world, scene):
    for quantity, unit in (("0.4", "kg"), ("500", "g"), ("100000", "mg")):
        assert post(client, world, scene.holder,
                    scene.body(quantity=quantity, unit=unit)).status_code == 201
    over = post(client, world, scene.holder, scene.body(quantity="0.000001", unit="mg"))
    assert over.status_code == 409
    assert "Only 0 kg" in over.json["errors"]["quantity"][0]
    allowance = movements_of(client, world, scene.holder, scene.permit.number).json[
        "allowances"][0]
    assert allowance["remaining"] == "0"


def test_the_recipient_may_be_written_in_another_case_and_spacing(client, world, scene):
    answer = post(client, world, scene.holder,
                  scene.body(recipient="  leibniz institute,   GATERSLEBEN "))
    assert answer.status_code == 201


def _other_resource(scene) -> str:
    world = scene.world
    return world.registered(world.member(), scientific_name="Zea mays").reference


BAD_EXITS = [
    ("no permit", {"permit": None}, 422, "permit"),
    ("blank permit", {"permit": "  "}, 422, "permit"),
    ("unknown permit", {"permit": "CN-ABS-2026-999999"}, 422, "permit"),
    ("material not covered", {"material": "other"}, 422, "material"),
    ("not a reference", {"material": "rice"}, 422, "material"),
    ("destination not allowed", {"destination_country": "FR"}, 422, "destination_country"),
    ("recipient not allowed", {"recipient": "Leibniz Institute"}, 422, "recipient"),
    ("over the remainder", {"quantity": "1.000001", "unit": "kg"}, 409, "quantity"),
    ("zero", {"quantity": "0"}, 422, "quantity"),
    ("negative", {"quantity": "-5"}, 422, "quantity"),
    ("not a number", {"quantity": "lots"}, 422, "quantity"),
    ("not finite", {"quantity": "NaN"}, 422, "quantity"),
    ("too many decimals", {"quantity": "0.0000001", "unit": "kg"}, 422, "quantity"),
    ("unit not convertible", {"unit": "ml"}, 422, "unit"),
    ("unknown unit", {"unit": "lb"}, 422, "unit"),
    ("bad destination code", {"destination_country": "XX"}, 422, "destination_country"),
    ("country name", {"destination_country": "Germany"}, 422, "destination_country"),
    ("bad origin code", {"origin_country": "C1"}, 422, "origin_country"),
    ("exit not from China", {"origin_country": "FR"}, 422, "origin_country"),
    ("no border crossed", {"origin_country": "DE"}, 422, "destination_country"),
    ("no recipient", {"recipient": None}, 422, "recipient"),
    ("no date", {"planned_date": "tomorrow"}, 422, "planned_date"),
    ("bad declaration number", {"customs_declaration": "12 34"}, 422, "customs_declaration"),
    ("unknown field", {"colour": "red"}, 422, "colour"),
]


@pytest.mark.parametrize(("case", "change", "status", "field"), BAD_EXITS,
                         ids=[c[0] for c in BAD_EXITS])
def test_a_bad_exit_is_refused_naming_the_field_and_nothing_is_stored(
        client, world, session, scene, case, change, status, field):
    if change.get("material") == "other":
        change = {"material": _other_resource(scene)}
    headers = world.headers(scene.holder)
    events = count(session, AuditEvent)
    answer = post(client, world, scene.holder, scene.body(**change), headers)
    assert answer.status_code == status, answer.json
    assert field in answer.json["errors"], answer.json
    assert count(session, Movement) == 0
    assert count(session, AuditEvent) == events


@pytest.mark.parametrize(("change", "status"), [("suspend", "suspended"), ("revoke", "revoked")])
def test_a_suspended_or_revoked_permit_lets_nothing_leave(client, world, session, scene,
                                                          change, status):
    getattr(scene.permits, change)(scene.official, scene.permit.number, "breach of terms")
    answer = post(client, world, scene.holder, scene.body())
    assert answer.status_code == 409
    assert f"is {status}" in answer.json["errors"]["permit"][0]
    assert count(session, Movement) == 0


def test_an_expired_permit_lets_nothing_leave(world, session, scene):
    later = scene.permit.expires_on + timedelta(days=1)
    service = MovementService(session, today=lambda: later)
    from abs_registry.movements.schemas import MovementIn

    with pytest.raises(Conflict) as refused:
        service.record(scene.holder, MovementIn().load(scene.body()))
    assert refused.value.field == "permit"
    assert "expired" in refused.value.message
    assert count(session, Movement) == 0


def test_another_organizations_permit_is_answered_as_unknown(client, world, session, scene):
    stranger = world.member()
    answer = post(client, world, stranger, scene.body())
    unknown = post(client, world, stranger, scene.body(permit="CN-ABS-2026-999999"))
    assert answer.status_code == unknown.status_code == 422
    assert answer.json["errors"]["permit"][0].replace(scene.permit.number, "N") == \
        unknown.json["errors"]["permit"][0].replace("CN-ABS-2026-999999", "N")
    assert count(session, Movement) == 0


def test_only_members_record_movements(client, world, scene):
    for user in (scene.official, world.steward(), world.admin()):
        assert post(client, world, user, scene.body()).status_code == 403


def test_a_return_is_recorded_and_frees_nothing(client, world, scene):
    assert post(client, world, scene.holder,
                scene.body(quantity="1", unit="kg")).status_code == 201
    back = post(client, world, scene.holder, scene.body(
        direction="entry", quantity="400", unit="g", origin_country="DE",
        destination_country="CN"))
    assert back.status_code == 201, back.json
    assert back.json["direction"] == "entry"
    again = post(client, world, scene.holder, scene.body(quantity="1", unit="g"))
    assert again.status_code == 409
    assert movements_of(client, world, scene.holder, scene.permit.number).json[
        "allowances"][0]["remaining"] == "0"


def test_a_return_must_come_back_to_china_and_is_accepted_after_suspension(client, world,
                                                                           scene):
    assert post(client, world, scene.holder, scene.body()).status_code == 201
    scene.permits.suspend(scene.official, scene.permit.number, "inquiry")
    wrong = post(client, world, scene.holder, scene.body(direction="entry", origin_country="DE",
                                                         destination_country="FR"))
    assert wrong.status_code == 422 and "destination_country" in wrong.json["errors"]
    back = post(client, world, scene.holder, scene.body(direction="entry", origin_country="DE",
                                                        destination_country="CN"))
    assert back.status_code == 201


def test_each_allowance_counts_its_own_recipient_and_unit(client, world):
    scene = make_scene(world, exits=lambda ref: [
        {"resource": ref, "quantity": Decimal("2"), "unit": "ml",
         "destination_country": "DE", "recipient": RECIPIENT},
        {"resource": ref, "quantity": Decimal("5"), "unit": "items",
         "destination_country": "DE", "recipient": "Max Planck Institute, Cologne"},
    ])
    assert post(client, world, scene.holder,
                scene.body(quantity="1500", unit="ul")).status_code == 201
    assert post(client, world, scene.holder, scene.body(
        quantity="5", unit="items", recipient="Max Planck Institute, Cologne")).status_code == 201
    refused = post(client, world, scene.holder, scene.body(quantity="0.6", unit="ml"))
    assert refused.status_code == 409
    assert "Only 0.5 ml" in refused.json["errors"]["quantity"][0]
    allowances = movements_of(client, world, scene.holder, scene.permit.number).json[
        "allowances"]
    assert [(a["unit"], a["left"], a["remaining"]) for a in allowances] == \
        [("ml", "1.5", "0.5"), ("items", "5", "0")]


def test_what_left_under_an_earlier_version_counts_after_an_amendment(client, world, scene):
    assert post(client, world, scene.holder,
                scene.body(quantity="600", unit="g")).status_code == 201
    amended = scene.permits.amend(scene.official, scene.permit.number, {}, "new carrier terms")
    assert amended.version == 2
    refused = post(client, world, scene.holder, scene.body(quantity="500", unit="g"))
    assert refused.status_code == 409
    answer = post(client, world, scene.holder, scene.body(quantity="400", unit="g"))
    assert answer.status_code == 201
    assert answer.json["permit_version"] == 2


# --- reading --------------------------------------------------------------------------------


def test_movements_are_seen_by_the_holder_officials_and_checkpoints_only(client, world,
                                                                        scene):
    assert post(client, world, scene.holder, scene.body()).status_code == 201
    customs = world.user(world.org(name="Kunming Customs", kind=_authority()),
                         role=_official_role())
    _make_checkpoint_officer(world, customs)
    for user in (scene.holder, scene.official, world.official(), customs):
        assert movements_of(client, world, user, scene.permit.number).status_code == 200
    for user in (world.member(), world.steward()):
        assert movements_of(client, world, user, scene.permit.number).status_code == 404
    assert client.get(f"/api/v1/permits/{scene.permit.number}/movements").status_code == 401


def _authority():
    from abs_registry.auth.models import OrgKind

    return OrgKind.AUTHORITY


def _official_role():
    from abs_registry.auth.models import Role

    return Role.OFFICIAL


def _make_checkpoint_officer(world, user):
    user.checkpoint_officer = True
    world.session.commit()
    return user


# --- the permit named by a QR code ----------------------------------------------------------


def test_a_permit_number_is_found_in_a_verification_url_or_a_signed_permit(scene):
    number = scene.permit.number
    assert permit_number_in(f"  {number} ") == number
    assert permit_number_in(f"https://abs.example.cn/verify/{number}?v=2") == number
    assert permit_number_in(scene.permit.jws) == number
    assert permit_number_in(f"https://abs.example.cn/verify?token={scene.permit.jws}") \
        == number
    assert permit_number_in("https://abs.example.cn/verify?token=a.b.c") is None
    assert permit_number_in("rice") is None


# --- two exits at the same moment -----------------------------------------------------------


def test_exits_racing_for_the_last_of_the_allowance_never_exceed_it(app, world, session,
                                                                    scene):
    """16 clients each try twice to send 1/10 of the limit: exactly 10 get through."""
    from abs_registry.movements.schemas import MovementIn

    body = MovementIn().load(scene.body(quantity="100", unit="g"))
    holder_id = scene.holder.id
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(_index: int) -> None:
        own = app.extensions["abs"].session_factory()
        try:
            holder = own.get(type(scene.holder), holder_id)
            own.rollback()  # hand the connection back: the pool holds fewer than 16
            barrier.wait(timeout=60)
            for _ in range(2):
                try:
                    MovementService(own).record(holder, dict(body))
                    result = "recorded"
                except Conflict as exc:
                    result = exc.field
                with lock:
                    outcomes.append(result)
        finally:
            own.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("recorded") == 10
    assert outcomes.count("quantity") == 22
    session.expire_all()
    left = session.scalar(select(func.sum(Movement.base_quantity)))
    assert left == units.to_base(Decimal(1), U.KG)


def test_planned_date_is_kept_as_given(client, world, scene):
    answer = post(client, world, scene.holder, scene.body(planned_date="2027-01-15"))
    assert answer.json["planned_date"] == date(2027, 1, 15).isoformat()
