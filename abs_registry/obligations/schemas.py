"""JSON in and out for obligations: money travels as decimal strings with its currency."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from abs_registry.agreements.fields import DecimalString
from abs_registry.obligations import cali_fund
from abs_registry.obligations.models import ObligationStatus
from abs_registry.obligations.report import money_text
from abs_registry.obligations.service import REPORTABLE

MONEY_DOC = {"description": "a decimal string, e.g. \"1000.00\"; never a JSON number"}


class Money(fields.Field):
    """An amount out as a string with exactly its currency's decimals ("80000.00", "300" for
    JPY), whether it was just computed or read back from the database."""

    def __init__(self, currency_attr: str = "currency", **kwargs):
        super().__init__(**kwargs)
        self.currency_attr = currency_attr

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        code = getattr(obj, self.currency_attr, None) if not isinstance(obj, dict) \
            else obj.get(self.currency_attr)
        return money_text(value, code)


class _In(Schema):
    class Meta:
        unknown = RAISE


class PaymentIn(_In):
    amount = DecimalString(required=True, metadata=MONEY_DOC)
    currency = fields.String(required=True, validate=validate.Length(equal=3),
                             metadata={"description": "ISO 4217: the obligation's currency"})
    paid_on = fields.Date(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1, max=100))
    proof = fields.Integer(load_default=None, allow_none=True, metadata={
        "description": "id of a document uploaded to this obligation's attachments"})
    version = fields.Integer(load_default=None, allow_none=True)


class EvidenceIn(_In):
    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    attachment = fields.Integer(load_default=None, allow_none=True)
    version = fields.Integer(load_default=None, allow_none=True)


class SalesReportIn(_In):
    period = fields.String(required=True, metadata={
        "description": "2026 (annual), 2026-H1 (semiannual) or 2026-Q1 (quarterly)"})
    turnover = DecimalString(required=True, metadata=MONEY_DOC)
    currency = fields.String(required=True)


class MilestoneIn(_In):
    permit = fields.String(required=True, metadata={"description": "permit number"})
    event = fields.String(required=True, validate=validate.OneOf([t.value for t in REPORTABLE]))
    occurred_on = fields.Date(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ReceiptDecisionIn(_In):
    confirm = fields.Boolean(required=True, metadata={
        "description": "true: received as recorded; false: disputed (give a reason)"})
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class WaiveIn(_In):
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    version = fields.Integer(load_default=None, allow_none=True)


class CaliFundIn(_In):
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000))
    currency = fields.String(required=True)
    revenue = DecimalString(required=True, metadata=MONEY_DOC)
    profit = DecimalString(required=True, metadata={"description": "negative for a loss"})
    assets = DecimalString(required=True, metadata=MONEY_DOC)
    usd_rate = DecimalString(load_default=None, allow_none=True, metadata={
        "description": "US dollars per unit of the currency, as in your audited accounts"})
    basis = fields.String(load_default=None, allow_none=True,
                          validate=validate.OneOf(cali_fund.BASES))


class ListQuery(Schema):
    scope = fields.String(load_default="owed", validate=validate.OneOf(["owed", "owed_to", "all"]),
                          metadata={"description": "owed: what your organization owes; "
                                    "owed_to: what it is owed; all: officials only"})
    status = fields.String(load_default=None, validate=validate.OneOf(
        [s.value for s in ObligationStatus]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class DocumentOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    sha256 = fields.String()
    size = fields.Integer()


class ConfirmationOut(Schema):
    id = fields.Integer()
    confirmation = fields.Function(lambda o: o.confirmation.value)
    dispute_reason = fields.String()
    confirmed_at = fields.DateTime()


class PaymentOut(ConfirmationOut):
    amount = Money()
    currency = fields.String()
    paid_on = fields.Date()
    reference = fields.String()
    proof = fields.Nested(DocumentOut, allow_none=True)
    recorded_at = fields.DateTime()


class EvidenceOut(ConfirmationOut):
    text = fields.String()
    attachment = fields.Nested(DocumentOut, allow_none=True)
    recorded_at = fields.DateTime()


class SalesReportOut(Schema):
    period = fields.String()
    turnover = Money()
    currency = fields.String()
    royalty = Money()
    payable = fields.Function(lambda r: r.payable.reference if r.payable else None)
    filed_at = fields.DateTime()


class ObligationOut(Schema):
    reference = fields.String()
    kind = fields.Function(lambda o: o.kind.value)
    status = fields.Function(lambda o: o.status.value)
    permit = fields.Function(lambda o: o.permit.number if o.permit else None)
    permit_version = fields.Function(lambda o: o.permit.version if o.permit else None)
    term_index = fields.Integer()
    royalty = fields.Function(lambda o: o.parent.reference if o.parent else None,
                              metadata={"description": "for a royalty payable: its royalty"})
    payer = fields.Function(lambda o: o.payer.name)
    beneficiary = fields.Function(lambda o: {
        "kind": o.beneficiary_kind.value, "name": o.beneficiary_name,
        "organization": o.beneficiary.name if o.beneficiary else None})
    currency = fields.String()
    amount = Money()
    paid = Money()
    outstanding = Money()
    rate = DecimalString(metadata={"description": "percent, for a royalty at one rate"})
    tiers = fields.Raw(metadata={"description": "marginal royalty tiers by annual turnover"})
    period = fields.Function(lambda o: o.period.value if o.period else None)
    base = fields.String()
    trigger = fields.Function(lambda o: o.trigger.value if o.trigger else None)
    within_days = fields.Integer()
    triggered_on = fields.Date()
    due_on = fields.Date()
    description = fields.Raw()
    expected_evidence = fields.String()
    waive_reason = fields.String()
    status_changed_on = fields.Date()
    version = fields.Integer()


class ObligationDetailOut(ObligationOut):
    payments = fields.List(fields.Nested(PaymentOut))
    evidence = fields.List(fields.Nested(EvidenceOut))
    sales_reports = fields.List(fields.Nested(SalesReportOut))


class OverdueTotalOut(Schema):
    currency = fields.String(allow_none=True, metadata={
        "description": "null: non-monetary benefits, counted"})
    count = fields.Integer()
    outstanding = Money(allow_none=True)


class OverdueOut(Schema):
    organization = fields.String()
    count = fields.Integer()
    totals = fields.List(fields.Nested(OverdueTotalOut))


class MilestoneOut(Schema):
    permit = fields.Function(lambda out: out["report"].permit.number)
    event = fields.Function(lambda out: out["report"].event.value)
    occurred_on = fields.Function(lambda out: out["report"].occurred_on.isoformat())
    obligations_due = fields.Function(lambda out: [o.reference for o in out["due"]])


class BenefitOut(Schema):
    key = fields.List(fields.Raw())
    amount = Money()
    payments = fields.Integer()


class BenefitsOut(Schema):
    by_beneficiary = fields.List(fields.Nested(BenefitOut), metadata={
        "description": "key: beneficiary, kind, year, currency"})
    by_resource = fields.List(fields.Nested(BenefitOut), metadata={
        "description": "key: resource, name, year, currency; a payment under a permit of "
                       "several resources counts under each"})


class CaliFundOut(Schema):
    organization = fields.Function(lambda r: r.organization.name)
    year = fields.Integer()
    currency = fields.String()
    revenue = Money()
    profit = Money()
    assets = Money()
    usd_rate = DecimalString()
    basis = fields.String()
    thresholds_exceeded = fields.Integer()
    contribution = Money()
    computation = fields.Raw()
    obligation = fields.Function(lambda r: r.obligation.reference if r.obligation else None)
    filed_at = fields.DateTime()
