"""Issuing, amending and changing the status of signed permits, and verifying them.

The signature is checked as an outsider would: with a stock JOSE library (PyJWT) and the
JWK Set fetched from /.well-known/jwks.json, never with the registry's own code alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date, timedelta
from decimal import Decimal

import jwt
import pytest
import rfc8785
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from abs_registry.applications.models import AppStatus
from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import OfficialLevel
from abs_registry.cli import verify as verify_command
from abs_registry.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from abs_registry.permits.models import Permit, PermitStatement, PermitStatus
from abs_registry.permits.service import PermitService


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture
def service(app, session) -> PermitService:
    keys = app.extensions["abs"].keys
    keys.ensure(session)
    return PermitService(session, keys)


def outsider_verify(client, token: str) -> dict:
    """What any JOSE library does with our published keys."""
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in client.get("/.well-known/jwks.json").get_json()["keys"]
               if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk)
    return json.loads(jwt.PyJWS().decode(token, key=key, algorithms=["EdDSA"]))


def verify_api(client, **body) -> dict:
    response = client.post("/api/v1/verify", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- issuing -----------------------------------------------------------------------------

def test_an_issued_permit_verifies_with_any_jose_library_and_the_published_keys(
        world, client, session):
    permit = world.permit()
    payload = outsider_verify(client, permit.jws)
    assert payload == permit.payload
    assert payload["number"] == permit.number
    assert permit.number.startswith(f"CN-ABS-{date.today().year}-")
    assert payload["version"] == "1"
    assert payload["agreement"]["text_sha256"] == permit.application.current_agreement.text_sha256
    assert payload["exits"] == [{"material": permit.resources[0].reference, "quantity": "1",
                                 "unit": "kg", "destination_country": "DE",
                                 "recipient": "Leibniz Institute, Gatersleben"}]
    assert payload["uses"]["purpose"] == "commercial"
    assert [p["confidential"] for p in payload["providers"]] == [False]
    # the payload is exactly the RFC 8785 canonical form of itself
    signed = unb64(permit.jws.split(".")[1])
    assert signed == rfc8785.dumps(json.loads(signed))
    header = json.loads(unb64(permit.jws.split(".")[0]))
    assert header["alg"] == "EdDSA" and header["kid"] == permit.kid
    assert hashlib.sha256(signed).hexdigest() == permit.payload_sha256


def test_the_permit_api_issues_and_reads_a_permit(world, client, session):
    app, official = world.approved_application()
    world.app.extensions["abs"].keys.ensure(session)
    body = {"application": app.reference, "conditions": "Results are shared with the provider.",
            "exits": [{"resource": app.resources[0].reference, "quantity": "250.5",
                       "unit": "g", "destination_country": "DE",
                       "recipient": "Leibniz Institute, Gatersleben"}]}
    response = client.post("/api/v1/permits", json=body, headers=world.headers(official))
    assert response.status_code == 201, response.get_json()
    issued = response.get_json()
    assert issued["status"] == "valid" and issued["status_today"] == "valid"
    assert issued["exits"][0]["quantity"] == "250.5"
    public = client.get(f"/api/v1/permits/{issued['number']}").get_json()
    assert public["jws"] == issued["jws"]
    check = verify_api(client, jws=issued["jws"])
    assert check["valid"] is True and check["status"] == "valid" and check["reason"] is None


def test_no_permit_without_an_approved_application(world, service, session):
    app, official = world.approved_application()
    from abs_registry.applications.service import ApplicationService

    applications = ApplicationService(session)
    other = applications.create(app.created_by, {
        "title": "Not decided yet", "resources": [app.resources[0].reference],
        "purpose": "non_commercial", "activities": "Genotyping of landraces.",
        "work_location": "Kunming", "duration_months": 12})
    applications.transition(app.created_by, other.reference, "submit")
    with pytest.raises(InvalidTransition):
        service.issue(official, other.reference, {})
    assert session.scalar(select(func.count()).select_from(Permit)) == 0


def test_a_second_permit_for_the_same_application_is_refused(world, service, session):
    permit = world.permit()
    official = permit.issued_by
    with pytest.raises(Conflict) as refused:
        service.issue(official, permit.application.reference, {})
    assert permit.number in refused.value.message
    assert session.scalar(select(func.count()).select_from(Permit)) == 1


def test_only_an_official_of_the_deciding_level_issues(world, service, session):
    app, _ = world.approved_application()
    for outsider in (app.created_by, world.official(OfficialLevel.PROVINCIAL)):
        with pytest.raises(PermissionDenied):
            service.issue(outsider, app.reference, {})
    assert session.scalar(select(func.count()).select_from(Permit)) == 0


@pytest.mark.parametrize(("exits", "field"), [
    ([{"resource": "CN-GR-2020-999999", "quantity": Decimal("1"), "unit": "g",
       "destination_country": "DE", "recipient": "Leibniz"}], "exits.0.resource"),
    ([{"resource": None, "quantity": Decimal("1"), "unit": "g",
       "destination_country": "FR", "recipient": "Leibniz"}], "exits.0.destination_country"),
])
def test_exits_the_application_did_not_ask_for_are_refused(world, service, session, exits,
                                                            field):
    app, official = world.approved_application()
    for row in exits:
        row["resource"] = row["resource"] or app.resources[0].reference
    with pytest.raises(ValidationError) as refused:
        service.issue(official, app.reference, {"exits": exits})
    assert field in refused.value.errors
    assert session.scalar(select(func.count()).select_from(Permit)) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"exits": [{"resource": "CN-GR-2026-000001", "quantity": 5, "unit": "g",
                 "destination_country": "DE", "recipient": "x y"}]}, "exits"),
    ({"exits": [{"resource": "CN-GR-2026-000001", "quantity": "-5", "unit": "g",
                 "destination_country": "DE", "recipient": "x y"}]}, "exits"),
    ({"exits": [{"resource": "CN-GR-2026-000001", "quantity": "5", "unit": "stone",
                 "destination_country": "DE", "recipient": "x y"}]}, "exits"),
    ({"exits": [{"resource": "CN-GR-2026-000001", "quantity": "5", "unit": "g",
                 "destination_country": "XX", "recipient": "x y"}]}, "exits"),
    ({"expires_on": "2020-01-01"}, "expires_on"),
    ({"expires_on": "2999-01-01"}, "expires_on"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_permit_requests_name_the_field_and_store_nothing(world, client, session, body,
                                                               field):
    app, official = world.approved_application()
    world.app.extensions["abs"].keys.ensure(session)
    response = client.post("/api/v1/permits", json={"application": app.reference, **body},
                           headers=world.headers(official))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert session.scalar(select(func.count()).select_from(Permit)) == 0
    assert session.get(type(app), app.id).status is AppStatus.APPROVED


def test_without_a_signing_key_nothing_is_issued(world, session, app):
    application, official = world.approved_application()
    service = PermitService(session, app.extensions["abs"].keys)
    with pytest.raises(Conflict) as refused:
        service.issue(official, application.reference, {})
    assert refused.value.field == "signing_key"
    assert session.scalar(select(func.count()).select_from(Permit)) == 0


def test_permit_numbers_are_gapless_even_when_an_issuance_fails(world, service, session):
    permits = [world.permit() for _ in range(2)]
    app, official = world.approved_application()
    with pytest.raises(ValidationError):
        service.issue(official, app.reference, {"expires_on": date(2020, 1, 1)})
    permits.append(service.issue(official, app.reference, {}))
    numbers = [int(p.number.rsplit("-", 1)[1]) for p in permits]
    assert numbers == list(range(numbers[0], numbers[0] + 3))


# --- changing ----------------------------------------------------------------------------

def test_an_amendment_is_a_new_signed_version_that_supersedes_the_old(world, service, client,
                                                                       session):
    first = world.permit()
    official = first.issued_by
    old_jws = first.jws
    second = service.amend(official, first.number, {"conditions": "No use in cosmetics."},
                           "The provider asked to exclude cosmetics.")
    assert (second.number, second.version) == (first.number, 2)
    assert second.payload["supersedes"] == {"version": "1",
                                            "payload_sha256": first.payload_sha256}
    assert second.payload["uses"]["conditions"] == "No use in cosmetics."
    assert first.status is PermitStatus.SUPERSEDED and first.jws == old_jws
    assert [e.quantity for e in second.exits] == [Decimal("1")]
    old = verify_api(client, jws=old_jws)
    assert old["signature_valid"] is True and old["valid"] is False
    assert old["status"] == "superseded" and old["current_version"] == 2
    assert verify_api(client, jws=second.jws)["valid"] is True


def test_suspension_reinstatement_and_revocation_are_signed_statements(world, service, client,
                                                                        session):
    permit = world.permit()
    official = permit.issued_by
    suspended = service.suspend(official, permit.number, "Reports are overdue.")
    assert outsider_verify(client, suspended.jws)["status"] == "suspended"
    check = verify_api(client, jws=permit.jws)
    assert check["valid"] is False and check["status"] == "suspended"
    assert "suspended" in check["reason"]
    service.reinstate(official, permit.number, "Reports received.")
    assert verify_api(client, jws=permit.jws)["valid"] is True
    service.revoke(official, permit.number, "Material used outside the permit.")
    check = verify_api(client, number=permit.number)
    assert check["valid"] is False and check["status"] == "revoked"
    assert [s["status"] for s in check["permit"]["statements"]] == [
        "suspended", "reinstated", "revoked"]
    with pytest.raises(InvalidTransition):
        service.reinstate(official, permit.number, "Changed our mind.")
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "permit").order_by(AuditEvent.seq)).all()
    assert actions == ["permit_issued", "permit_suspended", "permit_reinstated",
                       "permit_revoked"]


def test_a_status_change_needs_a_reason_and_an_official(world, service, session):
    permit = world.permit()
    with pytest.raises(ValidationError):
        service.suspend(permit.issued_by, permit.number, "  ")
    with pytest.raises(PermissionDenied):
        service.suspend(permit.application.created_by, permit.number, "I want to.")
    assert session.scalar(select(func.count()).select_from(PermitStatement)) == 0


def test_signed_content_cannot_be_changed_in_sql(world, session):
    permit = world.permit()
    session.commit()
    with pytest.raises(DBAPIError):
        session.execute(text("UPDATE permits SET jws = 'x' WHERE id = :id"), {"id": permit.id})
    session.rollback()
    with pytest.raises(DBAPIError):
        session.execute(text("DELETE FROM permits WHERE id = :id"), {"id": permit.id})
    session.rollback()


# --- verifying ---------------------------------------------------------------------------

def _tamper(token: str, **changes) -> str:
    header, body, signature = token.split(".")
    document = json.loads(unb64(body))
    document.update(changes)
    return ".".join([header, b64(rfc8785.dumps(document)), signature])


def _with_header(token: str, header: dict, signature: str | None = None) -> str:
    _, body, sig = token.split(".")
    return ".".join([b64(json.dumps(header).encode()), body,
                     sig if signature is None else signature])


def test_every_forgery_is_reported_not_valid_with_its_reason(world, client, session):
    permit = world.permit()
    token = permit.jws
    public_x = client.get("/.well-known/jwks.json").get_json()["keys"][0]["x"]
    header, body, _ = token.split(".")
    hs256_header = b64(json.dumps({"alg": "HS256", "kid": permit.kid}).encode())
    hs256 = b64(hmac.new(public_x.encode(), f"{hs256_header}.{body}".encode(),
                         hashlib.sha256).digest())
    forgeries = {
        "changed payload": (_tamper(token, expires_on="2099-12-31"), "signature"),
        "wrong key id": (_with_header(token, {"alg": "EdDSA", "kid": "nobody"}), "unknown key"),
        "alg none": (_with_header(token, {"alg": "none", "kid": permit.kid}, ""), "algorithm"),
        "HS256 with the public key": (f"{hs256_header}.{body}.{hs256}", "algorithm"),
        "truncated": (token[: len(token) // 2], "not a compact JWS"),
        "garbage": ("hello world", "not a compact JWS"),
        "bad base64 header": ("%%%." + body + ".abc", "header"),
    }
    for name, (forged, reason) in forgeries.items():
        check = verify_api(client, jws=forged)
        assert check["valid"] is False, name
        assert check["signature_valid"] is False, name
        assert reason in check["reason"], (name, check["reason"])


def test_unknown_numbers_and_bad_requests_are_4xx(client, world, session):
    response = client.post("/api/v1/verify", json={"number": "CN-ABS-2026-999999"})
    assert response.status_code == 404
    response = client.post("/api/v1/verify", json={"number": "not a number"})
    assert response.status_code == 422 and "number" in response.get_json()["errors"]
    response = client.post("/api/v1/verify", json={})
    assert response.status_code == 422 and "jws" in response.get_json()["errors"]
    assert client.get("/api/v1/permits/CN-ABS-2026-999999").status_code == 404


def test_an_expired_permit_is_not_valid(world, service, client, session):
    permit = world.permit(data={"expires_on": date.today() + timedelta(days=1)})
    later = date.today() + timedelta(days=2)
    assert permit.status_on(later) is PermitStatus.EXPIRED
    runner = CliRunner()
    jwks_file, token_file = _offline_files(client, permit.jws)
    from abs_registry.permits import offline

    ok, reason = offline.verify_token(permit.jws, offline._load_keys(jwks_file),
                                      today=later.isoformat())
    assert not ok and "expired" in reason
    assert runner.invoke(verify_command, [str(token_file), "--jwks", str(jwks_file)]
                         ).exit_code == 0


def _offline_files(client, token: str):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    (folder / "jwks.json").write_text(json.dumps(client.get("/.well-known/jwks.json").get_json()))
    (folder / "permit.jws").write_text(token)
    return folder / "jwks.json", folder / "permit.jws"


def test_offline_verify_command_accepts_a_good_permit_and_refuses_a_forged_one(world, client,
                                                                             session, tmp_path):
    permit = world.permit()
    jwks_file, token_file = _offline_files(client, permit.jws)
    runner = CliRunner()
    good = runner.invoke(verify_command, [str(token_file), "--jwks", str(jwks_file)])
    assert good.exit_code == 0 and "VALID" in good.output and permit.number in good.output
    token_file.write_text(_tamper(permit.jws, recipient="someone else"))
    bad = runner.invoke(verify_command, [str(token_file), "--jwks", str(jwks_file)])
    assert bad.exit_code == 1 and "NOT VALID" in bad.output and "signature" in bad.output
    jwks_file.write_text("not json")
    assert runner.invoke(verify_command, [str(token_file), "--jwks", str(jwks_file)]
                         ).exit_code == 1


def test_after_a_key_rotation_old_permits_still_verify(world, client, session, app):
    first = world.permit()
    app.extensions["abs"].keys.generate(session)
    second = world.permit()
    assert first.kid != second.kid
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    retired = next(k for k in keys if k["kid"] == first.kid)
    assert retired["valid_until"] is not None
    assert next(k for k in keys if k["kid"] == second.kid)["valid_until"] is None
    for permit in (first, second):
        assert outsider_verify(client, permit.jws)["number"] == permit.number
        assert verify_api(client, jws=permit.jws)["valid"] is True


def test_private_keys_are_files_only_their_owner_reads(app, session):
    key = app.extensions["abs"].keys.generate(session)
    path = app.extensions["abs"].keys.directory / f"{key.kid}.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert "PRIVATE" not in json.dumps(session.execute(text("SELECT * FROM signing_keys"))
                                       .mappings().all(), default=str)
