"""The authority's Ed25519 signing keys: private halves in files, public halves published.

A private key is a PKCS#8 PEM file named after its key id, created 0600 in a 0700 directory
outside the database, so that a copy of the database cannot sign anything. Its public half is
a ``SigningKey`` row; the rows of every key ever used, retired ones included, make the JWK
Set at ``/.well-known/jwks.json``, so permits signed before a rotation still verify after it.
The key id is the key's RFC 7638 thumbprint, which anyone can recompute from the JWK.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import Conflict
from abs_registry.i18n_marker import N_
from abs_registry.permits.models import SigningKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(x: str) -> str:
    """RFC 7638: SHA-256 of the required members of the JWK, in lexical order, no spaces."""
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                         sort_keys=True)
    return b64url(hashlib.sha256(members.encode("ascii")).digest())


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def jwk(key: SigningKey) -> dict:
    """The public JWK, with the period the key signed in (``valid_from``/``valid_until``:
    members of our own, which JOSE libraries ignore and our verifiers check)."""
    return {"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid,
            "use": "sig", "alg": "EdDSA", "valid_from": _iso(key.created_at),
            "valid_until": _iso(key.retired_at)}


def jwks(session: Session) -> dict:
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid))
    return {"keys": [jwk(row) for row in rows]}


class KeyRing:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._loaded: dict[str, Ed25519PrivateKey] = {}

    def _path(self, kid: str) -> Path:
        return self.directory / f"{kid}.pem"

    def generate(self, session: Session) -> SigningKey:
        """Make a new signing key and retire the current one: generating is rotating."""
        private = Ed25519PrivateKey.generate()
        x = b64url(raw_public(private.public_key()))
        kid = thumbprint(x)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        fd = os.open(self._path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        with unit_of_work(session):
            now = utcnow()
            for current in session.scalars(select(SigningKey).where(
                    SigningKey.retired_at.is_(None)).with_for_update()):
                current.retired_at = now
            key = SigningKey(kid=kid, public_key=x, created_at=now)
            session.add(key)
        return key

    def active(self, session: Session) -> tuple[str, Ed25519PrivateKey]:
        key = session.scalar(select(SigningKey).where(SigningKey.retired_at.is_(None))
                             .order_by(SigningKey.created_at.desc()).limit(1))
        if key is None or not self._path(key.kid).exists():
            raise Conflict(N_("the registry has no signing key: an administrator must run "
                              "'abs-registry keys generate'"), field="signing_key")
        if key.kid not in self._loaded:
            self._loaded[key.kid] = serialization.load_pem_private_key(
                self._path(key.kid).read_bytes(), None)
        return key.kid, self._loaded[key.kid]

    def ensure(self, session: Session) -> SigningKey | None:
        """Generate a first key if none is usable (for the demo and first start)."""
        try:
            self.active(session)
            return None
        except Conflict:
            return self.generate(session)
