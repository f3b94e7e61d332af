"""Documents attached to a case: consent documents, missing papers, expert opinions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.auth.models import User
from abs_registry.db import Base, UTCDateTime, utcnow


class Attachment(Base):
    """The file lives in the instance folder under its SHA-256; the name shown is the uploader's.

    It belongs to an application (a consent document, a missing paper) or to a benefit-sharing
    obligation (proof of a payment, evidence of a non-monetary benefit), whose rules decide who
    may read it.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint("application_id IS NOT NULL OR obligation_id IS NOT NULL",
                        name="has_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), index=True
    )
    obligation_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligations.id", ondelete="RESTRICT"), index=True
    )
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    uploaded_by: Mapped[User] = relationship()

    def describe(self) -> dict:
        return {"id": self.id, "filename": self.filename, "sha256": self.sha256,
                "size": self.size}
