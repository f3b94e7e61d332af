"""Issuing, amending, suspending, reinstating and revoking permits.

Every step signs what it decides, stores it, and appends it to the transparency log in one
unit of work: a permit exists signed and logged, or not at all. Permit numbers come from a
counter row in the same transaction (gapless per year, unique under concurrent issuance).
Nothing here knows about HTTP.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.applications.models import Application, AppStatus
from abs_registry.applications.service import require_consent_and_agreement
from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import Conflict, InvalidTransition, NotFound, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.notifications import outbox
from abs_registry.obligations.service import ObligationService
from abs_registry.permits import payload, signing
from abs_registry.permits.keys import KeyRing, jwks
from abs_registry.permits.models import (
    Permit,
    PermitStatement,
    PermitStatus,
    PermittedExit,
    StatementKind,
)
from abs_registry.references import next_reference
from abs_registry.translog import service as translog

SUBJECT = "permit"


@dataclass
class PermitCheck:
    """What /verify, the API and checkpoints are told about a permit or a statement."""

    signature: signing.Verification
    permit: Permit | None = None  # the version the token or number names
    status: PermitStatus | None = None  # that version's status today
    current: Permit | None = None  # the version in force now (an amendment may replace it)
    problem: str | None = None  # why a correctly signed token is still not a valid permit

    @property
    def valid(self) -> bool:
        return self.signature.valid and self.problem is None and \
            self.status is PermitStatus.VALID
# What each status statement does, from which stored status.
STATEMENTS = {
    StatementKind.SUSPENDED: ({PermitStatus.VALID}, PermitStatus.SUSPENDED),
    StatementKind.REINSTATED: ({PermitStatus.SUSPENDED}, PermitStatus.VALID),
    StatementKind.REVOKED: ({PermitStatus.VALID, PermitStatus.SUSPENDED}, PermitStatus.REVOKED),
}


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month,
                       day=min(day.day, calendar.monthrange(year, month)[1]))


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def log_entry(kind: str, number: str, version: int, payload_sha256: str, jws: str) -> bytes:
    """What the public log holds of each signed step: hashes, never the content, so that an
    outside monitor can match every permit it meets to an entry (TRUST.md)."""
    return signing.canonical({"kind": kind, "number": number, "version": str(version),
                              "payload_sha256": payload_sha256, "jws_sha256": sha256_hex(jws)})


@dataclass
class PermitService:
    session: Session
    keys: KeyRing
    public_url: str = "http://127.0.0.1:5000"
    authority: str = "Competent national authority"
    country: str = "CN"

    # --- reading (public: a permit carries nothing confidential) --------------------------

    def versions(self, number: str) -> list[Permit]:
        return list(self.session.scalars(
            select(Permit).where(Permit.number == number).order_by(Permit.version)))

    def get(self, number: str, version: int | None = None) -> Permit:
        """The given version, or the newest one."""
        query = select(Permit).where(Permit.number == number)
        query = query.where(Permit.version == version) if version else \
            query.order_by(Permit.version.desc()).limit(1)
        permit = self.session.scalar(query)
        if permit is None:
            raise NotFound("permit")
        return permit

    def for_application(self, app: Application) -> Permit | None:
        return self.session.scalar(select(Permit).where(Permit.application_id == app.id)
                                   .order_by(Permit.version.desc()).limit(1))

    def timeline(self, number: str) -> list[dict]:
        """Every signed step of a permit, oldest first: versions and status statements."""
        steps = []
        for permit in self.versions(number):
            steps.append({"at": permit.issued_at, "what": "issued" if permit.version == 1
                          else "amended", "version": permit.version,
                          "reason": permit.reason, "jws": permit.jws, "kid": permit.kid,
                          "log_index": permit.log_index})
            steps.extend({"at": s.made_at, "what": s.kind.value, "version": permit.version,
                          "reason": s.reason, "jws": s.jws, "kid": s.kid,
                          "log_index": s.log_index} for s in permit.statements)
        return sorted(steps, key=lambda step: step["at"])

    def public_keys(self) -> signing.PublicKeys:
        return signing.PublicKeys(jwks(self.session))

    def check_token(self, token: str) -> PermitCheck:
        """Verify a pasted JWS, then say what the registry knows of the permit it names."""
        result = signing.verify(token, self.public_keys())
        if not result.valid:
            return PermitCheck(result)
        document = result.payload
        try:
            permit = self.get(str(document.get("number")), int(document.get("version")))
        except (NotFound, TypeError, ValueError):
            return PermitCheck(result, problem=N_("signed with our key, but no such permit is "
                                                  "in the register"))
        if document.get("type") == payload.PERMIT and permit.jws != token.strip():
            return PermitCheck(result, permit, problem=N_("signed with our key, but not the "
                                                          "permit the register holds"))
        return self._status(result, permit)

    def check_number(self, number: str, version: int | None = None) -> PermitCheck:
        """Look a permit up by number and verify the signature the register holds for it."""
        permit = self.get(number, version)
        return self._status(signing.verify(permit.jws, self.public_keys()), permit)

    def _status(self, result: signing.Verification, permit: Permit) -> PermitCheck:
        current = self.get(permit.number)
        check = PermitCheck(result, permit, permit.status_on(utcnow().date()), current)
        if not result.valid:
            check.problem = result.reason
        return check

    @property
    def issuer(self) -> dict:
        return {"authority": self.authority, "country": self.country,
                "jwks": f"{self.public_url}/.well-known/jwks.json"}

    # --- issuing --------------------------------------------------------------------------

    def issue(self, actor: User | None, application_reference: str, data: dict) -> Permit:
        with unit_of_work(self.session):
            app = self.session.scalar(
                select(Application).where(Application.reference == application_reference)
                .with_for_update().execution_options(populate_existing=True))
            perm.require_view_application(actor, app)
            if refusal := perm.application_move_refusal(actor, app, "decider"):
                raise refusal
            if app.status is not AppStatus.APPROVED:
                raise InvalidTransition("issue permit", app.status.value, [])
            if existing := self.for_application(app):
                raise Conflict(N_("a permit was already issued for this application: "
                                  "%(number)s") % {"number": existing.number},
                               field="application", permit=existing.number)
            require_consent_and_agreement(app)
            today = utcnow().date()
            expires_on = self._expiry(app, today, data.get("expires_on"))
            asked = (app.third_party_details or "") if app.third_party_transfer else None
            third_party = data.get("third_party_transfer", asked)
            permit = self._sign_version(
                actor, app, number=next_reference(self.session, self.country, "ABS",
                                                  today.year),
                version=1, valid_from=today, expires_on=expires_on,
                conditions=data.get("conditions"), third_party=third_party,
                exit_rows=self._exit_rows(app, data.get("exits") or []))
            ObligationService(self.session).create_for_permit(permit)
            self._log(permit, "permit_issued")
            self._record(actor, permit, "permit_issued", to_state=PermitStatus.VALID.value)
            self._tell(app, permit, "permit_issued")
        return permit

    def amend(self, actor: User | None, number: str, data: dict, reason: str) -> Permit:
        """A new signed version that references and supersedes the one in force."""
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError({"reason": [N_("say why the permit is amended")]})
        with unit_of_work(self.session):
            old = self._lock_current(number)
            app = old.application
            if refusal := perm.application_move_refusal(actor, app, "decider"):
                raise refusal
            if old.status not in (PermitStatus.VALID, PermitStatus.SUSPENDED):
                raise InvalidTransition("amend", old.status.value, [])
            exits = data["exits"] if "exits" in data else [
                {"resource": e.resource.reference, "quantity": e.quantity, "unit": e.unit.value,
                 "destination_country": e.destination_country, "recipient": e.recipient}
                for e in old.exits]
            permit = self._sign_version(
                actor, app, number=old.number, version=old.version + 1,
                valid_from=old.valid_from,
                expires_on=self._expiry(app, old.valid_from, data.get("expires_on"))
                if "expires_on" in data else old.expires_on,
                conditions=data.get("conditions", old.conditions),
                third_party=data.get("third_party_transfer", old.third_party_transfer),
                exit_rows=self._exit_rows(app, exits), supersedes=old, reason=reason)
            old.status = PermitStatus.SUPERSEDED
            self._log(permit, "permit_amended")
            self._record(actor, permit, "permit_amended", comment=reason,
                         data={"supersedes_version": old.version})
            self._tell(app, permit, "permit_amended")
        return permit

    def change_status(self, actor: User | None, number: str, kind: StatementKind,
                      reason: str) -> PermitStatement:
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError({"reason": [N_("a reason is required")]})
        with unit_of_work(self.session):
            permit = self._lock_current(number)
            if refusal := perm.application_move_refusal(actor, permit.application, "decider"):
                raise refusal
            allowed_from, to_status = STATEMENTS[kind]
            if permit.status not in allowed_from:
                raise InvalidTransition(kind.value, permit.status.value,
                                        [k.value for k, (f, _) in STATEMENTS.items()
                                         if permit.status in f])
            now = utcnow()
            document = payload.status_document(
                number=permit.number, version=permit.version,
                permit_sha256=permit.payload_sha256, status=to_status.value, reason=reason,
                issuer=self.issuer, issued_at=now)
            kid, key = self.keys.active(self.session)
            statement = PermitStatement(permit=permit, kind=kind, reason=reason,
                                        made_by_id=actor.id, made_at=now, payload=document,
                                        jws=signing.sign(document, kid, key), kid=kid)
            self.session.add(statement)
            before = permit.status
            permit.status = to_status
            self.session.flush()
            statement.log_index = translog.append(
                self.session, f"permit_{kind.value}", permit.number,
                log_entry(f"permit_{kind.value}", permit.number, permit.version,
                          sha256_hex(signing.canonical(document)), statement.jws)).leaf_index
            self._record(actor, permit, f"permit_{kind.value}", from_state=before.value,
                         to_state=to_status.value, comment=reason)
            self._tell(permit.application, permit, f"permit_{kind.value}")
        return statement

    def suspend(self, actor, number, reason) -> PermitStatement:
        return self.change_status(actor, number, StatementKind.SUSPENDED, reason)

    def reinstate(self, actor, number, reason) -> PermitStatement:
        return self.change_status(actor, number, StatementKind.REINSTATED, reason)

    def revoke(self, actor, number, reason) -> PermitStatement:
        return self.change_status(actor, number, StatementKind.REVOKED, reason)

    # --- helpers --------------------------------------------------------------------------

    def _lock_current(self, number: str) -> Permit:
        permit = self.session.scalar(
            select(Permit).where(Permit.number == number)
            .order_by(Permit.version.desc()).limit(1)
            .with_for_update().execution_options(populate_existing=True))
        if permit is None:
            raise NotFound("permit")
        return permit

    def _expiry(self, app: Application, start: date, wanted: date | None) -> date:
        longest = add_months(start, app.duration_months)
        if wanted is None:
            return longest
        if wanted <= utcnow().date():
            raise ValidationError({"expires_on": [N_("the expiry date must be in the future")]})
        if wanted > longest:
            raise ValidationError({"expires_on": [
                N_("the application asked for %(months)s months: the permit cannot run past "
                   "%(date)s") % {"months": app.duration_months, "date": longest.isoformat()}]})
        return wanted

    def _exit_rows(self, app: Application, exits: list[dict]) -> list[dict]:
        """Exits the application asked for: its resources, to its destination and recipient."""
        if exits and not app.exports_material:
            raise ValidationError({"exits": [N_("the application does not take material out "
                                                "of the country")]})
        by_ref = {r.reference: r for r in app.resources}
        rows = []
        for i, wanted in enumerate(exits):
            resource = by_ref.get(wanted["resource"])
            if resource is None:
                raise ValidationError({f"exits.{i}.resource": [
                    N_("%(ref)s is not a resource of this application")
                    % {"ref": wanted["resource"]}]})
            if wanted["destination_country"] != app.export_country:
                raise ValidationError({f"exits.{i}.destination_country": [
                    N_("the application asked to send material to %(country)s only")
                    % {"country": app.export_country}]})
            rows.append({**wanted, "resource": resource})
        return rows

    def _sign_version(self, actor: User, app: Application, *, number: str, version: int,
                      valid_from: date, expires_on: date, conditions: str | None,
                      third_party: str | None, exit_rows: list[dict],
                      supersedes: Permit | None = None, reason: str | None = None) -> Permit:
        now = utcnow()
        document = payload.permit_document(
            number=number, version=version, app=app, issuer=self.issuer, issued_at=now,
            valid_from=valid_from, expires_on=expires_on, conditions=conditions,
            third_party_transfer=third_party, exit_rows=exit_rows,
            supersedes={"version": str(supersedes.version),
                        "payload_sha256": supersedes.payload_sha256} if supersedes else None,
            reason=reason)
        kid, key = self.keys.active(self.session)
        permit = Permit(
            number=number, version=version, application=app,
            holder_org_id=app.applicant_org_id, issued_by_id=actor.id, purpose=app.purpose,
            conditions=conditions, third_party_transfer=third_party, valid_from=valid_from,
            expires_on=expires_on, issued_at=now, status=PermitStatus.VALID,
            supersedes=supersedes, reason=reason, payload=document,
            payload_sha256=sha256_hex(signing.canonical(document)),
            jws=signing.sign(document, kid, key), kid=kid, resources=list(app.resources),
        )
        permit.exits = [
            PermittedExit(position=i, resource=row["resource"], quantity=row["quantity"],
                          unit=row["unit"], destination_country=row["destination_country"],
                          recipient=row["recipient"])
            for i, row in enumerate(exit_rows)
        ]
        self.session.add(permit)
        self.session.flush()
        return permit

    def _log(self, permit: Permit, kind: str) -> None:
        permit.log_index = translog.append(
            self.session, kind, permit.number,
            log_entry(kind, permit.number, permit.version, permit.payload_sha256,
                      permit.jws)).leaf_index

    def _record(self, actor, permit: Permit, action: str, from_state=None, to_state=None,
                comment=None, data=None) -> None:
        audit.record(self.session, actor=actor, subject_type=SUBJECT, subject_id=permit.id,
                     subject_ref=permit.number, action=action, from_state=from_state,
                     to_state=to_state, comment=comment,
                     data={"version": permit.version, **(data or {})})

    def _tell(self, app: Application, permit: Permit, kind: str) -> None:
        link = f"/permits/{permit.number}"
        orgs = [app.applicant_org_id, *(c.organization_id for c in app.consents)]
        for org_id in dict.fromkeys(orgs):
            outbox.notify(self.session, outbox.members(self.session, org_id), kind, link,
                          reference=permit.number)
