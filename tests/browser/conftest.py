"""A live registry served over HTTP in a background thread, and Debian's chromium to drive it.

The browser is Debian's own package (/usr/bin/chromium, installed by scripts/test), never a
Playwright download: CI machines have no way to fetch one.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from abs_registry import create_app

CHROMIUM = os.environ.get("ABS_CHROMIUM", "/usr/bin/chromium")
# We run as root in CI containers, where chromium refuses to start without --no-sandbox; the
# rest keeps it from phoning home (updates, sync, QUIC probes) while a test runs.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}; scripts/test installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(settings) -> Iterator[str]:
    """The app as it is served, not the test client: real cookies, redirects and CSRF tokens."""
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["abs"].engine.dispose()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server, locale="en-GB",
                                   viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Every answer of 500 or more and every request that failed; the test asserts it is empty.
    errors: list[str] = []
    page.on("response", lambda r: r.status >= 500 and errors.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}: {r.failure}"))
    page.server_errors = errors
    yield page
    context.close()
