"""What a checkpoint does with a recorded movement: confirm it or stop it.

Each decision is a checkpoint communiqué (movements/communique.py), stored with the ABS
Clearing-House's field names as they read when it was made. A movement is decided once: a
second officer acting on the same movement at the same moment gets 409 with the state the
first one left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import InvalidTransition, NotFound, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.movements import communique
from abs_registry.movements.models import (
    CheckpointCommunique,
    Direction,
    Movement,
    MovementStatus,
)
from abs_registry.movements.service import SUBJECT, current_permit, require_in_force, today_utc
from abs_registry.references import next_reference

DECISIONS = {"confirm": MovementStatus.CONFIRMED, "stop": MovementStatus.STOPPED}


@dataclass
class CheckpointService:
    session: Session
    country: str = "CN"
    today: Callable[[], date] = today_utc

    def decide(self, actor: User | None, reference: str, action: str, *,
               persons_at_checkpoint: str, reason: str | None = None) -> CheckpointCommunique:
        """Confirm or stop a recorded movement; a stop needs the reason."""
        decision = DECISIONS[action]
        perm.require_checkpoint_officer(actor)
        with unit_of_work(self.session):
            movement = self.session.scalar(
                select(Movement).where(Movement.reference == reference)
                .with_for_update().execution_options(populate_existing=True))
            if movement is None:
                raise NotFound("movement")
            if movement.status is not MovementStatus.RECORDED:
                raise InvalidTransition(action, movement.status.value, [])
            reason = (reason or "").strip() or None
            if decision is MovementStatus.STOPPED and not reason:
                raise ValidationError({"reason": [N_("Say why the movement is stopped.")]})
            if decision is MovementStatus.CONFIRMED and movement.direction is Direction.EXIT:
                # The permit may have been suspended, revoked or may have expired since.
                require_in_force(current_permit(self.session, movement.permit_number),
                                 self.today())
            now = utcnow()
            ref = next_reference(self.session, self.country, "CPC", now.year)
            checkpoint = actor.organization.name if actor.organization else actor.display_name
            persons = " ".join(persons_at_checkpoint.split())
            document = communique.build(
                movement, reference=ref, checkpoint=checkpoint, decision=decision,
                persons_at_checkpoint=persons, reason=reason, date_collected=self.today(),
                country=self.country)
            found = CheckpointCommunique(
                reference=ref, movement=movement, decision=decision, checkpoint=checkpoint,
                persons_at_checkpoint=persons, reason=reason, officer_id=actor.id,
                date_collected=self.today(), created_at=now, document=document)
            self.session.add(found)
            before = movement.status
            movement.status = decision
            movement.updated_at = now
            audit.record(self.session, actor=actor, subject_type=SUBJECT,
                         subject_id=movement.id, subject_ref=movement.reference, action=action,
                         from_state=before.value, to_state=decision.value, comment=reason,
                         data={"communique": ref, "checkpoint": checkpoint})
        return found

    def communique(self, actor: User | None, reference: str) -> CheckpointCommunique:
        found = self.session.scalar(
            select(CheckpointCommunique).where(CheckpointCommunique.reference == reference))
        if found is None or not perm.can_view_movements(actor, found.movement.permit):
            raise NotFound("communiqué")
        return found
