"""Engine, sessions and the unit of work that every service call runs inside."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import BigInteger, DateTime, Enum, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from abs_registry.errors import Conflict
from abs_registry.i18n_marker import N_

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored and returned in UTC, also on SQLite, which keeps no time zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime refused: pass an aware UTC datetime")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        """PostgreSQL answers in the session's time zone; the hash chain needs UTC always."""
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class ExactDecimal(TypeDecorator):
    """A decimal kept exactly on both databases, as an integer count of 10**-scale units.

    SQLite stores NUMERIC as a float, so amounts of money and quantities of material would
    drift (DOMAIN rule 6). A scaled integer adds up exactly in SQL on both databases, and a
    value with more decimals than the scale is refused rather than rounded.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 6):
        super().__init__()
        self.scale = scale
        self._unit = Decimal(1).scaleb(-scale)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if value != value.quantize(self._unit):
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return int(value.scaleb(self.scale))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        exact = Decimal(int(value)).scaleb(-self.scale).normalize()
        return exact.quantize(Decimal(1)) if exact.as_tuple().exponent > 0 else exact


def str_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    """Store an enum by its value as VARCHAR with a named CHECK, the same on both databases."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def _take_sqlite_write_lock(session: Session) -> None:
    """On SQLite, run the whole unit as one writer, from its first read: BEGIN IMMEDIATE.

    pysqlite opens a transaction only at the first INSERT/UPDATE/DELETE, so the reads that
    decide a change (is an amendment already open? is the name taken?) would run outside it,
    and two units could both act on what they read. Taking the write lock first makes units
    queue (busy_timeout) and read what the one before them committed; a deferred BEGIN
    instead would fail with SQLITE_BUSY_SNAPSHOT when its read snapshot went stale. If the
    connection is already inside a transaction, it has written, so it holds the lock.
    PostgreSQL needs none of this: version checks and row locks serialize its writers.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit everything a service call wrote, or nothing of it.

    Nested use (a service calling another) joins the outer unit, so only the outermost
    call commits; any exception rolls the whole unit back.
    """
    depth = session.info.get("uow_depth", 0)
    session.info["uow_depth"] = depth + 1
    try:
        if depth == 0:
            _take_sqlite_write_lock(session)
        yield session
        if depth == 0:
            session.commit()
    except StaleDataError as exc:
        # Another transaction changed the row after we read it (version_id_col found no match):
        # the same 409 a stale expected version gets, not an unexplained error.
        if depth == 0:
            session.rollback()
        raise Conflict(N_("the record was changed by someone else; reload it"),
                       field="version") from exc
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info["uow_depth"] = depth


def insert_rows(session: Session, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert many plain rows through the driver, in the session's transaction: PostgreSQL by
    COPY, SQLite by one executemany. For bulk data only (sequences, index rows): the values
    must already be what the column stores (enum values, JSON as text), since SQLAlchemy's
    per-value processing, skipped here, cost as much as parsing a sequence file did."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        with connection.connection.dbapi_connection.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})", rows)
