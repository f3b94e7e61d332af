"""The public /verify page and permit page, and the officials' permit forms.

/verify is used by strangers: whatever they paste is answered "valid" or "not valid" with the
reason, never with a server error. The officials' forms are thin views over PermitService:
their messages appear beside the field and a refused form stores nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import rfc8785
from sqlalchemy import func, select

from abs_registry.auth.models import OfficialLevel
from abs_registry.permits import certificate
from abs_registry.permits.models import Permit, PermitStatement
from tests.conftest import PASSWORD


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def beside(response, field: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'<p class="field-error" id="error-{re.escape(field)}"[^>]*>(.*?)</p>',
                      html, re.S)
    assert match, f"no message beside {field}"
    return unescape(match.group(1)).strip()


def csrf_of(client, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def verdict(response) -> tuple[bool, str]:
    """(valid?, the reason shown) as a reader sees the result box."""
    assert response.status_code == 200, response.status_code
    html = response.get_data(as_text=True)
    valid = 'class="card verify-result valid"' in html
    reason = re.search(r'<p id="reason">(.*?)</p>', html, re.S)
    return valid, unescape(re.sub(r"<[^>]+>", "", reason.group(1))).strip() if reason else ""


def paste(client, text: str):
    return client.post("/verify", data={"q": text, "csrf_token": csrf_of(client, "/verify")})


def signed_in(app, user):
    client = app.test_client()
    token = csrf_of(client, "/sign-in")
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD,
                                             "csrf_token": token})
    assert response.status_code == 302
    return client


def post_form(client, page: str, action: str | None = None, **form):
    form["csrf_token"] = csrf_of(client, page)
    return client.post(action or page, data=form)


def _tamper(token: str, **changes) -> str:
    header, body, signature = token.split(".")
    document = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    document.update(changes)
    return ".".join([header, b64(rfc8785.dumps(document)), signature])


def _with_header(token: str, header: dict, signature: str | None = None) -> str:
    _, body, sig = token.split(".")
    return ".".join([b64(json.dumps(header).encode()), body,
                     sig if signature is None else signature])


# --- verifying as the public ------------------------------------------------------------------


def test_a_permit_verifies_by_number_by_pasted_jws_and_by_its_qr_link(world, client):
    permit = world.permit()
    url = certificate.verification_url("https://abs.example.cn", permit.payload, permit.jws)
    for text in (permit.number, permit.number.lower(), permit.jws, url):
        response = paste(client, text)
        valid, reason = verdict(response)
        assert valid and not reason, (text, reason)
        page = text_of(response)
        assert permit.kid in page and "active" in page and permit.payload["user"]["name"] in page
        assert "Issued" in page  # the history
    scanned = client.get(f"/verify?permit={permit.number}&v=1")
    assert verdict(scanned) == (True, "")
    assert "matches the signed permit" in text_of(paste(client, url))


def test_every_bad_input_is_not_valid_with_its_reason_never_an_error(world, client):
    permit = world.permit()
    token = permit.jws
    jwk = client.get("/.well-known/jwks.json").get_json()["keys"][0]
    header, body, _ = token.split(".")
    hs_header = b64(json.dumps({"alg": "HS256", "kid": permit.kid}).encode())
    hs256 = b64(hmac.new(jwk["x"].encode(), f"{hs_header}.{body}".encode(),
                         hashlib.sha256).digest())
    other_hash = "0" * 64
    cases = {
        "garbage": ("hello world", "not a permit number"),
        "truncated": (token[: len(token) // 2], "not a compact JWS"),
        "alg none": (_with_header(token, {"alg": "none", "kid": permit.kid}, ""), "algorithm"),
        "HS256 keyed with the public key": (f"{hs_header}.{body}.{hs256}", "algorithm"),
        "wrong kid": (_with_header(token, {"alg": "EdDSA", "kid": "nobody"}), "unknown key"),
        "changed payload": (_tamper(token, expires_on="2099-12-31"), "signature"),
        "bad base64": ("%%%." + body + ".abc", "header"),
        "unknown number": ("CN-ABS-2026-999999", "No permit CN-ABS-2026-999999"),
        "unknown version": (f"https://x/verify?permit={permit.number}&v=7", "version 7"),
        "QR of another token": (f"https://x/verify?permit={permit.number}#sha256={other_hash}",
                                "QR code does not match"),
        "QR with a bad hash": (f"https://x/verify?permit={permit.number}#sha256=abc",
                               "SHA-256"),
        "link without a permit": ("https://x/verify?nothing=1", "does not name a permit"),
        "bad version": (f"https://x/verify?permit={permit.number}&v=-1", "whole number"),
        "huge": ("a." * 40_000 + "b", "JWS"),
        "binary": ("\x00\x01.\x02.\x03", "JWS"),
    }
    for name, (text, expected) in cases.items():
        valid, reason = verdict(paste(client, text))
        assert not valid, name
        assert expected in reason, (name, reason)
    for query in ("?permit=garbage", "?permit=CN-ABS-2026-999999", f"?permit={permit.number}&v=x",
                  "?permit=%00"):
        valid, reason = verdict(client.get("/verify" + query))
        assert not valid and reason, query


def test_an_empty_form_names_the_field(client):
    response = paste(client, "   ")
    assert response.status_code == 422
    assert "Enter a permit number" in beside(response, "q")


def test_verify_posts_need_the_csrf_token(world, client):
    permit = world.permit()
    assert client.post("/verify", data={"q": permit.number}).status_code == 400


def test_suspended_revoked_superseded_and_expired_permits_are_not_valid(world, app, client,
                                                                         session, monkeypatch):
    permit = world.permit()
    service = _service(app, session)
    official = permit.issued_by
    service.suspend(official, permit.number, "samples mislabelled")
    valid, reason = verdict(paste(client, permit.number))
    assert not valid and "Suspended" in reason
    assert "samples mislabelled" in text_of(paste(client, permit.number))
    service.reinstate(official, permit.number, "labels corrected")
    assert verdict(paste(client, permit.number))[0]
    new = service.amend(official, permit.number, {"conditions": "Field trials only."},
                        "narrow the use")
    old_valid, old_reason = verdict(paste(client, permit.jws))
    assert not old_valid and "Superseded" in old_reason
    page = text_of(client.get(f"/verify?permit={permit.number}&v=1"))
    assert "version 2 is in force" in page
    assert verdict(paste(client, new.jws)) == (True, "")
    service.revoke(official, permit.number, "conditions breached")
    valid, reason = verdict(paste(client, new.jws))
    assert not valid and "Revoked" in reason
    history = text_of(paste(client, permit.number))
    for step in ("Issued", "Suspended", "Reinstated", "Amended (new version)", "Revoked",
                 "conditions breached"):
        assert step in history, step
    assert "NOT valid" not in history  # every signed step verifies

    fresh = world.permit()
    later = datetime.now() + timedelta(days=365 * 10)
    monkeypatch.setattr("abs_registry.permits.service.utcnow", lambda: later)
    valid, reason = verdict(paste(client, fresh.number))
    assert not valid and "Expired" in reason


def test_the_verify_page_never_shows_confidential_fields(world, client, session):
    permit = world.permit()
    html = paste(client, permit.number).get_data(as_text=True)
    application = permit.application
    assert application.activities not in html and application.work_location not in html
    assert "latitude" not in html.lower()


# --- the public permit page, PDF and IRCC links ---------------------------------------------


def test_the_permit_page_is_public_and_links_its_documents(world, client):
    permit = world.permit()
    response = client.get(f"/permits/{permit.number}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for link in (f"/permits/{permit.number}/certificate.pdf?v=1",
                 f"/permits/{permit.number}/ircc.json?v=1",
                 f"/verify?permit={permit.number}&amp;v=1"):
        assert link in html, link
    assert "Suspend" not in html  # the public sees no officials' forms
    assert client.get(f"/permits/{permit.number}/ircc.json").get_json()["title"] == \
        {"en": permit.number}
    for bad in ("/permits/CN-ABS-2026-999999", "/permits/garbage", "/permits/%00"):
        assert client.get(bad).status_code == 404


def test_the_root_certificate_is_published(client):
    response = client.get("/.well-known/abs-registry-ca.pem")
    assert response.status_code == 200
    assert response.data.startswith(b"-----BEGIN CERTIFICATE-----")


# --- officials: issuing, amending, changing status ------------------------------------------


def _service(app, session):
    from abs_registry.permits.service import PermitService

    return PermitService(session, app.extensions["abs"].keys)


def _counts(session) -> tuple[int, int]:
    session.rollback()
    return (session.scalar(select(func.count()).select_from(Permit)),
            session.scalar(select(func.count()).select_from(PermitStatement)))


def _issue_form(app_record, **overrides) -> dict:
    form = {"expires_on": "", "conditions": "Publish results with the provider.",
            "third_party": "barred", "third_party_transfer": "",
            "exits-0-resource": app_record.resources[0].reference, "exits-0-quantity": "250.5",
            "exits-0-unit": "g", "exits-0-destination_country": app_record.export_country,
            "exits-0-recipient": app_record.export_recipient,
            "exits-1-resource": "", "exits-1-quantity": "", "exits-1-unit": "",
            "exits-1-destination_country": "", "exits-1-recipient": ""}
    form.update(overrides)
    return form


def test_an_official_issues_a_permit_through_the_form(world, app, session):
    application, official = world.approved_application()
    world.app.extensions["abs"].keys.ensure(session)
    browser = signed_in(app, official)
    page = f"/applications/{application.reference}/permit"
    form_page = browser.get(page)
    assert form_page.status_code == 200
    assert f'value="{application.export_recipient}"' in form_page.get_data(as_text=True)
    response = post_form(browser, page, **_issue_form(application))
    assert response.status_code == 302, text_of(response)
    permit = session.scalar(select(Permit))
    assert response.headers["Location"].endswith(f"/permits/{permit.number}")
    assert permit.conditions == "Publish results with the provider."
    assert permit.third_party_transfer is None
    assert [(e.quantity, e.unit.value) for e in permit.exits] == [(Decimal("250.5"), "g")]
    shown = browser.get(f"/permits/{permit.number}")
    assert "is issued and signed" in text_of(shown) and "Suspend" in text_of(shown)
    again = browser.get(page)
    assert again.status_code == 302  # one permit per application


@pytest.mark.parametrize("overrides, field, message", [
    ({"exits-0-quantity": "-3"}, "exits.0.quantity", "more than 0"),
    ({"exits-0-destination_country": "XX"}, "exits.0.destination_country", "ISO 3166"),
    ({"exits-0-destination_country": "FR"}, "exits.0.destination_country", "DE only"),
    ({"exits-0-unit": ""}, "exits.0.unit", ""),
    ({"expires_on": "2000-01-01"}, "expires_on", "future"),
    ({"expires_on": "2999-01-01"}, "expires_on", "cannot run past"),
    ({"expires_on": "soon"}, "expires_on", ""),
    ({"third_party": "allowed", "third_party_transfer": ""}, "third_party_transfer",
     "conditions"),
])
def test_a_bad_issue_form_shows_the_message_beside_the_field_and_stores_nothing(
        world, app, session, overrides, field, message):
    application, official = world.approved_application()
    world.app.extensions["abs"].keys.ensure(session)
    browser = signed_in(app, official)
    page = f"/applications/{application.reference}/permit"
    before = _counts(session)
    response = post_form(browser, page, **_issue_form(application, **overrides))
    assert response.status_code == 422
    assert message in beside(response, field)
    assert _counts(session) == before


def test_only_an_official_who_may_decide_reaches_the_issue_form(world, app, session):
    application, _official = world.approved_application()
    provincial = world.official(OfficialLevel.PROVINCIAL)
    page = f"/applications/{application.reference}/permit"
    assert signed_in(app, provincial).get(page).status_code == 403  # needs national review
    stranger = signed_in(app, world.member())
    assert stranger.get(page).status_code == 404
    assert app.test_client().get(page).status_code in (302, 401)


def test_an_official_amends_suspends_reinstates_and_revokes_through_the_pages(world, app,
                                                                              session):
    permit = world.permit()
    browser = signed_in(app, permit.issued_by)
    number = permit.number
    amend_page = f"/permits/{number}/amend"
    assert browser.get(amend_page).status_code == 200
    form = _issue_form(permit.application, conditions="Only field trials.",
                       reason="narrow the permitted use")
    form["exits-0-quantity"] = "100"
    response = post_form(browser, amend_page, **form)
    assert response.status_code == 302, text_of(response)
    session.expire_all()
    assert _service(app, session).get(number).version == 2
    no_reason = post_form(browser, amend_page, **{**form, "reason": ""})
    assert no_reason.status_code == 422 and beside(no_reason, "reason")

    show = f"/permits/{number}"
    empty = post_form(browser, show, f"{show}/status", status="suspended", reason="")
    assert empty.status_code == 422 and beside(empty, "reason")
    for status in ("suspended", "reinstated", "revoked"):
        response = post_form(browser, show, f"{show}/status", status=status,
                             reason=f"reason for {status}")
        assert response.status_code == 302, (status, text_of(response))
    again = post_form(browser, show, f"{show}/status", status="reinstated", reason="undo")
    assert again.status_code == 409 and beside(again, "status")
    statements = session.scalars(select(PermitStatement).order_by(PermitStatement.id)).all()
    assert [s.kind.value for s in statements] == ["suspended", "reinstated", "revoked"]
    stranger = signed_in(app, world.member())
    refused = post_form(stranger, show, f"{show}/status", status="suspended", reason="mine")
    assert refused.status_code == 403
