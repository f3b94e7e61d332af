"""Receiving attachments: bounded, checked by content, stored under a name the server chooses.

An upload is read in chunks up to the limit, so an oversized file is refused before it is
held in memory; its type is decided by its first bytes, not by what the client claims; and
it is stored as <sha256> in the instance folder, so no client-chosen name reaches the disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.attachments.models import Attachment
from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work
from abs_registry.errors import NotFound, ValidationError
from abs_registry.i18n_marker import N_

MAX_BYTES = 10 * 1024 * 1024
CHUNK = 64 * 1024
HEAD = 16  # bytes kept for sniffing: the longest signature below ends at byte 12
# Magic bytes at the start of the file, as patterns (a WAV file is RIFF, a size, then WAVE).
DOCUMENTS = (
    (re.compile(rb"%PDF-"), "application/pdf"),
    (re.compile(rb"\x89PNG\r\n\x1a\n"), "image/png"),
    (re.compile(rb"\xff\xd8\xff"), "image/jpeg"),
)
AUDIO = (
    (re.compile(rb"ID3|\xff[\xfb\xf3\xf2\xfa]"), "audio/mpeg"),  # tagged, or a bare frame
    (re.compile(rb"OggS"), "audio/ogg"),
    (re.compile(rb"RIFF.{4}WAVE", re.DOTALL), "audio/wav"),
)
SIGNATURES = DOCUMENTS
UNSAFE = re.compile(r"[^\w.\- ()]+")


def sniff(head: bytes, signatures=SIGNATURES) -> str | None:
    for pattern, content_type in signatures:
        if pattern.match(head):
            return content_type
    return None


def store_upload(directory: Path, stream: BinaryIO, signatures=SIGNATURES,
                 refusal: str = N_("Attach a PDF, PNG or JPEG document.")
                 ) -> tuple[str, int, str]:
    """Copy an upload into ``directory`` within the limit; return (sha256, size, type).

    Nothing is kept of a refused upload: it is read into a temporary file that is renamed
    to its SHA-256 only once its size and first bytes pass.
    """
    directory.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise ValidationError({"file": [N_(
                        "The file is larger than %(limit)s MB.") % {"limit": MAX_BYTES // 2**20}]})
                if len(head) < HEAD:
                    head += chunk[:HEAD - len(head)]
                digest.update(chunk)
                tmp.write(chunk)
        content_type = sniff(head, signatures)
        if size == 0:
            raise ValidationError({"file": [N_("The file is empty.")]})
        if content_type is None:
            raise ValidationError({"file": [refusal]})
        os.replace(tmp_name, directory / digest.hexdigest())
        return digest.hexdigest(), size, content_type
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def clean_filename(name: str | None) -> str:
    base = unicodedata.normalize("NFC", Path(name or "").name).strip()
    base = UNSAFE.sub("_", base)[:200].strip("._ ")
    return base or "attachment"


@dataclass
class AttachmentService:
    session: Session
    directory: Path

    def _store(self, stream: BinaryIO) -> tuple[str, int, str]:
        return store_upload(self.directory, stream)

    def add(self, actor: User, app, stream: BinaryIO, filename: str | None) -> Attachment:
        perm.require_view_application(actor, app)
        perm.require_attach(actor, app)
        sha256, size, content_type = self._store(stream)
        with unit_of_work(self.session):
            attachment = Attachment(application_id=app.id, uploaded_by_id=actor.id,
                                    filename=clean_filename(filename),
                                    content_type=content_type, size=size, sha256=sha256)
            self.session.add(attachment)
            self.session.flush()
            audit.record(self.session, actor=actor, subject_type="application",
                         subject_id=app.id, subject_ref=app.reference, action="attach",
                         data={"attachment": attachment.describe()})
        return attachment

    def add_unchecked(self, actor: User, stream: BinaryIO, filename: str | None,
                      **owner) -> Attachment:
        """Store a document for an owner whose service has checked the actor may attach it
        (``obligation_id=...``), inside that service's unit of work; it writes no history, the
        owner's service does."""
        sha256, size, content_type = self._store(stream)
        attachment = Attachment(uploaded_by_id=actor.id, filename=clean_filename(filename),
                                content_type=content_type, size=size, sha256=sha256, **owner)
        self.session.add(attachment)
        self.session.flush()
        return attachment

    def path_of(self, attachment: Attachment) -> Path:
        return self.directory / attachment.sha256

    def of(self, actor: User | None, app) -> list[Attachment]:
        perm.require_view_application(actor, app)
        return list(self.session.scalars(
            select(Attachment).where(Attachment.application_id == app.id).order_by(Attachment.id)))

    def get(self, actor: User | None, app, attachment_id: int) -> tuple[Attachment, Path]:
        perm.require_view_application(actor, app)
        attachment = self.session.get(Attachment, attachment_id)
        if attachment is None or attachment.application_id != app.id:
            raise NotFound("attachment")
        return attachment, self.directory / attachment.sha256


def linked(session: Session, app, ids: list[int] | None) -> list[dict]:
    """The attachments a move names; they must belong to the same application."""
    if not ids:
        return []
    found = {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_(ids)))}
    for attachment_id in ids:
        attachment = found.get(attachment_id)
        if attachment is None or attachment.application_id != app.id:
            raise ValidationError({"attachments": [N_(
                "%(id)s: no attachment of this application") % {"id": attachment_id}]})
    return [found[i].describe() for i in dict.fromkeys(ids)]
