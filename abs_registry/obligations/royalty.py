"""What a royalty comes to: reporting periods, and the royalty on a period's turnover.

Tiers are marginal, as tax brackets are, because the agreement text says so: phrasebook 1
words tiers as "2% of the part up to 50,000,000; 3% of the part above 50,000,000"
(``agreements/phrasing.py``; ``terms.RoyaltyTier``). Each rate applies only to the slice of
annual turnover inside its tier, so crossing a threshold never lowers the total.

Tier thresholds are annual. A quarterly or half-yearly report is priced on the year's
turnover so far: royalty(year to date, this period included) minus royalty(year to date
before it). The payables of one year then add up to exactly the royalty on the whole year's
turnover, however the year was split into periods. Amounts are rounded half-up to the
currency's minor unit, at the year-to-date totals, so no cent is lost or gained.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from abs_registry.agreements import currencies
from abs_registry.agreements.terms import Period
from abs_registry.errors import ValidationError
from abs_registry.i18n_marker import N_

PATTERNS = {
    Period.ANNUAL: re.compile(r"^(\d{4})$"),
    Period.SEMIANNUAL: re.compile(r"^(\d{4})-H([12])$"),
    Period.QUARTERLY: re.compile(r"^(\d{4})-Q([1-4])$"),
}
EXAMPLES = {Period.ANNUAL: "2026", Period.SEMIANNUAL: "2026-H1", Period.QUARTERLY: "2026-Q1"}
MONTHS_PER_PART = {Period.ANNUAL: 12, Period.SEMIANNUAL: 6, Period.QUARTERLY: 3}


def parse_period(period: Period, text: str) -> tuple[int, int]:
    """(year, part) of a period written as the royalty's payment period wants it."""
    found = PATTERNS[period].match(text or "")
    if found is None:
        raise ValidationError({"period": [N_(
            "Write the period as %(example)s: this royalty is reported %(period)s.")
            % {"example": EXAMPLES[period], "period": period.value}]})
    year = int(found.group(1))
    part = int(found.group(2)) if found.lastindex and found.lastindex > 1 else 1
    return year, part


def period_end(period: Period, year: int, part: int) -> date:
    last_month = part * MONTHS_PER_PART[period]
    first_of_next = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
    return first_of_next - timedelta(days=1)


def earlier_periods(period: Period, year: int, part: int) -> list[str]:
    """The periods of the same year before this one, as they are written."""
    if period is Period.ANNUAL:
        return []
    letter = "H" if period is Period.SEMIANNUAL else "Q"
    return [f"{year}-{letter}{p}" for p in range(1, part)]


def on_turnover(turnover: Decimal, *, rate: Decimal | None = None,
                tiers: Sequence[tuple[Decimal, Decimal]] = ()) -> Decimal:
    """The exact royalty on an annual turnover: one flat rate, or marginal tiers given as
    (from_turnover, rate percent), the first starting at 0."""
    if rate is not None:
        return turnover * rate / 100
    total = Decimal(0)
    for index, (start, tier_rate) in enumerate(tiers):
        end = tiers[index + 1][0] if index + 1 < len(tiers) else None
        if turnover <= start:
            break
        slice_top = turnover if end is None else min(turnover, end)
        total += (slice_top - start) * tier_rate / 100
    return total


def rounded(amount: Decimal, currency: str) -> Decimal:
    unit = Decimal(1).scaleb(-currencies.minor_units(currency))
    return amount.quantize(unit, rounding=ROUND_HALF_UP)


def for_period(turnover: Decimal, before: Decimal, currency: str, *,
               rate: Decimal | None = None,
               tiers: Sequence[tuple[Decimal, Decimal]] = ()) -> Decimal:
    """The royalty a period's report adds: on the year to date, less what earlier periods of
    the same year already came to."""
    after = rounded(on_turnover(before + turnover, rate=rate, tiers=tiers), currency)
    earlier = rounded(on_turnover(before, rate=rate, tiers=tiers), currency)
    return after - earlier


def tiers_of(stored: list | None) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(t["from_turnover"]), Decimal(t["rate"])) for t in stored or []]
