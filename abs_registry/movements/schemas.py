"""The boundary of movements, checkpoints, transfers and changes of use: shared by the JSON
API and the HTML forms, so each rule and its message is written once."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from abs_registry.applications.models import Purpose
from abs_registry.applications.schemas import COUNTRIES
from abs_registry.declarations.models import QuantityUnit
from abs_registry.declarations.schemas import REFERENCE, StrictSchema, _at_most_places, _text
from abs_registry.i18n_marker import N_
from abs_registry.movements.models import QUANTITY_PLACES, Direction, MovementStatus

DECLARATION_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/\-]{0,63}\Z")


class Country(fields.String):
    """An ISO 3166-1 alpha-2 code, in capitals as ISO writes it ("de" is read as "DE")."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if code not in COUNTRIES:
            raise ValidationError(N_("Not an ISO 3166 country code (two capital letters)."))
        return code


def _positive_quantity() -> fields.Decimal:
    return fields.Decimal(
        required=True, places=None, allow_nan=False,
        validate=[validate.Range(min=0, min_inclusive=False, max=10**12, max_inclusive=False,
                                 error=N_("Must be greater than 0 and less than 10^12.")),
                  _at_most_places(QUANTITY_PLACES)])


class MovementIn(StrictSchema):
    permit = fields.String(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "the permit's number, e.g. CN-ABS-2026-000001"})
    direction = fields.Enum(Direction, by_value=True, load_default=Direction.EXIT,
                            metadata={"description": "exit, or entry (a return)"})
    material = fields.String(
        required=True,
        validate=validate.Regexp(REFERENCE, error=N_("Not a reference number.")),
        metadata={"description": "reference number of the genetic resource"})
    quantity = _positive_quantity()
    unit = fields.Enum(QuantityUnit, by_value=True, required=True)
    origin_country = Country(required=True)
    destination_country = Country(required=True)
    recipient = _text(300)
    carrier = _text(200)
    port = _text(200)
    planned_date = fields.Date(required=True)
    customs_declaration = fields.String(
        load_default=None, allow_none=True,
        validate=validate.Regexp(DECLARATION_NUMBER,
                                 error=N_("Letters, digits, / and - only, at most 64.")))

    @validates("permit")
    def _permit(self, value: str, **_kw) -> None:
        if not value.strip():
            raise ValidationError(N_("Missing data for required field."))

    @validates_schema
    def _crosses_border(self, data: dict, **_kw) -> None:
        if data.get("origin_country") and data.get("origin_country") == \
                data.get("destination_country"):
            raise ValidationError({"destination_country": [
                N_("The destination must be another country than the origin.")]})


class CheckpointDecisionIn(StrictSchema):
    persons_at_checkpoint = _text(300)
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=4000))
    version = fields.Integer(load_default=None, allow_none=True, strict=True)


class LookupQuery(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                      metadata={"description": "a permit number, or the URL in its QR code"})


class TransferIn(StrictSchema):
    material = fields.String(required=True, validate=validate.Regexp(
        REFERENCE, error=N_("Not a reference number.")))
    third_party = _text(200)


class ChangeOfUseIn(StrictSchema):
    purpose = fields.Enum(Purpose, by_value=True, required=True,
                          metadata={"description": "the new use: commercial, or both"})


# --- what the registry shows back -----------------------------------------------------------


class MovementOut(Schema):
    reference = fields.String()
    permit = fields.String(attribute="permit_number")
    permit_version = fields.Integer(attribute="permit.version")
    direction = fields.Enum(Direction, by_value=True)
    material = fields.String(attribute="resource.reference")
    quantity = fields.Decimal(as_string=True)
    unit = fields.Enum(QuantityUnit, by_value=True)
    origin_country = fields.String()
    destination_country = fields.String()
    recipient = fields.String()
    carrier = fields.String()
    port = fields.String()
    planned_date = fields.Date()
    customs_declaration = fields.String()
    status = fields.Enum(MovementStatus, by_value=True)
    recorded_at = fields.DateTime()
    communique = fields.Function(lambda m: m.communique.reference if m.communique else None)


class AllowanceOut(Schema):
    material = fields.String(attribute="permitted_exit.resource.reference")
    scientific_name = fields.String(attribute="permitted_exit.resource.scientific_name")
    destination_country = fields.String(attribute="permitted_exit.destination_country")
    recipient = fields.String(attribute="permitted_exit.recipient")
    unit = fields.Enum(QuantityUnit, by_value=True, attribute="permitted_exit.unit")
    allowed = fields.Decimal(as_string=True)
    left = fields.Decimal(as_string=True, metadata={
        "description": "what has left: exits recorded or confirmed, not those stopped"})
    remaining = fields.Decimal(as_string=True)


class PermitMovementsOut(Schema):
    permit = fields.String(attribute="permit.number")
    version = fields.Integer(attribute="permit.version")
    holder = fields.String(attribute="permit.holder.name")
    status = fields.String()
    valid_from = fields.Date(attribute="permit.valid_from")
    expires_on = fields.Date(attribute="permit.expires_on")
    third_party_transfer = fields.String(attribute="permit.third_party_transfer",
                                         allow_none=True)
    allowances = fields.List(fields.Nested(AllowanceOut))
    movements = fields.List(fields.Nested(MovementOut))


class UseChangeOut(Schema):
    id = fields.Integer()
    kind = fields.String(attribute="kind.value")
    permit = fields.String(attribute="permit.number")
    material = fields.Function(lambda c: c.resource.reference if c.resource else None)
    third_party = fields.String(allow_none=True)
    from_purpose = fields.Enum(Purpose, by_value=True, allow_none=True)
    to_purpose = fields.Enum(Purpose, by_value=True, allow_none=True)
    covering_permit = fields.Function(
        lambda c: c.covering_permit.label if c.covering_permit else None,
        metadata={"description": "the permit whose consent and agreement cover it; null: "
                  "the permit's own transfer terms (conditions)"})
    conditions = fields.String(allow_none=True)
    recorded_at = fields.DateTime()
