"""Marker strings, and the text of a response in every form a marker could take there.

A marker is ``LEAKMARK-<RECORD>-<FIELD>-<token>``; the token alone (16 random lower-case
letters) is what the walker looks for, case-folded, so a marker still counts when a page
shortens, upper-cases or tokenizes it (the register's search document does all three).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import secrets
import string
from urllib.parse import unquote_plus

from flask import Flask
from werkzeug.test import TestResponse

TOKEN_LENGTH = 16


def token() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(TOKEN_LENGTH))


def text_marker(record: str, field: str) -> tuple[str, str]:
    """(the value to store, the token to look for)."""
    t = token()
    return f"LEAKMARK-{record.upper()}-{field.upper()}-{t}", t


def species_marker() -> tuple[str, str]:
    """A marker that passes as a scientific name (a capitalized genus and an epithet)."""
    t = token()
    return f"Leakmark {t}", t


def response_text(app: Flask, response: TestResponse) -> str:
    """Everything a client receives, decoded every way a marker could hide, case-folded.

    The status line and headers (a redirect's Location, URL-decoded), the signed session
    cookie's content (flashed messages travel in it), the body as text, HTML-unescaped and
    URL-decoded, JSON re-dumped without escapes, and the text of a PDF.
    """
    parts = [f"{response.status_code}"]
    for name, value in response.headers.items():
        parts += [f"{name}: {value}", unquote_plus(value)]
        if name.lower() == "set-cookie":
            parts.append(_session_content(app, value))
    body = response.get_data()
    text = body.decode("utf-8", errors="replace")
    parts += [text, html.unescape(text), unquote_plus(text)]
    if body[:1] in (b"{", b"[") and response.mimetype == "application/json":
        with contextlib.suppress(ValueError):
            parts.append(json.dumps(json.loads(body), ensure_ascii=False))
    if body.startswith(b"%PDF"):
        parts.append(pdf_text(body))
    elif "\ufffd" in text:
        parts.append(body.decode("latin-1"))
    joined = "\n".join(parts).casefold()
    # PDF text extraction and line wrapping may split a token; look without white space too.
    return joined + "\n" + re.sub(r"\s+", "", joined)


def pdf_text(body: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _session_content(app: Flask, set_cookie: str) -> str:
    value = set_cookie.split(";", 1)[0].partition("=")[2]
    if not value:
        return ""
    serializer = app.session_interface.get_signing_serializer(app)
    try:
        return json.dumps(serializer.loads(value), ensure_ascii=False, default=str)
    except Exception:  # noqa: BLE001 - not our session cookie: its raw text is scanned already
        return ""
