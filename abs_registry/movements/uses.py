"""Transfers of material to a third party, and changes of use, as the permit allows them.

The consent and agreement behind a permit cover one holder and one use. So:

- **A transfer to a third party** goes through when the third party holds a valid permit of
  its own covering that material (its own consent and agreement), or when the permit's
  agreed transfer terms (``third_party_transfer``) allow transfers on conditions, which are
  then recorded with it. A permit whose ``third_party_transfer`` is None bars transfers: the
  third party needs its own consent and agreement first.
- **A change of use** (say from non-commercial research to commercial development) goes
  through when the holder has a valid permit covering the new use for every material of the
  current one: new consent and a new agreement, from an approved application for that use.

Refusals are 409 and name what is missing; nothing is stored. What goes through is recorded
with the permit that covers it, and in the permit's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abs_registry.applications.models import Purpose
from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import Organization, User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import Conflict, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.movements.models import UseChange, UseChangeKind
from abs_registry.movements.service import current_permit, require_in_force, today_utc
from abs_registry.permits.models import Permit, PermitStatus


def covers_use(permitted: Purpose, wanted: Purpose) -> bool:
    return permitted is Purpose.BOTH or permitted is wanted


@dataclass
class UseService:
    session: Session
    today: Callable[[], date] = today_utc

    def request_transfer(self, actor: User | None, number: str, data: dict) -> UseChange:
        with unit_of_work(self.session):
            permit = self._holders_permit(actor, number)
            resource = next((r for r in permit.resources if r.reference == data["material"]),
                            None)
            if resource is None:
                raise ValidationError({"material": [
                    N_("%(material)s is not covered by permit %(number)s.")
                    % {"material": data["material"], "number": permit.number}]})
            party = " ".join(data["third_party"].split())
            if party.casefold() == permit.holder.name.casefold():
                raise ValidationError({"third_party": [
                    N_("The third party must be someone other than the permit holder.")]})
            cover = self._party_cover(party, resource.id)
            if cover is None and permit.third_party_transfer is None:
                raise Conflict(
                    N_("Permit %(number)s bars transfer to third parties, and %(party)s holds "
                       "no valid permit for %(material)s: %(party)s needs its own prior "
                       "informed consent and agreement (an approved access application and "
                       "a permit) first.")
                    % {"number": permit.number, "party": party,
                       "material": resource.reference}, field="third_party")
            change = UseChange(
                permit=permit, kind=UseChangeKind.THIRD_PARTY_TRANSFER, resource=resource,
                third_party=party, covering_permit=cover,
                conditions=None if cover else permit.third_party_transfer,
                recorded_by_id=actor.id, recorded_at=utcnow())
            return self._record(actor, permit, change)

    def change_use(self, actor: User | None, number: str, data: dict) -> UseChange:
        wanted: Purpose = data["purpose"]
        with unit_of_work(self.session):
            permit = self._holders_permit(actor, number)
            if covers_use(permit.purpose, wanted):
                raise ValidationError({"purpose": [
                    N_("Permit %(number)s already covers this use: there is nothing to change.")
                    % {"number": permit.number}]})
            needed = {r.id for r in permit.resources}
            cover = next((p for p in self._valid_permits(permit.holder_org_id)
                          if p.number != permit.number and covers_use(p.purpose, wanted)
                          and needed <= {r.id for r in p.resources}), None)
            if cover is None:
                raise Conflict(
                    N_("A change from %(before)s to %(after)s use needs new prior informed "
                       "consent and a new agreement: no valid permit of %(holder)s covers "
                       "%(after)s use of %(materials)s. Apply for access for the new use "
                       "first.")
                    % {"before": permit.purpose.value, "after": wanted.value,
                       "holder": permit.holder.name,
                       "materials": ", ".join(r.reference for r in permit.resources)},
                    field="purpose")
            change = UseChange(
                permit=permit, kind=UseChangeKind.CHANGE_OF_USE, from_purpose=permit.purpose,
                to_purpose=wanted, covering_permit=cover, recorded_by_id=actor.id,
                recorded_at=utcnow())
            return self._record(actor, permit, change)

    def _holders_permit(self, actor: User | None, number: str) -> Permit:
        permit = current_permit(self.session, number, lock=True)
        perm.require_permit_holder(actor, permit)
        require_in_force(permit, self.today())
        return permit

    def _valid_permits(self, org_id: int) -> list[Permit]:
        """Permits in force held by the organization (superseded versions are not VALID)."""
        rows = self.session.scalars(select(Permit).where(
            Permit.holder_org_id == org_id, Permit.status == PermitStatus.VALID))
        return [p for p in rows if p.status_on(self.today()) is PermitStatus.VALID]

    def _party_cover(self, party: str, resource_id: int) -> Permit | None:
        """A valid permit of the third party (a registered organization) covering the material."""
        org = self.session.scalar(select(Organization).where(
            func.lower(Organization.name) == party.lower()))
        if org is None:
            return None
        return next((p for p in self._valid_permits(org.id)
                     if resource_id in {r.id for r in p.resources}), None)

    def _record(self, actor: User, permit: Permit, change: UseChange) -> UseChange:
        self.session.add(change)
        self.session.flush()
        audit.record(
            self.session, actor=actor, subject_type="permit", subject_id=permit.id,
            subject_ref=permit.number, action=change.kind.value,
            data={"material": change.resource.reference if change.resource else None,
                  "third_party": change.third_party,
                  "to_purpose": change.to_purpose.value if change.to_purpose else None,
                  "covering_permit": change.covering_permit.label
                  if change.covering_permit else None,
                  "conditions": change.conditions})
        return change
