"""A permit issued by an official through the pages, then verified by the public on /verify.

The official fills the issue form in a real browser (first with a mistake that must be shown
beside its field); a stranger with no account then checks the permit by number and by the
signed token copied from the permit page, and downloads the signed certificate.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from abs_registry.permits import certificate
from abs_registry.permits.models import Permit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_an_official_issues_a_permit_and_the_public_verifies_it(page: Page, chromium, world,
                                                                session, app):
    application, official = world.approved_application()
    app.extensions["abs"].keys.ensure(session)
    session.commit()

    page.goto("/sign-in")
    form = page.locator("main form")
    form.get_by_label("E-mail address").fill(official.email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    page.goto(f"/applications/{application.reference}/permit")
    page.get_by_label("Conditions of use").fill("Results are shared with the provider.")
    page.locator("#exits-0-quantity").fill("-5")
    page.locator("#exits-0-unit").select_option("g")
    page.get_by_role("button", name="Issue and sign the permit").click()
    expect(page.locator("#error-exits\\.0\\.quantity")).to_contain_text("more than 0")
    page.locator("#exits-0-quantity").fill("250")
    page.get_by_role("button", name="Issue and sign the permit").click()
    expect(page.locator(".flash")).to_contain_text("is issued and signed")
    number = page.url.rsplit("/", 1)[-1]
    session.expire_all()
    permit = session.scalar(select(Permit).where(Permit.number == number))
    assert permit is not None and str(permit.exits[0].quantity) in ("250", "250.000000")
    token = page.locator("#jws").input_value()
    assert token == permit.jws

    public = chromium.new_context(base_url=page.url.split("/permits/")[0], locale="en-GB")
    stranger = public.new_page()
    stranger.goto("/verify")
    stranger.get_by_label("Permit number, signed permit (JWS) or verification link").fill(number)
    stranger.get_by_role("button", name="Verify").click()
    expect(stranger.locator("#verdict")).to_contain_text("Valid permit")
    expect(stranger.locator("#status")).to_contain_text("Valid")
    expect(stranger.locator("#key")).to_contain_text(permit.kid)

    stranger.get_by_label("Permit number, signed permit (JWS) or verification link").fill(
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    stranger.get_by_role("button", name="Verify").click()
    expect(stranger.locator("#verdict")).to_contain_text("Not valid")
    expect(stranger.locator("#reason")).to_contain_text("signature")

    scanned = certificate.verification_url("", permit.payload, permit.jws)
    stranger.goto(scanned)
    expect(stranger.locator("#qr-check .qr-ok")).to_be_visible()
    stranger.goto(scanned.split("#")[0] + "#sha256=" + "0" * 64)
    expect(stranger.locator("#qr-check .qr-bad")).to_be_visible()

    pdf = stranger.request.get(f"/permits/{number}/certificate.pdf?v=1")
    assert pdf.ok and pdf.body().startswith(b"%PDF-")
    public.close()
    assert page.server_errors == []
