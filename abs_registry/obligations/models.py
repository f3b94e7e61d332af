"""Benefit-sharing obligations and what shows they were met: payments, evidence, milestone and
sales reports, and the annual figures an enterprise files for the Cali Fund.

Money is an exact decimal (``ExactDecimal(4)``: every ISO 4217 minor unit fits) with its
currency beside it, never a float (DOMAIN rule 6). Nothing is deleted (DOMAIN rule 3): a
disputed payment stays, marked disputed; a waived obligation stays, marked waived.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.agreements.terms import Kind, Period, Trigger
from abs_registry.attachments.models import Attachment
from abs_registry.auth.models import Organization, User
from abs_registry.db import Base, ExactDecimal, UTCDateTime, str_enum, utcnow
from abs_registry.permits.models import Permit

MONEY = ExactDecimal(4)

# An agreement's term kinds, and the contribution to the Cali Fund, which no agreement names.
ObligationKind = enum.StrEnum(
    "ObligationKind",
    {**{kind.name: kind.value for kind in Kind}, "DSI_CONTRIBUTION": "dsi_contribution"},
)


class ObligationStatus(enum.StrEnum):
    PENDING = "pending"  # not payable yet: its date or its event has not come
    DUE = "due"  # payable now, before ``due_on`` plus the grace days
    OVERDUE = "overdue"  # past ``due_on`` plus the grace days and not met
    PARTLY_MET = "partly_met"  # some of the amount is paid
    MET = "met"  # paid in full, or its evidence given
    DISPUTED = "disputed"  # the beneficiary disputes a payment or evidence
    WAIVED = "waived"  # an official released the user from it, with a reason


OPEN = frozenset({ObligationStatus.PENDING, ObligationStatus.DUE, ObligationStatus.OVERDUE,
                  ObligationStatus.PARTLY_MET, ObligationStatus.DISPUTED})
CLOSED = frozenset({ObligationStatus.MET, ObligationStatus.WAIVED})


class BeneficiaryKind(enum.StrEnum):
    PROVIDER = "provider"
    COMMUNITY = "community"
    NATIONAL_FUND = "national_fund"
    CALI_FUND = "cali_fund"


class Confirmation(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"


class Obligation(Base):
    """One benefit owed by a user organization to a beneficiary.

    It comes from term ``term_index`` of the agreement under which ``permit`` was issued, from
    a sales report on a royalty (``parent``: the royalty it is paid under), or from a Cali Fund
    return. ``paid`` is the sum of its payments the beneficiary has not disputed, kept on the
    row so that totals per currency are one SQL sum.
    """

    __tablename__ = "obligations"
    __table_args__ = (
        Index("ix_obligations_status_payer", "status", "payer_org_id"),
        UniqueConstraint("agreement_id", "term_index", name="uq_obligations_term"),
        CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
        CheckConstraint("paid >= 0", name="paid_not_negative"),
        CheckConstraint("(amount IS NULL) = (currency IS NULL) OR kind = 'royalty'",
                        name="amount_has_currency"),
        CheckConstraint("status <> 'waived' OR waive_reason IS NOT NULL",
                        name="waiver_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    permit_id: Mapped[int | None] = mapped_column(
        ForeignKey("permits.id", ondelete="RESTRICT"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreements.id", ondelete="RESTRICT"))
    term_index: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[ObligationKind] = mapped_column(str_enum(ObligationKind, "obligation_kind"))
    payer_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    beneficiary_kind: Mapped[BeneficiaryKind] = mapped_column(
        str_enum(BeneficiaryKind, "obligation_beneficiary_kind"))
    # None for a fund: officials confirm what the funds receive.
    beneficiary_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    beneficiary_name: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    paid: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    # A royalty: one rate in percent, or tiers [{"from_turnover": "0", "rate": "2"}, ...].
    rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(6))
    tiers: Mapped[list | None] = mapped_column(JSON)
    period: Mapped[Period | None] = mapped_column(str_enum(Period, "obligation_period"))
    base: Mapped[str | None] = mapped_column(String(20))
    trigger: Mapped[Trigger | None] = mapped_column(str_enum(Trigger, "obligation_trigger"))
    within_days: Mapped[int | None] = mapped_column(Integer)
    triggered_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    description: Mapped[dict | None] = mapped_column(JSON)  # {"zh": ..., "en": ...}
    expected_evidence: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ObligationStatus] = mapped_column(
        str_enum(ObligationStatus, "obligation_status"), default=ObligationStatus.PENDING)
    status_changed_on: Mapped[date | None] = mapped_column(Date)
    waived_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    waive_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    permit: Mapped[Permit | None] = relationship()
    parent: Mapped[Obligation | None] = relationship(remote_side=[id])
    payer: Mapped[Organization] = relationship(foreign_keys=[payer_org_id])
    beneficiary: Mapped[Organization | None] = relationship(foreign_keys=[beneficiary_org_id])
    payments: Mapped[list[Payment]] = relationship(
        back_populates="obligation", order_by="Payment.id")
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="obligation", order_by="Evidence.id")
    sales_reports: Mapped[list[SalesReport]] = relationship(
        foreign_keys="SalesReport.obligation_id", order_by="SalesReport.period")

    __mapper_args__ = {"version_id_col": version}

    @property
    def monetary(self) -> bool:
        return self.currency is not None

    @property
    def is_royalty(self) -> bool:
        """A royalty itself carries no amount; each sales report makes a payable under it."""
        return self.kind == Kind.ROYALTY and self.parent_id is None

    @property
    def outstanding(self) -> Decimal | None:
        return None if self.amount is None else self.amount - self.paid


class _Confirmable:
    """What the beneficiary said about a payment or a piece of evidence."""

    confirmation: Mapped[Confirmation] = mapped_column(
        str_enum(Confirmation, "obligation_confirmation"), default=Confirmation.UNCONFIRMED)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispute_reason: Mapped[str | None] = mapped_column(Text)


class Payment(_Confirmable, Base):
    __tablename__ = "obligation_payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("confirmation <> 'disputed' OR dispute_reason IS NOT NULL",
                        name="dispute_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100))  # the bank's or the transfer's
    proof_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="RESTRICT"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    obligation: Mapped[Obligation] = relationship(back_populates="payments")
    proof: Mapped[Attachment | None] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])


class Evidence(_Confirmable, Base):
    """What shows a non-monetary benefit was given: a text, and a document if there is one."""

    __tablename__ = "obligation_evidence"
    __table_args__ = (
        CheckConstraint("confirmation <> 'disputed' OR dispute_reason IS NOT NULL",
                        name="dispute_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"), index=True)
    text: Mapped[str] = mapped_column(Text)
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="RESTRICT"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    obligation: Mapped[Obligation] = relationship(back_populates="evidence")
    attachment: Mapped[Attachment | None] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])


class MilestoneReport(Base):
    """The user says an event happened (a patent filed, a first sale): what waited for it falls due."""

    __tablename__ = "milestone_reports"
    __table_args__ = (UniqueConstraint("permit_id", "event", name="uq_milestone_reports_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permits.id", ondelete="RESTRICT"))
    event: Mapped[Trigger] = mapped_column(str_enum(Trigger, "milestone_event"))
    occurred_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    permit: Mapped[Permit] = relationship()
    reported_by: Mapped[User] = relationship()


class SalesReport(Base):
    """Turnover for one period under a royalty; the registry computes the royalty from it."""

    __tablename__ = "sales_reports"
    __table_args__ = (
        UniqueConstraint("obligation_id", "period", name="uq_sales_reports_period"),
        CheckConstraint("turnover >= 0", name="turnover_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # 2026, 2026-H1 or 2026-Q1
    turnover: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    royalty: Mapped[Decimal] = mapped_column(MONEY)
    payable_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"))
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payable: Mapped[Obligation | None] = relationship(foreign_keys=[payable_id])
    filed_by: Mapped[User] = relationship()


class CaliFundReturn(Base):
    """An enterprise's annual figures, from which its expected Cali Fund contribution follows.

    ``usd_rate`` converts the figures to the fund's currency for the size test only (US
    dollars per unit of ``currency``, as in the audited accounts); the contribution is owed in
    the currency of the accounts.
    """

    __tablename__ = "cali_fund_returns"
    __table_args__ = (
        UniqueConstraint("organization_id", "year", name="uq_cali_fund_returns_year"),
        CheckConstraint("revenue >= 0", name="revenue_not_negative"),
        CheckConstraint("assets >= 0", name="assets_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    revenue: Mapped[Decimal] = mapped_column(MONEY)
    profit: Mapped[Decimal] = mapped_column(MONEY)  # negative for a loss
    assets: Mapped[Decimal] = mapped_column(MONEY)
    usd_rate: Mapped[Decimal] = mapped_column(ExactDecimal(8))
    basis: Mapped[str] = mapped_column(String(10))  # profit or revenue
    thresholds_exceeded: Mapped[int] = mapped_column(Integer)
    contribution: Mapped[Decimal] = mapped_column(MONEY)
    computation: Mapped[dict] = mapped_column(JSON)  # averages, thresholds and rates applied
    obligation_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"))
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship()
    obligation: Mapped[Obligation | None] = relationship()
    filed_by: Mapped[User] = relationship()
