"""The declaration workflow as a Hypothesis state machine, checked against DOMAIN.md's rules.

Random people (the declaring organization's members, another organization's member, a
community steward, provincial and national officials, an official who belongs to the
declaring organization, and nobody at all) take random actions on a few declarations.
After every step the database must still satisfy the rules that must never break, and
each action must have succeeded exactly when the rules allow it, changing nothing when not.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import with_polymorphic

from abs_registry.audit.models import AuditEvent
from abs_registry.audit.writer import verify_chain
from abs_registry.auth.models import OfficialLevel, OrgKind, Role, User
from abs_registry.auth.passwords import Passwords
from abs_registry.auth.service import AccountService
from abs_registry.db import make_engine, make_session_factory
from abs_registry.declarations import keylist, schemas, states
from abs_registry.declarations.models import (
    Declaration,
    Kind,
    RegisterEntry,
    Status,
    Visibility,
)
from abs_registry.declarations.service import DeclarationService
from abs_registry.errors import DomainError
from tests.conftest import PASSWORD, dsi_payload, fresh_database, gr_payload, tk_payload

ACTORS = ["member_a", "colleague_a", "member_b", "steward_c", "provincial", "national",
          "insider", "anonymous"]
OFFICIALS = ["provincial", "national", "insider"]
DECLARANT_ROLE = {Kind.GENETIC_RESOURCE: Role.MEMBER, Kind.DSI: Role.MEMBER,
                  Kind.TRADITIONAL_KNOWLEDGE: Role.STEWARD}
PUBLISHED = {Status.REGISTERED, Status.WITHDRAWN, Status.SUPERSEDED}
OPEN = {Status.DRAFT, Status.SUBMITTED, Status.RETURNED}
TAXA = ["Oryza sativa", "Panax notoginseng", "Dendrobium nobile"]
KEY_LISTS = [
    "scientific_name,rank\nPanax,genus\n",
    "scientific_name,rank\nPanax,genus\nOryza sativa,species\n",
    "scientific_name,rank\nDendrobium,genus\n",
    "scientific_name,rank\n",
]
EDITS = {
    Kind.GENETIC_RESOURCE: {"common_name": ("common_name", ["Rice", "Ginseng"]),
                            "scientific_name": ("scientific_name", TAXA)},
    Kind.DSI: {"title": ("dsi_title", ["Loci of rice", "Loci of ginseng"])},
    Kind.TRADITIONAL_KNOWLEDGE: {"title": ("tk_title", ["Seed selection", "Root drying"])},
}
ANY = with_polymorphic(Declaration, "*")
# Nobody signs in here: the least argon2 cost keeps thirty worlds of people quick to build.
CHEAP_PASSWORDS = Passwords(time_cost=1, memory_kib=64)


@dataclass(frozen=True)
class Snapshot:
    """What the rules look at, read from committed data before and after an action."""

    id: int
    reference: str
    kind: Kind
    status: Status
    version: int
    visibility: Visibility
    organization_id: int
    created_by_id: int
    needs_national_review: bool
    submitted_at: datetime | None
    registered_at: datetime | None
    supersedes_id: int | None
    fields: tuple

    @classmethod
    def of(cls, decl: Declaration) -> Snapshot:
        edits = EDITS[Kind(decl.kind)]
        return cls(decl.id, decl.reference, Kind(decl.kind), decl.status, decl.version,
                   decl.visibility, decl.organization_id, decl.created_by_id,
                   decl.needs_national_review, decl.submitted_at, decl.registered_at,
                   decl.supersedes_id,
                   tuple((name, getattr(decl, attr)) for name, (attr, _) in edits.items()))

    def field(self, name: str):
        return dict(self.fields)[name]


@dataclass(frozen=True)
class Person:
    """Who acts: the account the services get, and the plain facts the rules below read."""

    name: str
    user: User | None
    id: int | None = None
    organization_id: int | None = None
    role: Role | None = None
    national: bool = False
    tk_clearance: bool = False

    @classmethod
    def of(cls, name: str, user: User | None) -> Person:
        if user is None:
            return cls(name, None)
        return cls(name, user, user.id, user.organization_id, user.role,
                   user.official_level is OfficialLevel.NATIONAL, user.tk_clearance)


# --- the rules, written from DOMAIN.md and the issue, independently of auth/permissions.py ----


def is_declarant(p: Person, d: Snapshot) -> bool:
    return p.organization_id == d.organization_id and p.role is DECLARANT_ROLE[d.kind]


def may_review(p: Person, d: Snapshot) -> bool:
    if p.role is not Role.OFFICIAL or d.status is not Status.SUBMITTED:
        return False
    if p.organization_id == d.organization_id or p.id == d.created_by_id:
        return False
    if d.visibility is not Visibility.PUBLIC and not p.tk_clearance:
        return False
    return not d.needs_national_review or p.national


def may_use_as_source(p: Person, source: Snapshot) -> bool:
    if source.kind is not Kind.GENETIC_RESOURCE:
        return False
    if source.status in {Status.WITHDRAWN, Status.REJECTED}:
        return False
    if p.organization_id == source.organization_id:
        return True
    return source.status in PUBLISHED and source.registered_at is not None


class WorkflowMachine(RuleBasedStateMachine):
    template: str = ""

    def __init__(self):
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="abs-workflow-"))
        self.engine = make_engine(fresh_database(self.template, self.directory))
        self.factory = make_session_factory(self.engine)
        self.session = self.factory()
        self.refs: list[str] = []
        self.max_declarations = 0
        self.expected_events = 0
        self.imports = 0

    def teardown(self):
        self.session.close()
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------

    @property
    def declarations(self) -> DeclarationService:
        return DeclarationService(self.session)

    def actor(self, name: str) -> Person:
        return self.people[name]

    def snapshot(self, reference: str) -> Snapshot:
        with self.factory() as observer:
            return Snapshot.of(observer.scalar(select(ANY).where(ANY.reference == reference)))

    def open_amendment(self, d: Snapshot) -> bool:
        with self.factory() as observer:
            return observer.scalar(select(func.count()).select_from(Declaration).where(
                Declaration.supersedes_id == d.id, Declaration.status.in_(OPEN))) > 0

    def waiting(self) -> bool:
        with self.factory() as observer:
            return observer.scalar(select(func.count()).select_from(Declaration).where(
                Declaration.status == Status.SUBMITTED)) > 0

    def audit_count(self) -> int:
        with self.factory() as observer:
            return observer.scalar(select(func.count()).select_from(AuditEvent))

    def attempt(self, allowed: bool, events: int, action, *, what: str, before=None):
        """Run the action; it must succeed iff allowed, and change nothing when refused."""
        count = self.audit_count()
        try:
            result = action()
        except DomainError as exc:
            assert not allowed, f"{what}: refused but the rules allow it: {exc.as_errors()}"
            self.session.rollback()
            assert self.audit_count() == count, f"{what}: a refusal wrote history"
            if before is not None:
                assert self.snapshot(before.reference) == before, f"{what}: refusal changed it"
            return None
        assert allowed, f"{what}: succeeded but the rules forbid it"
        self.expected_events += events
        assert self.audit_count() == count + events, f"{what}: expected {events} event(s)"
        return result

    # --- the world -------------------------------------------------------------------------

    @initialize(taxon=st.sampled_from(TAXA), visibility=st.sampled_from(list(Visibility)))
    def build_world(self, taxon, visibility):
        """Five organizations, their people, the key list, and a first GR and TK draft."""
        accounts = AccountService(self.session, CHEAP_PASSWORDS)
        a = accounts.create_organization(None, "Alpha Seeds", OrgKind.ENTERPRISE, "530100")
        b = accounts.create_organization(None, "Beta Institute", OrgKind.RESEARCH_INSTITUTE,
                                         "530100")
        c = accounts.create_organization(None, "Hani Community", OrgKind.COMMUNITY, "532500")
        p = accounts.create_organization(None, "Provincial Bureau", OrgKind.AUTHORITY, "530000")
        n = accounts.create_organization(None, "National Ministry", OrgKind.AUTHORITY, None)

        def person(key, org, **extra):
            return accounts.create_user(None, email=f"{key}@example.org",
                                        display_name=key.replace("_", " ").title(),
                                        password=PASSWORD, organization=org, **extra)

        users = {
            "member_a": person("member_a", a),
            "colleague_a": person("colleague_a", a),
            "member_b": person("member_b", b),
            "steward_c": person("steward_c", c),
            "provincial": person("provincial", p, role=Role.OFFICIAL,
                                 official_level=OfficialLevel.PROVINCIAL),
            "national": person("national", n, role=Role.OFFICIAL,
                               official_level=OfficialLevel.NATIONAL, tk_clearance=True),
            # An official who also belongs to the declaring organization: never its reviewer.
            "insider": person("insider", a, role=Role.OFFICIAL,
                              official_level=OfficialLevel.NATIONAL, tk_clearance=True),
            "anonymous": None,
        }
        self.people = {name: Person.of(name, user) for name, user in users.items()}
        keylist.import_list(self.session, None, KEY_LISTS[0])
        self.expected_events = self.audit_count()
        for actor, kind, payload in [
            ("member_a", Kind.GENETIC_RESOURCE, schemas.GeneticResourceIn().load(
                gr_payload(scientific_name=taxon))),
            ("steward_c", Kind.TRADITIONAL_KNOWLEDGE, schemas.TraditionalKnowledgeIn().load(
                tk_payload(visibility=visibility.value))),
        ]:
            decl = self.declarations.create(self.actor(actor).user, kind, payload)
            self.refs.append(decl.reference)
            self.expected_events += 1

    # --- declaring -------------------------------------------------------------------------

    @precondition(lambda self: len(self.refs) < 6)
    @rule(data=st.data(), kind=st.sampled_from(list(Kind)), anyone=st.booleans())
    def declare(self, data, kind, anyone):
        """A declarant of the right kind declares (or, if anyone, whoever is drawn tries)."""
        if anyone:
            who = data.draw(st.sampled_from(ACTORS), label="actor")
        else:
            who = data.draw(st.sampled_from(
                ["steward_c"] if kind is Kind.TRADITIONAL_KNOWLEDGE
                else ["member_a", "colleague_a", "member_b"]), label="declarant")
        actor = self.actor(who)
        allowed = actor.role is DECLARANT_ROLE[kind]
        taxon = data.draw(st.sampled_from(TAXA), label="taxon")
        if kind is Kind.GENETIC_RESOURCE:
            payload = schemas.GeneticResourceIn().load(gr_payload(scientific_name=taxon))
        elif kind is Kind.TRADITIONAL_KNOWLEDGE:
            visibility = data.draw(st.sampled_from(["public", "restricted", "secret"]),
                                   label="visibility")
            payload = schemas.TraditionalKnowledgeIn().load(
                tk_payload(visibility=visibility, associated_species=[taxon]))
        else:
            if not self.refs:
                return
            source = self.snapshot(data.draw(st.sampled_from(self.refs), label="source"))
            payload = schemas.DSIIn().load(dsi_payload(source_resources=[source.reference]))
            allowed = allowed and may_use_as_source(actor, source)
        decl = self.attempt(allowed, 1,
                            lambda: self.declarations.create(actor.user, kind, payload),
                            what=f"create {kind.value} by {who}")
        if decl is not None:
            self.refs.append(decl.reference)
            assert self.snapshot(decl.reference).status is Status.DRAFT

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), owner=st.booleans(), stale=st.booleans())
    def edit(self, data, owner, stale):
        d = self._choose(data, states.EDITABLE)
        actor = self._pick(data, d, owner)
        name = data.draw(st.sampled_from(sorted(EDITS[d.kind])), label="field")
        value = data.draw(st.sampled_from(EDITS[d.kind][name][1]), label="value")
        version = d.version - 1 if stale else d.version
        allowed = is_declarant(actor, d) and d.status in states.EDITABLE and not stale
        changed = d.field(name) != value
        self.attempt(allowed, int(changed),
                     lambda: self.declarations.update(actor.user, d.reference,
                                                      {"version": version, name: value}),
                     what=f"edit {d.reference} by {actor.name}", before=d)
        if allowed:
            assert self.snapshot(d.reference).field(name) == value

    # --- the workflow ----------------------------------------------------------------------

    @precondition(lambda self: self.refs)
    @rule(data=st.data())
    def declarant_submits(self, data):
        d = self._choose(data, {Status.DRAFT, Status.RETURNED})
        self._act(d, self._pick(data, d, owner=True), "submit", "")

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), official=st.sampled_from(OFFICIALS),
          action=st.sampled_from(["register", "register", "return", "reject"]))
    def official_decides(self, data, official, action):
        d = self._choose(data, {Status.SUBMITTED})
        self._act(d, self.actor(official), action, "Checked against the rules.")

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), action=st.sampled_from(["register", "return", "reject"]))
    def an_official_of_the_declaring_organization_decides(self, data, action):
        """The conflict of interest the rules forbid: an official deciding for their own side."""
        d = self._choose(data, {Status.SUBMITTED})
        insiders = [n for n in OFFICIALS
                    if self.actor(n).organization_id == d.organization_id] or ["insider"]
        who = data.draw(st.sampled_from(insiders), label="official")
        self._act(d, self.actor(who), action, "Looks fine to us.")

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), reason=st.sampled_from(["", "Filed in error."]))
    def declarant_withdraws(self, data, reason):
        d = self._choose(data, set(states.ACTIONS["withdraw"].from_states))
        self._act(d, self._pick(data, d, owner=True), "withdraw", reason)

    @precondition(lambda self: self.refs)
    @rule(data=st.data())
    def the_natural_next_step(self, data):
        """Drives declarations through their life: submit, decide, amend, as people would."""
        d = self._choose(data, {Status.DRAFT, Status.RETURNED, Status.SUBMITTED,
                                Status.REGISTERED}, amendments_first=True)
        if d.status in {Status.DRAFT, Status.RETURNED}:
            self._act(d, self._pick(data, d, owner=True), "submit", "")
        elif d.status is Status.SUBMITTED:
            official = data.draw(st.sampled_from(["national", "provincial"]), label="official")
            action = data.draw(st.sampled_from(["register", "register", "return", "reject"]),
                               label="decision")
            self._act(d, self.actor(official), action, "Checked against the rules.")
        elif d.status is Status.REGISTERED and len(self.refs) < 8:
            self._amend(d, self._pick(data, d, owner=True))

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), who=st.sampled_from(ACTORS),
          action=st.sampled_from(sorted(states.ACTIONS)),
          reason=st.sampled_from(["", "Because."]))
    def anyone_tries_anything(self, data, who, action, reason):
        d = self.snapshot(data.draw(st.sampled_from(self.refs), label="declaration"))
        self._act(d, self.actor(who), action, reason)

    def _act(self, d: Snapshot, actor: Person, action: str, reason: str):
        spec = states.ACTIONS[action]
        comment = reason or None
        if spec.by == "declarant":
            allowed = is_declarant(actor, d) and d.status in spec.from_states
        else:
            allowed = may_review(actor, d)
        allowed = allowed and (comment is not None or not spec.needs_comment)
        supersedes = None
        if action == "register" and d.supersedes_id is not None:
            supersedes = self._by_id(d.supersedes_id)
        superseding = supersedes is not None and supersedes.status is Status.REGISTERED
        result = self.attempt(
            allowed, 1 + int(allowed and superseding),
            lambda: self.declarations.transition(actor.user, d.reference, action, comment),
            what=f"{action} {d.reference} ({d.status.value}) by {actor.name}",
            before=d)
        if result is not None:
            assert self.snapshot(d.reference).status is spec.to_state
            if superseding:
                assert self.snapshot(supersedes.reference).status is Status.SUPERSEDED

    @precondition(lambda self: self.refs and len(self.refs) < 8)
    @rule(data=st.data(), owner=st.booleans())
    def amend(self, data, owner):
        d = self._choose(data, {Status.REGISTERED})
        self._amend(d, self._pick(data, d, owner))

    def _amend(self, d: Snapshot, actor: Person):
        allowed = (is_declarant(actor, d) and d.status is Status.REGISTERED
                   and not self.open_amendment(d))
        new = self.attempt(allowed, 1, lambda: self.declarations.amend(actor.user, d.reference),
                           what=f"amend {d.reference} by {actor.name}", before=d)
        if new is not None:
            self.refs.append(new.reference)
            amendment = self.snapshot(new.reference)
            assert (amendment.status, amendment.supersedes_id) == (Status.DRAFT, d.id)
            assert amendment.fields == d.fields

    @precondition(lambda self: self.imports < 3 and self.waiting())
    @rule(content=st.sampled_from(KEY_LISTS))
    def administrator_imports_the_key_list(self, content):
        """Most telling while declarations wait for review: they are flagged again."""
        self.imports += 1
        self.attempt(True, 1, lambda: keylist.import_list(self.session, None, content),
                     what="key list import")

    def _choose(self, data, statuses, amendments_first: bool = False) -> Snapshot:
        """Mostly a declaration where the move makes sense; sometimes any, to try the rest."""
        # In order of creation, not of reference: TK numbers are random, and Hypothesis must
        # make the same choices when it replays an example.
        with self.factory() as observer:
            query = (select(Declaration.reference).where(Declaration.status.in_(statuses))
                     .order_by(Declaration.id))
            fitting = observer.scalars(query).all()
            if amendments_first and data.draw(st.booleans(), label="amendments first"):
                fitting = observer.scalars(query.where(
                    Declaration.supersedes_id.is_not(None))).all() or fitting
        pool = fitting if fitting and data.draw(st.integers(0, 3), label="fit") else self.refs
        return self.snapshot(data.draw(st.sampled_from(pool), label="declaration"))

    def _pick(self, data, d: Snapshot, owner: bool) -> Person:
        if owner:
            declarants = [n for n in ACTORS if is_declarant(self.actor(n), d)]
            return self.actor(data.draw(st.sampled_from(declarants), label="declarant"))
        return self.actor(data.draw(st.sampled_from(ACTORS), label="actor"))

    def _by_id(self, declaration_id: int) -> Snapshot:
        with self.factory() as observer:
            return Snapshot.of(observer.scalar(select(ANY).where(ANY.id == declaration_id)))

    # --- what must always hold -------------------------------------------------------------

    @invariant()
    def the_rules_that_must_never_break(self):
        with self.factory() as observer:
            decls = {d.id: d for d in observer.scalars(select(Declaration))}
            events = observer.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
            self.nothing_is_ever_deleted(decls)
            self.every_change_has_one_event_and_the_chain_verifies(observer, events)
            self.history_replays_to_the_current_state(decls, events)
            self.the_register_holds_exactly_the_registered_public_and_restricted_declarations(
                observer, decls)
            self.a_superseded_declaration_has_a_registered_successor(decls)
            self.decisions_were_taken_by_independent_qualified_officials(observer, decls,
                                                                         events)

    def nothing_is_ever_deleted(self, decls):
        stored = {d.reference for d in decls.values()}
        assert set(self.refs) <= stored
        assert len(stored) >= self.max_declarations
        self.max_declarations = len(stored)

    def every_change_has_one_event_and_the_chain_verifies(self, observer, events):
        assert len(events) == self.expected_events
        report = verify_chain(observer)
        assert report.ok, report

    def history_replays_to_the_current_state(self, decls, events):
        moves: dict[int, list] = {}
        for e in events:
            if e.subject_type == "declaration" and e.to_state is not None:
                moves.setdefault(e.subject_id, []).append((e.action, e.from_state, e.to_state))
        assert set(moves) == set(decls), "a declaration without history, or history of none"
        for decl_id, path in moves.items():
            decl = decls[decl_id]
            assert path[0] == ("create", None, "draft"), (decl.reference, path)
            for (_, _, reached), (_, left, _) in zip(path, path[1:], strict=False):
                assert left == reached, (decl.reference, path)
            assert path[-1][2] == decl.status.value, (decl.reference, path)

    def the_register_holds_exactly_the_registered_public_and_restricted_declarations(
            self, observer, decls):
        """Restricted TK is listed by its public summary; secret TK never is."""
        listed = set(observer.scalars(select(RegisterEntry.declaration_id)))
        assert listed == {d.id for d in decls.values() if d.status is Status.REGISTERED
                          and d.visibility is not Visibility.SECRET}

    def a_superseded_declaration_has_a_registered_successor(self, decls):
        for old in decls.values():
            successors = [d for d in decls.values() if d.supersedes_id == old.id]
            if old.status is Status.SUPERSEDED:
                assert any(d.registered_at is not None for d in successors), (
                    f"{old.reference} is superseded by nothing registered")
            still_open = [d.reference for d in successors if d.status in OPEN]
            assert len(still_open) <= 1, f"{old.reference} has open amendments {still_open}"

    def decisions_were_taken_by_independent_qualified_officials(self, observer, decls, events):
        for e in events:
            if e.subject_type != "declaration" or e.action not in {"register", "return",
                                                                      "reject"}:
                continue
            decl, official = decls[e.subject_id], observer.get(User, e.actor_id)
            assert official.role is Role.OFFICIAL, (e.action, decl.reference)
            assert official.organization_id != decl.organization_id, (
                f"{official.email} decided their own organization's {decl.reference}")
            assert official.id != decl.created_by_id
            if e.action == "register" and decl.needs_national_review:
                assert official.official_level is OfficialLevel.NATIONAL, (
                    f"key-listed {decl.reference} registered by {official.email}")


def test_the_workflow_keeps_the_domain_rules(_template):
    class Machine(WorkflowMachine):
        template = _template

    run_state_machine_as_test(Machine, settings=settings(
        max_examples=30, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))

