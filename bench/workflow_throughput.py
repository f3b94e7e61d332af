"""Access applications taken from filing to decision through the JSON API, per second.

One case is what the parties and officials really send, each with their own bearer token:
the applicant files and submits; an official accepts it as complete; the provider grants
prior informed consent and the community free, prior and informed consent; the applicant
proposes the agreement from the non-commercial research template (example values) and
reads it back; each of the three parties accepts that exact text by revision and SHA-256;
an official reads the application and approves it. 13 requests, 11 of them writes, every
one answered 2xx or the run stops. In-process (Flask test client), one after another,
after a warm-up, on a migrated SQLite file and on a throw-away PostgreSQL database.

    .venv/bin/python bench/workflow_throughput.py [-n 300] [--warmup 30] [--pg SERVER]
        [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _common
from sqlalchemy import event

from abs_registry import create_app, migrations
from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.auth.service import AccountService
from abs_registry.config import Settings
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Kind
from abs_registry.declarations.service import DeclarationService

API = "/api/v1/applications"
EXAMPLE = _common.REPO / "contracts/non_commercial_research/v1/example.json"
PASSWORD = "bench password long enough"

GR = {"scientific_name": "Oryza rufipogon", "taxon_rank": "species", "ncbi_taxon_id": 4529,
      "common_name": "common wild rice", "material_type": "seed", "quantity": "1.5",
      "quantity_unit": "kg", "collection_region": "532822", "latitude": "21.95",
      "longitude": "100.45", "collection_date": "2025-10-12", "collector": "Li Wei",
      "holder": "Yunnan germplasm bank", "conservation": "ex_situ",
      "intended_use": "Screening for drought tolerance"}
TK = {"title": "Terrace rice seed selection",
      "description": "Seed is chosen from the tallest panicles at the autumn festival.",
      "domain": "agriculture", "associated_species": ["Oryza sativa"],
      "associated_resources": [], "visibility": "public"}


class Cast:
    """The people of one registry: applicant, provider, community steward, two officials."""

    def __init__(self, app):
        ext = app.extensions["abs"]
        with ext.session_factory() as session:
            accounts = AccountService(session, ext.passwords)
            people = {}
            for role_name, kind, region, extra in (
                    ("applicant", OrgKind.ENTERPRISE, "530100", {}),
                    ("provider", OrgKind.RESEARCH_INSTITUTE, "530100", {}),
                    ("steward", OrgKind.COMMUNITY, "532822", {}),
                    ("national", OrgKind.AUTHORITY, "530000",
                     {"role": Role.OFFICIAL, "official_level": OfficialLevel.NATIONAL}),
                    ("provincial", OrgKind.AUTHORITY, "530000",
                     {"role": Role.OFFICIAL, "official_level": OfficialLevel.PROVINCIAL})):
                org = accounts.create_organization(None, f"Bench {role_name}", kind, region)
                people[role_name] = accounts.create_user(
                    None, email=f"{role_name}@example.org", display_name=role_name.title(),
                    password=PASSWORD, organization=org, **extra)
            declarations = DeclarationService(session)
            registered = {}
            for who, kind, payload, schema in (
                    ("provider", Kind.GENETIC_RESOURCE, GR, schemas.GeneticResourceIn()),
                    ("steward", Kind.TRADITIONAL_KNOWLEDGE, TK, schemas.TraditionalKnowledgeIn())):
                decl = declarations.create(people[who], kind, schema.load(payload))
                declarations.transition(people[who], decl.reference, "submit")
                declarations.transition(people["national"], decl.reference, "register")
                registered[who] = decl.reference
            self.headers = {name: {"Authorization": f"Bearer {accounts.issue_token(u, 'bench')[1]}"}
                            for name, u in people.items()}
        self.resource, self.tk = registered["provider"], registered["steward"]
        example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
        self.proposal = {"template_id": "non_commercial_research", "template_version": 1,
                         "values": example["values"], "terms": example["terms"]}


class Runner:
    def __init__(self, client, cast: Cast):
        self.client, self.cast, self.requests = client, cast, 0

    def call(self, method: str, who: str, url: str, body=None, expect: int = 200) -> dict:
        self.requests += 1
        answer = self.client.open(url, method=method, json=body, headers=self.cast.headers[who])
        if answer.status_code != expect:
            sys.exit(f"{method} {url} as {who}: {answer.status_code} "
                     f"{answer.get_data(as_text=True)[:500]}")
        return answer.get_json()

    def case(self, i: int) -> None:
        c = self.cast
        ref = self.call("POST", "applicant", API, {
            "title": f"Drought tolerance in rice landraces {i}", "resources": [c.resource],
            "tk_records": [c.tk], "purpose": "non_commercial",
            "activities": "Genotyping and field trials of drought tolerance.",
            "work_location": "Kunming laboratories", "duration_months": 24}, 201)["reference"]
        url = f"{API}/{ref}"
        self.call("POST", "applicant", f"{url}/submit", {})
        consents = self.call("POST", "provincial", f"{url}/accept_complete", {})["consents"]
        for consent in consents:
            who = "provider" if consent["kind"] == "pic" else "steward"
            self.call("POST", who, f"{url}/consents/{consent['id']}",
                      {"grant": True, "conditions": "Cite the provider."})
        self.call("POST", "applicant", f"{url}/agreement", c.proposal, 201)
        agreement = self.call("GET", "provider", url)["agreement"]
        accept = {"revision": agreement["revision"], "text_sha256": agreement["text_sha256"]}
        for party in ("provider", "steward", "applicant"):
            self.call("POST", party, f"{url}/agreement/accept", accept)
        if self.call("GET", "provincial", url)["status"] != "review":
            sys.exit(f"{ref} did not reach review")
        decided = self.call("POST", "provincial", f"{url}/approve",
                            {"comment": "Report results yearly."})
        if decided["status"] != "approved":
            sys.exit(f"{ref} was not approved: {decided['status']}")


def registry(url: str, instance: Path):
    migrations.upgrade(url)
    settings = Settings(instance_path=instance, database_url=url, secret_key="bench-secret-key",
                        secure_cookies=False, password_time_cost=1, password_memory_kib=8192)
    return create_app(settings)


@dataclass
class Figures:
    cases_per_s: float
    requests_per_s: float
    cpu_ms_per_case: float  # this process only: on PostgreSQL the server's share is not in it
    statements_per_case: float


def count_statements(engine) -> list[int]:
    """SQL statements sent, counted as they go: a figure the machine's load cannot blur."""
    seen = [0]

    def count(*_args) -> None:
        seen[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    return seen


def measure(kind: str, server: str | None, n: int, warmup: int,
            with_profile: bool) -> Figures:
    with _common.database(kind, server, "workflow") as url, \
            tempfile.TemporaryDirectory() as instance:
        app = registry(url, Path(instance))
        try:
            runner = Runner(app.test_client(), Cast(app))
            for i in range(warmup):
                runner.case(i)
            runner.requests = 0
            statements = count_statements(app.extensions["abs"].engine)
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(warmup, warmup + n):
                runner.case(i)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            figures = Figures(n / wall, runner.requests / wall, 1000 * cpu / n, statements[0] / n)
            if with_profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for i in range(warmup + n, warmup + n + max(20, n // 5)):
                    runner.case(i)
                profiler.disable()
                print(f"\n--- {kind}: cProfile, cumulative")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
                print(f"--- {kind}: cProfile, own time")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        finally:
            app.extensions["abs"].engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="timed cases")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--pg", help="PostgreSQL server URL (or set ABS_BENCH_PG)")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, print a cProfile of n/5 more cases")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    print(f"application -> decision through the API, {args.n} cases after {args.warmup} "
          f"warm-up, 13 requests a case, in-process, sequential")
    print(f"{'database':<12}{'cases/s':>9}{'requests/s':>12}{'ms/case':>9}"
          f"{'CPU ms/case':>13}{'SQL/case':>10}")
    for kind in _common.databases(server):
        f = measure(kind, server, args.n, args.warmup, args.profile)
        print(f"{kind:<12}{f.cases_per_s:>9.1f}{f.requests_per_s:>12.0f}"
              f"{1000 / f.cases_per_s:>9.1f}{f.cpu_ms_per_case:>13.1f}"
              f"{f.statements_per_case:>10.0f}", flush=True)
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
