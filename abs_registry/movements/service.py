"""Movements of material across the border under a permit: the exit check (DOMAIN rule 5).

An exit is recorded only if the permit in force covers that material, to that destination
and that recipient, and if what has left under that allowance, this exit included, stays
within the quantity the permit allows. What has left is summed in the base unit of the
allowance's dimension (movements/units.py), exactly.

- **Recipients** match when they are the same text once case and runs of spaces are ignored
  ("Kew  Gardens" is "kew gardens"); nothing looser, since a recipient is a named party to
  the agreement.
- **Stopped exits** did not leave: they count for nothing. Recorded and confirmed ones count.
- **Returns** (entries) are recorded against the permit but free nothing: the permit limits
  what leaves the country, and material that came back may not leave again on the same
  allowance. A return is accepted whatever the permit's status, since refusing it would
  keep material abroad.
- **Amendments** restate a permit's allowances; what left under an earlier version counts
  against the same material, destination and recipient in the version in force.

Two exits recorded at the same moment must not together pass the limit: each locks its
allowance's row (SELECT ... FOR UPDATE) before summing, so the second sums after the first
commits. On SQLite the unit of work's write lock already serializes them. The permit's row
is held FOR SHARE meanwhile, so a suspension or amendment waits for the exit, or the exit
reads the new status.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.declarations.models import GeneticResource, QuantityUnit
from abs_registry.errors import Conflict, NotFound, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.movements import units
from abs_registry.movements.models import Direction, Movement, MovementStatus
from abs_registry.permits.models import Permit, PermitStatus, PermittedExit
from abs_registry.references import next_reference

SUBJECT = "movement"
PERMIT_NUMBER = re.compile(r"\b[A-Z]{2}-ABS-\d{4}-\d{6}\b")
COUNTED = (MovementStatus.RECORDED, MovementStatus.CONFIRMED)


def today_utc() -> date:
    return utcnow().date()


def recipient_key(name: str) -> str:
    """How recipients are compared: case and runs of spaces ignored, nothing else."""
    return " ".join(name.split()).casefold()


def current_permit(session: Session, number: str, *, lock: bool = False) -> Permit | None:
    """The version in force of permit ``number`` (the newest one).

    With ``lock``, the row is held FOR SHARE: an amendment or a change of status (which lock
    it FOR UPDATE) waits for this transaction. If one committed while we waited, the row we
    got is now superseded, and the next read finds the new version.
    """
    query = (select(Permit).where(Permit.number == number)
             .order_by(Permit.version.desc()).limit(1))
    if not lock:
        return session.scalar(query)
    for _ in range(3):
        permit = session.scalar(query.with_for_update(read=True)
                                .execution_options(populate_existing=True))
        if permit is None or permit.status is not PermitStatus.SUPERSEDED:
            return permit
    raise Conflict(N_("the permit is being amended; try again"), field="permit")


def require_in_force(permit: Permit, today: date, *, field: str = "permit") -> None:
    """Refuse a permit that is expired, suspended, revoked or superseded, naming which."""
    status = permit.status_on(today)
    if status is not PermitStatus.VALID:
        raise Conflict(N_("permit %(number)s is %(status)s: no material may leave under it")
                       % {"number": permit.number, "status": status.value}, field=field,
                       state=status.value)


def permit_number_in(text: str) -> str | None:
    """The permit number in what a checkpoint typed or scanned.

    Accepts the number itself, the verification URL in the permit's QR code (the number in
    its path or query), or a signed permit (compact JWS) pasted whole or as a URL parameter:
    its payload names the number. Nothing read here is trusted: it only says which permit to
    show, and what is shown comes from the register.
    """
    text = text.strip()
    found = PERMIT_NUMBER.search(text)
    if found:
        return found.group(0)
    candidates = [text]
    parts = urlsplit(text)
    candidates += [value for _, value in parse_qsl(parts.query)] + parts.path.split("/")
    candidates.append(parts.fragment)
    for candidate in candidates:
        number = _number_in_jws(candidate)
        if number:
            return number
    return None


def _number_in_jws(token: str) -> str | None:
    pieces = token.strip().split(".")
    if len(pieces) != 3:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(pieces[1] + "=" * (-len(pieces[1]) % 4)))
    except (ValueError, TypeError):
        return None
    number = body.get("number") if isinstance(body, dict) else None
    return number if isinstance(number, str) and PERMIT_NUMBER.fullmatch(number) else None


@dataclass
class Allowance:
    """One permitted exit and how much of it has been used, in the exit's own unit."""

    permitted_exit: PermittedExit
    left: Decimal

    @property
    def allowed(self) -> Decimal:
        return self.permitted_exit.quantity

    @property
    def remaining(self) -> Decimal:
        return units.normalized(self.allowed - self.left)


@dataclass
class PermitMovements:
    """What a holder, an official or a checkpoint sees of a permit's movements."""

    permit: Permit
    status: str
    allowances: list[Allowance] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)


@dataclass
class MovementService:
    session: Session
    country: str = "CN"
    today: Callable[[], date] = today_utc

    # --- reading --------------------------------------------------------------------------

    def movements(self, actor: User | None, number: str) -> PermitMovements:
        permit = perm.require_view_movements(actor, current_permit(self.session, number))
        return self.summary(permit)

    def get(self, actor: User | None, reference: str) -> Movement:
        movement = self.session.scalar(
            select(Movement).where(Movement.reference == reference)
            .options(joinedload(Movement.permit), joinedload(Movement.resource)))
        if movement is None:
            raise NotFound("movement")
        perm.require_view_movements(actor, movement.permit)
        return movement

    def lookup(self, actor: User | None, text: str) -> PermitMovements:
        """A checkpoint's look-up by permit number or by the QR code's URL."""
        perm.require_checkpoint_lookup(actor)
        number = permit_number_in(text or "")
        if number is None:
            raise ValidationError({"q": [N_("Give a permit number such as CN-ABS-2026-000001, "
                                            "or the URL in the permit's QR code.")]})
        permit = current_permit(self.session, number)
        if permit is None:
            raise NotFound("permit")
        return self.summary(permit)

    def summary(self, permit: Permit) -> PermitMovements:
        found = PermitMovements(permit, permit.status_on(self.today()).value)
        found.allowances = [Allowance(pe, self._left(permit, pe)) for pe in permit.exits]
        found.movements = list(self.session.scalars(
            select(Movement).where(Movement.permit_number == permit.number)
            .options(joinedload(Movement.permit), joinedload(Movement.resource),
                     selectinload(Movement.communique))
            .order_by(Movement.id.desc())))
        return found

    # --- recording ------------------------------------------------------------------------

    def record(self, actor: User | None, data: dict) -> Movement:
        """Record an exit or a return (entry); an exit the permit does not cover is refused
        with the field that is wrong, and nothing is stored."""
        perm.require_can_record_movements(actor)
        with unit_of_work(self.session):
            permit = self._holders_permit(actor, data["permit"])
            direction = data["direction"]
            if direction is Direction.EXIT:
                require_in_force(permit, self.today())
            resource = self._material(permit, data["material"])
            if direction is Direction.EXIT:
                allowance, base = self._check_exit(permit, resource, data)
            else:
                allowance, base = None, self._check_entry(data)
            now = utcnow()
            movement = Movement(
                reference=next_reference(self.session, self.country, "MOV", now.year),
                permit=permit, permit_number=permit.number, permitted_exit=allowance,
                direction=direction, resource=resource, quantity=data["quantity"],
                unit=data["unit"], base_quantity=base,
                origin_country=data["origin_country"],
                destination_country=data["destination_country"],
                recipient=" ".join(data["recipient"].split()), carrier=data["carrier"].strip(),
                port=data["port"].strip(), planned_date=data["planned_date"],
                customs_declaration=data.get("customs_declaration"),
                status=MovementStatus.RECORDED, recorded_by_id=actor.id, recorded_at=now,
                updated_at=now)
            self.session.add(movement)
            self.session.flush()
            audit.record(self.session, actor=actor, subject_type=SUBJECT, subject_id=movement.id,
                         subject_ref=movement.reference, action=f"record_{direction.value}",
                         to_state=MovementStatus.RECORDED.value,
                         data={"permit": permit.label, "material": resource.reference,
                               "quantity": str(movement.quantity), "unit": movement.unit.value,
                               "destination_country": movement.destination_country})
        return movement

    def _holders_permit(self, actor: User, number: str) -> Permit:
        """The permit in force, if the actor's organization holds it; another holder's permit
        is answered as unknown, so the check reveals nothing about it."""
        permit = current_permit(self.session, number.strip(), lock=True)
        if permit is None or not perm.is_permit_holder(actor, permit):
            raise ValidationError({"permit": [
                N_("No permit of your organization has the number %(number)s.")
                % {"number": number.strip()}]})
        return permit

    def _material(self, permit: Permit, reference: str) -> GeneticResource:
        resource = next((r for r in permit.resources if r.reference == reference), None)
        if resource is None:
            raise ValidationError({"material": [
                N_("%(material)s is not covered by permit %(number)s.")
                % {"material": reference, "number": permit.number}]})
        return resource

    def _check_exit(self, permit: Permit, resource: GeneticResource,
                    data: dict) -> tuple[PermittedExit, Decimal]:
        if data["origin_country"] != self.country:
            raise ValidationError({"origin_country": [
                N_("An exit leaves %(country)s: the origin must be %(country)s.")
                % {"country": self.country}]})
        allowance = self._allowance(permit, resource, data)
        unit, limit_unit = data["unit"], allowance.unit
        units.require_convertible(unit, limit_unit)
        # Queue behind any other exit drawing on this allowance: it sums after they commit.
        self.session.execute(select(PermittedExit.id).where(PermittedExit.id == allowance.id)
                             .with_for_update())
        base = units.to_base(data["quantity"], unit)
        left = self._left_base(permit, allowance)
        limit = units.to_base(allowance.quantity, limit_unit)
        if left + base > limit:
            remaining = units.convert(limit - left, units.BASE_UNIT[units.dimension(unit)],
                                      limit_unit)
            raise Conflict(
                N_("Only %(remaining)s %(unit)s of %(material)s may still leave for "
                   "%(recipient)s under permit %(number)s (%(allowed)s %(unit)s allowed).")
                % {"remaining": remaining, "unit": limit_unit.value,
                   "material": resource.reference, "recipient": allowance.recipient,
                   "number": permit.number, "allowed": allowance.quantity},
                field="quantity", remaining=str(remaining))
        return allowance, base

    def _allowance(self, permit: Permit, resource: GeneticResource,
                   data: dict) -> PermittedExit:
        """The permitted exit for this material, destination and recipient, or which of the
        three the permit does not allow."""
        for_material = [pe for pe in permit.exits if pe.resource_id == resource.id]
        if not for_material:
            raise ValidationError({"material": [
                N_("Permit %(number)s does not allow %(material)s to leave the country.")
                % {"number": permit.number, "material": resource.reference}]})
        to_country = [pe for pe in for_material
                      if pe.destination_country == data["destination_country"]]
        if not to_country:
            raise ValidationError({"destination_country": [
                N_("Permit %(number)s allows %(material)s to go to %(allowed)s only.")
                % {"number": permit.number, "material": resource.reference,
                   "allowed": ", ".join(sorted({pe.destination_country
                                                for pe in for_material}))}]})
        wanted = recipient_key(data["recipient"])
        match = next((pe for pe in to_country if recipient_key(pe.recipient) == wanted), None)
        if match is None:
            raise ValidationError({"recipient": [
                N_("Permit %(number)s allows %(material)s to go to %(allowed)s only.")
                % {"number": permit.number, "material": resource.reference,
                   "allowed": "; ".join(pe.recipient for pe in to_country)}]})
        return match

    def _check_entry(self, data: dict) -> Decimal:
        if data["destination_country"] != self.country:
            raise ValidationError({"destination_country": [
                N_("A return comes back to %(country)s: the destination must be %(country)s.")
                % {"country": self.country}]})
        return units.to_base(data["quantity"], data["unit"])

    # --- what has left --------------------------------------------------------------------

    def _same_allowance_ids(self, permit: Permit, allowance: PermittedExit) -> list[int]:
        """This allowance in every version of the permit: same material, destination and
        recipient."""
        if permit.version == 1:  # no earlier version to look through
            return [allowance.id]
        rows = self.session.execute(
            select(PermittedExit.id, PermittedExit.recipient).join(Permit)
            .where(Permit.number == permit.number,
                   PermittedExit.resource_id == allowance.resource_id,
                   PermittedExit.destination_country == allowance.destination_country))
        key = recipient_key(allowance.recipient)
        return [row.id for row in rows if recipient_key(row.recipient) == key]

    def _left_base(self, permit: Permit, allowance: PermittedExit) -> Decimal:
        """What has left under the allowance, in its dimension's base unit, summed in SQL."""
        dimension = units.dimension(allowance.unit)
        same_dimension = [u for u in QuantityUnit if units.dimension(u) == dimension]
        total = self.session.scalar(
            select(func.sum(Movement.base_quantity))
            .where(Movement.permitted_exit_id.in_(self._same_allowance_ids(permit, allowance)),
                   Movement.direction == Direction.EXIT, Movement.status.in_(COUNTED),
                   Movement.unit.in_(same_dimension)))
        return total or Decimal(0)

    def _left(self, permit: Permit, allowance: PermittedExit) -> Decimal:
        base = units.BASE_UNIT[units.dimension(allowance.unit)]
        return units.convert(self._left_base(permit, allowance), base, allowance.unit)
