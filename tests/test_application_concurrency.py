"""Access applications under contention: real threads, each with its own session or client.

Officials racing on the same application, parties accepting the agreement at once, a new
proposal racing an acceptance, and the same Idempotency-Key sent twice at once. Every race
must end with exactly one winner, a 409 for the loser that names the state it lost to, and a
history with no step lost or repeated. SQLite serializes writers and must give the same
answers as PostgreSQL, where these are the real proof.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from abs_registry.applications.models import (
    Agreement,
    AgreementAcceptance,
    AgreementStatus,
    Application,
    AppStatus,
)
from abs_registry.applications.service import ApplicationService
from abs_registry.audit.models import AuditEvent
from abs_registry.audit.writer import verify_chain
from abs_registry.auth.models import OfficialLevel, OrgKind, User
from abs_registry.declarations.models import Kind
from abs_registry.idempotency.models import IdempotencyRecord
from tests.test_concurrency import is_lost_race, run_threads

EXAMPLE = "contracts/non_commercial_research/v1/example.json"
API = "/api/v1/applications"
TEMPLATE = {"template_id": "non_commercial_research", "template_version": 1}


class Parties:
    """A provider with a registered resource, an applicant, two national officials, and
    bearer headers for each; applications are brought to a state through the service."""

    def __init__(self, world, example: dict):
        self.world = world
        self.example = example
        self.provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE))
        self.applicant = world.member(world.org(OrgKind.ENTERPRISE))
        self.officials = [world.official(OfficialLevel.NATIONAL),
                          world.official(OfficialLevel.NATIONAL)]
        self.resource = world.registered(self.provider, reviewer=self.officials[0])
        self.headers = {u.id: world.headers(u)
                        for u in (self.provider, self.applicant, *self.officials)}
        self.service = ApplicationService(world.session)
        self._n = 0

    def body(self, **overrides) -> dict:
        self._n += 1
        body = {"title": f"Drought tolerance in rice landraces, case {self._n}",
                "resources": [self.resource.reference], "purpose": "non_commercial",
                "activities": "Genotyping and field trials of drought tolerance.",
                "work_location": "Kunming laboratories", "duration_months": 24}
        body.update(overrides)
        return body

    def submitted(self) -> str:
        ref = self.service.create(self.applicant, self.body()).reference
        self.service.transition(self.applicant, ref, "submit")
        return ref

    def agreeing(self) -> str:
        """An application whose provider consented: the agreement is next."""
        ref = self.submitted()
        app = self.service.transition(self.officials[0], ref, "accept_complete")
        [consent] = app.consents
        self.service.decide_consent(self.provider, ref, consent.id, grant=True)
        return ref

    def propose(self, actor: User, ref: str, **values) -> Agreement:
        return self.service.propose_agreement(
            actor, ref, **TEMPLATE, values={**self.example["values"], **values},
            terms=self.example["terms"])

    def in_review(self) -> str:
        ref = self.agreeing()
        agreement = self.propose(self.applicant, ref)
        for party in (self.applicant, self.provider):
            self.service.accept_agreement(party, ref, revision=agreement.revision,
                                          text_sha256=agreement.text_sha256)
        return ref


@pytest.fixture
def parties(world, repo_root) -> Parties:
    return Parties(world, json.loads((repo_root / EXAMPLE).read_text(encoding="utf-8")))


def actions_of(session, ref: str) -> list[str]:
    app_id = session.scalar(select(Application.id).where(Application.reference == ref))
    return list(session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_type == "application",
                                        AuditEvent.subject_id == app_id)
        .order_by(AuditEvent.seq)))


def events_of(session, ref: str) -> list[AuditEvent]:
    app_id = session.scalar(select(Application.id).where(Application.reference == ref))
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "application",
                                 AuditEvent.subject_id == app_id)
        .order_by(AuditEvent.seq)))


def status_of(session, ref: str) -> AppStatus:
    session.expire_all()
    return session.scalar(select(Application.status).where(Application.reference == ref))


# --- two officials at once -------------------------------------------------------------------

REVIEW_PATH = ["create", "submit", "accept_complete", "pic_granted", "consent_complete",
               "propose_agreement", "accept_agreement", "accept_agreement", "agreement_accepted"]
SUBMITTED_PATH = ["create", "submit"]
TO_STATE = {"approve": AppStatus.APPROVED, "refuse": AppStatus.REFUSED,
            "request_information": AppStatus.INFORMATION_REQUESTED,
            "accept_complete": AppStatus.CONSENT, "return_incomplete": AppStatus.RETURNED}
# Each pair is raced in both orders; accept_complete also starts the consent step.
PAIRS = [("approve", "refuse"), ("approve", "request_information"),
         ("refuse", "request_information"), ("approve", "approve"),
         ("accept_complete", "return_incomplete")]
ROUNDS = 40


def _race_setup(parties: Parties, n: int) -> tuple[str, tuple[str, str], list[str]]:
    actions = PAIRS[n % len(PAIRS)]
    if (n // len(PAIRS)) % 2:
        actions = actions[::-1]
    if actions[0] in ("accept_complete", "return_incomplete"):
        return parties.submitted(), actions, SUBMITTED_PATH
    return parties.in_review(), actions, REVIEW_PATH


def test_two_officials_moving_at_once_through_the_service_one_wins(app, parties, session):
    factory = app.extensions["abs"].session_factory
    official_ids = [o.id for o in parties.officials]
    losers: Counter = Counter()

    for n in range(ROUNDS):
        ref, actions, path = _race_setup(parties, n)

        def job(index: int, barrier: threading.Barrier, ref=ref, actions=actions):
            with factory() as own:
                official = own.get(User, official_ids[index])
                barrier.wait()
                return ApplicationService(own).transition(
                    official, ref, actions[index], comment=f"by official {index}",
                    missing=["work plan"] if actions[index] == "return_incomplete" else None,
                ).status

        results = run_threads(2, job)
        winners = [i for i, r in enumerate(results) if isinstance(r, AppStatus)]
        assert len(winners) == 1, f"round {n} {actions}: {results!r}"
        [winner] = winners
        loser = results[1 - winner]
        assert is_lost_race(loser), f"round {n} {actions}: loser got {loser!r}"
        assert loser.details.get("state") == TO_STATE[actions[winner]].value, \
            f"round {n}: the loser is not told the state it lost to: {loser.as_errors()}"
        losers[type(loser).__name__] += 1

        assert status_of(session, ref) is TO_STATE[actions[winner]]
        assert actions_of(session, ref) == [*path, actions[winner]], f"round {n}"

    assert sum(losers.values()) == ROUNDS
    report = verify_chain(session)
    assert report.ok, report


def test_two_officials_moving_at_once_over_http_the_loser_gets_409_and_the_state(
        app, parties, session):
    losers = 0
    for n in range(ROUNDS):
        ref, actions, path = _race_setup(parties, n)
        clients = [app.test_client(), app.test_client()]

        def job(index: int, barrier: threading.Barrier, ref=ref, actions=actions,
                clients=clients):
            official = parties.officials[index]
            body = {"comment": f"by official {index}"}
            if actions[index] == "return_incomplete":
                body["missing"] = ["work plan"]
            barrier.wait()
            answer = clients[index].post(f"{API}/{ref}/{actions[index]}", json=body,
                                         headers=parties.headers[official.id])
            return answer.status_code, answer.get_json()

        results = run_threads(2, job)
        assert not any(isinstance(r, BaseException) for r in results), results
        codes = sorted(code for code, _ in results)
        assert codes == [200, 409], f"round {n} {actions}: {results!r}"
        winner = next(i for i, (code, _) in enumerate(results) if code == 200)
        won_state = TO_STATE[actions[winner]].value
        assert results[winner][1]["status"] == won_state
        _, lost = results[1 - winner]
        assert lost["state"] == won_state, f"round {n}: 409 without the new state: {lost}"
        assert actions[1 - winner] not in lost["allowed"]
        losers += 1

        shown = clients[0].get(f"{API}/{ref}", headers=parties.headers[parties.applicant.id])
        assert shown.get_json()["status"] == won_state
        assert actions_of(session, ref) == [*path, actions[winner]], f"round {n}"

    assert losers == ROUNDS
    assert verify_chain(session).ok


def test_withdrawal_racing_a_decision_leaves_one_of_them(app, parties, session):
    factory = app.extensions["abs"].session_factory
    actor_ids = [parties.applicant.id, parties.officials[0].id]
    moves = ["withdraw", "approve"]

    for n in range(20):
        ref = parties.in_review()

        def job(index: int, barrier: threading.Barrier, ref=ref):
            with factory() as own:
                actor = own.get(User, actor_ids[index])
                barrier.wait()
                return ApplicationService(own).transition(
                    actor, ref, moves[index], comment="changed our plans").status

        results = run_threads(2, job)
        winners = [i for i, r in enumerate(results) if isinstance(r, AppStatus)]
        assert len(winners) == 1, f"round {n}: {results!r}"
        assert is_lost_race(results[1 - winners[0]]), repr(results)
        history = actions_of(session, ref)
        assert history == [*REVIEW_PATH, moves[winners[0]]]
    assert verify_chain(session).ok


# --- the agreement -----------------------------------------------------------------------------


def test_the_last_two_parties_accepting_at_once_move_the_application_to_review_once(
        app, world, parties, session):
    """Three parties: the applicant accepts first, then the provider and a community at once."""
    steward = world.steward(world.org(OrgKind.COMMUNITY, region="532800"))
    tk = world.registered(steward, Kind.TRADITIONAL_KNOWLEDGE, reviewer=parties.officials[0])
    factory = app.extensions["abs"].session_factory
    racers = [parties.provider.id, steward.id]
    retried = 0

    for n in range(20):
        service = parties.service
        ref = service.create(parties.applicant, parties.body(tk_records=[tk.reference])).reference
        service.transition(parties.applicant, ref, "submit")
        app_ = service.transition(parties.officials[0], ref, "accept_complete")
        for consent in list(app_.consents):
            who = parties.provider if consent.kind.value == "pic" else steward
            service.decide_consent(who, ref, consent.id, grant=True)
        agreement = parties.propose(parties.applicant, ref)
        revision, sha = agreement.revision, agreement.text_sha256
        service.accept_agreement(parties.applicant, ref, revision=revision, text_sha256=sha)

        def accept(index: int, barrier: threading.Barrier | None, ref=ref, revision=revision,
                   sha=sha):
            with factory() as own:
                actor = own.get(User, racers[index])
                if barrier is not None:
                    barrier.wait()
                return ApplicationService(own).accept_agreement(
                    actor, ref, revision=revision, text_sha256=sha).revision

        results = run_threads(2, accept)
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                assert is_lost_race(result), f"round {n}: {result!r}"
                retried += 1
                accept(index, None)  # the loser reads again and accepts the same text

        assert status_of(session, ref) is AppStatus.REVIEW
        history = actions_of(session, ref)
        assert history.count("agreement_accepted") == 1, history
        assert history.count("accept_agreement") == 3, history
        assert history[-1] == "agreement_accepted"
        rows = session.execute(
            select(AgreementAcceptance.organization_id, AgreementAcceptance.text_sha256,
                   Agreement.status)
            .join(Agreement).join(Application).where(Application.reference == ref)).all()
        assert len(rows) == 3 and len({org for org, _, _ in rows}) == 3
        assert {(s, st) for _, s, st in rows} == {(sha, AgreementStatus.ACCEPTED)}
    assert verify_chain(session).ok


def _voided_before_acceptance(events: list[AuditEvent]) -> list[tuple[int, int]]:
    """(revision, seq) of every acceptance recorded after a proposal had voided its revision."""
    void = set()
    bad = []
    for event in events:
        if event.action == "propose_agreement":
            void.update(event.data["voided_revisions"])
        elif event.action == "accept_agreement" and event.data["revision"] in void:
            bad.append((event.data["revision"], event.seq))
    return bad


@pytest.mark.parametrize("last_acceptance", [False, True],
                         ids=["first-acceptance", "final-acceptance"])
def test_a_new_proposal_racing_an_acceptance_never_counts_a_void_text(
        app, parties, session, last_acceptance):
    factory = app.extensions["abs"].session_factory
    applicant_id, provider_id = parties.applicant.id, parties.provider.id
    outcomes: Counter = Counter()

    for n in range(20):
        ref = parties.agreeing()
        first = parties.propose(parties.applicant, ref)
        revision, sha = first.revision, first.text_sha256
        if last_acceptance:
            parties.service.accept_agreement(parties.applicant, ref, revision=revision,
                                             text_sha256=sha)

        def job(index: int, barrier: threading.Barrier, ref=ref, n=n, revision=revision,
                sha=sha):
            with factory() as own:
                service = ApplicationService(own)
                if index == 0:
                    actor = own.get(User, provider_id)
                    barrier.wait()
                    return service.accept_agreement(actor, ref, revision=revision,
                                                    text_sha256=sha)
                actor = own.get(User, applicant_id)
                barrier.wait()
                return service.propose_agreement(
                    actor, ref, **TEMPLATE, terms=parties.example["terms"],
                    values={**parties.example["values"], "report_interval_months": 6 + n % 6})

        accepted, proposed = run_threads(2, job)
        for result in (accepted, proposed):
            assert not isinstance(result, BaseException) or is_lost_race(result), \
                f"round {n}: {result!r}"
        outcomes[(type(accepted).__name__, type(proposed).__name__)] += 1

        events = events_of(session, ref)
        assert _voided_before_acceptance(events) == [], f"round {n}"
        actions = [e.action for e in events]
        state = status_of(session, ref)
        in_review = actions.count("agreement_accepted")
        assert in_review == (1 if state is AppStatus.REVIEW else 0), (state, actions)
        if state is AppStatus.REVIEW:
            assert actions[-1] == "agreement_accepted", "nothing may follow the move to review"
            assert isinstance(proposed, BaseException), "a proposal after review was accepted"
        agreements = session.execute(
            select(Agreement).join(Application).where(Application.reference == ref)
            .order_by(Agreement.revision)).scalars().all()
        live = [a for a in agreements if a.status is not AgreementStatus.VOID]
        assert len(live) == 1, [(a.revision, a.status) for a in agreements]
        for agreement in agreements:
            session.refresh(agreement)
            assert {a.text_sha256 for a in agreement.acceptances} <= {agreement.text_sha256}

    assert sum(outcomes.values()) == 20
    assert verify_chain(session).ok


# --- Idempotency-Key -----------------------------------------------------------------------


def _post_twice_at_once(app, url: str, headers: dict, bodies: list[dict]) -> list:
    clients = [app.test_client(), app.test_client()]

    def job(index: int, barrier: threading.Barrier):
        barrier.wait()
        answer = clients[index].post(url, json=bodies[index], headers=headers)
        return answer.status_code, answer.get_json(), answer.headers.get("Idempotent-Replayed")

    results = run_threads(2, job)
    assert not any(isinstance(r, BaseException) for r in results), results
    return results


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_same_key_sent_twice_at_once_files_one_application(app, parties, session):
    applicant = parties.applicant
    headers = parties.headers[applicant.id]
    seen: Counter = Counter()

    for n in range(30):
        key = f"file-{n}"
        body = parties.body()
        results = _post_twice_at_once(app, API, dict(headers, **{"Idempotency-Key": key}),
                                      [body, body])
        codes = sorted(code for code, _, _ in results)
        assert codes in ([201, 201], [201, 409]), f"round {n}: {results!r}"
        seen[tuple(codes)] += 1
        created = [r for r in results if r[0] == 201]
        if len(created) == 2:
            assert created[0][1] == created[1][1], "a replay must repeat the first answer"
            assert sorted(str(r[2]) for r in created) == ["None", "true"]
        else:
            lost = next(r for r in results if r[0] == 409)
            assert "Idempotency-Key" in lost[1]["errors"], lost
        assert _count(session, Application, Application.title == body["title"]) == 1
        assert _count(session, IdempotencyRecord, IdempotencyRecord.key == key) == 1

        again = app.test_client().post(API, json=body,
                                       headers=dict(headers, **{"Idempotency-Key": key}))
        assert again.status_code == 201 and again.get_json() == created[0][1]
        assert again.headers["Idempotent-Replayed"] == "true"

    created = _count(session, AuditEvent, AuditEvent.subject_type == "application",
                     AuditEvent.action == "create")
    assert created == _count(session, Application) == 30
    assert verify_chain(session).ok


def test_the_same_key_with_different_bodies_at_once_files_at_most_one(app, parties, session):
    headers = parties.headers[parties.applicant.id]
    for n in range(20):
        key = f"mixed-{n}"
        bodies = [parties.body(), parties.body()]
        results = _post_twice_at_once(app, API, dict(headers, **{"Idempotency-Key": key}),
                                      bodies)
        codes = sorted(code for code, _, _ in results)
        assert codes in ([201, 409], [201, 422]), f"round {n}: {results!r}"
        winner = next(i for i, r in enumerate(results) if r[0] == 201)
        titles = [bodies[0]["title"], bodies[1]["title"]]
        stored = session.scalars(select(Application.title).where(
            Application.title.in_(titles))).all()
        assert stored == [bodies[winner]["title"]]
        late = app.test_client().post(API, json=bodies[1 - winner],
                                      headers=dict(headers, **{"Idempotency-Key": key}))
        assert late.status_code == 422
        assert "Idempotency-Key" in late.get_json()["errors"]
    assert _count(session, Application) == 20


def test_the_same_decision_sent_twice_at_once_with_one_key_is_made_once(app, parties, session):
    official = parties.officials[0]
    for n in range(20):
        ref = parties.in_review()
        headers = dict(parties.headers[official.id], **{"Idempotency-Key": f"approve-{n}"})
        body = {"comment": "Report results yearly."}
        results = _post_twice_at_once(app, f"{API}/{ref}/approve", headers, [body, body])
        codes = sorted(code for code, _, _ in results)
        assert codes in ([200, 200], [200, 409]), f"round {n}: {results!r}"
        if codes == [200, 200]:
            assert results[0][1] == results[1][1]
        assert actions_of(session, ref) == [*REVIEW_PATH, "approve"]
    assert verify_chain(session).ok
