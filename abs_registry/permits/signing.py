"""Permits as JWS (RFC 7515, EdDSA with Ed25519 per RFC 8037) over RFC 8785 canonical JSON.

Anyone can check a permit with any JOSE library and our JWK Set, without trusting the
server. ``verify`` is what the /verify page, the API and the offline ``abs-registry verify``
command all run, so the three can never disagree. It refuses, each with its reason: a token
that is not compact JWS, any algorithm but EdDSA (so ``alg: none`` and HS256 keyed with the
public key are refused before any key is used), an unknown key id, a bad signature, a payload
that is not canonical JSON, and a permit signed outside its key's validity period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from abs_registry.permits.keys import b64url_decode

ALGORITHM = "EdDSA"
PERMIT_TYPE = "abs-permit+jws"
_jws = jwt.PyJWS(algorithms=[ALGORITHM])


def canonical(payload: dict) -> bytes:
    return rfc8785.dumps(payload)


def sign(payload: dict, kid: str, key: Ed25519PrivateKey) -> str:
    return _jws.encode(canonical(payload), key, algorithm=ALGORITHM,
                       headers={"kid": kid, "typ": PERMIT_TYPE})


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


def _header(token: str) -> dict:
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("not a compact JWS: it must be three base64url parts separated by dots")
    try:
        header = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the JWS header is not base64url-encoded JSON") from exc
    if not isinstance(header, dict):
        raise ValueError("the JWS header is not a JSON object")
    return header


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
        header = _header(token)
    except ValueError as exc:
        return Verification(False, str(exc))
    if header.get("alg") != ALGORITHM:
        return Verification(False, f"algorithm {header.get('alg')!r} is not accepted: "
                                   f"permits are signed with {ALGORITHM} only")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys.keys:
        return Verification(False, f"unknown key id {kid!r}: it is not in the JWK Set", kid=None)
    jwk, public = keys.keys[kid]
    try:
        signed = _jws.decode_complete(token, key=public, algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError:
        return Verification(False, "the signature does not match the content: the permit "
                                   "was changed or signed with another key", kid=kid, key=jwk)
    except jwt.PyJWTError as exc:
        return Verification(False, f"the JWS cannot be read: {exc}", kid=kid, key=jwk)
    try:
        payload = json.loads(signed["payload"])
        is_canonical = canonical(payload) == signed["payload"]
    except (ValueError, UnicodeDecodeError, rfc8785.CanonicalizationError):
        return Verification(False, "the signed content is not JSON", kid=kid, key=jwk)
    if not isinstance(payload, dict) or not is_canonical:
        return Verification(False, "the signed content is not RFC 8785 canonical JSON",
                            kid=kid, key=jwk)
    if not _within(payload.get("issued_at"), jwk):
        return Verification(False, "the key was not in service when this was signed",
                            kid=kid, key=jwk, payload=payload)
    return Verification(True, None, kid=kid, key=jwk, payload=payload)
