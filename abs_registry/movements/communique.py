"""A checkpoint communiqué in the ABS Clearing-House's own field names.

The names are those of the Clearing-House's checkpoint communiqué record (schema
``absCheckpointCommunique``), as its submission form binds them: ``government``, ``title``,
``absCheckpoints``, ``absIRCCs``/``absIRCCsNotAvailable``, ``sourceCountries``,
``subjectMatter``, ``evidenceOfPIC``, ``entityWhoGrantedPIC``, ``entityToWhomPICGranted``,
``evidenceOfMAT``, ``dateOfAccess``, ``description``, ``personsAtCheckpoint``,
``dateCollected`` and ``relevantInformation``. Sources: the form
``app/views/forms/edit/abs/edit-absCheckpointCommunique.html`` of scbd/absch.cbd.int, and
the step-by-step guide https://absch.cbd.int/about/guides/CPC; Article 17(1)(a) of the
Nagoya Protocol says what a checkpoint collects.

As in the Clearing-House, text fields are objects by language ({"en": ...}), countries are
references by lowercase code ({"identifier": "cn"}) and dates are YYYY-MM-DD. Two choices
of ours: the Clearing-House form drops the source, subject-matter and PIC/MAT fields when an
IRCC is linked; we keep them, because the permit may not be published as an IRCC yet and a
provider reads the communiqué alone. Checkpoints and IRCCs are referenced by the identifiers
this registry gives them (the permit number and version), not by Clearing-House record ids,
which it does not know.
"""

from __future__ import annotations

from datetime import date

from abs_registry.applications.models import ConsentKind, ConsentStatus
from abs_registry.declarations.models import Visibility
from abs_registry.movements.models import Direction, Movement, MovementStatus
from abs_registry.permits.models import Permit

SCHEMA = "absCheckpointCommunique"


def _text(value: str) -> dict:
    return {"en": value}


def _country(code: str) -> dict:
    return {"identifier": code.lower()}


def _consents(permit: Permit) -> list:
    """Granted consents a communiqué may name. A communiqué leaves the registry (the
    Clearing-House publishes it), so consent to traditional knowledge that is not public is
    left out altogether: naming it, or even counting it, would tell that the confidential
    record exists (DOMAIN rule 4)."""
    public_tk = {tk.reference for tk in permit.application.tk_records
                 if tk.visibility is Visibility.PUBLIC}
    return [c for c in permit.application.consents if c.status is ConsentStatus.GRANTED
            and (c.kind is ConsentKind.PIC or set(c.subjects) <= public_tk)]


def _evidence_of_pic(permit: Permit) -> str:
    app = permit.application
    granted = _consents(permit)
    if not granted:
        return (f"Access application {app.reference}: no provider's consent was needed for "
                "the genetic resources; access approved by the competent authority on "
                f"{app.decided_at.date().isoformat() if app.decided_at else '-'}.")
    lines = [f"{c.kind.value.upper()} granted by {c.organization.name} on "
             f"{c.decided_at.date().isoformat()} for {', '.join(c.subjects)}"
             + (f" (conditions: {c.conditions})" if c.conditions else "")
             for c in granted]
    return f"Access application {app.reference}: " + "; ".join(lines) + "."


def _evidence_of_mat(permit: Permit) -> str:
    agreement = permit.application.current_agreement
    if agreement is None:
        return f"No agreement on record for access application {permit.application.reference}."
    return (f"Agreement revision {agreement.revision} of access application "
            f"{permit.application.reference} (template {agreement.template_id} "
            f"v{agreement.template_version}), accepted by every party; text SHA-256 "
            f"{agreement.text_sha256}.")


def _subject_matter(movement: Movement) -> str:
    resource = movement.resource
    return (f"{resource.scientific_name} ({resource.reference}), "
            f"{resource.material_type.value}: {movement.quantity} {movement.unit.value}")


def _description(movement: Movement, decision: MovementStatus, reason: str | None) -> str:
    what = "Exit" if movement.direction is Direction.EXIT else "Return (entry)"
    verdict = "confirmed: the material may pass" if decision is MovementStatus.CONFIRMED \
        else "stopped: the material was held"
    text = (f"{what} of {_subject_matter(movement)} from {movement.origin_country} to "
            f"{movement.destination_country} for {movement.recipient}, under permit "
            f"{movement.permit.label} ({movement.permit.purpose.value.replace('_', '-')} "
            f"use), {verdict} at the checkpoint.")
    return f"{text} Reason: {reason}" if reason else text


def build(movement: Movement, *, reference: str, checkpoint: str, decision: MovementStatus,
          persons_at_checkpoint: str, reason: str | None, date_collected: date,
          country: str) -> dict:
    """The communiqué for one checkpoint decision on one movement."""
    permit = movement.permit
    verb = "confirmed" if decision is MovementStatus.CONFIRMED else "stopped"
    return {
        "header": {"identifier": reference, "schema": SCHEMA, "languages": ["en"]},
        "government": _country(country),
        "title": _text(f"{movement.reference} {movement.direction.value} {verb} under "
                       f"permit {permit.label}"),
        "absCheckpoints": [{"identifier": checkpoint}],
        "absIRCCsNotAvailable": False,
        "absIRCCs": [{"identifier": f"{permit.number}@{permit.version}"}],
        "sourceCountries": [_country(country)],
        "subjectMatter": _text(_subject_matter(movement)),
        "evidenceOfPIC": _text(_evidence_of_pic(permit)),
        "entityWhoGrantedPIC": [{"identifier": c.organization.name}
                                for c in _consents(permit)],
        "entityToWhomPICGranted": [{"identifier": permit.holder.name}],
        "evidenceOfMAT": _text(_evidence_of_mat(permit)),
        "dateOfAccess": permit.valid_from.isoformat(),
        "description": _text(_description(movement, decision, reason)),
        "personsAtCheckpoint": [{"identifier": persons_at_checkpoint}],
        "dateCollected": date_collected.isoformat(),
        "relevantInformation": _text(
            f"Carrier: {movement.carrier}. Port: {movement.port}. Planned date: "
            f"{movement.planned_date.isoformat()}. Customs declaration: "
            f"{movement.customs_declaration or 'not given'}. Movement {movement.reference} "
            f"recorded by the permit holder on {movement.recorded_at.date().isoformat()}."),
    }
