"""Real threads against the real database: numbers, decisions and edits under contention.

Each thread has its own session from the app's session factory, so it sees only what the
others have committed, as separate web requests would. On PostgreSQL these are the proof;
SQLite serializes writers, and must still give the same answers.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter, defaultdict

from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.audit.writer import verify_chain
from abs_registry.auth.models import OfficialLevel, User
from abs_registry.db import unit_of_work
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Declaration, Kind, Status
from abs_registry.declarations.service import DeclarationService
from abs_registry.errors import Conflict
from tests.conftest import dsi_payload, gr_payload, tk_payload

NUMBER = re.compile(r"^CN-(GR|DSI|TK)-\d{4}-(\d{6})$")


class Abort(Exception):
    """Raised on purpose inside a unit of work, after the reference number was taken."""


def run_threads(workers: int, job) -> list:
    """Run job(index, barrier) in threads; return what each returned or raised."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(index: int) -> None:
        try:
            results[index] = job(index, barrier)
        except BaseException as exc:  # noqa: BLE001  (the test inspects it)
            barrier.abort()
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"worker-{i}")
               for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def is_lost_race(exc: BaseException) -> bool:
    """The loser of a race gets a 409 domain error (StaleVersion, InvalidTransition, Conflict)."""
    return isinstance(exc, Conflict) and exc.status == 409


def history_actions(session, decl_id: int) -> list[str]:
    return list(session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_type == "declaration",
                                        AuditEvent.subject_id == decl_id)
        .order_by(AuditEvent.seq)))


# --- reference numbers -----------------------------------------------------------------------


def test_reference_numbers_are_unique_and_gapless_under_contention(app, world, session):
    workers, total = 16, 400
    members = [world.member().id for _ in range(4)]
    stewards = [world.steward().id for _ in range(2)]
    source = world.declare(session.get(User, members[0]))
    factory = app.extensions["abs"].session_factory
    payloads = {
        Kind.GENETIC_RESOURCE: schemas.GeneticResourceIn().load(gr_payload()),
        Kind.DSI: schemas.DSIIn().load(dsi_payload(source_resources=[source.reference])),
        Kind.TRADITIONAL_KNOWLEDGE: schemas.TraditionalKnowledgeIn().load(tk_payload()),
    }
    per_worker = [total // workers + (i < total % workers) for i in range(workers)]

    def job(index: int, barrier: threading.Barrier) -> tuple[list[str], list[str]]:
        rng = random.Random(index)
        committed, aborted = [], []
        with factory() as own:
            barrier.wait()
            for _ in range(per_worker[index]):
                kind = rng.choice(list(payloads))
                if kind is Kind.TRADITIONAL_KNOWLEDGE:
                    actor = own.get(User, rng.choice(stewards))
                elif kind is Kind.DSI:
                    actor = own.get(User, members[0])
                else:
                    actor = own.get(User, rng.choice(members))
                abort = rng.random() < 0.10
                try:
                    with unit_of_work(own):
                        decl = DeclarationService(own).create(actor, kind, dict(payloads[kind]))
                        if abort:
                            raise Abort(decl.reference)
                    committed.append(decl.reference)
                except Abort as exc:
                    aborted.append(exc.args[0])
        return committed, aborted

    results = run_threads(workers, job)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    committed = [ref for done, _ in results for ref in done]
    aborted = [ref for _, gone in results for ref in gone]
    assert len(committed) + len(aborted) == total
    assert 0.04 * total < len(aborted) < 0.20 * total

    stored = list(session.scalars(select(Declaration.reference).where(
        Declaration.id != source.id)))
    assert sorted(stored) == sorted(committed)
    assert len(set(stored)) == len(stored)
    by_series: dict[str, list[int]] = defaultdict(list)
    for ref in stored + [source.reference]:
        series, number = NUMBER.match(ref).groups()
        by_series[series].append(int(number))
    assert set(by_series) == {"GR", "DSI", "TK"}
    for series, numbers in by_series.items():
        assert len(set(numbers)) == len(numbers), f"{series}: a number was issued twice"
        if series == "TK":
            continue  # drawn at random so that TK numbers tell nothing of how many exist
        assert min(numbers) == 1, f"{series}: the series does not start at 1"
        assert len(numbers) == max(numbers) - min(numbers) + 1, f"{series}: gap in numbers"

    creates = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.subject_type == "declaration", AuditEvent.action == "create"))
    assert creates == len(stored) + 1, "aborted creations leave no history"
    assert verify_chain(session).ok


# --- two officials decide at once ------------------------------------------------------------

PAIRS = [("register", "reject"), ("reject", "register"), ("register", "register"),
         ("return", "register"), ("reject", "return")]
TO_STATE = {"register": Status.REGISTERED, "reject": Status.REJECTED,
            "return": Status.RETURNED}


def test_two_officials_deciding_at_once_give_exactly_one_decision(app, world, session):
    rounds = 50
    member = world.member()
    officials = [world.official(OfficialLevel.NATIONAL).id,
                 world.official(OfficialLevel.PROVINCIAL).id]
    factory = app.extensions["abs"].session_factory
    outcomes: Counter = Counter()

    for n in range(rounds):
        decl = world.declare(member, common_name=f"Round {n}")
        world.declarations.transition(member, decl.reference, "submit")
        actions = PAIRS[n % len(PAIRS)]

        def job(index: int, barrier: threading.Barrier, ref=decl.reference, actions=actions):
            with factory() as own:
                official = own.get(User, officials[index])
                barrier.wait()
                return DeclarationService(own).transition(
                    official, ref, actions[index], comment=f"decided by official {index}"
                ).status

        results = run_threads(2, job)
        winners = [i for i, r in enumerate(results) if isinstance(r, Status)]
        assert len(winners) == 1, f"round {n}: {results!r}"
        [winner] = winners
        loser = results[1 - winner]
        assert is_lost_race(loser), f"round {n}: loser got {loser!r}"
        outcomes[type(loser).__name__] += 1

        session.expire_all()
        stored = world.declarations.get(member, decl.reference)
        assert stored.status is TO_STATE[actions[winner]]
        decisions = [a for a in history_actions(session, stored.id) if a in TO_STATE]
        assert decisions == [actions[winner]], f"round {n}: {decisions}"

    assert sum(outcomes.values()) == rounds
    report = verify_chain(session)
    assert report.ok, report


# --- no lost update --------------------------------------------------------------------------


def test_two_declarants_editing_the_same_version_do_not_lose_an_update(app, world, session):
    rounds = 30
    org = world.org()
    colleagues = [world.member(org).id, world.member(org).id]
    factory = app.extensions["abs"].session_factory

    for n in range(rounds):
        decl = world.declare(world.session.get(User, colleagues[0]))
        version = decl.version

        def job(index: int, barrier: threading.Barrier, ref=decl.reference, version=version):
            with factory() as own:
                actor = own.get(User, colleagues[index])
                barrier.wait()
                DeclarationService(own).update(
                    actor, ref, {"version": version, "holder": f"Holder {index}"})
                return index

        results = run_threads(2, job)
        winners = [r for r in results if isinstance(r, int)]
        assert len(winners) == 1, f"round {n}: {results!r}"
        [winner] = winners
        loser = results[1 - winner]
        assert isinstance(loser, Conflict) and loser.status == 409, repr(loser)
        assert loser.field == "version", loser.as_errors()

        session.expire_all()
        stored = world.declarations.get(world.session.get(User, colleagues[0]), decl.reference)
        assert stored.holder == f"Holder {winner}"
        assert stored.version == version + 1
        assert history_actions(session, stored.id) == ["create", "edit"]
    assert verify_chain(session).ok


# --- one amendment at a time ----------------------------------------------------------------


def test_two_declarants_amending_at_once_open_one_amendment(app, world, session):
    rounds = 20
    org = world.org()
    colleagues = [world.member(org).id, world.member(org).id]
    factory = app.extensions["abs"].session_factory

    for n in range(rounds):
        decl = world.registered(session.get(User, colleagues[0]), common_name=f"Round {n}")

        def job(index: int, barrier: threading.Barrier, ref=decl.reference):
            with factory() as own:
                actor = own.get(User, colleagues[index])
                barrier.wait()
                return DeclarationService(own).amend(actor, ref).reference

        results = run_threads(2, job)
        winners = [r for r in results if isinstance(r, str)]
        assert len(winners) == 1, f"round {n}: {results!r}"
        loser = next(r for r in results if not isinstance(r, str))
        assert is_lost_race(loser), repr(loser)
        amendments = session.scalars(
            select(Declaration.reference).where(Declaration.supersedes_id == decl.id)).all()
        assert amendments == winners
    assert verify_chain(session).ok
