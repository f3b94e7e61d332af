"""Loading 200,000 declarations through `abs-registry declarations import`: rows per second.

Generates a JSON Lines file of varied genetic-resource rows (see _data.py), then, on a fresh
database per engine, runs the real command in a subprocess (its progress bar shows on
stderr) and times it from start to exit, app start-up included. Afterwards it counts what
was stored and runs `abs-registry audit verify` on the result. Goal: under 60 s.

    .venv/bin/python bench/import_declarations.py [-n 200000] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
import _data
from sqlalchemy import func, select

from abs_registry import migrations
from abs_registry.auth.models import OrgKind
from abs_registry.auth.passwords import Passwords
from abs_registry.auth.service import AccountService
from abs_registry.db import make_engine, make_session_factory
from abs_registry.declarations.models import Declaration, RegisterEntry

ORG = "Yunnan Provincial Germplasm Inventory"
CLI = str(Path(sys.executable).parent / "abs-registry")
GOAL_SECONDS = 60


def write_file(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in _data.gr_rows(n):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def prepare(url: str) -> None:
    migrations.upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        accounts = AccountService(session, Passwords(time_cost=1, memory_kib=8192))
        org = accounts.create_organization(None, ORG, OrgKind.RESEARCH_INSTITUTE, "530000")
        accounts.create_user(None, email="curator@example.org", display_name="Curator",
                             password="bench password long enough", organization=org)
    engine.dispose()


def cli(url: str, instance: str, *args: str, quiet: bool = False) -> str:
    env = {**os.environ, "ABS_DATABASE_URL": url, "ABS_INSTANCE_PATH": instance,
           "ABS_SECRET_KEY": "bench-secret-key"}
    done = subprocess.run([CLI, *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL if quiet else None, text=True)
    if done.returncode != 0:
        sys.exit(f"abs-registry {' '.join(args)} failed:\n{done.stdout}")
    return done.stdout.strip()


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes and their children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stored(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = (conn.scalar(select(func.count()).select_from(Declaration)),
                  conn.scalar(select(func.count()).select_from(RegisterEntry)))
    engine.dispose()
    return counts


def measure(kind: str, server: str | None, path: Path, n: int) -> float:
    with _common.database(kind, server, "import") as url, \
            tempfile.TemporaryDirectory() as instance:
        prepare(url)
        print(f"--- {kind}: abs-registry declarations import {path.name} --org '{ORG}'",
              flush=True)
        start, cpu_start = time.perf_counter(), _children_cpu()
        output = cli(url, instance, "declarations", "import", str(path), "--org", ORG)
        seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
        print(output)
        print(f"CPU time of the command and its worker: {cpu:.1f} s; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        declarations, register = stored(url)
        if (declarations, register) != (n, n):
            sys.exit(f"expected {n} declarations and register rows, found "
                     f"{declarations} and {register}")
        verify_start = time.perf_counter()
        verified = cli(url, instance, "audit", "verify")
        print(f"{verified} (audit verify took {time.perf_counter() - verify_start:.1f} s)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="rows in the generated file")
    parser.add_argument("--pg", help="PostgreSQL server URL (or set ABS_BENCH_PG)")
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    results = {}
    with tempfile.TemporaryDirectory(prefix="abs_bench_import_") as folder:
        path = Path(folder) / "legacy_register.jsonl"
        start = time.perf_counter()
        write_file(path, args.n)
        print(f"generated {args.n} rows ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        for kind in _common.databases(server):
            results[kind] = measure(kind, server, path, args.n)
    print(f"\n{'database':<12}{'rows':>9}{'seconds':>9}{'rows/s':>9}  goal < {GOAL_SECONDS} s"
          " (whole command, start-up included)")
    for kind, seconds in results.items():
        print(f"{kind:<12}{args.n:>9}{seconds:>9.1f}{args.n / seconds:>9.0f}  "
              f"{'ok' if seconds < GOAL_SECONDS else 'OVER GOAL'}")
    sys.exit(0 if all(s < GOAL_SECONDS for s in results.values()) else 1)


if __name__ == "__main__":
    main()
