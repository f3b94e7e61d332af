"""Web security at ASVS level 2, proved over the whole application rather than page by page.

The CSRF and GET checks walk the app's own URL map, so a route added later is covered
without anyone remembering to write a test for it.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from werkzeug.routing import AnyConverter, IntegerConverter

from abs_registry import create_app
from abs_registry.auth.models import User
from abs_registry.auth.passwords import Passwords
from abs_registry.db import Base
from abs_registry.declarations.models import Kind
from tests.conftest import PASSWORD
from tests.test_accounts import csrf_of, post_form, sign_in

# Bookkeeping that a read may touch: it records use, it is not the registry's state.
BOOKKEEPING = {("auth_sessions", "last_seen_at"), ("api_tokens", "last_used_at")}


def snapshot(session) -> dict[str, list[tuple]]:
    """Every row of every table, bookkeeping columns left out."""
    session.expire_all()
    state = {}
    for table in Base.metadata.sorted_tables:
        columns = [c.name for c in table.columns if (table.name, c.name) not in BOOKKEEPING]
        if not columns:
            continue
        rows = session.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}"))
        state[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    session.rollback()
    return state


@pytest.fixture
def site(app, client, world):
    """A member with a draft and a registered record, an official, and the URL arguments
    that lead to real objects of theirs."""
    member = world.member()
    official = world.official()
    draft = world.declare(member)
    world.registered(member, Kind.GENETIC_RESOURCE)
    token = world.token(member)
    token_id = world.accounts.tokens(member)[0].id
    return {
        "member": member,
        "official": official,
        "token": token,
        "args": {"reference": draft.reference, "token_id": token_id, "action": "submit",
                 "kind_path": "genetic-resource", "filename": "style.css",
                 "path": "index.html"},
    }


def url_for_rule(rule, known: dict) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if name in known and (not isinstance(converter, AnyConverter)
                              or known[name] in converter.items):
            values[name] = known[name]
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


def rules(app, method: str, *, api: bool | None = None):
    found = []
    for rule in app.url_map.iter_rules():
        is_api = rule.rule.startswith("/api/")
        if method in rule.methods and (api is None or api == is_api):
            found.append(rule)
    return sorted(found, key=lambda r: r.rule)


def browser_signed_in(app, user):
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


# --- passwords ---------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(client, session, world):
    post_form(client, "/register-organization", {
        "organization_name": "Hash Check Ltd", "kind": "enterprise", "display_name": "H",
        "email": "h@example.org", "password": PASSWORD, "password_confirm": PASSWORD})
    world.member()
    hashes = session.query(User.password_hash).all()
    assert len(hashes) == 2
    assert all(h.startswith("$argon2id$") for (h,) in hashes)
    assert len({h for (h,) in hashes}) == 2  # salted: the same password, two hashes


def test_the_production_cost_is_memory_hard():
    stored = Passwords().hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$")


def test_a_hash_made_with_an_older_cost_is_upgraded_at_sign_in(settings, session, world):
    member = world.member()  # hashed at the test cost, t=1
    stronger = create_app(replace(settings, password_time_cost=2))
    stronger.config["TESTING"] = True
    try:
        assert sign_in(stronger.test_client(), member.email).status_code == 302
    finally:
        stronger.extensions["abs"].engine.dispose()
    session.expire_all()
    assert ",t=2," in session.get(User, member.id).password_hash


def test_no_password_appears_in_any_answer_log_or_table(app, client, session, world, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "a very secret passphrase 42"
    answers = [
        post_form(client, "/register-organization", {
            "organization_name": "Leak Check Ltd", "kind": "enterprise", "display_name": "L",
            "email": "l@example.org", "password": secret, "password_confirm": secret + "x"}),
        post_form(client, "/register-organization", {
            "organization_name": "Leak Check Ltd", "kind": "enterprise", "display_name": "L",
            "email": "l@example.org", "password": secret, "password_confirm": secret}),
    ]
    anonymous = app.test_client()
    answers += [
        sign_in(anonymous, "l@example.org", secret + "x"),
        sign_in(anonymous, "l@example.org", secret),
        client.post("/api/v1/tokens", json={"email": "l@example.org", "password": secret,
                                            "name": "t"}),
        client.post("/api/v1/tokens", json={"email": "l@example.org",
                                            "password": secret + "x", "name": "t"}),
        post_form(anonymous, "/organization/members", {
            "display_name": "C", "email": "c@example.org", "password": secret},
            page="/organization"),
        post_form(anonymous, "/organization/members", {
            "display_name": "C", "email": "c@example.org", "password": secret},
            page="/organization"),
        anonymous.get("/organization"),
        anonymous.get("/account"),
    ]
    runner = app.test_cli_runner()
    cli = runner.invoke(args=["users", "create", "cli@example.org", "--name", "Cli",
                              "--role", "admin", "--password", secret])
    assert cli.exit_code == 0, cli.output
    assert [a.status_code for a in answers][:4] == [422, 302, 401, 302]
    for answer in answers:
        assert secret not in answer.get_data(as_text=True)
        assert secret not in str(answer.headers)
    assert secret not in cli.output
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in (record.exc_text or "")
    stored = "\n".join(str(v) for rows in snapshot(session).values() for row in rows
                       for v in row)
    assert secret not in stored


# --- CSRF ------------------------------------------------------------------------------------

FORM_DATA = {
    "email": "someone@example.org", "password": PASSWORD, "password_confirm": PASSWORD,
    "organization_name": "CSRF Co", "kind": "enterprise", "display_name": "Mallory",
    "name": "stolen", "locale": "zh_Hans_CN", "next": "/", "comment": "by csrf",
    "reason": "by csrf", "message": "by csrf",
}


def test_every_html_post_without_a_csrf_token_is_refused_and_changes_nothing(app, session,
                                                                           site):
    browser = browser_signed_in(app, site["member"])
    posts = rules(app, "POST", api=False)
    assert {r.rule for r in posts} >= {"/sign-in", "/sign-out", "/register-organization",
                                       "/organization/members", "/account/tokens", "/language"}
    before = snapshot(session)
    for rule in posts:
        url = url_for_rule(rule, site["args"])
        for token in (None, "forged-token", csrf_of(app.test_client(), "/sign-in")):
            data = dict(FORM_DATA, **({"csrf_token": token} if token else {}))
            answer = browser.post(url, data=data)
            assert answer.status_code == 400, (url, token, answer.status_code)
            assert "CSRF" in answer.get_data(as_text=True)
        assert snapshot(session) == before, url
    assert browser.get("/dashboard").status_code == 200  # still the same signed-in session


def test_a_form_with_its_token_is_accepted(app, session, site):
    browser = browser_signed_in(app, site["member"])
    answer = post_form(browser, "/account/tokens", {"name": "with token"}, page="/account")
    assert answer.status_code == 200


# --- GET changes nothing -----------------------------------------------------------------------


def test_no_get_on_any_route_changes_state_and_html_has_security_headers(app, session, site):
    member_browser = browser_signed_in(app, site["member"])
    official_browser = browser_signed_in(app, site["official"])
    callers = {
        "anonymous": (app.test_client(), {}),
        "member": (member_browser, {}),
        "official": (official_browser, {}),
        "member token": (app.test_client(), {"Authorization": f"Bearer {site['token']}"}),
    }
    every_rule = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    before = snapshot(session)
    seen_html = 0
    for rule in every_rule:
        url = url_for_rule(rule, site["args"])
        for who, (client, headers) in callers.items():
            answer = client.get(url, headers=headers)
            where = f"GET {url} as {who}"
            assert answer.status_code < 500, where
            assert snapshot(session) == before, where
            assert answer.headers.get("X-Content-Type-Options") == "nosniff", where
            if answer.mimetype == "text/html":
                seen_html += 1
                assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
                assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
                assert answer.headers["X-Frame-Options"] == "DENY", where
    assert seen_html > 20


def test_error_pages_carry_the_security_headers_too(client):
    for answer in (client.get("/no-such-page"), client.post("/sign-in", data={})):
        assert answer.mimetype == "text/html"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


# --- cookies ----------------------------------------------------------------------------------


def cookie_attributes(answer, name: str) -> dict[str, str | bool]:
    headers = [h for h in answer.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert len(headers) == 1, answer.headers.getlist("Set-Cookie")
    attributes: dict[str, str | bool] = {}
    for part in headers[0].split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value or True
    return attributes


def test_secure_settings_give_a_host_prefixed_secure_samesite_cookie(settings, world):
    app = create_app(replace(settings, secure_cookies=True))
    app.config["TESTING"] = True
    try:
        browser = app.test_client()
        https = "https://localhost"
        member = world.member()
        page = browser.get("/sign-in", base_url=https)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        answer = browser.post("/sign-in", data={
            "email": member.email, "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"Referer": "https://localhost/sign-in"}, base_url=https)
        assert answer.status_code == 302, answer.get_data(as_text=True)
        for response in (page, answer):
            attributes = cookie_attributes(response, "__Host-abs_session")
            assert attributes["secure"] is True
            assert attributes["httponly"] is True
            assert attributes["samesite"] == "Lax"
            assert attributes["path"] == "/"
            assert "domain" not in attributes
        assert browser.get("/dashboard", base_url=https).status_code == 200
    finally:
        app.extensions["abs"].engine.dispose()


def test_the_development_cookie_is_still_httponly_and_samesite(client, world):
    member = world.member()
    attributes = cookie_attributes(sign_in(client, member.email), "abs_session")
    assert attributes["httponly"] is True and attributes["samesite"] == "Lax"
    assert "domain" not in attributes


# --- redirects -----------------------------------------------------------------------------

ELSEWHERE = [
    "//evil.example",
    "https://evil.example",
    "http://evil.example/dashboard",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "https:evil.example",
]


def next_in_sign_in_form(page: str) -> str:
    """The hidden next field of the sign-in form (the language form has one of its own)."""
    form = page.split('action="/sign-in"', 1)[1].split("</form>", 1)[0]
    return html.unescape(re.search(r'name="next" value="([^"]*)"', form).group(1))


def lands_on(answer) -> str:
    location = urlsplit(answer.headers["Location"])
    assert location.netloc in ("", "localhost"), answer.headers["Location"]
    return location.path


@pytest.mark.parametrize("target", ELSEWHERE)
def test_sign_in_never_redirects_to_another_site(client, world, target):
    member = world.member()
    page = client.get("/sign-in", query_string={"next": target}).get_data(as_text=True)
    next_value = next_in_sign_in_form(page)
    answer = sign_in(client, member.email, next_=next_value)
    assert answer.status_code == 302
    assert lands_on(answer) == "/dashboard"


def test_sign_in_returns_to_the_page_that_asked_for_it(client, world):
    member = world.member()
    asked = client.get("/organization")
    assert "/sign-in" in asked.headers["Location"]
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    next_value = next_in_sign_in_form(page)
    answer = sign_in(client, member.email, next_=next_value)
    assert lands_on(answer) == "/organization"


@pytest.mark.parametrize("target", ELSEWHERE)
def test_changing_the_language_never_redirects_to_another_site(client, target):
    answer = post_form(client, "/language", {"locale": "en", "next": target}, page="/")
    assert answer.status_code == 302
    assert lands_on(answer) == "/"


# --- caching and logging -----------------------------------------------------------------------


def test_what_a_signed_in_person_sees_is_not_cached(app, client, world):
    member = world.member()
    sign_in(client, member.email)
    made = post_form(client, "/account/tokens", {"name": "notebook"}, page="/account")
    for answer in (client.get("/dashboard"), client.get("/account"), made):
        assert answer.headers["Cache-Control"] == "no-store"
    issued = client.post("/api/v1/tokens", json={"email": member.email, "password": PASSWORD,
                                                 "name": "api"})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    me = client.get("/api/v1/me",
                    headers={"Authorization": f"Bearer {issued.get_json()['token']}"})
    assert me.headers["Cache-Control"] == "no-store"


def test_sign_in_decisions_are_logged_without_passwords_or_session_ids(app, client, world,
                                                                       caplog):
    caplog.set_level(logging.INFO, logger="abs_registry")
    member = world.member()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    sign_in(client, member.email, "a wrong password here")
    sign_in(client, member.email)
    session_cookie = client.get_cookie("abs_session").value
    sid = app.session_interface.get_signing_serializer(app).loads(session_cookie)["sid"]
    for _ in range(10):
        sign_in(client, "target@example.org", "another wrong one")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("abs_registry")]
    assert f"sign-in failed: email={member.email} ip=192.0.2.44" in messages
    assert f"sign-in: user={member.id} ip=192.0.2.44" in messages
    assert not any(m.startswith("sign-in refused") for m in messages)  # ten are allowed
    sign_in(client, "target@example.org", "the eleventh")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("abs_registry")]
    assert "sign-in refused, too many failures: email=target@example.org ip=192.0.2.44" \
        in messages
    for text_ in messages:
        assert PASSWORD not in text_ and "wrong" not in text_ and "eleventh" not in text_
        assert sid not in text_ and session_cookie not in text_
