"""Appends from many threads at once, each in its own session and transaction, as permit
issuance will make them: indexes stay gapless, aborted appends leave no trace, the same
entry raced twice is logged once, and every proof still verifies."""

from __future__ import annotations

import json

from sqlalchemy import select

from abs_registry.db import unit_of_work
from abs_registry.errors import Conflict
from abs_registry.translog import merkle, service
from abs_registry.translog.models import LogEntry
from tests.test_concurrency import run_threads

WORKERS = 8
PER_WORKER = 25


class Abort(Exception):
    """Raised on purpose inside the unit of work, after the entry was appended."""


def entry_bytes(worker: int, n: int) -> bytes:
    return json.dumps({"worker": worker, "n": n}, separators=(",", ":")).encode()


def test_concurrent_appends_are_gapless_and_verify(app, session):
    factory = app.extensions["abs"].session_factory

    def job(worker, barrier):
        kept = []
        with factory() as own:
            barrier.wait()
            for n in range(PER_WORKER):
                try:
                    with unit_of_work(own):
                        row = service.append(own, "permit_issued", f"W{worker}-{n}",
                                             entry_bytes(worker, n))
                        if n % 10 == 3:  # about 10% of issuances fail after logging
                            raise Abort
                        index = row.leaf_index
                    kept.append((index, entry_bytes(worker, n)))
                except Abort:
                    pass
        return kept

    results = run_threads(WORKERS, job)
    for result in results:
        assert not isinstance(result, BaseException), result
    kept = sorted(pair for result in results for pair in result)
    expected = WORKERS * (PER_WORKER - len(range(3, PER_WORKER, 10)))
    assert [index for index, _ in kept] == list(range(expected))

    session.rollback()
    stored = session.execute(select(LogEntry.leaf_index, LogEntry.entry)
                             .order_by(LogEntry.leaf_index)).all()
    assert [tuple(row) for row in stored] == kept
    report = service.verify_log(session)
    assert report.ok and report.checked == expected, report
    leaves = [merkle.leaf_hash(entry) for _, entry in kept]
    tree = merkle.TreeBuilder()
    for leaf in leaves:
        tree.append(leaf)
    for index in range(0, expected, 7):
        proof = service.inclusion_proof(session, index)
        merkle.verify_inclusion(leaves[index], index, expected, proof.hashes, tree.root())


def test_the_same_entry_raced_twice_is_logged_once(app, session):
    factory = app.extensions["abs"].session_factory

    def job(worker, barrier, entry):
        with factory() as own:
            barrier.wait()
            try:
                with unit_of_work(own):
                    return service.append(own, "permit_issued", "CN-ABS-2026-000001",
                                          entry).leaf_index
            except Conflict as refused:  # returned, not raised: raising aborts the barrier
                return refused

    for round_ in range(5):
        entry = json.dumps({"permit": "CN-ABS-2026-000001", "round": round_}).encode()
        results = run_threads(4, lambda worker, barrier, entry=entry: job(worker, barrier,
                                                                             entry))
        winners = [r for r in results if isinstance(r, int)]
        losers = [r for r in results if isinstance(r, Conflict)]
        assert len(winners) == 1 and len(losers) == 3, results
        assert {loser.details["index"] for loser in losers} == set(winners)
        session.rollback()
        assert winners == [round_]
        assert service.tree_head(session).size == round_ + 1
        assert service.verify_log(session).ok
