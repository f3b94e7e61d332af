"""What a community keeps around its TK records: translations, labels, attachments, grants,
and the log of every read of a protected body.

Only string foreign keys point at tk_records here, so declarations/models.py can import this
module to resolve TKRecord's relationships without an import cycle.
"""

from __future__ import annotations

from datetime import date, datetime

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

from abs_registry.auth.models import Organization, User
from abs_registry.db import Base, UTCDateTime, utcnow


class TKTranslation(Base):
    """The record in another language: its title belongs to the summary, its text to the body."""

    __tablename__ = "tk_translations"
    __table_args__ = (UniqueConstraint("tk_id", "language", name="uq_tk_translations_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tk_id: Mapped[int] = mapped_column(ForeignKey("tk_records.id", ondelete="CASCADE"),
                                       index=True)
    language: Mapped[str] = mapped_column(String(35))  # BCP 47: zh, en, ii, bo, ug ...
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)


class TKLabel(Base):
    """A label (tk/labels.py) the community applied, with its own wording per language."""

    __tablename__ = "tk_labels"
    __table_args__ = (UniqueConstraint("tk_id", "code", name="uq_tk_labels_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tk_id: Mapped[int] = mapped_column(ForeignKey("tk_records.id", ondelete="CASCADE"),
                                       index=True)
    code: Mapped[str] = mapped_column(String(40))
    texts: Mapped[dict] = mapped_column(JSON, default=dict)  # language -> adapted text


class TKAttachment(Base):
    """An image, a recording or a document of the body, stored under its SHA-256."""

    __tablename__ = "tk_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    tk_id: Mapped[int] = mapped_column(ForeignKey("tk_records.id", ondelete="CASCADE"),
                                       index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def describe(self) -> dict:
        return {"id": self.id, "filename": self.filename, "sha256": self.sha256,
                "size": self.size}


class TKAccessGrant(Base):
    """The community lets a named person or organization read the body until ``ends_on``.

    A grant is never deleted: withdrawing it stamps ``withdrawn_at``; an expired one simply
    stops covering anyone (``covers``), with nothing to run at midnight.
    """

    __tablename__ = "tk_access_grants"
    __table_args__ = (
        CheckConstraint("(grantee_user_id IS NULL) <> (grantee_org_id IS NULL)",
                        name="one_grantee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tk_id: Mapped[int] = mapped_column(ForeignKey("tk_records.id", ondelete="RESTRICT"),
                                       index=True)
    grantee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"))
    grantee_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"))
    ends_on: Mapped[date] = mapped_column(Date)  # the last day the grant works
    note: Mapped[str | None] = mapped_column(Text)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"))

    grantee_user: Mapped[User | None] = relationship(foreign_keys=[grantee_user_id])
    grantee_org: Mapped[Organization | None] = relationship(foreign_keys=[grantee_org_id])
    granted_by: Mapped[User] = relationship(foreign_keys=[granted_by_id])

    def is_active(self, today: date) -> bool:
        return self.withdrawn_at is None and today <= self.ends_on

    def covers(self, user: User | None, today: date) -> bool:
        if user is None or not user.active or not self.is_active(today):
            return False
        if self.grantee_user_id is not None:
            return self.grantee_user_id == user.id
        return user.organization_id is not None and self.grantee_org_id == user.organization_id

    @property
    def grantee_name(self) -> str:
        if self.grantee_user is not None:
            return f"{self.grantee_user.display_name} <{self.grantee_user.email}>"
        return self.grantee_org.name


class TKAccessEvent(Base):
    """One read of a protected body (view, download) or one prior-art match, for the community.

    Not hash-chained like the audit history: it is the community's record of reads, written
    on every read, and it names the reader, which the public history never does.
    """

    __tablename__ = "tk_access_log"
    __table_args__ = (Index("ix_tk_access_log_record", "tk_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tk_id: Mapped[int] = mapped_column(ForeignKey("tk_records.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(20))  # view, download, prior_art
    basis: Mapped[str] = mapped_column(String(20))  # community, clearance, grant, search
    via: Mapped[str] = mapped_column(String(10))  # page, api
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("tk_attachments.id", ondelete="RESTRICT"))
    detail: Mapped[str | None] = mapped_column(String(200))  # the prior-art query

    user: Mapped[User] = relationship()
    attachment: Mapped[TKAttachment | None] = relationship()
