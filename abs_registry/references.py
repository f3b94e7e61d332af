"""Readable, stable reference numbers such as CN-GR-2026-000123.

Numbers come from a counter row incremented in the record's own transaction, so they are
unique under concurrency and leave no gaps when a transaction rolls back (a database
sequence would).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cache

from sqlalchemy import String, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from abs_registry.db import Base


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


@cache
def _advance_statement(dialect: str):
    """Built once per dialect: constructing a statement costs more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Counter.__table__
    stmt = insert(table).values(name=bindparam("counter"), value=bindparam("by"))
    return stmt.on_conflict_do_update(
        index_elements=[table.c.name], set_={"value": table.c.value + stmt.excluded.value}
    ).returning(table.c.value)


def _advance(session: Session, name: str, by: int) -> int:
    """Add ``by`` to the counter in one statement and return its new value.

    The upsert creates the counter on first use; the row it writes stays locked until the
    transaction ends, so concurrent callers queue and a rollback returns the numbers.
    """
    stmt = _advance_statement(session.bind.dialect.name)
    return session.execute(stmt, {"counter": name, "by": by}).scalar_one()


def next_value(session: Session, name: str) -> int:
    return _advance(session, name, 1)


def reserve_values(session: Session, name: str, count: int) -> range:
    """Reserve ``count`` consecutive numbers at once, for bulk imports."""
    if count < 1:
        raise ValueError("reserve at least one number")
    last = _advance(session, name, count)
    return range(last - count + 1, last + 1)


def format_reference(country: str, series: str, year: int, number: int) -> str:
    return f"{country}-{series}-{year}-{number:06d}"


def next_reference(session: Session, country: str, series: str, year: int) -> str:
    return format_reference(country, series, year, next_value(session, f"{series}-{year}"))


def reserve_references(
    session: Session, country: str, series: str, year: int, count: int
) -> list[str]:
    numbers = reserve_values(session, f"{series}-{year}", count)
    return [format_reference(country, series, year, n) for n in numbers]


def unguessable_reference(session: Session, country: str, series: str, year: int,
                          taken: Callable[[str], bool]) -> str:
    """A number drawn at random: a sequence would tell how many records exist, and for
    traditional knowledge even the count of secret records must not leak."""
    for _ in range(50):
        reference = format_reference(country, series, year, secrets.randbelow(999_999) + 1)
        if not taken(reference):
            return reference
    raise RuntimeError(f"no free {series} number left for {year}")
