"""Bearer tokens for API clients: issued against a password, kept only as SHA-256, revocable.

The API answers to the Authorization header alone: a browser's session cookie must not work
there, because the API takes no CSRF token.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select, text

from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import ApiToken, User
from abs_registry.db import Base
from tests.conftest import PASSWORD, gr_payload
from tests.test_accounts import post_form, sign_in


def issue(client, email: str, password: str = PASSWORD, name: str = "lab script"):
    return client.post("/api/v1/tokens", json={"email": email, "password": password,
                                               "name": name})


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def every_stored_value(session) -> str:
    """All rows of all tables as one text, to search for something that must not be there."""
    session.expire_all()
    parts = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(text(f"SELECT * FROM {table.name}")):
            parts.extend(str(value) for value in row)
    return "\n".join(parts)


def test_a_token_is_issued_for_the_right_password_and_identifies_its_user(client, session,
                                                                          world):
    member = world.member()
    answer = issue(client, member.email)
    body = answer.get_json()
    assert answer.status_code == 201, body
    secret = body["token"]
    assert secret.startswith("absr_") and len(secret) > 40
    assert body["prefix"] == secret[:12] and body["name"] == "lab script"
    me = client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200
    assert me.get_json()["email"] == member.email
    assert me.get_json()["organization"]["id"] == member.organization_id
    event = session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "api_token"))
    assert [e.action for e in event] == ["issue"]


def test_a_token_is_stored_only_as_its_sha256(client, session, world):
    member = world.member()
    secret = issue(client, member.email).get_json()["token"]
    stored = session.scalars(select(ApiToken)).one()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    everything = every_stored_value(session)
    assert secret not in everything
    assert secret[12:] not in everything


def test_the_token_list_never_shows_the_secret_or_its_hash(client, session, world):
    member = world.member()
    secret = issue(client, member.email).get_json()["token"]
    listed = client.get("/api/v1/tokens", headers=bearer(secret))
    assert listed.status_code == 200
    text_of_list = listed.get_data(as_text=True)
    assert secret not in text_of_list
    assert session.scalars(select(ApiToken.token_hash)).one() not in text_of_list
    assert set(listed.get_json()[0]) == {"id", "name", "prefix", "created_at", "last_used_at",
                                         "revoked_at"}


@pytest.mark.parametrize("password", ["wrong password here", ""])
def test_no_token_for_a_wrong_password(client, session, world, password):
    member = world.member()
    answer = issue(client, member.email, password)
    assert answer.status_code in (401, 422)
    assert "errors" in answer.get_json()
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_no_token_for_an_over_long_address(client, session):
    answer = issue(client, "x" * 300 + "@example.org")
    assert answer.status_code == 422 and "email" in answer.get_json()["errors"]


def test_a_revoked_token_is_refused_with_a_json_401(client, session, world):
    member = world.member()
    secret = issue(client, member.email).get_json()["token"]
    other = issue(client, member.email, name="second").get_json()["token"]
    token_id = session.scalars(select(ApiToken.id).where(ApiToken.name == "lab script")).one()
    revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(other))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    refused = client.get("/api/v1/me", headers=bearer(secret))
    assert refused.status_code == 401 and refused.is_json
    assert refused.get_json()["errors"]["_schema"]
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_type == "api_token", AuditEvent.subject_id == token_id)).all()
    assert actions == ["issue", "revoke"]


def test_a_token_may_revoke_itself(client, world):
    member = world.member()
    body = issue(client, member.email).get_json()
    assert client.delete(f"/api/v1/tokens/{body['id']}",
                         headers=bearer(body["token"])).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(body["token"])).status_code == 401


def test_nobody_can_revoke_someone_elses_token(client, session, world):
    owner, stranger = world.member(), world.member()
    owners = issue(client, owner.email).get_json()
    strangers = issue(client, stranger.email).get_json()["token"]
    answer = client.delete(f"/api/v1/tokens/{owners['id']}", headers=bearer(strangers))
    assert answer.status_code == 404
    missing = client.delete("/api/v1/tokens/999999", headers=bearer(strangers))
    assert missing.status_code == 404
    assert answer.get_json() == missing.get_json()  # the same answer: existence does not leak
    assert client.get("/api/v1/me", headers=bearer(owners["token"])).status_code == 200
    session.expire_all()
    assert session.get(ApiToken, owners["id"]).revoked_at is None


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer",
    "Bearer    ",
    "Token absr_abcdef",
    "absr_abcdef",
    "Bearer absr_not_a_real_token",
    "Bearer absr_x absr_y",
])
def test_a_malformed_or_unknown_authorization_header_gets_a_json_401(client, world, header):
    answer = client.get("/api/v1/me", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.is_json and answer.get_json()["errors"]


def test_the_bearer_scheme_is_case_insensitive(client, world):
    member = world.member()
    secret = issue(client, member.email).get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"bearer {secret}"}
                      ).status_code == 200


def test_a_token_of_a_deactivated_user_stops_working(client, session, world):
    member = world.member()
    secret = issue(client, member.email).get_json()["token"]
    session.get(User, member.id).active = False
    session.commit()
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_the_api_ignores_the_browser_session_cookie(client, session, world):
    member = world.member()
    sign_in(client, member.email)
    assert client.get("/dashboard").status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/tokens").status_code == 401
    # A cross-site form could make the browser send this; without a token nothing happens.
    created = client.post("/api/v1/declarations/genetic-resources", json=gr_payload())
    assert created.status_code == 401
    added = client.post("/api/v1/organization/members", json={
        "display_name": "X", "email": "x@example.org", "password": "long enough password"})
    assert added.status_code == 401
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_tokens_are_made_and_revoked_on_the_account_page(client, session, world):
    member = world.member()
    sign_in(client, member.email)
    made = post_form(client, "/account/tokens", {"name": "notebook"}, page="/account")
    assert made.status_code == 200
    html = made.get_data(as_text=True)
    stored = session.scalars(select(ApiToken)).one()
    secret = html.split('<code id="new-token">', 1)[1].split("</code>", 1)[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == stored.token_hash
    assert secret not in client.get("/account").get_data(as_text=True)  # shown once
    revoked = post_form(client, f"/account/tokens/{stored.id}/revoke", {}, page="/account")
    assert revoked.status_code == 302
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_the_account_page_cannot_revoke_someone_elses_token(client, session, world):
    owner, stranger = world.member(), world.member()
    secret = world.token(owner)
    token_id = session.scalars(select(ApiToken.id)).one()
    sign_in(client, stranger.email)
    answer = post_form(client, f"/account/tokens/{token_id}/revoke", {}, page="/account")
    assert answer.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
