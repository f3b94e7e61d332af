"""Material crossing the border under a permit, what checkpoints said about it, and the
transfers and changes of use the permit's holder asked the registry to record.

A movement is recorded once and never edited: only its ``status`` moves, when a checkpoint
confirms or stops it, and that decision is a checkpoint communiqué of its own. Nothing is
deleted (DOMAIN rule 3).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.applications.models import Purpose
from abs_registry.auth.models import User
from abs_registry.db import Base, ExactDecimal, UTCDateTime, str_enum, utcnow
from abs_registry.declarations.models import GeneticResource, QuantityUnit
from abs_registry.permits.models import Permit, PermittedExit

QUANTITY_PLACES = 6


class Direction(enum.StrEnum):
    EXIT = "exit"
    ENTRY = "entry"  # a return of material that left under the permit


class MovementStatus(enum.StrEnum):
    RECORDED = "recorded"  # declared by the holder, not yet seen at a checkpoint
    CONFIRMED = "confirmed"  # a checkpoint let it pass
    STOPPED = "stopped"  # a checkpoint held it: it did not leave, and counts for nothing


class UseChangeKind(enum.StrEnum):
    THIRD_PARTY_TRANSFER = "third_party_transfer"
    CHANGE_OF_USE = "change_of_use"


class Movement(Base):
    __tablename__ = "movements"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("base_quantity > 0", name="base_quantity_positive"),
        CheckConstraint("origin_country <> destination_country", name="crosses_a_border"),
        CheckConstraint("direction = 'entry' OR permitted_exit_id IS NOT NULL",
                        name="exit_has_allowance"),
        Index("ix_movements_permitted_exit_counted", "permitted_exit_id", "direction", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    # The version in force when the movement was recorded; the number finds every version.
    permit_id: Mapped[int] = mapped_column(ForeignKey("permits.id", ondelete="RESTRICT"),
                                           index=True)
    permit_number: Mapped[str] = mapped_column(String(32), index=True)
    # The allowance an exit draws on (None for a return).
    permitted_exit_id: Mapped[int | None] = mapped_column(
        ForeignKey("permitted_exits.id", ondelete="RESTRICT"))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "movement_direction"))
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("genetic_resources.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(QUANTITY_PLACES))
    unit: Mapped[QuantityUnit] = mapped_column(str_enum(QuantityUnit, "movement_quantity_unit"))
    # The same quantity in mg, µl or items (movements/units.py): what the limit is summed in.
    base_quantity: Mapped[Decimal] = mapped_column(ExactDecimal(QUANTITY_PLACES))
    origin_country: Mapped[str] = mapped_column(String(2))
    destination_country: Mapped[str] = mapped_column(String(2))
    recipient: Mapped[str] = mapped_column(String(300))
    carrier: Mapped[str] = mapped_column(String(200))
    port: Mapped[str] = mapped_column(String(200))
    planned_date: Mapped[date] = mapped_column(Date)
    customs_declaration: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MovementStatus] = mapped_column(
        str_enum(MovementStatus, "movement_status"), default=MovementStatus.RECORDED)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    permit: Mapped[Permit] = relationship()
    permitted_exit: Mapped[PermittedExit | None] = relationship()
    resource: Mapped[GeneticResource] = relationship()
    recorded_by: Mapped[User] = relationship()
    communique: Mapped[CheckpointCommunique | None] = relationship(back_populates="movement")


class CheckpointCommunique(Base):
    """A checkpoint's confirmation or stop of one movement.

    ``document`` is the communiqué as the ABS Clearing-House names its fields
    (movements/communique.py), frozen when the decision was made: what was true then stays
    what it says, even after the permit is amended or revoked.
    """

    __tablename__ = "checkpoint_communiques"
    __table_args__ = (
        CheckConstraint("decision <> 'recorded'", name="decision_made"),
        CheckConstraint("decision = 'confirmed' OR reason IS NOT NULL", name="stop_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    movement_id: Mapped[int] = mapped_column(
        ForeignKey("movements.id", ondelete="RESTRICT"), unique=True)
    decision: Mapped[MovementStatus] = mapped_column(
        str_enum(MovementStatus, "checkpoint_decision"))
    checkpoint: Mapped[str] = mapped_column(String(300))
    persons_at_checkpoint: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    date_collected: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    document: Mapped[dict] = mapped_column(JSON)

    movement: Mapped[Movement] = relationship(back_populates="communique")
    officer: Mapped[User] = relationship()


class UseChange(Base):
    """A transfer of material to a third party, or a change of use, that the registry let
    through, with the permit that covers it (or the permit's own transfer conditions)."""

    __tablename__ = "use_changes"
    __table_args__ = (
        CheckConstraint("kind = 'change_of_use' OR (resource_id IS NOT NULL AND "
                        "third_party IS NOT NULL)", name="transfer_names_party"),
        CheckConstraint("kind = 'third_party_transfer' OR (to_purpose IS NOT NULL AND "
                        "covering_permit_id IS NOT NULL)", name="change_has_cover"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permits.id", ondelete="RESTRICT"),
                                           index=True)
    kind: Mapped[UseChangeKind] = mapped_column(str_enum(UseChangeKind, "use_change_kind"))
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("genetic_resources.id", ondelete="RESTRICT"))
    third_party: Mapped[str | None] = mapped_column(String(200))
    from_purpose: Mapped[Purpose | None] = mapped_column(str_enum(Purpose, "use_from_purpose"))
    to_purpose: Mapped[Purpose | None] = mapped_column(str_enum(Purpose, "use_to_purpose"))
    # The permit whose consent and agreement cover it; None: the permit's transfer conditions.
    covering_permit_id: Mapped[int | None] = mapped_column(
        ForeignKey("permits.id", ondelete="RESTRICT"))
    conditions: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    permit: Mapped[Permit] = relationship(foreign_keys=[permit_id])
    covering_permit: Mapped[Permit | None] = relationship(foreign_keys=[covering_permit_id])
    resource: Mapped[GeneticResource | None] = relationship()
