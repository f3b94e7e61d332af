"""Signed tree heads as C2SP checkpoints in signed notes, the format Rekor and Go's sumdb use.

A checkpoint is the note text ``origin\\nsize\\nbase64(root)\\n``; below a blank line come
signature lines ``— <name> <base64(key id || Ed25519 signature of the text)>``, where the
key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key) (0x01: Ed25519).
Specs: https://c2sp.org/tlog-checkpoint and https://c2sp.org/signed-note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from abs_registry.translog.merkle import HASH_SIZE

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
_KEY_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class InvalidCheckpoint(ValueError):
    """A note that is malformed, or not signed by the expected key; the message says why."""


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + raw).digest()[:4]


@dataclass(frozen=True)
class NoteSigner:
    """The log's signing key and the name its signature lines carry (no spaces, no '+')."""

    name: str
    key: Ed25519PrivateKey

    def __post_init__(self):
        if not _KEY_NAME.fullmatch(self.name):
            raise ValueError("a key name is non-empty, without spaces or '+'")

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def signature_line(self, text: str) -> str:
        signature = self.key.sign(text.encode())
        blob = base64.b64encode(key_id(self.name, self.public_key) + signature).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    note: str  # the whole signed note, as published


def checkpoint_text(origin: str, size: int, root_hash: bytes) -> str:
    if not origin or "\n" in origin:
        raise ValueError("the origin is one non-empty line")
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode()}\n"


def sign_checkpoint(origin: str, size: int, root_hash: bytes, signer: NoteSigner) -> Checkpoint:
    text = checkpoint_text(origin, size, root_hash)
    return Checkpoint(origin, size, root_hash, text + "\n" + signer.signature_line(text))


def parse_checkpoint(note: str) -> tuple[Checkpoint, str, list[str]]:
    """Split a note into its checkpoint, its signed text and its signature lines (unchecked)."""
    text, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise InvalidCheckpoint("a signed note is text, a blank line, then signature lines")
    lines = text.split("\n")
    if len(lines) < 3:
        raise InvalidCheckpoint("a checkpoint has an origin, a size and a root hash")
    origin, size, root = lines[:3]
    if not origin:
        raise InvalidCheckpoint("the origin line is empty")
    if not _SIZE.fullmatch(size):
        raise InvalidCheckpoint("the size is not a decimal number")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        root_hash = b""
    if len(root_hash) != HASH_SIZE:
        raise InvalidCheckpoint("the root hash is not 32 bytes in base64")
    checkpoint = Checkpoint(origin, int(size), root_hash, note)
    return checkpoint, text + "\n", signatures[:-1].split("\n")


def verify_checkpoint(note: str, name: str, public_key: Ed25519PublicKey,
                      origin: str | None = None) -> Checkpoint:
    """The checkpoint in ``note`` if a line signed by ``name``'s key verifies; else raises.

    Signatures by other keys are ignored, as the signed-note spec asks: a note may carry
    the signatures of witnesses beside the log's own.
    """
    checkpoint, text, lines = parse_checkpoint(note)
    if origin is not None and checkpoint.origin != origin:
        raise InvalidCheckpoint(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    wanted = key_id(name, public_key)
    for line in lines:
        signer, _, blob = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        if not line.startswith(SIGNATURE_PREFIX) or signer != name:
            continue
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            continue
        if raw[:4] != wanted:
            continue
        try:
            public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise InvalidCheckpoint(f"the signature of {name} does not verify") from None
        return checkpoint
    raise InvalidCheckpoint(f"no signature by {name} with key id {wanted.hex()}")
