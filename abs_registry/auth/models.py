"""Organizations, their people, and the credentials they sign in with."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abs_registry.db import Base, UTCDateTime, str_enum, utcnow


class OrgKind(enum.StrEnum):
    ENTERPRISE = "enterprise"
    RESEARCH_INSTITUTE = "research_institute"
    COMMUNITY = "community"
    AUTHORITY = "authority"


class Role(enum.StrEnum):
    MEMBER = "member"  # of an enterprise or research institute: declares and applies
    STEWARD = "steward"  # of a community: declares its traditional knowledge
    OFFICIAL = "official"  # of a competent authority: reviews and decides
    ADMIN = "admin"  # runs the registry; no case work


class OfficialLevel(enum.StrEnum):
    PROVINCIAL = "provincial"
    NATIONAL = "national"


ROLE_FOR_ORG_KIND = {
    OrgKind.ENTERPRISE: Role.MEMBER,
    OrgKind.RESEARCH_INSTITUTE: Role.MEMBER,
    OrgKind.COMMUNITY: Role.STEWARD,
    OrgKind.AUTHORITY: Role.OFFICIAL,
}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrgKind] = mapped_column(str_enum(OrgKind, "org_kind"))
    region_code: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members: Mapped[list[User]] = relationship(back_populates="organization")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role = 'official') = (official_level IS NOT NULL)", name="official_has_level"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    official_level: Mapped[OfficialLevel | None] = mapped_column(
        str_enum(OfficialLevel, "official_level")
    )
    tk_clearance: Mapped[bool] = mapped_column(Boolean, default=False)
    # May look up restricted TK for prior art (a patent examiner) without being an official;
    # set only by the administrator's CLI. Officials may always look up prior art.
    prior_art_search: Mapped[bool] = mapped_column(Boolean, default=False)
    # Customs and other checkpoints: officials who confirm or stop movements of material
    # (movements/checkpoints.py). A flag, like tk_clearance, rather than a role of its own.
    checkpoint_officer: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())
    locale: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="members")

    @property
    def is_official(self) -> bool:
        """An official of the competent authority. A checkpoint officer (customs) is an
        official of a checkpoint authority and does checkpoint work only: no reviews."""
        return self.role is Role.OFFICIAL and not self.checkpoint_officer

    @property
    def is_national_official(self) -> bool:
        return self.is_official and self.official_level is OfficialLevel.NATIONAL


class ApiToken(Base):
    """A bearer token for API clients; only its SHA-256 is kept, so a leaked table grants nothing."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class AuthSession(Base):
    """A signed-in browser; kept server-side so that signing out really ends it."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """Failed sign-ins, counted per e-mail address (guessing one password) and per client
    address (trying one password on many accounts)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    client_ip: Mapped[str | None] = mapped_column(String(45), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
