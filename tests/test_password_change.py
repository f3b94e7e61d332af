"""Changing one's password: the current one is checked, and other sessions end."""

from sqlalchemy import select

from abs_registry.auth.models import AuthSession
from tests.conftest import PASSWORD


def _sign_in(app, user):
    client = app.test_client()
    answer = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert answer.status_code == 302
    return client


def test_new_password_works_old_fails_and_other_sessions_end(app_nocsrf, world, session):
    user = world.member()
    here = _sign_in(app_nocsrf, user)
    elsewhere = _sign_in(app_nocsrf, user)
    answer = here.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a much longer new secret",
        "new_password_confirm": "a much longer new secret"})
    assert answer.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302  # back to sign-in
    fresh = app_nocsrf.test_client()
    assert fresh.post("/sign-in", data={"email": user.email,
                                        "password": PASSWORD}).status_code != 302
    assert fresh.post("/sign-in", data={"email": user.email,
                                        "password": "a much longer new secret"}).status_code == 302
    live = session.scalars(select(AuthSession).where(AuthSession.user_id == user.id,
                                                     AuthSession.ended_at.is_(None))).all()
    assert len(live) == 2  # the one that changed it, and the fresh sign-in


def test_wrong_current_password_is_named_beside_its_field_and_changes_nothing(app_nocsrf,
                                                                               world, session):
    user = world.member()
    client = _sign_in(app_nocsrf, user)
    before = user.password_hash
    answer = client.post("/account/password", data={
        "current_password": "not my password", "new_password": "a much longer new secret",
        "new_password_confirm": "a much longer new secret"})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="error-current_password"' in page
    session.expire_all()
    assert session.get(type(user), user.id).password_hash == before


def test_mismatched_or_short_new_password_is_refused(app_nocsrf, world):
    client = _sign_in(app_nocsrf, world.member())
    short = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "short", "new_password_confirm": "short"})
    assert short.status_code == 422
    assert 'id="error-new_password"' in short.get_data(as_text=True)
    mismatch = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a much longer new secret",
        "new_password_confirm": "a different long secret"})
    assert mismatch.status_code == 422
    assert 'id="error-new_password_confirm"' in mismatch.get_data(as_text=True)
