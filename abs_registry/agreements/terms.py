"""Benefit-sharing terms as structured data, so the obligations they create can be tracked.

A term says what kind of benefit, how much (an amount, a rate, or royalty tiers by annual
turnover), in which currency, when (a date, or an event such as the first sale), and for whom.
The agreement text is rendered from these terms; nothing about money is free text.

Rules enforced here (each refusal names the field):
- money is an exact decimal sent as a string; floats are refused; amounts are > 0 and carry no
  more decimals than the currency's ISO 4217 minor unit;
- rates are percentages with 0 < rate <= 100;
- monetary kinds need an ISO 4217 currency; non-monetary kinds must not have one and need a
  description instead;
- a royalty has a rate or tiers (not both) and a payment period; other money has an amount;
- every term falls due on a date or on a trigger event, not both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    validate,
    validates_schema,
)

from abs_registry import errors
from abs_registry.agreements import currencies
from abs_registry.agreements.fields import DecimalString, I18nField, I18nText, flatten_errors


class Kind(StrEnum):
    ACCESS_FEE = "access_fee"
    UPFRONT_PAYMENT = "upfront_payment"
    MILESTONE_PAYMENT = "milestone_payment"
    ROYALTY = "royalty"
    LICENCE_FEE = "licence_fee"
    RESEARCH_FUNDING = "research_funding"
    RESULTS_SHARING = "results_sharing"
    JOINT_RESEARCH = "joint_research"
    TRAINING = "training"
    TECHNOLOGY_TRANSFER = "technology_transfer"
    CO_AUTHORSHIP = "co_authorship"
    SAMPLES_RETURNED = "samples_returned"


MONETARY = frozenset({
    Kind.ACCESS_FEE, Kind.UPFRONT_PAYMENT, Kind.MILESTONE_PAYMENT, Kind.ROYALTY,
    Kind.LICENCE_FEE, Kind.RESEARCH_FUNDING,
})
NON_MONETARY = frozenset(Kind) - MONETARY
RECURRING = frozenset({Kind.ROYALTY, Kind.LICENCE_FEE, Kind.RESEARCH_FUNDING})


class Trigger(StrEnum):
    """Events an obligation can fall due on; the obligations register watches for them."""

    AGREEMENT_EFFECTIVE = "agreement_effective"
    PERMIT_ISSUED = "permit_issued"
    MATERIAL_RECEIVED = "material_received"
    RESEARCH_COMPLETED = "research_completed"
    PUBLICATION = "publication"
    PATENT_FILED = "patent_filed"
    PATENT_GRANTED = "patent_granted"
    PRODUCT_APPROVED = "product_approved"
    FIRST_SALE = "first_sale"


class BeneficiaryKind(StrEnum):
    PROVIDER = "provider"
    COMMUNITY = "community"
    NATIONAL_FUND = "national_fund"


class Period(StrEnum):
    ANNUAL = "annual"
    SEMIANNUAL = "semiannual"
    QUARTERLY = "quarterly"


class RoyaltyBase(StrEnum):
    NET_SALES = "net_sales"
    GROSS_REVENUE = "gross_revenue"
    LICENCE_INCOME = "licence_income"


@dataclass(frozen=True)
class Beneficiary:
    kind: BeneficiaryKind
    name: I18nText


@dataclass(frozen=True)
class RoyaltyTier:
    """``rate`` percent applies to the part of annual turnover at or above ``from_turnover``
    (up to the next tier), as tax bands do, so crossing a threshold never lowers the total."""

    from_turnover: Decimal
    rate: Decimal


@dataclass(frozen=True)
class BenefitTerm:
    kind: Kind
    beneficiary: Beneficiary
    amount: Decimal | None = None
    rate: Decimal | None = None
    tiers: tuple[RoyaltyTier, ...] = ()
    base: RoyaltyBase | None = None
    currency: str | None = None
    period: Period | None = None
    due_date: date | None = None
    trigger: Trigger | None = None
    within_days: int | None = None
    description: I18nText | None = None

    @property
    def monetary(self) -> bool:
        return self.kind in MONETARY

    def as_json(self) -> dict[str, Any]:
        """The canonical form to store: strings for decimals and dates, keys only when set."""
        return BenefitTermSchema().dump(self)


def _percent(field_name: str, *, required: bool = True) -> DecimalString:
    return DecimalString(
        required=required,
        validate=validate.Range(
            min=0, min_inclusive=False, max=100,
            error=f"The {field_name} is a percentage: greater than 0 and at most 100.",
        ),
    )


class BeneficiarySchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.Enum(BeneficiaryKind, by_value=True, required=True)
    name = I18nField(required=True, max_length=300)


class RoyaltyTierSchema(Schema):
    class Meta:
        unknown = RAISE

    from_turnover = DecimalString(
        required=True,
        validate=validate.Range(min=0, error="The turnover threshold cannot be negative."),
    )
    rate = _percent("tier rate")


class BenefitTermSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.Enum(Kind, by_value=True, required=True)
    beneficiary = fields.Nested(BeneficiarySchema, required=True)
    amount = DecimalString(
        validate=validate.Range(min=0, min_inclusive=False, error="The amount must be greater than 0.")
    )
    rate = _percent("rate", required=False)
    tiers = fields.List(
        fields.Nested(RoyaltyTierSchema),
        validate=validate.Length(min=1, max=10, error="Give between 1 and 10 royalty tiers."),
    )
    base = fields.Enum(RoyaltyBase, by_value=True)
    currency = fields.String()
    period = fields.Enum(Period, by_value=True)
    due_date = fields.Date()
    trigger = fields.Enum(Trigger, by_value=True)
    within_days = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=365, error="Between 1 and 365 days.")
    )
    description = I18nField(max_length=2000)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _rules(self, data: dict[str, Any], original: Any, **_) -> None:
        """Rules between fields. What was *sent* decides presence, so a field that failed
        its own check is not also reported as missing."""
        problems: dict[str, list[str]] = {}

        def refuse(name: str, message: str) -> None:
            problems.setdefault(name, []).append(message)

        kind = data.get("kind")
        if kind is None or not isinstance(original, Mapping):
            return
        sent = {key for key, value in original.items() if value is not None}
        label = kind.value.replace("_", " ")
        if kind in MONETARY:
            self._money_rules(kind, label, data, sent, refuse)
        else:
            for name in ("amount", "rate", "tiers", "base", "currency", "period"):
                if name in sent:
                    refuse(name, f"A non-monetary benefit ({label}) has no {name}.")
            if "description" not in sent:
                refuse("description", f"Describe the non-monetary benefit ({label}).")
        if ("due_date" in sent) == ("trigger" in sent):
            refuse("due_date", "Give either a due date or a trigger event (one, not both).")
        if "within_days" in sent and "trigger" not in sent:
            refuse("within_days", "A number of days after an event needs a trigger event.")
        if problems:
            raise ValidationError(problems)

    @staticmethod
    def _money_rules(kind: Kind, label: str, data: dict[str, Any], sent: set[str],
                     refuse) -> None:
        code = data.get("currency")
        if "currency" not in sent:
            refuse("currency", "Money needs a currency: an ISO 4217 code such as CNY or USD.")
        elif not isinstance(code, str) or not currencies.is_currency(code):
            refuse("currency", f"Unknown currency {code!r}: use an ISO 4217 code such as CNY or USD.")
        if kind == Kind.ROYALTY:
            if ("rate" in sent) == ("tiers" in sent):
                refuse("rate", "A royalty has either one rate or tiers by annual turnover.")
            if "amount" in sent:
                refuse("amount", "A royalty is a rate, not an amount.")
            if "period" not in sent:
                refuse("period", "Say how often royalties are paid: annual, semiannual or quarterly.")
            starts = [tier["from_turnover"] for tier in data.get("tiers") or []]
            if starts and starts[0] != 0:
                refuse("tiers", "The first tier starts at a turnover of 0.")
            if any(later <= earlier for earlier, later in zip(starts, starts[1:], strict=False)):
                refuse("tiers", "Tier thresholds must rise strictly from one tier to the next.")
        else:
            if "amount" not in sent:
                refuse("amount", f"Give the amount of this {label}.")
            for name in ("rate", "tiers", "base"):
                if name in sent:
                    refuse(name, f"Only a royalty has a {name}; this {label} has an amount.")
        if "period" in sent and kind not in RECURRING:
            refuse("period", "Only royalties, licence fees and research funding recur.")
        if isinstance(code, str) and currencies.is_currency(code):
            places = currencies.minor_units(code)
            for name, value in _money_values(data):
                if value != value.quantize(_unit(places)):
                    refuse(name, f"{code} amounts have at most {places} decimal places.")

    @post_dump
    def _only_what_is_set(self, data: dict[str, Any], **_) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value not in (None, [], ())}

    def _post(self, data: dict[str, Any]) -> BenefitTerm:
        if "rate" in data:
            data["rate"] = _plain(data["rate"])
        if data.get("tiers"):
            data["tiers"] = [{**tier, "rate": _plain(tier["rate"])} for tier in data["tiers"]]
        code = data.get("currency")
        if code:
            unit = _unit(currencies.minor_units(code))
            if "amount" in data:
                data["amount"] = data["amount"].quantize(unit)
            if data.get("tiers"):
                data["tiers"] = [
                    {**tier, "from_turnover": tier["from_turnover"].quantize(unit)}
                    for tier in data["tiers"]
                ]
        if data["kind"] == Kind.ROYALTY:
            data.setdefault("base", RoyaltyBase.NET_SALES)
        beneficiary = data.pop("beneficiary")
        tiers = tuple(RoyaltyTier(**tier) for tier in data.pop("tiers", ()))
        return BenefitTerm(beneficiary=Beneficiary(**beneficiary), tiers=tiers, **data)


def _plain(value: Decimal) -> Decimal:
    """3.50 and 3.5 are the same rate; store one form so the same terms compare equal."""
    return Decimal(format(value.normalize(), "f"))


def _unit(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def _money_values(data: Mapping[str, Any]) -> Iterable[tuple[str, Decimal]]:
    if "amount" in data:
        yield "amount", data["amount"]
    for index, tier in enumerate(data.get("tiers") or []):
        yield f"tiers.{index}.from_turnover", tier["from_turnover"]


def load_terms(raw: Any, *, prefix: str = "terms") -> tuple[BenefitTerm, ...]:
    """Validate a list of benefit-sharing terms, or raise ``errors.ValidationError`` whose keys
    name each bad field (``terms.0.amount``)."""
    if not isinstance(raw, list | tuple):
        raise errors.ValidationError({prefix: ["Send the benefit-sharing terms as a list."]})
    schema = BenefitTermSchema()
    problems: dict[str, list[str]] = {}
    loaded: list[BenefitTerm] = []
    for index, item in enumerate(raw):
        if isinstance(item, BenefitTerm):
            item = item.as_json()
        try:
            loaded.append(schema._post(schema.load(item)))
        except ValidationError as exc:
            problems.update(flatten_errors(exc.messages, f"{prefix}.{index}"))
    if problems:
        raise errors.ValidationError(problems)
    return tuple(loaded)


def dump_terms(terms: Iterable[BenefitTerm]) -> list[dict[str, Any]]:
    return [term.as_json() for term in terms]
