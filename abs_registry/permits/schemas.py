"""The boundary of permits, shared by the JSON API and the officials' forms."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates

from abs_registry.agreements.fields import DecimalString
from abs_registry.applications.schemas import COUNTRIES
from abs_registry.db import utcnow
from abs_registry.declarations.models import QuantityUnit
from abs_registry.declarations.schemas import REFERENCE, StrictSchema
from abs_registry.i18n_marker import N_
from abs_registry.permits.models import StatementKind

APPLICATION_REFERENCE = r"^[A-Z]{2}-APP-\d{4}-\d{6}\Z"
PERMIT_NUMBER = r"^[A-Z]{2}-ABS-\d{4}-\d{6}\Z"
MAX_QUANTITY = Decimal("1000000000")


class ExitIn(StrictSchema):
    resource = fields.String(required=True, validate=validate.Regexp(
        REFERENCE, error=N_("Not a reference number.")))
    quantity = DecimalString(required=True, metadata={"example": "250.5"})
    unit = fields.Enum(QuantityUnit, by_value=True, required=True)
    destination_country = fields.String(required=True)
    recipient = fields.String(required=True, validate=validate.Length(min=2, max=300))

    @validates("quantity")
    def _quantity(self, value: Decimal, **_) -> None:
        if value <= 0 or value > MAX_QUANTITY:
            raise ValidationError(N_("Must be more than 0 and at most 1,000,000,000."))
        if value != value.quantize(Decimal("0.000001")):
            raise ValidationError(N_("At most 6 decimal places."))

    @validates("destination_country")
    def _country(self, value: str, **_) -> None:
        if value not in COUNTRIES:
            raise ValidationError(N_("Not an ISO 3166 country code, such as DE."))


class _Terms(StrictSchema):
    expires_on = fields.Date(metadata={"description": "default: the duration applied for"})
    conditions = fields.String(allow_none=True, validate=validate.Length(max=4000))
    third_party_transfer = fields.String(
        allow_none=True, validate=validate.Length(max=4000),
        metadata={"description": "conditions of transfer to third parties; null: barred. "
                  "Default: what the application asked for"})
    exits = fields.List(fields.Nested(ExitIn), validate=validate.Length(max=100))


class PermitIn(_Terms):
    application = fields.String(required=True, validate=validate.Regexp(
        APPLICATION_REFERENCE, error=N_("Not an application reference.")))


class AmendmentIn(_Terms):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=4000))


class StatusChangeIn(StrictSchema):
    status = fields.Enum(StatementKind, by_value=True, required=True,
                         metadata={"description": "suspended, reinstated or revoked"})
    reason = fields.String(required=True, validate=validate.Length(min=3, max=4000))


class VerifyIn(StrictSchema):
    jws = fields.String(validate=validate.Length(max=100_000))
    number = fields.String(validate=validate.Regexp(PERMIT_NUMBER,
                                                    error=N_("Not a permit number.")))
    version = fields.Integer(strict=False, validate=validate.Range(min=1, max=10_000))


class ExitOut(Schema):
    material = fields.Function(lambda e: e.resource.reference)
    quantity = DecimalString()
    unit = fields.Function(lambda e: e.unit.value)
    destination_country = fields.String()
    recipient = fields.String()


class StatementOut(Schema):
    status = fields.Function(lambda s: s.kind.value)
    reason = fields.String()
    made_at = fields.DateTime()
    kid = fields.String()
    jws = fields.String()
    log_index = fields.Integer(allow_none=True)


class PermitOut(Schema):
    number = fields.String()
    version = fields.Integer()
    status = fields.Function(lambda p: p.status.value, metadata={
        "description": "stored status: valid, suspended, revoked or superseded"})
    status_today = fields.Method("_today", metadata={
        "description": "what a checkpoint acts on today (expired when past expires_on)"})
    issued_at = fields.DateTime()
    valid_from = fields.Date()
    expires_on = fields.Date()
    kid = fields.String()
    jws = fields.String(metadata={"description": "compact JWS (EdDSA) over the payload"})
    payload = fields.Dict(metadata={"description": "the signed content (RFC 8785 JSON)"})
    payload_sha256 = fields.String()
    log_index = fields.Integer(allow_none=True)
    exits = fields.List(fields.Nested(ExitOut))
    statements = fields.List(fields.Nested(StatementOut))

    def _today(self, permit) -> str:
        return permit.status_on(utcnow().date()).value


class CheckOut(Schema):
    valid = fields.Boolean(metadata={"description": "signature good AND permit valid today"})
    signature_valid = fields.Function(lambda c: c.signature.valid)
    reason = fields.Method("_reason")
    kid = fields.Function(lambda c: c.signature.kid)
    key = fields.Function(lambda c: c.signature.key)
    status = fields.Function(lambda c: c.status.value if c.status else None)
    current_version = fields.Function(lambda c: c.current.version if c.current else None)
    permit = fields.Function(lambda c: PermitOut().dump(c.permit) if c.permit else None)

    def _reason(self, check) -> str | None:
        if check.problem:
            return check.problem
        if check.status is not None and check.valid is False:
            return f"the permit is {check.status.value}"
        return check.signature.reason
