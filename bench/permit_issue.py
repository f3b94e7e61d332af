"""Issuing a permit: sign, store, append to the transparency log, commit. Median and p95.

Approved applications are prepared first through the real services (provider, consent,
agreement from the commercial template, approval); then each permit is issued with
PermitService.issue, one after another, timing each call from the start of its
transaction to its commit. Goal: p95 under 50 ms.

    .venv/bin/python bench/permit_issue.py [-n 200] [--pg SERVER]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import _common

from abs_registry import migrations
from abs_registry.applications.service import ApplicationService
from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.auth.passwords import Passwords
from abs_registry.auth.service import AccountService
from abs_registry.db import make_engine, make_session_factory
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Kind
from abs_registry.declarations.service import DeclarationService
from abs_registry.permits.keys import KeyRing
from abs_registry.permits.service import PermitService

EXAMPLE = _common.REPO / "contracts" / "commercial_monetary" / "v1" / "example.json"


def _people(session):
    accounts = AccountService(session, Passwords(time_cost=1, memory_kib=8192))
    provider_org = accounts.create_organization(None, "Provider", OrgKind.RESEARCH_INSTITUTE,
                                                "530100")
    user_org = accounts.create_organization(None, "User", OrgKind.ENTERPRISE, "530100")
    authority = accounts.create_organization(None, "Authority", OrgKind.AUTHORITY, "530000")
    make = accounts.create_user
    provider = make(None, email="p@b.example", display_name="P", password="x" * 12,
                    organization=provider_org)
    applicant = make(None, email="a@b.example", display_name="A", password="x" * 12,
                     organization=user_org)
    official = make(None, email="o@b.example", display_name="O", password="x" * 12,
                    organization=authority, role=Role.OFFICIAL,
                    official_level=OfficialLevel.NATIONAL)
    return provider, applicant, official


def _approved(session, provider, applicant, official, example, n: int) -> list[str]:
    declarations = DeclarationService(session)
    apps = ApplicationService(session)
    raw = {"scientific_name": "Oryza sativa", "taxon_rank": "species", "material_type": "seed",
           "quantity": "1.5", "quantity_unit": "kg", "collection_region": "532822",
           "latitude": "21.95", "longitude": "100.45", "collection_date": "2025-10-12",
           "collector": "Li Wei", "holder": "Seed bank", "conservation": "ex_situ",
           "intended_use": "Screening"}
    resource = declarations.create(provider, Kind.GENETIC_RESOURCE,
                                   schemas.GeneticResourceIn().load(raw))
    declarations.transition(provider, resource.reference, "submit")
    declarations.transition(official, resource.reference, "register")
    refs = []
    for i in range(n):
        ref = apps.create(applicant, {
            "title": f"Case {i}", "resources": [resource.reference], "purpose": "commercial",
            "activities": "Screening for drought tolerance.", "work_location": "Kunming",
            "duration_months": 24, "exports_material": True, "export_country": "DE",
            "export_recipient": "Leibniz Institute"}).reference
        apps.transition(applicant, ref, "submit")
        app = apps.transition(official, ref, "accept_complete")
        for consent in app.consents:
            apps.decide_consent(provider, ref, consent.id, grant=True)
        agreement = apps.propose_agreement(applicant, ref, template_id="commercial_monetary",
                                           template_version=1, values=example["values"],
                                           terms=example["terms"])
        for party in (applicant, provider):
            apps.accept_agreement(party, ref, revision=agreement.revision,
                                  text_sha256=agreement.text_sha256)
        apps.transition(official, ref, "approve")
        refs.append((ref, resource.reference))
    return refs


def run(url: str, n: int) -> list[float]:
    migrations.upgrade(url)
    engine = make_engine(url)
    session = make_session_factory(engine)()
    keys = KeyRing(Path(tempfile.mkdtemp()) / "keys")
    keys.generate(session)
    provider, applicant, official = _people(session)
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    cases = _approved(session, provider, applicant, official, example, n)
    service = PermitService(session, keys)
    times = []
    for ref, resource in cases:
        session.expire_all()
        started = time.perf_counter()
        service.issue(official, ref, {"exits": [{
            "resource": resource, "quantity": Decimal("10"), "unit": "g",
            "destination_country": "DE", "recipient": "Leibniz Institute"}]})
        times.append((time.perf_counter() - started) * 1000)
    session.close()
    engine.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL server, e.g. postgresql://postgres@127.0.0.1")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    for kind in _common.databases(server):
        with _common.database(kind, server, "permits") as url:
            times = run(url, args.n)
        warm = times[5:]
        print(f"{kind:10s} issue permit: n={len(warm)} median {_common.median(warm):.1f} ms  "
              f"p95 {_common.percentile(warm, 0.95):.1f} ms  max {max(warm):.1f} ms")


if __name__ == "__main__":
    main()
