"""Signing in and out: server-side sessions at ASVS level 2.

A new session id at every sign-in, sign-out that ends the session on the server, idle and
absolute timeouts, and a limit on failed sign-ins per e-mail address and per client address.
Timeouts are tested by moving the stored timestamps, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from abs_registry import create_app
from abs_registry.auth.models import AuthSession, LoginAttempt, User
from abs_registry.auth.service import digest
from abs_registry.db import utcnow
from tests.conftest import PASSWORD
from tests.test_accounts import csrf_of, field_error, post_form, sign_in

COOKIE = "abs_session"


def cookie_of(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def browser_with(app, value: str):
    """Another browser that presents a copied (stolen, planted or old) session cookie."""
    client = app.test_client()
    client.set_cookie(COOKIE, value)
    return client


def is_signed_in(client) -> bool:
    answer = client.get("/dashboard")
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def sid_in(app, value: str) -> str | None:
    return app.session_interface.get_signing_serializer(app).loads(value).get("sid")


def row_of(session, app, value: str) -> AuthSession:
    session.expire_all()
    return session.scalar(
        select(AuthSession).where(AuthSession.token_hash == digest(sid_in(app, value))))


def move_session(session, row_id: int, **ago: timedelta) -> None:
    """Pretend the session was created or last seen this long ago."""
    now = utcnow()
    session.execute(update(AuthSession).where(AuthSession.id == row_id).values(
        **{column: now - delta for column, delta in ago.items()}))
    session.commit()


# --- signing in ---------------------------------------------------------------------------------


def test_the_right_password_signs_in_and_keeps_only_a_digest_of_the_session_id(
        app, client, session, world):
    member = world.member()
    answer = sign_in(client, member.email)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard")
    assert is_signed_in(client)
    sid = sid_in(app, cookie_of(client))
    row = row_of(session, app, cookie_of(client))
    assert row.user_id == member.id and row.ended_at is None
    assert row.token_hash != sid and sid not in row.token_hash


def test_e_mail_addresses_are_matched_without_regard_to_case_or_spaces(client, world):
    member = world.member()
    assert sign_in(client, f"  {member.email.upper()} ").status_code == 302
    assert is_signed_in(client)


def test_a_wrong_password_and_an_unknown_address_get_the_same_refusal(client, session, world):
    member = world.member()
    wrong = sign_in(client, member.email, "not the password at all")
    unknown = sign_in(client, "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert field_error(wrong.get_data(as_text=True), "password")
    assert (field_error(wrong.get_data(as_text=True), "password")
            == field_error(unknown.get_data(as_text=True), "password"))
    assert not is_signed_in(client)
    assert session.scalar(select(func.count()).select_from(AuthSession)) == 0


def test_the_eleventh_failure_in_15_minutes_is_refused_even_with_the_right_password(
        client, session, world):
    member = world.member()
    bystander = world.member()
    for _ in range(10):
        assert sign_in(client, member.email, "guess " * 3).status_code == 401
    refused = sign_in(client, member.email)
    assert refused.status_code == 429
    assert field_error(refused.get_data(as_text=True), "password")
    assert not is_signed_in(client)
    by_api = client.post("/api/v1/tokens", json={"email": member.email, "password": PASSWORD,
                                                 "name": "script"})
    assert by_api.status_code == 429 and "email" in by_api.get_json()["errors"]
    # Someone else, even from the same client, is not locked out by these ten.
    assert sign_in(client, bystander.email).status_code == 302


def test_failures_older_than_15_minutes_no_longer_count(client, session, world):
    member = world.member()
    for _ in range(10):
        sign_in(client, member.email, "guess " * 3)
    session.execute(update(LoginAttempt).values(at=utcnow() - timedelta(minutes=16)))
    session.commit()
    assert sign_in(client, member.email).status_code == 302


def test_a_successful_sign_in_clears_the_failures_of_that_address(client, session, world):
    member = world.member()
    for _ in range(9):
        sign_in(client, member.email, "guess " * 3)
    assert sign_in(client, member.email).status_code == 302
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == member.email)) == 0


def test_one_client_spraying_a_password_over_many_addresses_is_slowed_down(app, session, world):
    member = world.member()
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for n in range(100):
        answer = sprayer.post("/api/v1/tokens", json={
            "email": f"victim{n}@example.org", "password": "Summer2026!Summer", "name": "x"})
        assert answer.status_code == 401
    refused = sign_in(sprayer, member.email)
    assert refused.status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert sign_in(elsewhere, member.email).status_code == 302


# --- session ids -----------------------------------------------------------------------------


def test_sign_in_issues_a_new_session_id_and_a_planted_cookie_stays_anonymous(app, client,
                                                                              world):
    member = world.member()
    csrf_of(client, "/sign-in")
    before = cookie_of(client)
    assert before is not None and sid_in(app, before) is None
    sign_in(client, member.email)
    after = cookie_of(client)
    assert after != before and sid_in(app, after) is not None
    assert not is_signed_in(browser_with(app, before))


def test_signing_in_over_an_existing_session_ends_the_old_one(app, session, world):
    attacker = world.member()
    victim = world.member()
    attackers_browser = app.test_client()
    sign_in(attackers_browser, attacker.email)
    planted = cookie_of(attackers_browser)

    victims_browser = browser_with(app, planted)
    sign_in(victims_browser, victim.email)
    fresh = cookie_of(victims_browser)
    assert sid_in(app, fresh) != sid_in(app, planted)
    assert row_of(session, app, fresh).user_id == victim.id
    assert row_of(session, app, planted).ended_at is not None
    assert not is_signed_in(browser_with(app, planted))
    assert is_signed_in(victims_browser)


def test_every_sign_in_gets_its_own_session(app, session, world):
    member = world.member()
    first, second = app.test_client(), app.test_client()
    sign_in(first, member.email)
    sign_in(second, member.email)
    assert sid_in(app, cookie_of(first)) != sid_in(app, cookie_of(second))
    assert is_signed_in(first) and is_signed_in(second)


# --- signing out -------------------------------------------------------------------------------


def test_sign_out_ends_the_session_on_the_server(app, client, session, world):
    member = world.member()
    sign_in(client, member.email)
    copied = cookie_of(client)
    answer = post_form(client, "/sign-out", {}, page="/dashboard")
    assert answer.status_code == 302
    assert not is_signed_in(client)
    assert row_of(session, app, copied).ended_at is not None
    replayed = browser_with(app, copied)
    assert not is_signed_in(replayed)
    assert replayed.get("/account").status_code == 302


def test_sign_out_is_not_possible_by_get(app, client, session, world):
    member = world.member()
    sign_in(client, member.email)
    assert client.get("/sign-out").status_code == 405
    assert is_signed_in(client)
    assert row_of(session, app, cookie_of(client)).ended_at is None


# --- timeouts --------------------------------------------------------------------------------


def test_a_session_idle_for_more_than_30_minutes_is_over(app, client, session, world):
    member = world.member()
    sign_in(client, member.email)
    copied = cookie_of(client)
    row = row_of(session, app, copied)
    move_session(session, row.id, last_seen_at=timedelta(minutes=31))
    answer = client.get("/dashboard")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]
    assert row_of(session, app, copied).ended_at is not None
    # Freshening the timestamp afterwards does not bring an ended session back.
    move_session(session, row.id, last_seen_at=timedelta(0))
    assert not is_signed_in(browser_with(app, copied))


def test_activity_keeps_a_session_alive(app, client, session, world):
    member = world.member()
    sign_in(client, member.email)
    row = row_of(session, app, cookie_of(client))
    move_session(session, row.id, last_seen_at=timedelta(minutes=29))
    assert is_signed_in(client)
    seen = row_of(session, app, cookie_of(client)).last_seen_at
    assert utcnow() - seen < timedelta(minutes=1)
    move_session(session, row.id, last_seen_at=timedelta(minutes=29))
    assert is_signed_in(client)


@pytest.mark.parametrize(("age", "alive"), [(timedelta(hours=11, minutes=59), True),
                                            (timedelta(hours=12, minutes=1), False)])
def test_a_session_ends_12_hours_after_sign_in_however_active(app, client, session, world, age,
                                                              alive):
    member = world.member()
    sign_in(client, member.email)
    row = row_of(session, app, cookie_of(client))
    move_session(session, row.id, created_at=age, last_seen_at=timedelta(0))
    assert is_signed_in(client) is alive


def test_the_idle_timeout_comes_from_the_settings(settings, world):
    from dataclasses import replace

    app = create_app(replace(settings, session_idle_minutes=0))
    app.config["TESTING"] = True
    try:
        client = app.test_client()
        sign_in(client, world.member().email)
        assert not is_signed_in(client)
    finally:
        app.extensions["abs"].engine.dispose()


def test_the_session_cookie_does_not_outlive_the_absolute_timeout(client, world):
    from werkzeug.http import parse_date

    member = world.member()
    answer = sign_in(client, member.email)
    header = [h for h in answer.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")][0]
    expires = parse_date(dict(
        part.strip().split("=", 1) for part in header.split(";")[1:] if "=" in part
    )["Expires"])
    assert expires - utcnow() <= timedelta(hours=12)


def test_a_deactivated_user_is_signed_out_at_the_next_request(client, session, world):
    member = world.member()
    sign_in(client, member.email)
    session.execute(update(User).where(User.id == member.id).values(active=False))
    session.commit()
    assert not is_signed_in(client)
    assert sign_in(client, member.email).status_code == 401
