"""The daily obligations job over 1,000,000 obligations: seconds and rows per second.

On a fresh database (PostgreSQL from --pg or ABS_BENCH_PG; SQLite with --sqlite) it creates
1,000 user organizations with one member each, 200 provider organizations, three officials,
and then bulk-loads N obligations (COPY on PostgreSQL, executemany on SQLite) in a realistic
mix for the run day 2026-06-30:

    35% pending with a due date spread over the year around the run day (half of them reach it)
    10% pending, waiting for an event (no due date: they stay pending)
    25% due (a third of them past the 30 grace days: they become overdue)
    8%  partly met (half past the grace days)   7% overdue   10% met   5% waived

Then it runs the job exactly as `abs-registry obligations daily --today 2026-06-30` does
(`obligations.daily.run`, with its tqdm bar), after ANALYZE, and prints the seconds, ids per
second, how many moved, and the notifications written; then runs it again on the same day to
show the second run moves nothing. Goal: under 60 s on PostgreSQL.

    .venv/bin/python bench/obligations_daily.py [-n 1000000] [--pg SERVER] [--sqlite]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta

import _common
from sqlalchemy import func, insert, select, text
from tqdm import tqdm

from abs_registry import migrations
from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import Organization, User
from abs_registry.db import make_engine, make_session_factory
from abs_registry.notifications.models import Notification
from abs_registry.obligations import daily
from abs_registry.obligations.models import Obligation

DAY = date(2026, 6, 30)
GRACE = 30
GOAL_SECONDS = 60
PAYERS, PROVIDERS = 1000, 200
COLUMNS = ("id", "reference", "kind", "payer_org_id", "beneficiary_kind", "beneficiary_org_id",
           "beneficiary_name", "currency", "amount", "paid", "trigger", "due_on", "status",
           "waive_reason", "created_at", "version")
MONEY_KINDS = ("access_fee", "upfront_payment", "milestone_payment", "licence_fee")
OTHER_KINDS = ("training", "results_sharing", "samples_returned")


def _row(i: int, rng: random.Random, now: datetime) -> tuple:
    """One obligation; amounts as ExactDecimal(4) stores them (integer ten-thousandths)."""
    roll = rng.random()
    trigger, due_on, waive = None, None, None
    if roll < 0.35:
        status, due_on = "pending", DAY + timedelta(days=rng.randint(-180, 180))
    elif roll < 0.45:
        status, trigger = "pending", "first_sale"
    elif roll < 0.70:
        status, due_on = "due", DAY - timedelta(days=rng.choice([rng.randint(0, 29)] * 2
                                                                + [rng.randint(31, 400)]))
    elif roll < 0.78:
        status, due_on = "partly_met", DAY - timedelta(days=rng.randint(0, 60))
    elif roll < 0.85:
        status, due_on = "overdue", DAY - timedelta(days=rng.randint(31, 700))
    elif roll < 0.95:
        status, due_on = "met", DAY - timedelta(days=rng.randint(0, 700))
    else:
        status, due_on, waive = "waived", DAY - timedelta(days=rng.randint(0, 700)), "bench"
    monetary = rng.random() < 0.8
    kind = rng.choice(MONEY_KINDS if monetary else OTHER_KINDS)
    amount = rng.randint(100, 10_000_000) * 100 * 100 if monetary else None  # whole cents
    paid = (amount // 2 if status == "partly_met" else amount if status == "met" else 0) \
        if monetary else 0
    provider = PAYERS + 1 + rng.randrange(PROVIDERS)
    return (i, f"CN-OBL-2026-{i:07d}", kind, 1 + rng.randrange(PAYERS), "provider", provider,
            f"Provider {provider}", rng.choice(("CNY", "USD", "EUR")) if monetary else None,
            amount, paid, trigger, due_on, status, waive, now, 1)


def _organizations(session) -> None:
    now = datetime.now(UTC)
    session.execute(insert(Organization), [
        {"id": i, "name": f"{'User' if i <= PAYERS else 'Provider'} {i}",
         "kind": "enterprise" if i <= PAYERS else "research_institute", "created_at": now}
        for i in range(1, PAYERS + PROVIDERS + 2)])
    authority = PAYERS + PROVIDERS + 1
    session.execute(text("UPDATE organizations SET kind = 'authority' WHERE id = :id"),
                    {"id": authority})
    users = [{"email": f"u{i}@bench.example", "display_name": f"User {i}", "password_hash": "x",
              "role": "member", "organization_id": i, "created_at": now}
             for i in range(1, PAYERS + PROVIDERS + 1)]
    users += [{"email": f"official{i}@bench.example", "display_name": f"Official {i}",
               "password_hash": "x", "role": "official", "official_level": "national",
               "organization_id": authority, "created_at": now} for i in range(3)]
    session.execute(insert(User), users)
    session.commit()


def load(url: str, n: int) -> float:
    """Create the schema and the rows; answer the seconds the obligations took to load."""
    migrations.upgrade(url)
    engine = make_engine(url)
    session = make_session_factory(engine)()
    _organizations(session)
    rng, now = random.Random(2026), datetime.now(UTC)
    started = time.perf_counter()
    with tqdm(total=n, unit=" rows", unit_scale=True, file=sys.stderr, desc="load") as bar:
        if engine.dialect.name == "postgresql":
            raw = session.connection().connection.dbapi_connection
            with raw.cursor() as cur, cur.copy(
                    f"COPY obligations ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for i in range(1, n + 1):
                    copy.write_row(_row(i, rng, now))
                    if i % 50_000 == 0:
                        bar.update(50_000)
            session.commit()
            session.execute(text("SELECT setval('obligations_id_seq', :n)"), {"n": n})
            session.execute(text("ANALYZE obligations"))
        else:
            for start in range(1, n + 1, 50_000):
                rows = [_row(i, rng, now) for i in range(start, min(start + 50_000, n + 1))]
                session.execute(insert(Obligation.__table__),
                                [dict(zip(COLUMNS, row, strict=True)) for row in rows])
                bar.update(len(rows))
        session.commit()
    seconds = time.perf_counter() - started
    session.close()
    engine.dispose()
    return seconds


def time_job(url: str) -> tuple[daily.DailyReport, float]:
    engine = make_engine(url)
    session = make_session_factory(engine)()
    cpu = time.process_time()
    with tqdm(unit=" ids", unit_scale=True, file=sys.stderr, desc="daily") as bar:
        report = daily.run(session, DAY, GRACE, progress=bar.update,
                           total=lambda total: bar.reset(total=total))
    cpu = time.process_time() - cpu
    session.close()
    engine.dispose()
    return report, cpu


def counts(url: str) -> dict:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = dict(conn.execute(select(Obligation.status, func.count())
                                  .group_by(Obligation.status)).all())
        found["audit events"] = conn.scalar(select(func.count()).select_from(AuditEvent))
        found["notifications"] = conn.scalar(select(func.count()).select_from(Notification))
    engine.dispose()
    return {str(getattr(k, "value", k)): v for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--pg", default=None, help="PostgreSQL server URL (or ABS_BENCH_PG)")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    kinds = (["postgresql"] if server else []) + (["sqlite"] if args.sqlite or not server else [])
    for kind in kinds:
        with _common.database(kind, server, "obligations") as url:
            loaded = load(url, args.n)
            report, cpu = time_job(url)
            again, _cpu = time_job(url)
            print(f"{kind}: loaded {args.n:,} obligations in {loaded:.1f} s")
            print(f"{kind}: daily job {report.seconds:.1f} s ({args.n / report.seconds:,.0f} "
                  f"ids/s, CPU {cpu:.1f} s): {report.due:,} fell due, {report.overdue:,} "
                  f"became overdue, {report.notified:,} notifications")
            print(f"{kind}: second run the same day {again.seconds:.1f} s: {again.due} due, "
                  f"{again.overdue} overdue, {again.notified} notifications")
            print(f"{kind}: statuses after: {counts(url)}")
            verdict = "met" if report.seconds < GOAL_SECONDS else "MISSED"
            print(f"{kind}: goal under {GOAL_SECONDS} s: {verdict}; load average "
                  f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
