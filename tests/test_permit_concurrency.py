"""Permits issued at the same moment: numbers stay unique and gapless, one permit per case.

Real threads, each with its own session; on PostgreSQL these are the real proof, and SQLite,
which serializes writers, must give the same answers.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from abs_registry.auth.models import User
from abs_registry.db import unit_of_work
from abs_registry.permits.models import Permit
from abs_registry.permits.service import PermitService
from tests.test_concurrency import is_lost_race, run_threads


class Abort(Exception):
    pass


def test_concurrent_issuance_with_aborts_leaves_gapless_unique_numbers(app, world, session):
    workers, cases = 8, 24
    keys = app.extensions["abs"].keys
    keys.ensure(session)
    approved = [world.approved_application(exports=False) for _ in range(cases)]
    refs = [a.reference for a, _ in approved]
    official_id = approved[0][1].id
    officials = {a.reference: o.id for a, o in approved}
    factory = app.extensions["abs"].session_factory

    def job(index: int, barrier: threading.Barrier) -> tuple[list[str], int]:
        issued, aborted = [], 0
        with factory() as own:
            service = PermitService(own, keys)
            barrier.wait()
            for n, ref in enumerate(refs[index::workers]):
                actor = own.get(User, officials.get(ref, official_id))
                try:
                    with unit_of_work(own):
                        permit = service.issue(actor, ref, {})
                        if n == 1:  # one in three is rolled back after its number was drawn
                            raise Abort(permit.number)
                    issued.append(permit.number)
                except Abort:
                    aborted += 1
        return issued, aborted

    results = run_threads(workers, job)
    assert [r for r in results if isinstance(r, BaseException)] == []
    numbers = sorted(int(n.rsplit("-", 1)[1]) for issued, _ in results for n in issued)
    assert sum(a for _, a in results) == workers
    assert len(numbers) == len(set(numbers)) == cases - workers
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Permit)) == len(numbers)


def test_two_officials_issuing_the_same_case_at_once_make_one_permit(app, world, session):
    keys = app.extensions["abs"].keys
    keys.ensure(session)
    application, official = world.approved_application()
    factory = app.extensions["abs"].session_factory

    def job(index: int, barrier: threading.Barrier):
        with factory() as own:
            barrier.wait()
            return PermitService(own, keys).issue(own.get(User, official.id),
                                                  application.reference, {}).number

    results = run_threads(2, job)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1 and is_lost_race(losers[0]), results
    assert winners[0] in losers[0].message
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Permit)) == 1
