"""No leaks, proven: every route of the app, every method, as every role, against traditional
knowledge of every visibility planted with unique markers (issue 7, DOMAIN rule 4).

The walk (tests/leakwalk/) reads the routes from ``app.url_map``, so a new route is walked
without touching this file, and fails naming any route whose parameters it cannot fill. It
reports every leak it finds at once: the check, the route, the role and the marker.

One test function on purpose: the planted world is shared by the whole walk (planting and
signing in cost more than the walk), and a module-scoped database cannot be kept from other
test modules on the same PostgreSQL worker.
"""

from __future__ import annotations

import json
import logging
import socket

from aiosmtpd.controller import Controller
from flask_babel import force_locale
from sqlalchemy import select

from abs_registry.notifications.models import Notification
from abs_registry.notifications.views import sentence
from abs_registry.translog import service as translog
from tests.leakwalk import plant, policy, routes
from tests.leakwalk.plant import ROLES
from tests.leakwalk.walk import Call, Finding, Walker, normalized, with_body_refs


def test_confidential_tk_leaks_through_no_route_count_log_or_message(app, world, caplog):
    app.config["WTF_CSRF_ENABLED"] = False  # forms are posted as found, without the token
    caplog.set_level(logging.DEBUG)
    # The SQL echo prints every row it reads; it is a database trace an operator turns on,
    # not the application's log, and at DEBUG it would only slow the walk down.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)

    cast = plant.cast(world)
    public = plant.plant_records(world, cast, ["public"], queued=False)
    plant.plant_application(world, cast, "enterprise", cast.users["applicant"], public)
    walker = Walker(app, cast, world.accounts, spec={}, missing_tk=_missing_tk(world, public))
    walker.spec = walker.clients["anonymous"].get("/api/v1/openapi.json").get_json()

    # Lists and counts: planting confidential records changes nothing for those who may
    # not know of them.
    before = _listings(walker)
    confidential = plant.plant_records(world, cast, plant.confidential_visibilities(),
                                       queued=True)
    after = _listings(walker)
    for role in ROLES:
        if not any(policy.knows_of(role, r) for r in confidential):
            for key, seen in after[role].items():
                if seen != before[role][key]:
                    walker.report("count", role, Call(key, "", "GET", key), "the answer changed when confidential "
                                  "records were planted")
    registered = {r.visibility: r for r in confidential if r.status == "registered"}
    plant.plant_application(world, cast, "community", cast.insiders[0], list(registered.values()))
    plant.plant_app_attachment(world, cast, "community", cast.insiders[0])
    # Permits, signed and logged, with their obligations: the community's own naming its
    # secret knowledge, and the grantee's naming the restricted record it may read.
    plant.plant_grant(world, cast, registered["restricted"], "grantee")
    plant.plant_permit(world, cast, "community-permit", cast.insiders[0], [registered["secret"]])
    plant.plant_permit(world, cast, "grantee-permit", cast.users["grantee"],
                       [registered["restricted"]])

    calls, unfillable = routes.plan(app, _fill(app, cast, world, walker.missing_tk), walker.spec)
    assert not unfillable, "routes the leak walk cannot fill:\n" + "\n".join(unfillable)
    reads = [c for c in calls if c.method == "GET"]
    writes = [c for c in calls if c.method in routes.MUTATING]
    assert len(reads) + len(writes) == len(calls), "a method the walk does not send"
    # Verification is asked with what a verifier holds: the JWS, the number, the QR code's URL.
    reads += routes.verify_calls(cast.permits)

    for role in ROLES:
        for call in reads:
            walker.harvest(call, walker.check(role, call))
    for role in ROLES:
        for call in reads:
            if names := walker.search_names(call):
                walker.probe_search(role, call, names)
    tk_refs = [*(r.reference for r in cast.records), walker.missing_tk]
    for role in ROLES:  # least privileged first: see plant.ROLES
        for call in writes:
            shaped = call if call.is_api else walker.form_body(call)
            for each in with_body_refs(shaped, tk_refs):
                walker.check(role, each)
    _listings(walker)  # what the writes created (amendments, messages) is scanned too

    _scan_logs(walker, list(caplog.records))  # before the test's own SMTP server logs
    _scan_outbox(walker)
    _scan_mail(walker, app)

    walked = {c.rule for c in calls}
    print(f"leak walk: {len(walked)} routes, {len(reads) + len(writes)} planned reads and "
          f"writes, {len(ROLES)} roles, {walker.sent} requests")
    assert not walker.findings, _report(walker.findings, walker.sent)
    _assert_the_walk_can_see(walker)


def _assert_the_walk_can_see(walker: Walker) -> None:
    """The walk found each marker where it may show: a scan that sees nothing proves nothing."""
    assert walker.sent > 1000, walker.sent
    assert walker.probes > 0, "no search form or query parameter was probed"
    assert len(walker.forms) > 10, sorted(walker.forms)
    for record in walker.cast.records:
        for name in record.markers:
            for role in ("owner", "cleared"):
                assert (role, f"{record.name}.{name}") in walker.seen, (role, record.name, name)
            if record.visibility == "public":
                assert ("anonymous", f"{record.name}.{name}") in walker.seen, (record.name, name)
            if record.name == "restricted":  # the grant lets the grantee read the body
                assert ("grantee", f"{record.name}.{name}") in walker.seen, (record.name, name)


def _missing_tk(world, planted) -> str:
    """A well-formed TK reference of the planted year that was never issued."""
    year = planted[0].reference.split("-")[2]
    missing = f"CN-TK-{year}-999999"
    assert world.declarations._load(missing) is None
    return missing


def _fill(app, cast, world, missing_tk) -> routes.Fill:
    """Planted values for every route parameter, and one that names nothing for each."""
    insider_token = world.accounts.issue_token(cast.insiders[0], "not the walker's")[0]
    year = next(iter(cast.applications.values())).split("-")[2]
    missing = routes.MISSING_ID
    log_size = translog.tree_head(world.session).size
    items = [i for ids in cast.obligation_items.values() for i in ids]
    tk = ([r.reference for r in cast.records], [missing_tk])
    return routes.Fill(known={
        **routes.FIXED,
        ("declarations", "reference"): tk,
        # sequences belong to DSI records, none of them TK: the walk asks TK references for
        # a sequence, which must answer like a missing one
        ("declarations", "identifier"): (["seq1"], ["no-such-sequence"]),
        ("traditional-knowledge", "reference"): tk,
        ("traditional-knowledge", "attachment_id"): (cast.tk_attachment_ids, [missing]),
        ("traditional-knowledge", "grant_id"): (cast.grant_ids, [missing]),
        ("applications", "reference"): (list(cast.applications.values()),
                                         [f"CN-APP-{year}-999999"]),
        ("applications", "consent_id"): (cast.consent_ids, [missing]),
        ("applications", "attachment_id"): (cast.app_attachment_ids, [missing]),
        ("permits", "number"): (sorted({p.number for p in cast.permits}),
                                [f"CN-ABS-{year}-999999"]),
        ("permits", "version"): (sorted({p.version for p in cast.permits}), [99]),
        ("log", "index"): ([str(i) for i in range(log_size)], [str(log_size)]),
        ("obligations", "reference"): (cast.obligations, [f"CN-OBL-{year}-999999"]),
        ("obligations", "item_id"): (items, [missing]),
        ("obligations", "attachment_id"): (cast.obligation_attachment_ids, [missing]),
        ("movements", "reference"): (cast.movements, [f"CN-MOV-{year}-999999"]),
        ("communiques", "reference"): (cast.communiques, [f"CN-CPC-{year}-999999"]),
        ("*", "token_id"): ([insider_token.id], [missing]),
    }, actions=routes.all_actions(app))


def _listings(walker: Walker) -> dict[str, dict]:
    """Every parameterless page and API answer, per role, scanned and normalized."""
    out: dict[str, dict] = {}
    rules = [r for r in walker.app.url_map.iter_rules()
             if "GET" in r.methods and not r.arguments and r.rule not in routes.EXCLUDED]
    for role in ROLES:
        out[role] = {}
        for rule in rules:
            call = Call(rule.rule, rule.endpoint, "GET", rule.rule)
            response = walker.send(role, call)
            walker.scan(role, call, response)
            out[role][rule.rule] = normalized(response, [])
    return out


def _forbidden_text(walker: Walker, role: str) -> list[tuple[str, str]]:
    return walker.forbidden(role, Call("", "", "", ""))


def _scan_outbox(walker: Walker) -> None:
    """Notification rows, and their sentences in both languages, hold nothing hidden."""
    session = walker.app.extensions["abs"].session_factory()
    rows = session.scalars(select(Notification)).all()
    with walker.app.test_request_context():
        for row in rows:
            role = walker.cast.role_of(row.user_id)
            if role is None:
                continue  # the community's own member, or people the walk created
            texts = [row.kind, row.link, json.dumps(row.params, ensure_ascii=False)]
            for locale in ("en", "zh_Hans_CN"):
                with force_locale(locale):
                    texts.append(sentence(row))
            text = "\n".join(texts).casefold()
            for needle, what in _forbidden_text(walker, role):
                if needle in text:
                    walker.findings.append(Finding("outbox", role, "-", "notifications", row.link,
                                                   f"{what} ({needle}) in notification {row.id}"))
    session.close()


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"


def _scan_mail(walker: Walker, app) -> None:
    """The e-mails the outbox sends say no more than the notifications."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = app.extensions["abs"].settings
    try:
        settings.smtp_host, settings.smtp_port, settings.smtp_starttls = "127.0.0.1", port, False
        result = app.test_cli_runner().invoke(args=["notifications", "send"])
        assert result.exit_code == 0, result.output
    finally:
        settings.smtp_host = None
        controller.stop()
    assert inbox.messages, "the walk sent no e-mail to scan"
    by_email = {u.email: role for role, u in walker.cast.users.items()}
    for message in inbox.messages:
        role = by_email.get(message.rcpt_tos[0])
        if role is None:
            continue
        text = message.content.decode("utf-8", errors="replace").casefold()
        for needle, what in _forbidden_text(walker, role):
            if needle in text:
                walker.findings.append(Finding("mail", role, "-", "notifications send",
                                               message.rcpt_tos[0], f"{what} ({needle})"))


def _scan_logs(walker: Walker, records) -> None:
    """The log holds nothing the public may not read: operators are not the community."""
    needles = [(n, w) for n, w in _forbidden_text(walker, "anonymous")
               if not w.endswith(".reference")]
    for record in records:
        if record.name.startswith("sqlalchemy"):
            continue
        text = f"{record.getMessage()}\n{record.exc_text or ''}".casefold()
        for needle, what in needles:
            if needle in text:
                walker.findings.append(Finding("log", "-", "-", record.name, record.pathname,
                                               f"{what} ({needle}) in a {record.levelname} "
                                               f"record: {record.getMessage()[:200]}"))


def _report(findings: list[Finding], sent: int) -> str:
    """One line per check, route and role (with how many more alike), the worst first."""
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.check, f.method, f.rule, f.role), []).append(f)
    lines = [f"{len(findings)} leak(s) on {len(groups)} route/role pairs in {sent} requests:"]
    for alike in list(groups.values())[:80]:
        more = f"\n    (and {len(alike) - 1} more alike)" if len(alike) > 1 else ""
        lines.append(f"{alike[0]}{more}")
    if len(groups) > 80:
        lines.append(f"... and {len(groups) - 80} more route/role pairs")
    return "\n".join(lines)
