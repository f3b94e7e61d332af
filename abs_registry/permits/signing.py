"""Permits as JWS (RFC 7515, EdDSA with Ed25519 per RFC 8037) over RFC 8785 canonical JSON.

Anyone can check a permit with any JOSE library and our JWK Set, without trusting the
server; the tests check ours against PyJWT. Compact JWS with one algorithm is a few lines over
`cryptography`, and writing them here keeps a verification close to the bare Ed25519 cost
(a general JOSE library re-validated base64 in Python and cost five times as much). ``verify`` is what the /verify page, the API and the offline ``abs-registry verify``
command all run, so the three can never disagree. It refuses, each with its reason: a token
that is not compact JWS, any algorithm but EdDSA (so ``alg: none`` and HS256 keyed with the
public key are refused before any key is used), an unknown key id, a bad signature, a payload
that is not canonical JSON, and a permit signed outside its key's validity period.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from abs_registry.permits.keys import b64url, b64url_decode

ALGORITHM = "EdDSA"
PERMIT_TYPE = "abs-permit+jws"
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def canonical(payload: dict) -> bytes:
    return rfc8785.dumps(payload)


def _is_canonical(signed: bytes, payload: dict) -> bool:
    """Our payloads hold only ASCII keys, strings, booleans and null, for which Python's
    sorted compact JSON is byte-for-byte RFC 8785; fall back to the full rules otherwise."""
    quick = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return quick.encode("utf-8") == signed or canonical(payload) == signed


def sign(payload: dict, kid: str, key: Ed25519PrivateKey) -> str:
    header = json.dumps({"alg": ALGORITHM, "kid": kid, "typ": PERMIT_TYPE},
                        separators=(",", ":")).encode()
    signing_input = f"{b64url(header)}.{b64url(canonical(payload))}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


def _part(text: str, what: str) -> bytes:
    """Strict base64url (RFC 7515 section 2): no padding, nothing outside the alphabet."""
    try:
        data = text.encode("ascii")
        if b"=" in data:
            raise ValueError
        return binascii.a2b_base64(data.translate(_URLSAFE) + b"=" * (-len(data) % 4),
                                   strict_mode=True)
    except (ValueError, UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"the JWS {what} is not base64url") from exc


@dataclass
class Verification:
    valid: bool
    reason: str | None = None
    kid: str | None = None
    key: dict | None = None
    payload: dict | None = field(default=None, repr=False)


class PublicKeys:
    """A JWK Set, parsed once: verifying thousands of permits must not re-read it each time."""

    def __init__(self, jwk_set: dict):
        self.keys: dict[str, tuple[dict, Ed25519PublicKey]] = {}
        for jwk in jwk_set.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and jwk.get("kid"):
                try:
                    public = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
                except (KeyError, ValueError, TypeError):
                    continue
                self.keys[jwk["kid"]] = (jwk, public)


def _split(token) -> tuple[dict, bytes, bytes, bytes]:
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("not a compact JWS: it must be three base64url parts separated by dots")
    head, body, signature = token.split(".")
    try:
        header = json.loads(_part(head, "header"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the JWS header is not base64url-encoded JSON") from exc
    if not isinstance(header, dict):
        raise ValueError("the JWS header is not a JSON object")
    return header, _part(body, "payload"), _part(signature, "signature"), \
        f"{head}.{body}".encode("ascii")


def _within(moment: str | None, jwk: dict) -> bool:
    if not moment:
        return False
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        start = jwk.get("valid_from")
        end = jwk.get("valid_until")
        if start and when < datetime.fromisoformat(start.replace("Z", "+00:00")):
            return False
        return not (end and when > datetime.fromisoformat(end.replace("Z", "+00:00")))
    except ValueError:
        return False


def verify(token: str, keys: PublicKeys) -> Verification:
    token = token.strip() if isinstance(token, str) else token
    try:
        header, signed, signature, signing_input = _split(token)
    except ValueError as exc:
        return Verification(False, str(exc))
    if header.get("alg") != ALGORITHM:
        return Verification(False, f"algorithm {header.get('alg')!r} is not accepted: "
                                   f"permits are signed with {ALGORITHM} only")
    if header.get("crit") is not None:
        return Verification(False, "the JWS names critical extensions we do not support")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys.keys:
        return Verification(False, f"unknown key id {kid!r}: it is not in the JWK Set")
    jwk, public = keys.keys[kid]
    try:
        public.verify(signature, signing_input)
    except InvalidSignature:
        return Verification(False, "the signature does not match the content: the permit "
                                   "was changed or signed with another key", kid=kid, key=jwk)
    try:
        payload = json.loads(signed)
    except (ValueError, UnicodeDecodeError):
        return Verification(False, "the signed content is not JSON", kid=kid, key=jwk)
    try:
        is_canonical = isinstance(payload, dict) and _is_canonical(signed, payload)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        is_canonical = False
    if not is_canonical:
        return Verification(False, "the signed content is not RFC 8785 canonical JSON",
                            kid=kid, key=jwk)
    if not _within(payload.get("issued_at"), jwk):
        return Verification(False, "the key was not in service when this was signed",
                            kid=kid, key=jwk, payload=payload)
    return Verification(True, None, kid=kid, key=jwk, payload=payload)
