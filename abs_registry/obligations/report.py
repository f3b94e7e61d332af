"""Benefits received: money paid to each beneficiary, per community, per resource, per year.

A payment counts unless the beneficiary disputed it. A permit may cover several resources;
its payments then count under each of them in the per-resource table (the money was paid for
all of them together), so that table's rows do not add up to the total: the per-beneficiary
table does. Amounts are summed per currency, never across currencies.

The chart is server-rendered SVG (bars per year, one chart per currency), so the page needs
no JavaScript library and shows the same in every browser and in print.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.agreements import currencies
from abs_registry.auth.models import User
from abs_registry.declarations.models import GeneticResource
from abs_registry.obligations.models import Confirmation, Obligation, Payment
from abs_registry.permits.models import permit_resources

CSV_COLUMNS = ("year", "beneficiary", "beneficiary_kind", "resource", "resource_name",
               "currency", "amount", "payments")


@dataclass
class Received:
    """One payment a beneficiary received, with the resources of the permit it was paid under."""

    year: int
    beneficiary: str
    beneficiary_kind: str
    currency: str
    amount: Decimal
    resources: list[tuple[str, str]]  # (reference, scientific name); none for the Cali Fund


def received(session: Session, actor: User) -> list[Received]:
    """Officials see every beneficiary's payments, anyone else those to their organization."""
    stmt = (
        select(Payment.id, Payment.paid_on, Payment.amount, Payment.currency,
               Obligation.beneficiary_name, Obligation.beneficiary_kind,
               GeneticResource.reference, GeneticResource.scientific_name)
        .join(Obligation, Obligation.id == Payment.obligation_id)
        .outerjoin(permit_resources, permit_resources.c.permit_id == Obligation.permit_id)
        .outerjoin(GeneticResource, GeneticResource.id == permit_resources.c.resource_id)
        .where(Payment.confirmation != Confirmation.DISPUTED)
        .order_by(Payment.paid_on, Payment.id, GeneticResource.reference)
    )
    if not actor.is_official:
        if actor.organization_id is None:
            return []
        stmt = stmt.where(Obligation.beneficiary_org_id == actor.organization_id)
    payments: dict[int, Received] = {}
    for pid, paid_on, amount, currency, name, kind, ref, species in session.execute(stmt):
        row = payments.setdefault(pid, Received(paid_on.year, name, kind.value, currency,
                                                amount, []))
        if ref is not None:
            row.resources.append((ref, species))
    return list(payments.values())


def money_text(amount: Decimal, currency: str | None) -> str:
    """An amount as text with exactly its currency's decimals: "80000.00", "300" for JPY."""
    if currency and currencies.is_currency(currency):
        amount = amount.quantize(Decimal(1).scaleb(-currencies.minor_units(currency)))
    return format(amount, "f")


def _totals(keyed) -> list[dict]:
    """Sums and payment counts per key; every key ends with the currency."""
    totals: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    for key, amount in keyed:
        totals[key][0] += amount
        totals[key][1] += 1
    return [{"key": key, "currency": key[-1], "amount": amount, "payments": count}
            for key, (amount, count) in sorted(totals.items())]


def by_beneficiary(rows: list[Received]) -> list[dict]:
    """key: (beneficiary, kind, year, currency); each payment counted once."""
    return _totals(((r.beneficiary, r.beneficiary_kind, r.year, r.currency), r.amount)
                   for r in rows)


def by_resource(rows: list[Received]) -> list[dict]:
    """key: (reference, name, year, currency); a payment counts under each resource."""
    return _totals(((ref, name, r.year, r.currency), r.amount)
                   for r in rows for ref, name in (r.resources or [("", "")]))


def by_year(rows: list[Received]) -> dict[str, list[tuple[int, Decimal]]]:
    """{currency: [(year, amount), ...]} for the chart, each payment counted once."""
    series: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        series[row.currency][row.year] += row.amount
    return {currency: sorted(years.items()) for currency, years in sorted(series.items())}


def as_csv(rows: list[Received]) -> str:
    """One line per beneficiary, resource, year and currency (see the module docstring)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    lines = _totals(((r.year, r.beneficiary, r.beneficiary_kind, ref, name, r.currency),
                     r.amount) for r in rows for ref, name in (r.resources or [("", "")]))
    for line in lines:
        year, beneficiary, kind, ref, name, currency = line["key"]
        writer.writerow([year, beneficiary, kind, ref, name, currency,
                         money_text(line["amount"], currency), line["payments"]])
    return out.getvalue()


def bar_chart(currency: str, points: list[tuple[int, Decimal]], title: str,
              format_amount=lambda value: format(value, "f")) -> Markup:
    """Vertical bars, one per year, scaled to the largest; labelled with year and amount."""
    width, height, bar, gap, top, bottom = 80 * max(len(points), 1) + 20, 220, 48, 32, 30, 40
    largest = max((amount for _year, amount in points), default=Decimal(0)) or Decimal(1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" class="chart">',
             f"<title>{escape(title)}</title>",
             f'<line x1="10" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
             'stroke="currentColor" stroke-width="1"/>']
    for index, (year, amount) in enumerate(points):
        scale = float(amount / largest)  # drawing only: the labels carry the exact amount
        bar_height = round((height - top - bottom) * scale, 1)
        x = 10 + gap // 2 + index * (bar + gap)
        y = height - bottom - bar_height
        label = escape(format_amount(amount))
        parts += [
            f'<rect x="{x}" y="{y}" width="{bar}" height="{bar_height}" fill="#2f6f4f">'
            f"<title>{year}: {label} {escape(currency)}</title></rect>",
            f'<text x="{x + bar / 2}" y="{y - 6}" text-anchor="middle" font-size="11">'
            f"{label}</text>",
            f'<text x="{x + bar / 2}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="12">{year}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))
