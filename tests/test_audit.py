"""The history: one hash-chained event per change of state, refused edits, detected tampering.

The database itself refuses UPDATE and DELETE on audit_events (triggers from the initial
migration); the hash chain catches whoever gets past that, and ``abs-registry audit verify``
names the first row that no longer fits.
"""

from __future__ import annotations

import importlib.util
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from abs_registry.audit.models import AuditEvent
from abs_registry.audit.writer import GENESIS, chain_hash, verify_chain
from abs_registry.auth.models import OfficialLevel, OrgKind, User
from abs_registry.auth.service import AccountService
from abs_registry.config import REPO_ROOT
from abs_registry.db import make_engine, make_session_factory, unit_of_work
from abs_registry.declarations import keylist
from abs_registry.declarations.models import Kind, Status
from abs_registry.declarations.service import DeclarationService
from abs_registry.errors import DomainError
from tests.conftest import ON_POSTGRES, PASSWORD

DECISIONS = {"register", "return", "reject"}


def last_seq(session) -> int:
    return session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))


def events_since(session, seq: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.seq > seq)
                                .order_by(AuditEvent.seq)))


class Ledger:
    """Remembers where the history ended, so each step can assert exactly what it added."""

    def __init__(self, session):
        self.session = session
        self.mark = last_seq(session)

    def added(self) -> list[tuple]:
        events = events_since(self.session, self.mark)
        self.mark = last_seq(self.session)
        return [(e.subject_type, e.subject_ref, e.action, e.from_state, e.to_state)
                for e in events]

    def added_events(self) -> list[AuditEvent]:
        events = events_since(self.session, self.mark)
        self.mark = last_seq(self.session)
        return events


def audit_verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


# --- one event per change of state ---------------------------------------------------------


def test_each_step_of_a_declaration_writes_exactly_one_event(world, session):
    member = world.member()
    official = world.official()
    svc = world.declarations
    ledger = Ledger(session)

    decl = world.declare(member)
    ref = decl.reference
    assert ledger.added() == [("declaration", ref, "create", None, "draft")]

    svc.update(member, ref, {"version": decl.version, "common_name": "Rice"})
    [edit] = ledger.added_events()
    assert (edit.action, edit.data, edit.actor_id) == ("edit", {"fields": ["common_name"]},
                                                       member.id)

    svc.update(member, ref, {"version": decl.version, "common_name": "Rice"})
    assert ledger.added() == [], "an edit that changes nothing is not a change of state"

    steps = [
        (member, "submit", None, "draft", "submitted"),
        (official, "return", "Give the exact collection site.", "submitted", "returned"),
        (member, "submit", None, "returned", "submitted"),
        (official, "register", None, "submitted", "registered"),
    ]
    for actor, action, comment, before, after in steps:
        svc.transition(actor, ref, action, comment)
        [event] = ledger.added_events()
        assert (event.subject_ref, event.action, event.from_state, event.to_state) == (
            ref, action, before, after)
        assert (event.actor_id, event.actor_name, event.comment) == (
            actor.id, actor.display_name, comment)

    amendment = svc.amend(member, ref)
    [created] = ledger.added_events()
    assert (created.subject_ref, created.action, created.to_state) == (
        amendment.reference, "create", "draft")
    assert created.data == {"supersedes": ref}

    svc.transition(member, amendment.reference, "submit")
    assert ledger.added() == [("declaration", amendment.reference, "submit", "draft",
                               "submitted")]
    svc.transition(official, amendment.reference, "register")
    assert ledger.added() == [
        ("declaration", ref, "supersede", "registered", "superseded"),
        ("declaration", amendment.reference, "register", "submitted", "registered"),
    ], "two records changed state, so two events: one each"

    svc.transition(member, amendment.reference, "withdraw", "Collection permit lapsed.")
    assert ledger.added() == [("declaration", amendment.reference, "withdraw", "registered",
                               "withdrawn")]

    other = world.declare(member)
    ledger.added()
    svc.transition(member, other.reference, "submit")
    svc.transition(official, other.reference, "reject", "Not a genetic resource.")
    assert ledger.added() == [
        ("declaration", other.reference, "submit", "draft", "submitted"),
        ("declaration", other.reference, "reject", "submitted", "rejected"),
    ]
    assert verify_chain(session).ok


@pytest.mark.parametrize("kind", [Kind.DSI, Kind.TRADITIONAL_KNOWLEDGE])
def test_other_kinds_are_recorded_the_same_way(world, session, kind):
    declarant = world.steward() if kind is Kind.TRADITIONAL_KNOWLEDGE else world.member()
    extra = {}
    if kind is Kind.DSI:
        extra["source_resources"] = [world.declare(declarant).reference]
    ledger = Ledger(session)
    decl = world.declare(declarant, kind, **extra)
    world.declarations.transition(declarant, decl.reference, "withdraw", "Filed twice.")
    assert ledger.added() == [
        ("declaration", decl.reference, "create", None, "draft"),
        ("declaration", decl.reference, "withdraw", "draft", "withdrawn"),
    ]


def test_refused_actions_write_nothing(world, session):
    member = world.member()
    stranger = world.member()
    official = world.official()
    svc = world.declarations
    decl = world.declare(member)
    ledger = Ledger(session)

    attempts = [
        lambda: svc.transition(member, decl.reference, "register"),  # declarant as reviewer
        lambda: svc.transition(official, decl.reference, "register"),  # a draft is not theirs
        lambda: svc.transition(stranger, decl.reference, "submit"),  # another organization
        lambda: svc.transition(member, decl.reference, "withdraw", "  "),  # reason required
        lambda: svc.transition(member, decl.reference, "submit", version=decl.version + 1),
        lambda: svc.update(member, decl.reference, {"version": decl.version - 1,
                                                    "common_name": "Stale"}),
        lambda: svc.amend(member, decl.reference),  # only registered records are amended
        lambda: svc.create(official, Kind.GENETIC_RESOURCE, {}),  # officials do not declare
    ]
    for attempt in attempts:
        with pytest.raises(DomainError):
            attempt()
        session.rollback()
    assert ledger.added() == []
    assert svc.get(member, decl.reference).status is Status.DRAFT
    assert verify_chain(session).ok


def test_accounts_and_tokens_write_one_event_each(world, session, passwords):
    accounts = AccountService(session, passwords)
    admin = world.admin()
    ledger = Ledger(session)

    org = accounts.create_organization(admin, "Yunnan Seed Bank", OrgKind.RESEARCH_INSTITUTE,
                                       "530100")
    assert ledger.added() == [("organization", f"ORG-{org.id}", "register", None, None)]

    user = accounts.create_user(admin, email="wang@example.org", display_name="Wang Fang",
                                password=PASSWORD, organization=org)
    [created] = ledger.added_events()
    assert (created.subject_ref, created.action, created.actor_id) == (
        f"USER-{user.id}", "create", admin.id)

    token, _secret = accounts.issue_token(user, "lab robot")
    assert ledger.added() == [("api_token", token.prefix, "issue", None, None)]
    accounts.revoke_token(user, token.id)
    assert ledger.added() == [("api_token", token.prefix, "revoke", None, None)]
    accounts.revoke_token(user, token.id)
    assert ledger.added() == [], "revoking a revoked token changes nothing"

    signed_up = accounts.register_organization(
        organization_name="Hani terrace community", kind=OrgKind.COMMUNITY,
        region_code="532500", display_name="Li Na", email="li@example.org", password=PASSWORD)
    assert ledger.added() == [
        ("organization", f"ORG-{signed_up.organization_id}", "register", None, None),
        ("user", f"USER-{signed_up.id}", "create", None, None),
    ]
    assert verify_chain(session).ok


def test_key_list_import_and_cli_accounts_write_one_event_each(app, session, tmp_path):
    runner = app.test_cli_runner()
    ledger = Ledger(session)

    assert runner.invoke(args=["orgs", "create", "Provincial Bureau", "--kind", "authority",
                               "--region", "530000"]).exit_code == 0
    assert [e[2] for e in ledger.added()] == ["register"]
    result = runner.invoke(args=["users", "create", "zhao@example.org", "--name", "Zhao Lei",
                                 "--org", "Provincial Bureau", "--level", "national",
                                 "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert [e[2] for e in ledger.added()] == ["create"]

    csv_file = tmp_path / "key_list.csv"
    csv_file.write_text("scientific_name,rank\nPanax,genus\nOryza rufipogon,species\n")
    assert runner.invoke(args=["keylist", "import", str(csv_file)]).exit_code == 0
    [imported] = ledger.added_events()
    assert (imported.subject_type, imported.action, imported.actor_name) == (
        "key_list", "import", "system")
    assert imported.data["added"] == 2

    csv_file.write_text("scientific_name,rank\nPanax,genus\n")
    assert runner.invoke(args=["keylist", "import", str(csv_file)]).exit_code == 0
    [reimported] = ledger.added_events()
    assert (reimported.data["updated"], reimported.data["deactivated"]) == (1, 1)

    csv_file.write_text("scientific_name,rank\nPanax,no-such-rank\n")
    assert runner.invoke(args=["keylist", "import", str(csv_file)]).exit_code != 0
    assert ledger.added() == [], "a refused import records nothing"

    result = audit_verify(app)
    assert result.exit_code == 0, result.output
    assert "history intact: 4 events" in result.output


def test_history_through_the_api_names_who_and_why(client, world):
    member = world.member()
    official = world.official()
    decl = world.declare(member)
    world.declarations.transition(member, decl.reference, "submit")
    world.declarations.transition(official, decl.reference, "return", "Add the collector.")

    history = client.get(f"/api/v1/declarations/{decl.reference}/history",
                         headers=world.headers(member))
    assert history.status_code == 200
    returned = history.get_json()[-1]
    assert returned["action"] == "return"
    assert returned["comment"] == "Add the collector."
    assert official.display_name in str(returned)


# --- audit verify --------------------------------------------------------------------------


def test_audit_verify_passes_on_an_empty_and_an_intact_history(app, world):
    result = audit_verify(app)
    assert result.exit_code == 0, result.output
    assert "history intact: 0 events" in result.output

    world.registered(world.member())
    result = audit_verify(app)
    assert result.exit_code == 0, result.output
    assert "history intact:" in result.output


def test_chain_starts_at_genesis_and_links_every_row(world, session):
    world.registered(world.member())
    events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite has no session time zone")
def test_chain_verifies_whatever_the_readers_time_zone(world, app):
    """A PostgreSQL session outside UTC returns timestamps with its own offset."""
    world.registered(world.member())
    url = app.extensions["abs"].settings.database_url
    engine = make_engine(url, connect_args={"options": "-c timezone=Asia/Shanghai"})
    try:
        with make_session_factory(engine)() as session:
            assert session.scalar(text("SHOW timezone")) == "Asia/Shanghai"
            report = verify_chain(session)
            first = session.scalar(select(AuditEvent).order_by(AuditEvent.seq))
            assert first.at.utcoffset().total_seconds() == 0
    finally:
        engine.dispose()
    assert report.ok, report


# --- the database refuses changes ----------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET comment = 'rewritten' WHERE seq = 1",
    "UPDATE audit_events SET seq = seq + 1000",
    "DELETE FROM audit_events WHERE seq = 1",
    "DELETE FROM audit_events",
])
def test_database_refuses_update_and_delete_of_history(app, world, session, statement):
    world.declare(world.member())
    before = last_seq(session)
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement))
    session.rollback()
    assert last_seq(session) == before
    assert audit_verify(app).exit_code == 0


def test_orm_cannot_rewrite_an_event(world, session):
    world.declare(world.member())
    event = session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))
    with pytest.raises(DBAPIError, match="append-only"), unit_of_work(session):
        event.comment = "nothing happened here"
    with pytest.raises(DBAPIError, match="append-only"), unit_of_work(session):
        session.delete(session.get(AuditEvent, event.id))
    session.expire_all()
    assert session.get(AuditEvent, event.id).comment is None
    assert verify_chain(session).ok


# --- tampering behind the application's back -----------------------------------------------


def _append_only_ddl() -> tuple[list[str], list[str]]:
    """The trigger statements exactly as the initial migration runs them."""
    path = REPO_ROOT / "migrations" / "versions" / "0001_initial_schema.py"
    spec = importlib.util.spec_from_file_location("_initial_schema", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if ON_POSTGRES:
        return (["DROP TRIGGER audit_events_no_change ON audit_events"],
                module.POSTGRES_APPEND_ONLY[1:])
    return (["DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"],
            module.SQLITE_APPEND_ONLY)


@pytest.fixture
def unguarded(app):
    """An attacker with SQL access drops the triggers; they come back for the next test."""
    drop, create = _append_only_ddl()
    engine = app.extensions["abs"].engine
    with engine.begin() as conn:
        for statement in drop:
            conn.execute(text(statement))
    yield engine
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))


@pytest.fixture
def busy_history(world):
    """A history of a dozen events of several kinds."""
    member = world.member()
    official = world.official()
    world.registered(member, reviewer=official)
    decl = world.declare(member)
    world.declarations.transition(member, decl.reference, "submit")
    world.declarations.transition(official, decl.reference, "return", "More detail.")
    return world


def _tamper(engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _seq_count(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM audit_events"))


TAMPERING = {
    "edit a comment": (["UPDATE audit_events SET comment = 'approved by phone' WHERE seq = 5"],
                       5),
    "edit an actor": (["UPDATE audit_events SET actor_name = 'Someone Else' WHERE seq = 3"], 3),
    "edit a state": (["UPDATE audit_events SET to_state = 'rejected' WHERE seq = 7"], 7),
    "delete a row": (["DELETE FROM audit_events WHERE seq = 4"], 4),
    "swap two rows": ([
        "UPDATE audit_events SET seq = -seq WHERE seq IN (6, 9)",
        "UPDATE audit_events SET seq = 9 WHERE seq = -6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -9",
    ], 6),
    "swap neighbours": ([
        "UPDATE audit_events SET seq = -seq WHERE seq IN (2, 3)",
        "UPDATE audit_events SET seq = 3 WHERE seq = -2",
        "UPDATE audit_events SET seq = 2 WHERE seq = -3",
    ], 2),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_audit_verify_names_the_first_tampered_row(app, busy_history, unguarded, how):
    assert _seq_count(unguarded) >= 10
    statements, first_bad = TAMPERING[how]
    assert audit_verify(app).exit_code == 0
    _tamper(unguarded, *statements)

    result = audit_verify(app)
    assert result.exit_code != 0
    assert f"history is broken at seq {first_bad}:" in result.output, result.output


def test_audit_verify_notices_rows_cut_from_the_end(app, busy_history, unguarded):
    count = _seq_count(unguarded)
    _tamper(unguarded, f"DELETE FROM audit_events WHERE seq >= {count - 1}")
    result = audit_verify(app)
    assert result.exit_code != 0
    assert f"history is broken at seq {count - 1}:" in result.output, result.output


def test_audit_verify_notices_a_row_rehashed_after_editing(app, busy_history, unguarded):
    """Re-hashing the edited row hides the edit in that row, but not the link to the next."""
    with make_session_factory(unguarded)() as own, unit_of_work(own):
        event = own.scalar(select(AuditEvent).where(AuditEvent.seq == 8))
        event.comment = "approved by phone"
        event.hash = chain_hash(event.prev_hash, event)
    result = audit_verify(app)
    assert result.exit_code != 0
    assert "history is broken at seq 9: prev_hash" in result.output, result.output


# --- many writers at once ------------------------------------------------------------------


def _concurrently(workers: int, job) -> list[BaseException]:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            job(index)
        except BaseException as exc:  # noqa: BLE001  (reported to the test below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_first_events_of_a_new_registry_written_at_once_form_one_chain(app, session):
    """No chain head exists yet: every writer races to create it."""
    factory = app.extensions["abs"].session_factory
    passwords = app.extensions["abs"].passwords

    def job(index: int) -> None:
        with factory() as own:
            AccountService(own, passwords).create_organization(
                None, f"Founding member {index}", OrgKind.ENTERPRISE, "530100")

    assert _concurrently(8, job) == []
    report = verify_chain(session)
    assert report.ok and report.checked == 8, report


def test_chain_stays_valid_when_many_writes_interleave(app, world, session):
    workers, rounds = 8, 6
    members = [world.member().id for _ in range(workers)]
    official_id = world.official(OfficialLevel.NATIONAL).id
    factory = app.extensions["abs"].session_factory
    passwords = app.extensions["abs"].passwords
    start = last_seq(session)

    def job(index: int) -> None:
        with factory() as own:
            member = own.get(User, members[index])
            official = own.get(User, official_id)
            svc = DeclarationService(own)
            accounts = AccountService(own, passwords)
            for n in range(rounds):
                decl = svc.create(member, Kind.GENETIC_RESOURCE, _gr_data(n))
                svc.transition(member, decl.reference, "submit")
                svc.transition(official, decl.reference, "register")
                token, _ = accounts.issue_token(member, f"token {n}")
                accounts.revoke_token(member, token.id)
            if index == 0:
                keylist.import_list(own, None, "scientific_name,rank\nPanax,genus\n")

    assert _concurrently(workers, job) == []
    added = events_since(session, start)
    assert len(added) == workers * rounds * 5 + 1
    assert [e.seq for e in added] == list(range(start + 1, start + 1 + len(added)))
    report = verify_chain(session)
    assert report.ok and report.checked == start + len(added), report
    assert audit_verify(app).exit_code == 0


def _gr_data(n: int) -> dict:
    from abs_registry.declarations.schemas import GeneticResourceIn
    from tests.conftest import gr_payload

    return GeneticResourceIn().load(gr_payload(common_name=f"Rice {n}"))
