"""What the benchmarks share: throw-away databases on SQLite and PostgreSQL, and timing figures.

Every benchmark creates its own databases and removes them afterwards, so it can run beside
the test suite and other benchmarks without touching their data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def pg_server(cli_value: str | None) -> str | None:
    """The PostgreSQL server to use, from --pg or ABS_BENCH_PG; None skips PostgreSQL."""
    value = cli_value or os.environ.get("ABS_BENCH_PG")
    if not value:
        return None
    if value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
    # A URL naming a database is accepted; the server part is what we need.
    scheme, _, rest = value.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@contextmanager
def sqlite_database(label: str) -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix=f"abs_bench_{label}_"))
    try:
        yield f"sqlite:///{folder / 'bench.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_database(server: str, label: str) -> Iterator[str]:
    name = f"abs_bench_{label}_{secrets.token_hex(4)}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(kind: str, server: str | None, label: str) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_database(label) as url:
            yield url
    else:
        with postgres_database(server, label) as url:
            yield url


def databases(server: str | None) -> list[str]:
    return ["sqlite"] + (["postgresql"] if server else [])


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value at or above that share of the sample."""
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)
