"""The whole life of a genetic-resource declaration, clicked through in a real browser.

An enterprise member declares through the HTML form (first with mistakes, which must be shown
beside the fields they concern), a national official registers it from the review queue, and
the public register then lists it. The end state is checked in the database as well as on
the pages, so a page that merely looks right cannot pass.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from abs_registry.auth.models import OfficialLevel
from abs_registry.declarations.models import Status
from abs_registry.declarations.service import DeclarationService
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

REFERENCE = re.compile(r"/declarations/(CN-GR-\d{4}-\d{6})$")
# Set ABS_SCREENSHOTS=/some/dir to keep pictures of the pages for a human to look at.
SCREENSHOTS = os.environ.get("ABS_SCREENSHOTS")

GOOD = {
    "Scientific name": "Oryza rufipogon",
    "NCBI taxonomy id": "4529",
    "Common name": "Common wild rice",
    "Quantity": "250",
    "Region code of the collection site": "532822",
    "Latitude": "21.95",
    "Longitude": "100.45",
    "Collection date": "2025-10-12",
    "Collector": "Li Wei",
    "Who holds the material": "Menghai germplasm bank",
    "Intended use": "Screening wild rice for submergence tolerance",
}
CHOICES = {"Taxonomic rank": "species", "Material type": "seed", "Unit": "g",
           "Conservation": "ex_situ"}


def _screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    form = page.locator("main form")
    form.get_by_label("E-mail address").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")


def _fill(page: Page, texts: dict, choices: dict) -> None:
    for label, value in texts.items():
        page.get_by_label(label).fill(value)
    for label, value in choices.items():
        page.get_by_label(label).select_option(value)


def _expect_error_beside(page: Page, name: str, message: str) -> None:
    """The message sits in the same field block as the input, and the input points to it."""
    box = page.locator("div.field", has=page.locator(f"#{name}"))
    error = box.locator(f"p.field-error#error-{name}")
    expect(error).to_be_visible()
    expect(error).to_contain_text(message)
    expect(box).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.locator(f"#{name}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{name}")).to_have_attribute("aria-describedby", f"error-{name}")


def _declare_with_a_mistake_then_submit(page: Page) -> str:
    page.get_by_role("link", name="Declare a genetic resource").click()
    expect(page).to_have_url(re.compile(r"/declarations/new/genetic-resource$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Declare: Genetic resource")

    future = (date.today() + timedelta(days=30)).isoformat()
    _fill(page, dict(GOOD, **{"Latitude": "123", "Collection date": future}), CHOICES)
    page.get_by_role("button", name="Submit for review").click()

    _expect_error_beside(page, "latitude", "90")
    _expect_error_beside(page, "collection_date", "cannot be in the future")
    expect(page.locator("p.field-error")).to_have_count(2)
    # What was typed is kept, so the declarant only corrects the two fields.
    expect(page.get_by_label("Scientific name")).to_have_value("Oryza rufipogon")
    expect(page.get_by_label("Latitude")).to_have_value("123")
    expect(page.get_by_label("Unit")).to_have_value("g")
    _screenshot(page, "1-form-with-errors")

    _fill(page, {"Latitude": GOOD["Latitude"], "Collection date": GOOD["Collection date"]}, {})
    _screenshot(page, "2-form-filled")
    page.get_by_role("button", name="Submit for review").click()

    expect(page).to_have_url(REFERENCE)
    reference = REFERENCE.search(page.url).group(1)
    expect(page.get_by_role("status")).to_contain_text(f"Declaration {reference} is submitted")
    expect(page.locator("h1 + p .badge").first).to_have_text("Submitted")
    return reference


def _register_from_the_queue(page: Page, reference: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Review queue").click()
    row = page.get_by_role("row", name=re.compile(reference))
    expect(row).to_contain_text("Oryza rufipogon")
    row.get_by_role("link", name=reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    page.get_by_label("Comment (optional)").fill("Matches the collection permit.")
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("Done: Register.")
    expect(page.locator("h1 + p .badge").first).to_have_text("Registered")
    history = page.locator("ol.timeline")
    expect(history).to_contain_text("Submitted → Registered")
    expect(history).to_contain_text("Matches the collection permit.")
    _screenshot(page, "3-registered")


def _find_in_public_register(page: Page, reference: str) -> None:
    page.goto("/register?q=submergence")
    expect(page.locator("#result-count")).to_have_text("1 result")
    row = page.get_by_role("row", name=re.compile(reference))
    expect(row).to_contain_text("Oryza rufipogon")
    row.get_by_role("link", name=reference).click()
    expect(page.locator("h1 + p .badge").first).to_have_text("Registered")
    expect(page.get_by_role("button", name="Register", exact=True)).to_have_count(0)
    _screenshot(page, "4-public-record")


def test_member_declares_and_official_registers_in_the_browser(page: Page, world, app):
    member = world.member()
    official = world.official(OfficialLevel.NATIONAL)

    _sign_in(page, member.email)
    reference = _declare_with_a_mistake_then_submit(page)
    _sign_out(page)

    _sign_in(page, official.email)
    _register_from_the_queue(page, reference)
    _sign_out(page)

    _find_in_public_register(page, reference)
    assert page.server_errors == []

    with app.extensions["abs"].session_factory() as fresh:
        service = DeclarationService(fresh)
        decl = service.get(official, reference)
        assert decl.status == Status.REGISTERED
        assert decl.organization_id == member.organization_id
        assert decl.created_by_id == member.id
        assert (decl.scientific_name, decl.latitude, decl.collection_date) == (
            "Oryza rufipogon", Decimal("21.95"), date(2025, 10, 12))
        history = service.history(official, reference)
        assert [(e.action, e.actor_id) for e in history] == [
            ("create", member.id), ("submit", member.id), ("register", official.id)]
        # The rejected first attempt left nothing behind.
        assert [d.reference for d in service.list_own(member)] == [reference]
