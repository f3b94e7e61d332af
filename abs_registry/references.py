"""Readable, stable reference numbers such as CN-GR-2026-000123.

Numbers come from a counter row incremented in the record's own transaction, so they are
unique under concurrency and leave no gaps when a transaction rolls back (a database
sequence would).
"""

from __future__ import annotations

from sqlalchemy import String, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from abs_registry.db import Base


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


def next_value(session: Session, name: str) -> int:
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(Counter).values(name=name, value=0).on_conflict_do_nothing())
    return session.execute(
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one()


def next_reference(session: Session, country: str, series: str, year: int) -> str:
    number = next_value(session, f"{series}-{year}")
    return f"{country}-{series}-{year}-{number:06d}"
