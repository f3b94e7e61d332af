"""The expected contribution of a DSI user to the Cali Fund, from its annual figures.

CBD COP16 decision 16/2 (annex, the modalities of the multilateral mechanism for DSI) asks
large entities that use DSI to contribute to the Cali Fund at an indicative rate of 1% of
their profits or 0.1% of their revenue. "Large" means exceeding two of three size thresholds,
total assets USD 20 million, sales USD 50 million and profits USD 5 million, on average over
the previous three years. Every one of these figures is a setting (``config.Settings``:
``cali_fund_*``), not code: the Parties may revise them, and a country may apply its own.

How the registry reads them, so the same figures always give the same answer:
- a threshold counts when the average strictly exceeds it (equal to it does not);
- the average is over the years filed among the last ``cali_fund_years`` (this year and the
  ones before): an entity that filed only this year is judged on this year;
- figures in another currency are converted for the size test with the rate the filer states
  (US dollars per unit, as in its audited accounts); the contribution is owed in the currency
  of the accounts, rounded half-up to its minor unit;
- the basis is the filer's choice (profit or revenue), by default the setting
  ``cali_fund_basis``; a loss on the profit basis makes no contribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from abs_registry.obligations.royalty import rounded

BASES = ("profit", "revenue")


@dataclass(frozen=True)
class Figures:
    year: int
    revenue: Decimal
    profit: Decimal
    assets: Decimal
    usd_rate: Decimal  # fund currency per unit of the accounts' currency


@dataclass(frozen=True)
class Contribution:
    thresholds_exceeded: int
    liable: bool
    amount: Decimal
    computation: dict


def compute(settings, current: Figures, earlier: Sequence[Figures], currency: str,
            basis: str) -> Contribution:
    """The contribution owed for ``current.year``; ``earlier`` are the entity's other returns."""
    window = [current, *[f for f in earlier
                         if current.year - settings.cali_fund_years < f.year < current.year]]
    averages = {
        name: sum((getattr(f, name) * f.usd_rate for f in window), Decimal(0)) / len(window)
        for name in ("assets", "revenue", "profit")
    }
    thresholds = {
        "assets": Decimal(settings.cali_fund_assets_threshold),
        "revenue": Decimal(settings.cali_fund_revenue_threshold),
        "profit": Decimal(settings.cali_fund_profit_threshold),
    }
    exceeded = [name for name in thresholds if averages[name] > thresholds[name]]
    liable = len(exceeded) >= settings.cali_fund_min_exceeded
    rate = Decimal(settings.cali_fund_profit_rate if basis == "profit"
                   else settings.cali_fund_revenue_rate)
    base = current.profit if basis == "profit" else current.revenue
    amount = rounded(max(base, Decimal(0)) * rate / 100, currency) if liable else Decimal(0)
    computation = {
        "years_averaged": sorted(f.year for f in window),
        "averages_in": settings.cali_fund_currency,
        "averages": {k: str(rounded(v, settings.cali_fund_currency)) for k, v in averages.items()},
        "thresholds": {k: str(v) for k, v in thresholds.items()},
        "exceeded": exceeded,
        "min_exceeded": settings.cali_fund_min_exceeded,
        "basis": basis,
        "rate_percent": str(rate),
        "base": str(base),
    }
    return Contribution(len(exceeded), liable, amount, computation)
