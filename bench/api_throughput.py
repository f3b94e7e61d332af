"""Declarations created per second through the whole API, against a bare Flask endpoint.

Both apps run in-process under Flask's test client, one request after another, in the same
run: the registry's POST /api/v1/declarations/genetic-resources (bearer token, schema
validation, service, reference number, audit chain, commit, the JSON answer) and a bare
Flask + SQLAlchemy endpoint that parses the JSON body and inserts one row into a one-table
database. The goal: the full path reaches at least 60% of the bare endpoint's rate.

The bare endpoint uses the registry's own engine settings (on SQLite: WAL with
synchronous=NORMAL), which is the fair comparison. On SQLite a second bare endpoint runs on
SQLAlchemy's defaults (rollback journal, an fsync at every commit), for reference: that is
the kind of setup behind the ~450/s the issue quotes.

    .venv/bin/python bench/api_throughput.py [-n 2000] [--pg postgresql+psycopg://...]
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
from pathlib import Path

import _common
from flask import Flask, jsonify, request
from sqlalchemy import Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from abs_registry import create_app, migrations
from abs_registry.auth.models import OrgKind
from abs_registry.auth.service import AccountService
from abs_registry.config import Settings
from abs_registry.db import make_engine

PATH = "/api/v1/declarations/genetic-resources"
GOAL = 0.60


def payload(i: int) -> dict:
    return {
        "scientific_name": "Oryza rufipogon" if i % 2 else "Glycine soja",
        "taxon_rank": "species",
        "ncbi_taxon_id": 4529,
        "common_name": "common wild rice",
        "material_type": "seed",
        "quantity": "1.5",
        "quantity_unit": "kg",
        "collection_region": "532822",
        "latitude": "21.95",
        "longitude": "100.45",
        "collection_date": "2025-10-12",
        "collector": f"Collector {i}",
        "holder": "Yunnan germplasm bank",
        "conservation": "ex_situ",
        "intended_use": "Screening for drought tolerance",
    }


def registry_client(url: str, instance: Path):
    migrations.upgrade(url)
    settings = Settings(instance_path=instance, database_url=url,
                        secret_key="bench-secret-key", secure_cookies=False,
                        password_time_cost=1, password_memory_kib=8192)
    app = create_app(settings)
    ext = app.extensions["abs"]
    with ext.session_factory() as session:
        accounts = AccountService(session, ext.passwords)
        org = accounts.create_organization(None, "Bench Seeds Ltd", OrgKind.ENTERPRISE, "530100")
        user = accounts.create_user(None, email="bench@example.org", display_name="Bench",
                                    password="bench password long enough", organization=org)
        secret = accounts.issue_token(user, "bench")[1]
    return app, {"Authorization": f"Bearer {secret}"}


def bare_client(url: str, same_settings: bool = True):
    """The textbook Flask + SQLAlchemy endpoint: add one mapped object, commit, answer its id.

    same_settings: the registry's engine (on SQLite: WAL, synchronous=NORMAL), the fair
    comparison; else SQLAlchemy's defaults (SQLite: rollback journal, fsync at each commit).
    """
    engine = make_engine(url) if same_settings else create_engine(url)

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = "items"
        id: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str] = mapped_column(Text)

    Base.metadata.create_all(engine)
    factory = sessionmaker(engine)
    app = Flask("bare")

    @app.post("/items")
    def create_item():
        with factory() as session:
            item = Item(body=json.dumps(request.get_json()))
            session.add(item)
            session.commit()
            return jsonify(id=item.id), 201

    return app, engine


def interleaved_rates(clients: list[tuple], n: int, warmup: int, block: int = 100) -> list[float]:
    """Requests per second of each (client, path, headers), timed in alternating blocks.

    Alternating keeps both endpoints under the same background load, so the ratio holds
    even on a busy machine.
    """
    for client, path, headers in clients:
        for i in range(warmup):
            _post(client, path, headers, i)
    spent = [0.0] * len(clients)
    for start in range(warmup, warmup + n, block):
        for k, (client, path, headers) in enumerate(clients):
            t0 = time.perf_counter()
            for i in range(start, min(start + block, warmup + n)):
                _post(client, path, headers, i)
            spent[k] += time.perf_counter() - t0
    return [n / s for s in spent]


def profile(client, headers, n: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        _post(client, PATH, headers, 10_000 + i)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def _post(client, path, headers, i):
    response = client.post(path, json=payload(i), headers=headers)
    if response.status_code != 201:
        sys.exit(f"{path}: {response.status_code} {response.get_data(as_text=True)}")


def measure(kind: str, server: str | None, n: int, warmup: int,
            with_profile: bool = False) -> list[float]:
    """Rates of the registry, the bare endpoint and (SQLite) the bare one on SQLite defaults."""
    with _common.database(kind, server, "api") as url, \
            _common.database(kind, server, "bare") as bare_url, \
            _common.database(kind, server, "bare_defaults") as defaults_url, \
            tempfile.TemporaryDirectory() as instance:
        app, headers = registry_client(url, Path(instance))
        bares = [bare_client(bare_url)]
        if kind == "sqlite":
            bares.append(bare_client(defaults_url, same_settings=False))
        try:
            rates = interleaved_rates(
                [(app.test_client(), PATH, headers)]
                + [(bare.test_client(), "/items", {}) for bare, _ in bares], n, warmup)
            if with_profile:
                profile(app.test_client(), headers, n)
        finally:
            app.extensions["abs"].engine.dispose()
            for _, engine in bares:
                engine.dispose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL server URL (or set ABS_BENCH_PG)")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of the full path (cumulative time)")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    print(f"POST {PATH}, {args.n} sequential requests after {args.warmup} warm-up, in-process")
    print(f"{'database':<12}{'full /s':>10}{'bare /s':>10}{'ratio':>8}  goal >= {GOAL:.0%}"
          f"{'':>12}bare on SQLite defaults /s")
    failed = False
    for kind in _common.databases(server):
        full, bare, *defaults = measure(kind, server, args.n, args.warmup, args.profile)
        ratio = full / bare
        failed |= ratio < GOAL
        print(f"{kind:<12}{full:>10.0f}{bare:>10.0f}{ratio:>8.0%}  "
              f"{'ok' if ratio >= GOAL else 'BELOW GOAL':<22}"
              f"{f'{defaults[0]:.0f} (full path: {full / defaults[0]:.0%})' if defaults else '-'}",
              flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
