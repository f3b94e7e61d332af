"""Who is asking: a browser session cookie for pages, a bearer token for the API.

The API ignores session cookies on purpose: a cross-site page can make a browser send
cookies, but not an Authorization header, so the API needs no CSRF token.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for

from abs_registry.errors import NotAuthenticated
from abs_registry.web import context

SESSION_KEY = "sid"


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def load_actor() -> None:
    g.actor = None
    if is_api_request():
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if header and (scheme.lower() != "bearer" or not secret.strip()):
            raise NotAuthenticated("use an Authorization: Bearer <token> header")
        if secret.strip():
            g.actor = context.accounts().user_for_token(secret.strip())
            if g.actor is None:
                raise NotAuthenticated("the token is unknown or revoked")
        return
    if token := session.get(SESSION_KEY):
        g.actor = context.accounts().resume_session(token)
        if g.actor is None:
            session.clear()


def sign_in(user) -> None:
    """Start a new server-side session with a new id, ending the one the browser had.

    A cookie planted before sign-in, or left over from another account, must not become or
    stay a signed-in session (session fixation); clearing also renews the CSRF token.
    """
    if token := session.get(SESSION_KEY):
        context.accounts().end_session(token)
    _clear_keeping_language()
    session[SESSION_KEY] = context.accounts().start_session(user)
    session.permanent = True


def session_token() -> str | None:
    return session.get(SESSION_KEY)


def sign_out() -> None:
    if token := session.get(SESSION_KEY):
        context.accounts().end_session(token)
    _clear_keeping_language()


def _clear_keeping_language() -> None:
    """Signing in or out must not switch the page to another language under the reader."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def safe_next(target: str | None, fallback: str) -> str:
    """A path on this site, or the fallback: never a way to send someone elsewhere.

    Browsers read ``/\\evil.example`` and ``/<tab>/evil.example`` as ``//evil.example``, so
    backslashes, whitespace and control characters are refused along with schemes and hosts.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("actor") is None:
            if is_api_request():
                raise NotAuthenticated()
            return redirect(url_for("auth.sign_in", next=request.full_path))
        return view(*args, **kwargs)

    return wrapper
