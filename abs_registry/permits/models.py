"""Access permits, the signed statements about them, and the keys that sign them.

A permit row is written once and never changed except for its ``status`` and
``superseded_by_id``: what was signed (``payload``, ``jws``) stays as it was (DOMAIN rule 2).
An amendment is a new row with the same number and the next version; suspension,
reinstatement and revocation are signed ``PermitStatement`` rows.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.applications.models import Application, Purpose
from abs_registry.auth.models import Organization, User
from abs_registry.db import Base, ExactDecimal, UTCDateTime, str_enum, utcnow
from abs_registry.declarations.models import GeneticResource, QuantityUnit


class PermitStatus(enum.StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"  # an amendment replaced this version
    EXPIRED = "expired"  # never stored: derived from expires_on when read


class StatementKind(enum.StrEnum):
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    REVOKED = "revoked"


permit_resources = Table(
    "permit_resources",
    Base.metadata,
    Column("permit_id", ForeignKey("permits.id", ondelete="RESTRICT"), primary_key=True),
    Column("resource_id", ForeignKey("genetic_resources.id", ondelete="RESTRICT"),
           primary_key=True),
)


class Permit(Base):
    __tablename__ = "permits"
    __table_args__ = (
        UniqueConstraint("number", "version", name="uq_permits_number_version"),
        UniqueConstraint("application_id", "version", name="uq_permits_application_version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("expires_on >= valid_from", name="expiry_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), index=True
    )
    holder_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "permit_purpose"))
    conditions: Mapped[str | None] = mapped_column(Text)
    third_party_transfer: Mapped[str | None] = mapped_column(Text)  # conditions, or None: barred
    valid_from: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[PermitStatus] = mapped_column(
        str_enum(PermitStatus, "permit_status"), default=PermitStatus.VALID
    )
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("permits.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)  # why this amendment was made
    # What was signed: the payload as RFC 8785 canonical JSON, and the compact JWS over it.
    payload: Mapped[dict] = mapped_column(JSON)
    payload_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    jws: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(64))
    log_index: Mapped[int | None] = mapped_column(Integer, unique=True)

    application: Mapped[Application] = relationship()
    holder: Mapped[Organization] = relationship()
    issued_by: Mapped[User] = relationship()
    supersedes: Mapped[Permit | None] = relationship(remote_side=[id])
    resources: Mapped[list[GeneticResource]] = relationship(
        secondary=permit_resources, order_by=GeneticResource.id
    )
    exits: Mapped[list[PermittedExit]] = relationship(
        back_populates="permit", order_by="PermittedExit.position"
    )
    statements: Mapped[list[PermitStatement]] = relationship(
        back_populates="permit", order_by="PermitStatement.id"
    )

    def status_on(self, day: date) -> PermitStatus:
        """What a checkpoint must act on today: a valid permit past its expiry is expired."""
        if self.status is PermitStatus.VALID and day > self.expires_on:
            return PermitStatus.EXPIRED
        return self.status

    @property
    def label(self) -> str:
        return self.number if self.version == 1 else f"{self.number} v{self.version}"


class PermittedExit(Base):
    """One kind of material that may leave the country under the permit, and how much."""

    __tablename__ = "permitted_exits"
    __table_args__ = (
        UniqueConstraint("permit_id", "position", name="uq_permitted_exits_position"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_id: Mapped[int] = mapped_column(
        ForeignKey("permits.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("genetic_resources.id", ondelete="RESTRICT")
    )
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(6))
    unit: Mapped[QuantityUnit] = mapped_column(str_enum(QuantityUnit, "exit_quantity_unit"))
    destination_country: Mapped[str] = mapped_column(String(2))
    recipient: Mapped[str] = mapped_column(String(300))

    permit: Mapped[Permit] = relationship(back_populates="exits")
    resource: Mapped[GeneticResource] = relationship()


class PermitStatement(Base):
    """A signed change of a permit's status: suspension, reinstatement or revocation."""

    __tablename__ = "permit_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_id: Mapped[int] = mapped_column(
        ForeignKey("permits.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[StatementKind] = mapped_column(str_enum(StatementKind, "permit_statement_kind"))
    reason: Mapped[str] = mapped_column(Text)
    made_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON)
    jws: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(64))
    log_index: Mapped[int | None] = mapped_column(Integer, unique=True)

    permit: Mapped[Permit] = relationship(back_populates="statements")
    made_by: Mapped[User] = relationship()


class SigningKey(Base):
    """The public half of each signing key, with the period it signed in.

    The private half lives in a file outside the database (``permits/keys.py``); the public
    halves of every key ever used, retired ones included, make the published JWK Set, so a
    permit signed before a rotation still verifies after it.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint
    public_key: Mapped[str] = mapped_column(String(64))  # base64url of the 32 raw bytes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
