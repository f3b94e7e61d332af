"""The officials' review queue with 50,000 open access applications: median and p95 latency.

Seeds 50,000 open applications (plus 10,000 decided or withdrawn ones) with Core bulk
inserts: states spread over draft, submitted, returned, consent, agreement, review and
information requested; submission dates over two years; 200 applicant organizations; one
or two registered resources each; a consent request from the consent step on, and an
accepted agreement (the example values, two acceptances) from review on. Then, as a signed-in
official, ~200 requests with different pages and filters (mostly the first pages of the
default queue, some deep pages, every status filter, 20/50/100 per page) through the page
GET /applications/queue (session cookie) and through GET /api/v1/application-queue (bearer
token), each after one warm-up pass, with the loaded app frozen out of the garbage
collector's full passes as `abs-registry serve` does (--no-freeze to compare). Goal: p95
under 100 ms on both databases.

    .venv/bin/python bench/application_queue.py [-n 50000] [--requests 200] [--pg SERVER]
        [--explain] [--no-freeze]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common
from sqlalchemy import event, insert, select, text

from abs_registry import agreements, create_app, migrations
from abs_registry.applications.models import (
    Agreement,
    AgreementAcceptance,
    Application,
    AppStatus,
    ConsentRequest,
    application_resources,
)
from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.auth.service import AccountService
from abs_registry.config import Settings
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Kind
from abs_registry.declarations.service import DeclarationService

GOAL_MS = 100
PASSWORD = "bench password long enough"
EXAMPLE = _common.REPO / "contracts/non_commercial_research/v1/example.json"
OPEN_SHARE = [(AppStatus.DRAFT, 5), (AppStatus.SUBMITTED, 20), (AppStatus.RETURNED, 8),
              (AppStatus.CONSENT, 20), (AppStatus.AGREEMENT, 15), (AppStatus.REVIEW, 25),
              (AppStatus.INFORMATION_REQUESTED, 7)]
CLOSED_SHARE = [(AppStatus.APPROVED, 6), (AppStatus.REFUSED, 2), (AppStatus.WITHDRAWN, 1),
                (AppStatus.CONSENT_REFUSED, 1)]
CONSENTED = {AppStatus.CONSENT, AppStatus.AGREEMENT, AppStatus.REVIEW,
             AppStatus.INFORMATION_REQUESTED, AppStatus.APPROVED, AppStatus.REFUSED}
AGREED = {AppStatus.REVIEW, AppStatus.INFORMATION_REQUESTED, AppStatus.APPROVED,
          AppStatus.REFUSED}
START = datetime(2024, 3, 1, tzinfo=UTC)
BATCH = 5000
GR = {"scientific_name": "Oryza rufipogon", "taxon_rank": "species", "ncbi_taxon_id": 4529,
      "common_name": "common wild rice", "material_type": "seed", "quantity": "1.5",
      "quantity_unit": "kg", "collection_region": "532822", "latitude": "21.95",
      "longitude": "100.45", "collection_date": "2025-10-12", "collector": "Li Wei",
      "holder": "Yunnan germplasm bank", "conservation": "ex_situ",
      "intended_use": "Screening for drought tolerance"}


class World:
    """Who the seeded applications belong to, and the official who reads the queue."""

    def __init__(self, app):
        ext = app.extensions["abs"]
        with ext.session_factory() as session:
            accounts = AccountService(session, ext.passwords)
            authority = accounts.create_organization(None, "Bench authority", OrgKind.AUTHORITY,
                                                     "530000")
            self.official = accounts.create_user(
                None, email="official@example.org", display_name="Official", password=PASSWORD,
                organization=authority, role=Role.OFFICIAL, official_level=OfficialLevel.NATIONAL)
            provider_org = accounts.create_organization(None, "Bench provider",
                                                        OrgKind.RESEARCH_INSTITUTE, "530100")
            provider = accounts.create_user(None, email="provider@example.org",
                                            display_name="Provider", password=PASSWORD,
                                            organization=provider_org)
            self.provider_org_id, self.provider_id = provider_org.id, provider.id
            declarations = DeclarationService(session)
            self.resource_ids = []
            for i in range(20):
                decl = declarations.create(provider, Kind.GENETIC_RESOURCE,
                                           schemas.GeneticResourceIn().load(
                                               dict(GR, collector=f"Collector {i}")))
                declarations.transition(provider, decl.reference, "submit")
                declarations.transition(self.official, decl.reference, "register")
                self.resource_ids.append(decl.id)
            self.applicants = []  # (organization id, user id)
            for i in range(200):
                org = accounts.create_organization(
                    None, f"Applicant {i:03d} Biotech", OrgKind.ENTERPRISE, "530100")
                user = accounts.create_user(None, email=f"applicant{i}@example.org",
                                            display_name=f"Applicant {i}", password=PASSWORD,
                                            organization=org)
                self.applicants.append((org.id, user.id))
            self.token = accounts.issue_token(self.official, "bench")[1]


def _shares(n: int, shares: list[tuple[AppStatus, int]], rng: random.Random) -> list[AppStatus]:
    weights = [w for _, w in shares]
    return rng.choices([s for s, _ in shares], weights=weights, k=n)


def seed(app, world: World, n_open: int) -> None:
    rng = random.Random(3)
    statuses = _shares(n_open, OPEN_SHARE, rng) + _shares(n_open // 5, CLOSED_SHARE, rng)
    rng.shuffle(statuses)
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    text_ = agreements.draft("non_commercial_research", 1, example["values"], example["terms"])
    factory = app.extensions["abs"].session_factory
    year_span = 730 * 24 * 3600
    start = time.perf_counter()
    with factory() as session:
        for first in range(0, len(statuses), BATCH):
            apps, links, consents, deals, ids = [], [], [], [], []
            for i, status in enumerate(statuses[first:first + BATCH], first + 1):
                org_id, user_id = world.applicants[rng.randrange(len(world.applicants))]
                created = START + timedelta(seconds=rng.randrange(year_span))
                submitted = None if status is AppStatus.DRAFT else \
                    created + timedelta(hours=rng.randrange(1, 240))
                commercial = rng.random() < 0.3
                exports = rng.random() < 0.1
                reasons = (["commercial_purpose"] if commercial else []) + \
                    (["material_leaves_country"] if exports else [])
                apps.append({
                    "id": i, "reference": f"CN-APP-{created.year}-{i:06d}", "status": status,
                    "applicant_org_id": org_id, "created_by_id": user_id,
                    "title": f"{rng.choice(TOPICS)} in {rng.choice(SUBJECTS)}, study {i}",
                    "purpose": "commercial" if commercial else "non_commercial",
                    "activities": "Genotyping, field trials and a report to the provider.",
                    "work_location": "Kunming laboratories", "exports_material": exports,
                    "export_country": "DE" if exports else None,
                    "export_recipient": "Partner institute" if exports else None,
                    "third_party_transfer": False, "third_party_details": None,
                    "duration_months": rng.choice([12, 24, 36]),
                    "needs_national_review": bool(reasons), "review_reasons": reasons,
                    "completeness_round": 1 if status is AppStatus.RETURNED else 0,
                    "decision_text": None, "decided_by_id": None, "decided_at": None,
                    "submitted_at": submitted, "created_at": created,
                    "updated_at": submitted or created, "version": 3,
                })
                for rid in rng.sample(world.resource_ids, rng.choice([1, 1, 2])):
                    links.append({"application_id": i, "resource_id": rid})
                if status in CONSENTED:
                    consents.append({
                        "application_id": i, "organization_id": world.provider_org_id,
                        "kind": "pic", "subjects": [], "created_at": submitted,
                        "status": "pending" if status is AppStatus.CONSENT else "granted"})
                if status in AGREED:
                    deals.append({
                        "id": i, "application_id": i, "revision": 1,
                        "template_id": "non_commercial_research", "template_version": 1,
                        "parameters": text_.values, "terms": text_.terms,
                        "text_sha256": text_.sha256, "status": "accepted",
                        "created_by_id": user_id, "created_at": submitted})
                    ids.append((i, org_id, user_id, submitted))
            session.execute(insert(Application.__table__), apps)
            session.execute(insert(application_resources), links)
            if consents:
                session.execute(insert(ConsentRequest.__table__), consents)
            if deals:
                session.execute(insert(Agreement.__table__), deals)
                session.execute(insert(AgreementAcceptance.__table__), [
                    {"agreement_id": i, "organization_id": org, "user_id": user,
                     "text_sha256": text_.sha256, "at": at}
                    for i, o_org, o_user, at in ids
                    for org, user in ((o_org, o_user),
                                      (world.provider_org_id, world.provider_id))])
            session.commit()
            print(f"\rseeded {first + len(apps)} of {len(statuses)}", end="", file=sys.stderr,
                  flush=True)
        if session.bind.dialect.name == "postgresql":
            # The primary keys were given explicitly: move the sequences past them, and plan
            # from the tables as they now are (what autovacuum does shortly after a load).
            for table in ("applications", "agreements"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
            session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
    counts = {s.value: statuses.count(s) for s, _ in OPEN_SHARE + CLOSED_SHARE}
    print(f"\nseeded {len(statuses)} applications ({n_open} open) in "
          f"{time.perf_counter() - start:.0f} s: {counts}", flush=True)


TOPICS = ["Drought tolerance", "Disease resistance", "Secondary metabolites", "Cold tolerance",
          "Genome diversity", "Seed dormancy", "Flavour compounds", "Enzyme discovery"]
SUBJECTS = ["wild rice", "tea landraces", "Panax notoginseng", "Dendrobium", "soybean",
            "buckwheat", "citrus", "yeast strains"]


def requests(n: int, total_default: int) -> list[dict]:
    """Mostly the first pages of the default queue, some deep pages, every status filter."""
    rng = random.Random(11)
    out = []
    for i in range(n):
        per_page = rng.choice([20, 50, 50, 50, 100])
        query: dict = {"per_page": per_page}
        kind = i % 10
        if kind < 5:  # the default queue, near its head
            query["page"] = rng.choice([1, 1, 1, 2, 3, 4, 5])
        elif kind < 7:  # the default queue, anywhere, up to its last page
            query["page"] = rng.randint(1, max(1, total_default // per_page))
        else:
            query["status"] = rng.choice(["submitted", "review", "info_requested", "consent",
                                          "agreement"])
            query["page"] = rng.choice([1, 1, 2, rng.randint(1, 100)])
        out.append(query)
    return out


def sign_in(app, email: str):
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/sign-in", data={"email": email, "password": PASSWORD,
                                           "csrf_token": token})
    if answer.status_code != 302:
        sys.exit(f"sign-in failed: {answer.status_code}")
    return client


def timed(client, path: str, queries: list[dict], headers: dict | None = None,
          engine=None) -> tuple[list[float], list[int], list[float]]:
    """Wall ms, SQL statements and this process's CPU ms of each request.

    CPU time is what a busy machine blurs least: on SQLite it is nearly all of the wall time
    an idle machine would show; on PostgreSQL the server's share comes on top.
    """
    ms, statements, cpu, seen = [], [], [], [0]

    def count(*_args) -> None:
        seen[0] += 1

    if engine is not None:
        event.listen(engine, "before_cursor_execute", count)
    try:
        for q in queries:
            seen[0] = 0
            start, start_cpu = time.perf_counter(), time.process_time()
            answer = client.get(path, query_string=q, headers=headers or {})
            ms.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            statements.append(seen[0])
            if answer.status_code != 200:
                sys.exit(f"{path} {q}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
    finally:
        if engine is not None:
            event.remove(engine, "before_cursor_execute", count)
    return ms, statements, cpu


def explain(app) -> None:
    """The plans of the queue's two queries (count and page), default queue, page 1."""
    factory = app.extensions["abs"].session_factory
    with factory() as session:
        dialect = session.bind.dialect.name
        waiting = ("submitted", "review")
        stmt = select(Application.id).where(Application.status.in_(waiting))
        page = stmt.order_by(Application.submitted_at, Application.id).limit(50).offset(0)
        count = select(text("count(*)")).select_from(stmt.subquery())
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN ANALYZE "
        for label, query in (("count", count), ("page", page)):
            sql = str(query.compile(session.bind, compile_kwargs={"literal_binds": True}))
            print(f"--- {dialect} {label}: {sql}")
            for row in session.execute(text(prefix + sql)):
                print("   ", " | ".join(str(c) for c in row))


def summary(label: str, ms: list[float], statements: list[int], cpu: list[float]) -> str:
    return (f"{label:<34}{len(ms):>5}{_common.median(ms):>10.1f}"
            f"{_common.percentile(ms, .95):>9.1f}{max(ms):>9.1f}"
            f"{_common.median(cpu):>8.1f}{_common.percentile(cpu, .95):>8.1f}"
            f"{_common.median(statements):>6.0f}")


def by_page_size(label: str, queries: list[dict], figures) -> list[str]:
    lines = []
    for size in sorted({q["per_page"] for q in queries}):
        picked = [i for i, q in enumerate(queries) if q["per_page"] == size]
        lines.append(summary(f"  {label}, {size} a page",
                             *([f[i] for i in picked] for f in figures)))
    return lines


def measure(kind: str, server: str | None, n: int, count: int, with_explain: bool,
            freeze: bool) -> dict:
    with _common.database(kind, server, "queue") as url, \
            tempfile.TemporaryDirectory() as instance:
        migrations.upgrade(url)
        settings = Settings(instance_path=Path(instance), database_url=url,
                            secret_key="bench-secret-key", secure_cookies=False,
                            password_time_cost=1, password_memory_kib=8192)
        app = create_app(settings)
        engine = app.extensions["abs"].engine
        try:
            world = World(app)
            seed(app, world, n)
            if with_explain:
                explain(app)
            with app.extensions["abs"].session_factory() as session:
                total_default = session.scalar(select(text("count(*)")).select_from(
                    Application).where(Application.status.in_(("submitted", "review"))))
            queries = requests(count, total_default)
            if freeze:  # as `abs-registry serve` does once the app is loaded
                gc.collect()
                gc.freeze()
            browser = sign_in(app, world.official.email)
            api = app.test_client()
            bearer = {"Authorization": f"Bearer {world.token}"}
            timed(browser, "/applications/queue", queries)  # warm-up
            page = timed(browser, "/applications/queue", queries, engine=engine)
            timed(api, "/api/v1/application-queue", queries, bearer)
            json_ = timed(api, "/api/v1/application-queue", queries, bearer, engine)
        finally:
            engine.dispose()
            gc.unfreeze()
    print(f"\n{kind}: {total_default} in the default queue (submitted + review)")
    print(f"{'':<34}{'n':>5}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}"
          f"{'CPU med':>8}{'CPU p95':>8}{'SQL':>6}")
    print(summary("GET /applications/queue (page)", *page))
    print("\n".join(by_page_size("page", queries, page)))
    print(summary("GET /api/v1/application-queue", *json_))
    print("\n".join(by_page_size("API", queries, json_)), flush=True)
    return {"page": _common.percentile(page[0], .95), "api": _common.percentile(json_[0], .95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="open applications")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL server URL (or set ABS_BENCH_PG)")
    parser.add_argument("--explain", action="store_true", help="print the queue's query plans")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the loaded app in the collector's full passes (gc.freeze "
                             "is what `abs-registry serve` does)")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    p95 = {kind: measure(kind, server, args.n, args.requests, args.explain, not args.no_freeze)
           for kind in _common.databases(server)}
    print(f"\np95, goal < {GOAL_MS} ms: " + "; ".join(
        f"{kind} page {v['page']:.1f} ms, API {v['api']:.1f} ms" for kind, v in p95.items()))
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sys.exit(0 if all(ms < GOAL_MS for v in p95.values() for ms in v.values()) else 1)


if __name__ == "__main__":
    main()
