"""Sequences declared with a DSI record, and the uploads they came in.

A sequence is kept once, compressed, with the fingerprints that let anyone holding a copy
find it again: SHA-256 and SEGUID of the normalized residues (upper case, no whitespace;
RNA written with U). Fingerprints are public once the record is; the residues are not.
"""

from __future__ import annotations

import enum
import zlib
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.auth.models import User
from abs_registry.db import Base, UTCDateTime, str_enum, utcnow
from abs_registry.declarations.models import MoleculeType


class SequenceFormat(enum.StrEnum):
    FASTA = "fasta"
    GENBANK = "genbank"


class DSIUpload(Base):
    """One accepted sequence file: what was received, by whom, and what it held."""

    __tablename__ = "dsi_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    dsi_record_id: Mapped[int] = mapped_column(
        ForeignKey("dsi_records.id", ondelete="RESTRICT"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    format: Mapped[SequenceFormat] = mapped_column(str_enum(SequenceFormat, "sequence_format"))
    gzipped: Mapped[bool] = mapped_column(Boolean)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sequence_count: Mapped[int] = mapped_column(Integer)
    total_residues: Mapped[int] = mapped_column(BigInteger)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    uploaded_by: Mapped[User] = relationship()

    def describe(self) -> dict:
        return {"filename": self.filename, "format": self.format.value, "gzip": self.gzipped,
                "size": self.size, "sha256": self.sha256, "sequences": self.sequence_count,
                "residues": self.total_residues}


class DSISequence(Base):
    __tablename__ = "dsi_sequences"
    __table_args__ = (
        UniqueConstraint("dsi_record_id", "identifier"),
        Index("ix_dsi_sequences_sha256", "sha256"),
        Index("ix_dsi_sequences_seguid", "seguid"),
        CheckConstraint("length > 0", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dsi_record_id: Mapped[int] = mapped_column(ForeignKey("dsi_records.id", ondelete="RESTRICT"))
    upload_id: Mapped[int] = mapped_column(
        ForeignKey("dsi_uploads.id", ondelete="RESTRICT"), index=True
    )
    identifier: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    molecule_type: Mapped[MoleculeType] = mapped_column(
        str_enum(MoleculeType, "sequence_molecule_type")
    )
    length: Mapped[int] = mapped_column(Integer)
    source_organism: Mapped[str | None] = mapped_column(String(300))
    accessions: Mapped[list] = mapped_column(JSON, default=list)
    seguid: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    # The normalized residues, zlib-compressed: shown to those allowed, and sketched for tracing.
    residues_zlib: Mapped[bytes] = mapped_column(LargeBinary)

    upload: Mapped[DSIUpload] = relationship()

    @property
    def residues(self) -> str:
        """The normalized sequence (upper case, no whitespace)."""
        return zlib.decompress(self.residues_zlib).decode("ascii")
