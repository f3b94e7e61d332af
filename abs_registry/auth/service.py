"""Accounts: registering organizations and their people, signing in, sessions and API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session, joinedload

from abs_registry import regions
from abs_registry.audit import writer as audit
from abs_registry.auth.models import (
    ROLE_FOR_ORG_KIND,
    ApiToken,
    AuthSession,
    LoginAttempt,
    OfficialLevel,
    Organization,
    OrgKind,
    Role,
    User,
)
from abs_registry.auth.passwords import MAX_LENGTH, MIN_LENGTH, Passwords
from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationError,
)
from abs_registry.i18n_marker import N_

log = logging.getLogger(__name__)

TOKEN_PREFIX = "absr_"
LOGIN_WINDOW = timedelta(minutes=15)
# Every API call needs the token, its user and the user's organization: one query, built once.
TOKEN_LOOKUP = (
    select(ApiToken)
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .options(joinedload(ApiToken.user).joinedload(User.organization))
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def may_manage_members(actor: User | None) -> bool:
    return (actor is not None and actor.active and actor.organization_id is not None
            and actor.role in (Role.MEMBER, Role.STEWARD))


@dataclass
class AccountService:
    session: Session
    passwords: Passwords
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    login_attempts: int = 10
    client_attempts: int = 100

    # --- organizations and users -----------------------------------------------------------

    def _check_password(self, password: str, field: str = "password") -> None:
        if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
            raise ValidationError(
                {field: [N_("Use between %(min)s and %(max)s characters.")
                         % {"min": MIN_LENGTH, "max": MAX_LENGTH}]}
            )

    def create_organization(self, actor: User | None, name: str, kind: OrgKind,
                            region_code: str | None = None) -> Organization:
        name = " ".join(name.split())
        if region_code and not regions.is_valid(region_code):
            raise ValidationError({"region_code": [N_("Unknown administrative region code.")]})
        with unit_of_work(self.session):
            if self.session.scalar(select(Organization).where(
                    func.lower(Organization.name) == name.lower())):
                raise Conflict(N_("an organization with this name is already registered"),
                               field="organization_name")
            org = Organization(name=name, kind=kind, region_code=region_code)
            self.session.add(org)
            self.session.flush()
            audit.record(self.session, actor=actor, subject_type="organization",
                         subject_id=org.id, subject_ref=f"ORG-{org.id}", action="register",
                         data={"kind": kind.value})
        return org

    def create_user(self, actor: User | None, *, email: str, display_name: str, password: str,
                    organization: Organization | None, role: Role | None = None,
                    official_level: OfficialLevel | None = None,
                    tk_clearance: bool = False, locale: str | None = None,
                    prior_art_search: bool = False, checkpoint_officer: bool = False) -> User:
        """actor None is the administrator's CLI or the self-registration of a new organization."""
        email = normalize_email(email)
        if not 3 <= len(email) <= 254 or "@" not in email:
            raise ValidationError({"email": [N_("Give an e-mail address of at most 254 characters.")]})
        display_name = " ".join(display_name.split())
        if not 1 <= len(display_name) <= 120:
            raise ValidationError({"display_name": [N_("Give a name of 1 to 120 characters.")]})
        self._check_password(password)
        if role is None:
            if organization is None:
                raise ValidationError({"organization": [N_("a user needs an organization")]})
            role = ROLE_FOR_ORG_KIND[organization.kind]
        if role is Role.OFFICIAL and official_level is None:
            official_level = OfficialLevel.PROVINCIAL
        if role is not Role.OFFICIAL:
            official_level = None
            if checkpoint_officer:
                raise ValidationError({"checkpoint_officer": [
                    N_("only officials of a checkpoint authority may be checkpoint officers")]})
        if actor is not None and actor.role is not Role.ADMIN:
            self._require_may_add(actor, organization, role, tk_clearance or prior_art_search)
        # Hashing is slow on purpose: do it before the unit of work takes its write lock.
        password_hash = self.passwords.hash(password)
        with unit_of_work(self.session):
            if self.session.scalar(select(User.id).where(User.email == email)):
                raise Conflict(N_("this e-mail address already has an account"), field="email")
            user = User(email=email, display_name=display_name,
                        password_hash=password_hash, role=role,
                        organization=organization, official_level=official_level,
                        tk_clearance=tk_clearance, prior_art_search=prior_art_search,
                        locale=locale, active=True, checkpoint_officer=checkpoint_officer)
            self.session.add(user)
            self.session.flush()
            audit.record(self.session, actor=actor or user, subject_type="user",
                         subject_id=user.id, subject_ref=f"USER-{user.id}", action="create",
                         data={"role": role.value, "organization_id": user.organization_id,
                               **({"checkpoint_officer": True} if checkpoint_officer else {})})
        return user

    def _require_may_add(self, actor: User, organization: Organization | None, role: Role,
                         privileged: bool) -> None:
        """A colleague may only be what the organization's kind makes its people.

        Officials and administrators come from the administrator's CLI, so that nobody can
        make themselves, or a friend, a reviewer.
        """
        if organization is None or actor.organization_id != organization.id:
            raise PermissionDenied(N_("you may only add people to your own organization"))
        if not may_manage_members(actor):
            raise PermissionDenied(
                N_("only members and stewards of an organization may add colleagues; officials "
                   "are set up by an administrator"), rule="role")
        if role is not ROLE_FOR_ORG_KIND[organization.kind] or privileged:
            raise PermissionDenied(N_("only an administrator may grant this role"), rule="role")

    def members(self, actor: User | None) -> list[User]:
        """The people of the caller's own organization."""
        if actor is None or actor.organization_id is None:
            raise NotFound("organization")
        return list(self.session.scalars(
            select(User).where(User.organization_id == actor.organization_id)
            .order_by(func.lower(User.display_name), User.id)
        ))

    def add_member(self, actor: User, *, email: str, display_name: str,
                   password: str) -> User:
        """A member or steward adds a colleague to their own organization, with its role."""
        if actor.organization is None:
            raise NotFound("organization")
        return self.create_user(actor, email=email, display_name=display_name,
                                password=password, organization=actor.organization)

    def register_organization(self, *, organization_name: str, kind: OrgKind,
                              region_code: str | None, display_name: str, email: str,
                              password: str, locale: str | None = None) -> User:
        """Self-service sign-up of an enterprise, research institute or community."""
        if kind is OrgKind.AUTHORITY:
            raise ValidationError(
                {"kind": [N_("Competent authorities are set up by an administrator.")]})
        self._check_password(password)
        with unit_of_work(self.session):
            org = self.create_organization(None, organization_name, kind, region_code)
            return self.create_user(None, email=email, display_name=display_name,
                                    password=password, organization=org, locale=locale)

    def set_locale(self, user: User, locale: str) -> None:
        with unit_of_work(self.session):
            user.locale = locale

    # --- signing in -------------------------------------------------------------------------

    def authenticate(self, email: str, password: str, client_ip: str | None = None) -> User:
        """Check a password, refusing once an address or a client has failed too often.

        The limit per client slows down trying one common password on many accounts. It
        needs the client's own address: behind a reverse proxy, configure the app so that
        ``remote_addr`` is the client's, or every user shares the proxy's budget.
        """
        email = normalize_email(email)[:254]
        client_ip = (client_ip or None) and client_ip[:45]
        try:
            self._refuse_if_throttled(email, client_ip)
        except TooManyRequests:
            log.warning("sign-in refused, too many failures: email=%s ip=%s", email, client_ip)
            raise
        user = self.session.scalar(select(User).where(User.email == email))
        ok = self.passwords.verify(user.password_hash if user else None, password)
        if not ok or not user.active:
            log.warning("sign-in failed: email=%s ip=%s", email, client_ip)
            now = utcnow()
            with unit_of_work(self.session):
                self.session.execute(
                    delete(LoginAttempt).where(LoginAttempt.at < now - LOGIN_WINDOW))
                self.session.add(LoginAttempt(email=email, client_ip=client_ip, at=now))
            raise NotAuthenticated(N_("e-mail address or password is wrong"))
        with unit_of_work(self.session):
            self.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
            if self.passwords.needs_rehash(user.password_hash):
                user.password_hash = self.passwords.hash(password)
        log.info("sign-in: user=%s ip=%s", user.id, client_ip)
        return user

    def _refuse_if_throttled(self, email: str, client_ip: str | None) -> None:
        since = utcnow() - LOGIN_WINDOW
        recent = select(func.count()).where(LoginAttempt.at >= since)
        if self.session.scalar(recent.where(LoginAttempt.email == email)) >= self.login_attempts:
            raise TooManyRequests(N_("too many failed sign-ins; try again in 15 minutes"),
                                  field="email")
        if client_ip is not None and self.session.scalar(
                recent.where(LoginAttempt.client_ip == client_ip)) >= self.client_attempts:
            raise TooManyRequests(N_("too many failed sign-ins from your network; try again "
                                     "in 15 minutes"), field="email")

    def start_session(self, user: User) -> str:
        """A fresh random session id at every sign-in; only its digest is stored."""
        token = secrets.token_urlsafe(32)
        with unit_of_work(self.session):
            self.session.add(AuthSession(token_hash=digest(token), user_id=user.id))
        return token

    def resume_session(self, token: str) -> User | None:
        row = self.session.scalar(
            select(AuthSession).where(AuthSession.token_hash == digest(token))
        )
        now = utcnow()
        if row is None or row.ended_at is not None:
            return None
        if now - row.last_seen_at > self.idle or now - row.created_at > self.absolute:
            self.end_session(token)
            return None
        if not row.user.active:
            return None
        if now - row.last_seen_at > timedelta(minutes=1):
            with unit_of_work(self.session):
                row.last_seen_at = now
        return row.user

    def change_password(self, user: User, current: str, new: str,
                        keep_session: str | None = None) -> None:
        """A new password ends every other session, so a stolen cookie stops working too."""
        if not self.passwords.verify(user.password_hash, current):
            raise ValidationError({"current_password": [N_("The current password is wrong.")]})
        self._check_password(new, "new_password")
        with unit_of_work(self.session):
            user.password_hash = self.passwords.hash(new)
            others = update(AuthSession).where(AuthSession.user_id == user.id,
                                               AuthSession.ended_at.is_(None))
            if keep_session is not None:
                others = others.where(AuthSession.token_hash != digest(keep_session))
            self.session.execute(others.values(ended_at=utcnow()))
            audit.record(self.session, actor=user, subject_type="user", subject_id=user.id,
                         subject_ref=f"USER-{user.id}", action="change_password")

    def end_session(self, token: str) -> None:
        with unit_of_work(self.session):
            row = self.session.scalar(
                select(AuthSession).where(AuthSession.token_hash == digest(token))
            )
            if row is not None and row.ended_at is None:
                row.ended_at = utcnow()

    # --- API tokens -------------------------------------------------------------------------

    def issue_token(self, user: User, name: str) -> tuple[ApiToken, str]:
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationError({"name": [N_("Give the token a name of 1 to 100 characters.")]})
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with unit_of_work(self.session):
            token = ApiToken(user_id=user.id, name=name, prefix=secret[:12],
                             token_hash=digest(secret))
            self.session.add(token)
            self.session.flush()
            audit.record(self.session, actor=user, subject_type="api_token",
                         subject_id=token.id, subject_ref=token.prefix, action="issue",
                         data={"name": name})
        return token, secret

    def tokens(self, user: User) -> list[ApiToken]:
        return list(self.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ))

    def revoke_token(self, user: User, token_id: int) -> ApiToken:
        with unit_of_work(self.session):
            token = self.session.get(ApiToken, token_id)
            if token is None or token.user_id != user.id:
                raise NotFound("token")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                audit.record(self.session, actor=user, subject_type="api_token",
                             subject_id=token.id, subject_ref=token.prefix, action="revoke")
        return token

    def user_for_token(self, secret: str) -> User | None:
        token = self.session.scalar(TOKEN_LOOKUP, {"token_hash": digest(secret)})
        if token is None or token.revoked_at is not None or not token.user.active:
            return None
        now = utcnow()
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
            with unit_of_work(self.session):
                token.last_used_at = now
        return token.user
