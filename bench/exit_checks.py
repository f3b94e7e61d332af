"""Exit checks per second under 16 concurrent clients, and no over-allocation afterwards.

Prepares permits through the real services (provider, consent, agreement, approval, signed
permit), each allowing two exits of its resource to Germany: 2 kg to one recipient and 0.5 l
(of an extract) to another. Then 16 clients, each a thread with its own database session, record exits against
random permits and allowances as fast as they can, for a fixed time, in random units (mg, g,
kg for mass; ul, ml, l for volume), through MovementService.record: the whole exit check
(permit in force, material, destination, recipient, unit conversion, the allowance's row
lock, the sum of what left) and, when it passes, the movement, its reference number and its
audit event, committed. Demand is set to outrun the allowances, so both answers are timed:
recorded, and refused as over the remainder (409).

Afterwards it checks every permitted exit: what left under it (recorded or confirmed exits,
summed exactly in its base unit) must not exceed what it allows. Any over-allocation is
printed and the script exits with status 1.

    ABS_BENCH_PG=postgresql+psycopg://postgres@127.0.0.1:5432 \\
        .venv/bin/python bench/exit_checks.py [--clients 16] [--seconds 20] [--permits 20]
    .venv/bin/python bench/exit_checks.py --pg SERVER [--sqlite]

PostgreSQL is the measured database (the URL comes from --pg or ABS_BENCH_PG); --sqlite
adds a run on SQLite for comparison, where the unit of work's write lock serializes writers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import _common
import permit_issue
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from abs_registry import migrations
from abs_registry.auth.models import User
from abs_registry.db import make_engine, make_session_factory
from abs_registry.declarations.models import QuantityUnit
from abs_registry.errors import Conflict
from abs_registry.movements import units
from abs_registry.movements.models import Direction, Movement, MovementStatus
from abs_registry.movements.service import MovementService
from abs_registry.permits.keys import KeyRing
from abs_registry.permits.models import Permit, PermittedExit
from abs_registry.permits.service import PermitService

SEED_TO, EXTRACT_TO = "Leibniz Institute", "Max Planck Institute, Cologne"
# What one exit asks for, per allowance unit: (quantity, unit) drawn at random.
MASS = [("50", "g"), ("0.2", "kg"), ("125000", "mg"), ("300", "g")]
VOLUME = [("10", "ml"), ("0.05", "l"), ("25000", "ul"), ("40", "ml")]


def _permits(session, keys: KeyRing, n: int) -> tuple[int, list[str]]:
    """n permits for one resource, each allowing 2 kg of it to leave for one recipient in
    Germany and 0.5 l (of an extract) for another. The approved cases come from the
    permit-issuance bench's helpers: the same workflow through the same services."""
    provider, holder, official = permit_issue._people(session)
    example = json.loads(permit_issue.EXAMPLE.read_text(encoding="utf-8"))
    permits = PermitService(session, keys)
    keys.ensure(session)
    numbers = []
    for ref, resource in permit_issue._approved(session, provider, holder, official, example,
                                                n):
        numbers.append(permits.issue(official, ref, {"exits": [
            {"resource": resource, "quantity": Decimal("2"), "unit": "kg",
             "destination_country": "DE", "recipient": SEED_TO},
            {"resource": resource, "quantity": Decimal("0.5"), "unit": "l",
             "destination_country": "DE", "recipient": EXTRACT_TO}]}).number)
    return holder.id, numbers


def _targets(session, numbers: list[str]) -> list[dict]:
    """Every allowance as the request that draws on it, without the quantity."""
    targets = []
    for permit in session.scalars(select(Permit).where(Permit.number.in_(numbers))):
        for pe in permit.exits:
            targets.append({
                "permit": permit.number, "direction": Direction.EXIT,
                "material": pe.resource.reference, "origin_country": "CN",
                "destination_country": pe.destination_country, "recipient": pe.recipient,
                "carrier": "China Post EMS", "port": "Kunming Changshui Airport",
                "planned_date": "2026-12-01", "customs_declaration": None,
                "choices": MASS if units.dimension(pe.unit) == units.MASS else VOLUME})
    return targets


def _client(factory, holder_id: int, targets: list[dict], seconds: float, seed: int,
            barrier: threading.Barrier, results: list) -> None:
    from datetime import date

    rng = random.Random(seed)
    session = factory()
    holder = session.get(User, holder_id)
    session.rollback()
    service = MovementService(session)
    timings, recorded, refused, errors, busy = [], 0, 0, 0, 0
    barrier.wait()
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        target = rng.choice(targets)
        quantity, unit = rng.choice(target["choices"])
        data = {k: v for k, v in target.items() if k != "choices"}
        data.update(quantity=Decimal(quantity), unit=QuantityUnit(unit),
                    planned_date=date(2026, 12, 1))
        started = time.perf_counter()
        try:
            service.record(holder, data)
            recorded += 1
        except Conflict as exc:
            if exc.field != "quantity":
                errors += 1
            refused += 1
        except OperationalError:  # SQLite: the write lock not had within busy_timeout
            busy += 1
            session.rollback()
            continue
        timings.append(time.perf_counter() - started)
    session.close()
    results.append((timings, recorded, refused, errors, busy))


def _over_allocated(session) -> tuple[int, list[str]]:
    """Every permitted exit whose exits (recorded or confirmed) add up to more than it allows."""
    left = dict(session.execute(
        select(Movement.permitted_exit_id, func.sum(Movement.base_quantity))
        .where(Movement.direction == Direction.EXIT,
               Movement.status.in_((MovementStatus.RECORDED, MovementStatus.CONFIRMED)))
        .group_by(Movement.permitted_exit_id)).all())
    problems, checked = [], 0
    for pe in session.scalars(select(PermittedExit)):
        checked += 1
        used = left.get(pe.id) or Decimal(0)
        limit = units.to_base(pe.quantity, pe.unit)
        if used > limit:
            problems.append(f"permitted exit {pe.id}: {used} > {limit} (base units)")
    return checked, problems


def run(kind: str, server: str | None, args) -> bool:
    with _common.database(kind, server, "exits") as url, \
            tempfile.TemporaryDirectory() as keydir:
        migrations.upgrade(url)
        engine = make_engine(url, pool_size=args.clients + 2, max_overflow=4)
        factory = make_session_factory(engine)
        keys = KeyRing(Path(keydir))
        with factory() as session:
            started = time.perf_counter()
            holder_id, numbers = _permits(session, keys, args.permits)
            targets = _targets(session, numbers)
        print(f"\n{kind}: {args.permits} permits, {len(targets)} allowances prepared in "
              f"{time.perf_counter() - started:.1f} s; {args.clients} clients for "
              f"{args.seconds} s")
        barrier = threading.Barrier(args.clients + 1)
        results: list = []
        threads = [threading.Thread(target=_client, args=(
            factory, holder_id, targets, args.seconds, i, barrier, results))
            for i in range(args.clients)]
        for thread in threads:
            thread.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        barrier.wait()
        for thread in threads:
            thread.join()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        timings = [t for r in results for t in r[0]]
        recorded = sum(r[1] for r in results)
        refused = sum(r[2] for r in results)
        errors = sum(r[3] for r in results)
        busy = sum(r[4] for r in results)
        ms = [t * 1000 for t in timings]
        print(f"  exit checks: {len(timings)} in {wall:.1f} s = {len(timings) / wall:.0f}/s "
              f"({recorded} recorded, {refused} refused as over the remainder, "
              f"{errors} other refusals)"
              + (f"; {busy} gave up waiting for SQLite's write lock" if busy else ""))
        print(f"  per check: median {_common.median(ms):.1f} ms, p95 "
              f"{_common.percentile(ms, 0.95):.1f} ms, max {max(ms):.1f} ms; "
              f"process CPU {cpu * 1000 / max(len(timings), 1):.2f} ms per check; "
              f"load average {os.getloadavg()[0]:.2f}")
        with factory() as session:
            checked, problems = _over_allocated(session)
        engine.dispose()
        if problems:
            print(f"  OVER-ALLOCATED: {len(problems)} of {checked} permitted exits")
            for line in problems[:20]:
                print(f"    {line}")
            return False
        print(f"  no over-allocation: every one of {checked} permitted exits is within its "
              "limit")
        return errors == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--permits", type=int, default=20)
    parser.add_argument("--pg", help="PostgreSQL server URL (default: ABS_BENCH_PG)")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    kinds = (["postgresql"] if server else []) + (["sqlite"] if args.sqlite else [])
    if not kinds:
        parser.error("give a PostgreSQL server with --pg or ABS_BENCH_PG (or --sqlite)")
    ok = all([run(kind, server, args) for kind in kinds])
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
