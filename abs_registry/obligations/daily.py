"""The daily job: obligations fall due and become overdue as time passes.

    abs-registry obligations daily [--today YYYY-MM-DD]

Set-based, because a registry holds millions of obligations: for each range of ids, one
``UPDATE ... WHERE <rule> RETURNING`` moves every matching row at once (pending -> due, then
due or partly met -> overdue), so the work is a few dozen statements, not a million ORM
objects. Each move bumps the row's ``version``, so a user who read the obligation before the
job and then changes it gets a 409 instead of overwriting the move.

History: one audit event per batch and per move, not one per obligation. A million audit
rows, each hash-chained, would cost more than the moves themselves; and a move made by a
rule is fully described by the rule, the day, the range of ids it looked at, and which ids
it moved. So each event names the rule, the day, the id range, the count, and the moved ids
as runs of consecutive ids ([[first, last], ...]); each obligation also keeps the day of its
last change (``status_changed_on``).

The whole run is one transaction: the moves, their history and the notifications appear
together or not at all. Running it twice on the same day finds nothing left to move, so it
moves, records and notifies nothing the second time.

Notifications are one per organization and kind of news ("12 of your obligations fell
due"), not one per obligation: the payer's members, the beneficiary's members, and the
officials (one summary of the run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import and_, func, not_, or_, select, update
from sqlalchemy.orm import Session

from abs_registry.audit import writer as audit
from abs_registry.auth.models import User
from abs_registry.db import unit_of_work
from abs_registry.notifications import outbox
from abs_registry.obligations.models import Obligation, ObligationStatus

BATCH = 50_000
T = Obligation.__table__
ROYALTY_ITSELF = and_(T.c.kind == "royalty", T.c.parent_id.is_(None))  # its payables fall due


@dataclass
class Move:
    name: str
    from_states: tuple[ObligationStatus, ...]
    to_state: ObligationStatus
    rule: str


TO_DUE = Move("daily_due", (ObligationStatus.PENDING,), ObligationStatus.DUE,
              "due date reached or event reported")
TO_OVERDUE = Move("daily_overdue", (ObligationStatus.DUE, ObligationStatus.PARTLY_MET),
                  ObligationStatus.OVERDUE, "past the due date and the grace days, not met")


@dataclass
class DailyReport:
    day: date
    due: int = 0
    overdue: int = 0
    notified: int = 0
    seconds: float = 0.0
    payers: dict[str, Counter] = field(default_factory=lambda: {"due": Counter(),
                                                                "overdue": Counter()})
    beneficiaries: dict[str, Counter] = field(default_factory=lambda: {"due": Counter(),
                                                                       "overdue": Counter()})


def _where(move: Move, today: date, grace_days: int):
    if move is TO_DUE:
        return or_(T.c.due_on <= today, T.c.triggered_on <= today)
    return and_(T.c.due_on < today - timedelta(days=grace_days), not_(ROYALTY_ITSELF))


def _runs(ids: list[int]) -> list[list[int]]:
    """[3, 4, 5, 9] -> [[3, 5], [9, 9]]: the moved ids, compactly."""
    runs: list[list[int]] = []
    for value in sorted(ids):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return runs


def _move(session: Session, move: Move, today: date, grace_days: int, first: int,
          last: int, report: DailyReport) -> None:
    rows = session.execute(
        update(T)
        .where(T.c.id.between(first, last), T.c.status.in_(move.from_states),
               _where(move, today, grace_days))
        .values(status=move.to_state, status_changed_on=today, version=T.c.version + 1)
        .returning(T.c.id, T.c.payer_org_id, T.c.beneficiary_org_id)
    ).all()
    if not rows:
        return
    key = "due" if move is TO_DUE else "overdue"
    setattr(report, key, getattr(report, key) + len(rows))
    report.payers[key].update(row.payer_org_id for row in rows)
    report.beneficiaries[key].update(row.beneficiary_org_id for row in rows
                                     if row.beneficiary_org_id is not None)
    audit.record(session, actor=None, subject_type="obligations", subject_id=0,
                 subject_ref=f"daily {today.isoformat()}", action=move.name,
                 from_state="|".join(s.value for s in move.from_states)[:20],
                 to_state=move.to_state.value,
                 data={"rule": move.rule, "day": today.isoformat(), "grace_days": grace_days,
                       "id_range": [first, last], "count": len(rows),
                       "ids": _runs([row.id for row in rows])})


def _members_by_org(session: Session, org_ids: set[int]) -> dict[int, list[User]]:
    found: dict[int, list[User]] = {}
    ordered = sorted(org_ids)
    for start in range(0, len(ordered), 1000):
        for user in session.scalars(select(User).where(
                User.organization_id.in_(ordered[start:start + 1000]), User.active)):
            found.setdefault(user.organization_id, []).append(user)
    return found


def _notify(session: Session, report: DailyReport) -> None:
    day = report.day.isoformat()
    orgs = set().union(*report.payers.values(), *report.beneficiaries.values())
    people = _members_by_org(session, orgs)
    kinds = (("payers", "due", "obligations_fell_due"),
             ("payers", "overdue", "obligations_overdue"),
             ("beneficiaries", "due", "owed_fell_due"),
             ("beneficiaries", "overdue", "owed_overdue"))
    for side, key, kind in kinds:
        for org_id, count in sorted(getattr(report, side)[key].items()):
            report.notified += outbox.notify(session, people.get(org_id, []), kind,
                                             f"/obligations?status={key}", count=count, day=day)
    if report.due or report.overdue:
        report.notified += outbox.notify(session, outbox.officials(session),
                                         "obligations_daily", "/obligations/overdue",
                                         due=report.due, overdue=report.overdue, day=day)


def run(session: Session, today: date, grace_days: int, *, batch: int = BATCH,
        progress: Callable[[int], object] | None = None,
        total: Callable[[int], object] | None = None) -> DailyReport:
    """Move every obligation that ``today`` makes due or overdue; see the module docstring.

    ``total`` is told how many ids the run will look at, ``progress`` how many each batch
    covered (tqdm's ``reset(total=...)`` and ``update``).
    """
    started = time.perf_counter()
    report = DailyReport(today)
    with unit_of_work(session):
        low, high = session.execute(select(func.min(T.c.id), func.max(T.c.id))).one()
        if low is not None:
            if total is not None:
                total(high - low + 1)
            for first in range(low, high + 1, batch):
                last = min(first + batch - 1, high)
                _move(session, TO_DUE, today, grace_days, first, last, report)
                _move(session, TO_OVERDUE, today, grace_days, first, last, report)
                if progress is not None:
                    progress(last - first + 1)
            _notify(session, report)
    report.seconds = time.perf_counter() - started
    return report
