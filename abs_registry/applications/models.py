"""Access applications: what is asked for, who must consent, the agreement, and the review."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.auth.models import Organization, User
from abs_registry.db import Base, UTCDateTime, str_enum, utcnow
from abs_registry.declarations.models import GeneticResource, TKRecord


class Purpose(enum.StrEnum):
    NON_COMMERCIAL = "non_commercial"
    COMMERCIAL = "commercial"
    BOTH = "both"


class AppStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting for the completeness check
    RETURNED = "returned"  # incomplete: back with the applicant
    CONSENT = "consent"  # waiting for PIC of providers and FPIC of communities
    AGREEMENT = "agreement"  # mutually agreed terms being drafted and accepted
    REVIEW = "review"
    # at most 20 characters: audit_events.from_state/to_state are VARCHAR(20)
    INFORMATION_REQUESTED = "info_requested"
    APPROVED = "approved"
    REFUSED = "refused"
    CONSENT_REFUSED = "consent_refused"
    WITHDRAWN = "withdrawn"


class ConsentKind(enum.StrEnum):
    PIC = "pic"  # prior informed consent of a provider
    FPIC = "fpic"  # free, prior and informed consent of a community for its TK


class ConsentStatus(enum.StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


class AgreementStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"  # by every party, on the same text hash
    VOID = "void"  # replaced by a later revision


class NoteKind(enum.StrEnum):
    EXPERT_OPINION = "expert_opinion"
    RECOMMENDATION = "recommendation"


class Recommendation(enum.StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


application_resources = Table(
    "application_resources",
    Base.metadata,
    Column("application_id", ForeignKey("applications.id", ondelete="CASCADE"),
           primary_key=True),
    Column("resource_id", ForeignKey("genetic_resources.id", ondelete="RESTRICT"),
           primary_key=True),
)

application_tk = Table(
    "application_tk",
    Base.metadata,
    Column("application_id", ForeignKey("applications.id", ondelete="CASCADE"),
           primary_key=True),
    Column("tk_id", ForeignKey("tk_records.id", ondelete="RESTRICT"), primary_key=True),
)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_status_submitted", "status", "submitted_at"),
        CheckConstraint("duration_months BETWEEN 1 AND 600", name="duration_range"),
        CheckConstraint(
            "exports_material = false OR (export_country IS NOT NULL AND "
            "export_recipient IS NOT NULL)",
            name="export_has_destination",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[AppStatus] = mapped_column(str_enum(AppStatus, "application_status"))
    applicant_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "application_purpose"))
    activities: Mapped[str] = mapped_column(Text)
    work_location: Mapped[str] = mapped_column(String(500))
    exports_material: Mapped[bool] = mapped_column(Boolean, default=False)
    export_country: Mapped[str | None] = mapped_column(String(2))
    export_recipient: Mapped[str | None] = mapped_column(String(300))
    third_party_transfer: Mapped[bool] = mapped_column(Boolean, default=False)
    third_party_details: Mapped[str | None] = mapped_column(Text)
    duration_months: Mapped[int] = mapped_column(Integer)
    needs_national_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reasons: Mapped[list] = mapped_column(JSON, default=list)
    completeness_round: Mapped[int] = mapped_column(Integer, default=0)
    decision_text: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    applicant: Mapped[Organization] = relationship(foreign_keys=[applicant_org_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    resources: Mapped[list[GeneticResource]] = relationship(
        secondary=application_resources, order_by=GeneticResource.id
    )
    tk_records: Mapped[list[TKRecord]] = relationship(
        secondary=application_tk, order_by=TKRecord.id
    )
    consents: Mapped[list[ConsentRequest]] = relationship(
        back_populates="application", order_by="ConsentRequest.id"
    )
    agreements: Mapped[list[Agreement]] = relationship(
        back_populates="application", order_by="Agreement.revision"
    )
    notes: Mapped[list[ReviewNote]] = relationship(order_by="ReviewNote.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def current_agreement(self) -> Agreement | None:
        live = [a for a in self.agreements if a.status is not AgreementStatus.VOID]
        return live[-1] if live else None

    @property
    def is_commercial(self) -> bool:
        return self.purpose is not Purpose.NON_COMMERCIAL


class ConsentRequest(Base):
    __tablename__ = "consent_requests"
    __table_args__ = (
        UniqueConstraint("application_id", "organization_id", "kind",
                         name="uq_consent_requests_party"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[ConsentKind] = mapped_column(str_enum(ConsentKind, "consent_kind"))
    status: Mapped[ConsentStatus] = mapped_column(
        str_enum(ConsentStatus, "consent_status"), default=ConsentStatus.PENDING
    )
    subjects: Mapped[list] = mapped_column(JSON, default=list)  # references consented to
    conditions: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="consents")
    organization: Mapped[Organization] = relationship()


class Agreement(Base):
    """One revision of the mutually agreed terms; the text is rendered again from these fields."""

    __tablename__ = "agreements"
    __table_args__ = (
        UniqueConstraint("application_id", "revision", name="uq_agreements_revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[str] = mapped_column(String(100))
    template_version: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict] = mapped_column(JSON)  # the template's filled-in values
    terms: Mapped[list] = mapped_column(JSON)
    text_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[AgreementStatus] = mapped_column(
        str_enum(AgreementStatus, "agreement_status"), default=AgreementStatus.PROPOSED
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="agreements")
    acceptances: Mapped[list[AgreementAcceptance]] = relationship(
        order_by="AgreementAcceptance.id"
    )


class AgreementAcceptance(Base):
    __tablename__ = "agreement_acceptances"
    __table_args__ = (
        UniqueConstraint("agreement_id", "organization_id", name="uq_agreement_acceptances_party"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text_sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship()
    user: Mapped[User] = relationship()


class ReviewNote(Base):
    """Expert opinions and recommendations that reviewers add before the decision."""

    __tablename__ = "review_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[NoteKind] = mapped_column(str_enum(NoteKind, "review_note_kind"))
    text: Mapped[str] = mapped_column(Text)
    recommendation: Mapped[Recommendation | None] = mapped_column(
        str_enum(Recommendation, "review_recommendation")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship()
