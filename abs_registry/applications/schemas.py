"""The boundary of the application workflow, shared by the JSON API and the HTML forms."""

from __future__ import annotations

from babel import Locale
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from abs_registry.applications.models import NoteKind, Purpose, Recommendation
from abs_registry.declarations.schemas import REFERENCE, StrictSchema
from abs_registry.i18n_marker import N_

COUNTRIES = frozenset(code for code in Locale("en").territories if len(code) == 2
                      and code.isalpha())


def _refs(field_name: str) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Regexp(REFERENCE, error=N_("Not a reference number."))),
        load_default=list, validate=validate.Length(max=100),
        metadata={"description": f"reference numbers of registered {field_name}"},
    )


class ApplicationIn(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=3, max=300))
    resources = _refs("genetic resources")
    tk_records = _refs("traditional knowledge records")
    purpose = fields.Enum(Purpose, by_value=True, required=True)
    activities = fields.String(required=True, validate=validate.Length(min=10, max=10000))
    work_location = fields.String(required=True, validate=validate.Length(min=2, max=500))
    exports_material = fields.Boolean(load_default=False)
    export_country = fields.String(load_default=None, allow_none=True)
    export_recipient = fields.String(load_default=None, allow_none=True,
                                     validate=validate.Length(min=2, max=300))
    third_party_transfer = fields.Boolean(load_default=False)
    third_party_details = fields.String(load_default=None, allow_none=True,
                                        validate=validate.Length(max=4000))
    duration_months = fields.Integer(required=True, strict=False,
                                     validate=validate.Range(min=1, max=600))

    @validates("export_country")
    def _country(self, value: str | None, **_kw) -> None:
        if value is None:
            return
        if value not in COUNTRIES:
            raise ValidationError(N_("Not an ISO 3166 country code (two capital letters)."))
        if value == "CN":
            raise ValidationError(N_("An export leaves China: name the country of destination."))

    @validates_schema
    def _export_and_transfer(self, data: dict, **_kw) -> None:
        if data.get("exports_material"):
            missing = {f: [N_("Required when material leaves the country.")]
                       for f in ("export_country", "export_recipient") if not data.get(f)}
            if missing:
                raise ValidationError(missing)
        if data.get("third_party_transfer") and not data.get("third_party_details"):
            raise ValidationError({"third_party_details": [
                N_("Describe the planned transfer to third parties.")]})


class ApplicationUpdate(ApplicationIn):
    version = fields.Integer(required=True, strict=True)


class MoveIn(StrictSchema):
    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=10000))
    version = fields.Integer(load_default=None, allow_none=True, strict=True)
    missing = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                          load_default=None, validate=validate.Length(max=50),
                          metadata={"description": "return_incomplete: what is missing"})
    attachments = fields.List(fields.Integer(strict=True), load_default=None,
                              validate=validate.Length(max=20),
                              metadata={"description": "ids of documents uploaded to "
                                        "/applications/<ref>/attachments"})


class ConsentDecisionIn(StrictSchema):
    grant = fields.Boolean(required=True)
    conditions = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(max=10000))
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=10000))
    version = fields.Integer(load_default=None, allow_none=True, strict=True)
    attachments = fields.List(fields.Integer(strict=True), load_default=None,
                              validate=validate.Length(max=20),
                              metadata={"description": "consent documents, uploaded first"})


class AgreementProposalIn(StrictSchema):
    template_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    template_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    values = fields.Dict(keys=fields.String(), required=True)
    terms = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=50))
    version = fields.Integer(load_default=None, allow_none=True, strict=True)


class AgreementAcceptIn(StrictSchema):
    revision = fields.Integer(required=True, strict=True)
    text_sha256 = fields.String(required=True,
                                validate=validate.Regexp(r"^[0-9a-f]{64}$",
                                                         error=N_("Not a SHA-256 hex digest.")))


class NoteIn(StrictSchema):
    kind = fields.Enum(NoteKind, by_value=True, required=True)
    text = fields.String(required=True, validate=validate.Length(min=2, max=20000))
    recommendation = fields.Enum(Recommendation, by_value=True, load_default=None,
                                 allow_none=True)


class QueueQuery(StrictSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["submitted", "review", "info_requested", "consent", "agreement"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


# --- output ---------------------------------------------------------------------------------


class ConsentOut(Schema):
    id = fields.Integer()
    application = fields.Function(lambda c: c.application.reference)
    organization = fields.Function(lambda c: c.organization.name)
    kind = fields.String()
    status = fields.String()
    subjects = fields.List(fields.String())
    conditions = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class AcceptanceOut(Schema):
    organization = fields.Function(lambda a: a.organization.name)
    user = fields.Function(lambda a: a.user.display_name)
    text_sha256 = fields.String()
    at = fields.DateTime()


class AgreementOut(Schema):
    revision = fields.Integer()
    template_id = fields.String()
    template_version = fields.Integer()
    values = fields.Dict(attribute="parameters")
    terms = fields.List(fields.Dict())
    text_sha256 = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    acceptances = fields.List(fields.Nested(AcceptanceOut))


# Built once: a schema built per application was a fifth of the time of a queue page.
AGREEMENT_OUT = AgreementOut()


class NoteOut(Schema):
    kind = fields.String()
    text = fields.String()
    recommendation = fields.String(allow_none=True)
    author = fields.Function(lambda n: n.author.display_name)
    created_at = fields.DateTime()


class ApplicationOut(Schema):
    reference = fields.String()
    status = fields.String()
    version = fields.Integer()
    title = fields.String()
    applicant = fields.Function(lambda a: {"id": a.applicant.id, "name": a.applicant.name})
    resources = fields.Function(lambda a: [r.reference for r in a.resources])
    tk_records = fields.Function(lambda a: [t.reference for t in a.tk_records])
    purpose = fields.String()
    activities = fields.String()
    work_location = fields.String()
    exports_material = fields.Boolean()
    export_country = fields.String(allow_none=True)
    export_recipient = fields.String(allow_none=True)
    third_party_transfer = fields.Boolean()
    third_party_details = fields.String(allow_none=True)
    duration_months = fields.Integer()
    needs_national_review = fields.Boolean()
    review_reasons = fields.List(fields.String())
    completeness_round = fields.Integer()
    decision_text = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    consents = fields.List(fields.Nested(ConsentOut))
    agreement = fields.Function(
        lambda a: AGREEMENT_OUT.dump(a.current_agreement) if a.current_agreement else None)
    notes = fields.List(fields.Nested(NoteOut))
