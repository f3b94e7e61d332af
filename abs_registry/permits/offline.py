"""Checking a permit file with nothing but the published JWK Set: no server, no database.

This is what a customs officer abroad, a journal or a patent office runs. It checks what a
file alone can show: the signature, the key's period of service, and the dates. Whether a
permit was suspended or revoked since is a question for /verify or the transparency log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from abs_registry.permits import signing


def _load_keys(jwks_file: Path) -> signing.PublicKeys:
    try:
        return signing.PublicKeys(json.loads(jwks_file.read_text("utf-8")))
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise ValueError(f"{jwks_file}: not a JWK Set ({exc})") from exc


def verify_token(token: str, keys: signing.PublicKeys,
                 today=None) -> tuple[bool, str]:
    result = signing.verify(token, keys)
    if not result.valid:
        return False, result.reason
    document = result.payload
    what = f"{document.get('number')} version {document.get('version')}"
    if document.get("type") == "abs-permit-status":
        return True, (f"status statement for {what}: {document.get('status')} "
                      f"({document.get('reason')}), signed by key {result.kid}")
    today = today or datetime.now(UTC).date().isoformat()
    if str(document.get("expires_on", "")) < today:
        return False, f"permit {what} expired on {document.get('expires_on')}"
    return True, (f"permit {what}, issued {document.get('issued_at')} to "
                  f"{document.get('user', {}).get('name')}, expires {document.get('expires_on')}, "
                  f"signed by key {result.kid}")


def verify_file(file: Path, jwks_file: Path) -> tuple[bool, str]:
    try:
        keys = _load_keys(jwks_file)
    except ValueError as exc:
        return False, str(exc)
    data = file.read_bytes()
    if data.startswith(b"%PDF"):
        return False, "PDF files are checked with the certificate's own verifier"
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        return False, f"{file}: not a compact JWS (binary content)"
    return verify_token(token, keys)
