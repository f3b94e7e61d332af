"""Marker strings, and the text of a response in every form a marker could take there.

A marker is ``LEAKMARK-<RECORD>-<FIELD>-<token>``; the token alone (16 random lower-case
letters) is what the walker looks for, case-folded, so a marker still counts when a page
shortens, upper-cases or tokenizes it (the register's search document does all three).
"""

from __future__ import annotations

import base64
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
    URL-decoded, JSON re-dumped without escapes, the text and embedded files of a PDF, and
    whatever base64 the answer carries decoded (a JWS's payload, a log entry's bytes).
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
    parts += decoded_base64("\n".join(parts))
    joined = "\n".join(parts).casefold()
    # PDF text extraction and line wrapping may split a token; look without white space too.
    return joined + "\n" + re.sub(r"\s+", "", joined)


def pdf_text(body: bytes) -> str:
    """The text of every page and every embedded file (a permit certificate embeds its JWS).
    A file pypdf cannot read (a planted attachment is a PDF in its first bytes only) is
    scanned as the raw text it also is."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(body))
        texts = [page.extract_text() or "" for page in reader.pages]
        for contents in reader.attachments.values():
            texts += [c.decode("utf-8", errors="replace") for c in contents]
    except Exception:  # noqa: BLE001 - not a whole PDF: its bytes are scanned already
        return ""
    return "\n".join(texts)


BASE64 = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")


def decoded_base64(text: str) -> list[str]:
    """Every run of base64 or base64url (JWS segments, log entries) that decodes to text."""
    out = []
    for run in set(BASE64.findall(text)):
        padded = run.rstrip("=") + "=" * (-len(run.rstrip("=")) % 4)
        with contextlib.suppress(ValueError):
            data = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
            decoded = data.decode("utf-8")
            if decoded.isprintable() or decoded.strip().startswith(("{", "[")):
                out.append(decoded)
    return out


def _session_content(app: Flask, set_cookie: str) -> str:
    value = set_cookie.split(";", 1)[0].partition("=")[2]
    if not value:
        return ""
    serializer = app.session_interface.get_signing_serializer(app)
    try:
        return json.dumps(serializer.loads(value), ensure_ascii=False, default=str)
    except Exception:  # noqa: BLE001 - not our session cookie: its raw text is scanned already
        return ""
