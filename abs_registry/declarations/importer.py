"""Bulk import of genetic-resource declarations, for moving a legacy register into this one.

An administrator migrating, say, a provincial germplasm inventory gets every record in as if
it had been declared here: the API's own schema checks each row, each record gets the next
reference number of its series, one hash-chained history event ("import", naming the file
and line), the key regulatory list's flag, and, when imported as registered, its row in the
public register.

All or nothing. Rows are checked as they are read and written in batches through Core bulk
inserts, all inside ONE transaction that is committed only after the last row. The first bad
row stops the writing and rolls the transaction back; the rest of the file is still checked,
so the report names every bad row (line and field) at once. Nothing of a refused file, and
nothing of a file whose import fails half-way, is ever stored, and the corrected file can
simply be imported again. The price of one transaction: reference numbers and the history's
chain head stay locked until the import ends, so people declaring at the same moment wait
for it (on SQLite, writers wait for each other anyway). Run big imports in a quiet hour.

Checking a row (JSON, the schema, the register text) costs about as much as writing it, so
files of more than one batch are checked in a worker process while this one writes the
batch before: on two cores that nearly halves the time. The worker only computes; every
database write happens here, in the one transaction.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from itertools import chain, islice
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from marshmallow import ValidationError as SchemaError
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from abs_registry.audit import writer as audit
from abs_registry.audit.models import AuditEvent
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import Organization, Role, User
from abs_registry.db import unit_of_work, utcnow
from abs_registry.declarations import keylist, search
from abs_registry.declarations.models import (
    SERIES,
    Declaration,
    GeneticResource,
    Kind,
    RegisterEntry,
    Status,
    Visibility,
    genetic_resource_title,
)
from abs_registry.declarations.schemas import GeneticResourceIn
from abs_registry.errors import PermissionDenied, ValidationError
from abs_registry.references import reserve_references

BATCH_SIZE = 2000
ANALYZE_AFTER = 10_000  # rows; see refresh_statistics
SQLITE_CACHE_KIB = 256 * 1024  # see _roomy_sqlite_cache
MAX_REPORTED = 20
IMPORTABLE_STATUSES = (Status.REGISTERED, Status.DRAFT, Status.SUBMITTED)
# Columns a legacy file may carry besides the schema's: they describe the record's past.
KIND_FIELD, REGISTERED_ON_FIELD, LEGACY_ID_FIELD = "kind", "registered_on", "legacy_id"

_DECLARATIONS = Declaration.__table__
_GENETIC_RESOURCES = GeneticResource.__table__
_REGISTER = RegisterEntry.__table__
_IMPORTED_TABLES = (_DECLARATIONS, _GENETIC_RESOURCES, _REGISTER, AuditEvent.__table__)
# Optional fields a row left out are stored as NULL: a bulk insert needs every column.
_GR_FIELDS = [c.name for c in _GENETIC_RESOURCES.columns if c.name != "id"]
_INSERT_DECLARATIONS = insert(_DECLARATIONS).returning(
    _DECLARATIONS.c.reference, _DECLARATIONS.c.id
)
_NEXT_DECLARATION_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('declarations', 'id')) "
    "FROM generate_series(1, :count)"
)


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class ImportRefused(ValidationError):
    """The file has bad rows; nothing of it was stored."""

    def __init__(self, problems: list[Problem], bad_rows: int):
        messages = [str(p) for p in problems]
        shown_rows = len({p.line for p in problems})
        if bad_rows > shown_rows:
            messages.append(f"... and {bad_rows - shown_rows} more bad row(s)")
        super().__init__({"file": messages})
        self.problems = problems
        self.bad_rows = bad_rows


@dataclass
class ImportReport:
    rows: int
    seconds: float
    first_reference: str
    last_reference: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float(self.rows)


@dataclass
class _Row:
    """A checked row, with all that can be computed before it has a reference number."""

    line: int
    data: dict
    registered_on: date | None
    legacy_id: str | None
    title: str
    key_list_matches: list[str]
    register_text: str | None  # the register document, less the reference number


# --- reading ------------------------------------------------------------------------------


def read_source(path: Path) -> Iterator[tuple[int, str | dict | Problem]]:
    """(line number, record) for each record: JSON text, or a CSV row when *.csv."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    return _read_json_lines(path)


def _read_json_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Lines stay text here: parsing them is part of the check, which may run elsewhere."""
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _read_csv(path: Path) -> Iterator[tuple[int, dict | Problem]]:
    """Header row with the schema's field names; an empty cell is a missing value."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        start = 2
        for row in reader:
            if None in row:
                yield start, Problem(start, "csv", "more cells than the header has columns")
            else:
                yield start, {k: v for k, v in row.items() if v not in (None, "")}
            start = reader.line_num + 1


def count_records(path: Path) -> int:
    """Roughly how many records the file holds, for a progress bar (blank lines skipped)."""
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return max(lines - 1, 0) if path.suffix.lower() == ".csv" else lines


# --- checking -----------------------------------------------------------------------------


def _parse(line: int, raw: str | dict | Problem) -> dict | Problem:
    if not isinstance(raw, str):
        return raw
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Problem(line, "json", f"not valid JSON ({exc.msg})")
    if not isinstance(parsed, dict):
        return Problem(line, "json", "each line must be one JSON object")
    return parsed


def _flatten(line: int, messages, prefix: str = "") -> list[Problem]:
    if isinstance(messages, dict):
        problems = []
        for key, value in messages.items():
            name = f"{prefix}[{key}]" if isinstance(key, int) else (
                f"{prefix}.{key}" if prefix else str(key))
            problems += _flatten(line, value, name)
        return problems
    if isinstance(messages, list) and messages and not isinstance(messages[0], str):
        return _flatten(line, messages[0], prefix)
    text = messages[0] if isinstance(messages, list) and messages else str(messages)
    return [Problem(line, prefix or "_schema", text)]


def _meta_problems(line: int, raw: dict, status: Status) -> tuple[list[Problem], date | None,
                                                                 str | None]:
    """Check and remove the columns that describe the record's past, not the record."""
    problems: list[Problem] = []
    kind = raw.pop(KIND_FIELD, Kind.GENETIC_RESOURCE.value)
    if kind != Kind.GENETIC_RESOURCE.value:
        problems.append(Problem(line, KIND_FIELD, "only genetic_resource records can be "
                                "imported; declare DSI and TK, which link to other records, "
                                "through the API"))
    registered_on = raw.pop(REGISTERED_ON_FIELD, None)
    if registered_on is not None:
        try:
            registered_on = date.fromisoformat(str(registered_on))
        except ValueError:
            problems.append(Problem(line, REGISTERED_ON_FIELD, "Not a valid date."))
            registered_on = None
        else:
            if status is not Status.REGISTERED:
                problems.append(Problem(line, REGISTERED_ON_FIELD,
                                        "only records imported as registered have one"))
            elif registered_on > date.today():
                problems.append(Problem(line, REGISTERED_ON_FIELD,
                                        "The registration date cannot be in the future."))
    legacy_id = raw.pop(LEGACY_ID_FIELD, None)
    if legacy_id is not None and not (isinstance(legacy_id, str | int)
                                      and 0 < len(str(legacy_id)) <= 100):
        problems.append(Problem(line, LEGACY_ID_FIELD, "Length must be between 1 and 100."))
    return problems, registered_on, None if legacy_id is None else str(legacy_id)


@cache
def _schema() -> GeneticResourceIn:
    return GeneticResourceIn()


@dataclass(frozen=True)
class _Checker:
    """Checks and prepares rows; plain data, so that a worker process can run it."""

    status: Status
    holder_name: str
    match_key_list: keylist.Matcher

    def __call__(self, chunk: list[tuple[int, str | dict | Problem]]
                 ) -> list[_Row | list[Problem]]:
        return [self.check(line, raw) for line, raw in chunk]

    def check(self, line: int, raw: str | dict | Problem) -> _Row | list[Problem]:
        """The row as the API would accept it, or everything wrong with it."""
        parsed = _parse(line, raw)
        if isinstance(parsed, Problem):
            return [parsed]
        parsed = dict(parsed)
        problems, registered_on, legacy_id = _meta_problems(line, parsed, self.status)
        try:
            data = _schema().load(parsed)
        except SchemaError as exc:
            problems += _flatten(line, exc.messages)
        if problems:
            return problems
        title = genetic_resource_title(data["scientific_name"], data["material_type"])
        # Drafts are checked against the list when they are submitted, as in the service.
        flags = ([] if self.status is Status.DRAFT
                 else self.match_key_list([data["scientific_name"]]))
        return _Row(line, data, registered_on, legacy_id, title, flags,
                    self._register_text(data, title))

    def _register_text(self, data: dict, title: str) -> str | None:
        if self.status is not Status.REGISTERED:
            return None
        details = search.genetic_resource_details(
            scientific_name=data["scientific_name"], common_name=data.get("common_name"),
            collector=data["collector"], holder=data["holder"],
            intended_use=data["intended_use"], material_type=data["material_type"])
        return search.document_body(title, self.holder_name, data["collection_region"],
                                    details)


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _worker_context():
    """Fork where there is fork: a forked worker starts at once and never re-runs the
    caller's main module (spawn would, breaking any script without a __main__ guard)."""
    return get_context("fork" if "fork" in get_all_start_methods() else "spawn")


def _checked_chunks(rows: Iterable, checker: _Checker, parallel: bool) -> Iterator[list]:
    """Checked rows, batch by batch and in file order, checked ahead of the writer.

    A file of one batch is checked here: starting a worker would cost more than it saves.
    """
    chunks = _chunks(rows, BATCH_SIZE)
    head = list(islice(chunks, 2))
    if not parallel or len(head) < 2:
        for chunk in chain(head, chunks):
            yield checker(chunk)
        return
    workers = max(1, min(4, (os.cpu_count() or 2) - 1))  # one core stays with the writer
    with ProcessPoolExecutor(workers, mp_context=_worker_context()) as pool:
        pending = deque(pool.submit(checker, chunk) for chunk in head)
        for chunk in chunks:
            while len(pending) > workers:
                yield pending.popleft().result()
            pending.append(pool.submit(checker, chunk))
        while pending:
            yield pending.popleft().result()


# --- writing ------------------------------------------------------------------------------


@dataclass
class _Writer:
    """Writes checked rows, batch by batch, inside the caller's transaction."""

    session: Session
    organization: Organization
    declarant: User
    status: Status
    country: str
    source: str
    first_reference: str = ""
    last_reference: str = ""

    def write(self, rows: list[_Row]) -> int:
        now = utcnow()
        refs = reserve_references(self.session, self.country, SERIES[Kind.GENETIC_RESOURCE],
                                  now.year, len(rows))
        ids = self._insert_declarations(
            [self._declaration(ref, row, now) for ref, row in zip(refs, rows, strict=True)])
        self.session.execute(insert(_GENETIC_RESOURCES), [
            {"id": id_, **{name: row.data.get(name) for name in _GR_FIELDS}}
            for id_, row in zip(ids, rows, strict=True)
        ])
        audit.append(self.session, [
            self._event(id_, ref, row, now) for id_, ref, row in zip(ids, refs, rows, strict=True)
        ])
        if self.status is Status.REGISTERED:
            self.session.execute(insert(_REGISTER), [
                self._register_entry(id_, ref, row, now)
                for id_, ref, row in zip(ids, refs, rows, strict=True)
            ])
        self.first_reference = self.first_reference or refs[0]
        self.last_reference = refs[-1]
        return len(rows)

    def _insert_declarations(self, values: list[dict]) -> list[int]:
        """Insert and answer the new ids, in the order of ``values``.

        PostgreSQL hands out the ids first (one nextval query), so the rows go in as a plain
        pipelined executemany: five times cheaper there than INSERT ... RETURNING, which
        SQLAlchemy turns into one statement with a parameter per value. SQLite returns the
        ids cheaply; they are matched back by reference, since asking for them in parameter
        order would make SQLAlchemy insert row by row.
        """
        if self.session.bind.dialect.name == "postgresql":
            ids = self.session.execute(_NEXT_DECLARATION_IDS, {"count": len(values)}).scalars()
            values = [{"id": id_, **v} for id_, v in zip(ids, values, strict=True)]
            self.session.execute(insert(_DECLARATIONS), values)
            return [v["id"] for v in values]
        id_of = {ref: id_ for ref, id_ in self.session.execute(_INSERT_DECLARATIONS, values)}
        return [id_of[v["reference"]] for v in values]

    def _registered_at(self, row: _Row, now: datetime) -> datetime | None:
        if self.status is not Status.REGISTERED:
            return None
        if row.registered_on is None:
            return now
        return datetime(row.registered_on.year, row.registered_on.month,
                        row.registered_on.day, tzinfo=UTC)

    def _declaration(self, ref: str, row: _Row, now: datetime) -> dict:
        registered_at = self._registered_at(row, now)
        return {
            "reference": ref,
            "kind": Kind.GENETIC_RESOURCE,
            "status": self.status,
            "visibility": Visibility.PUBLIC,
            "organization_id": self.organization.id,
            "created_by_id": self.declarant.id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": None if self.status is Status.DRAFT else (registered_at or now),
            "registered_at": registered_at,
            "needs_national_review": bool(row.key_list_matches),
            "key_list_matches": row.key_list_matches,
            "supersedes_id": None,
            "version": 1,
        }

    def _event(self, id_: int, ref: str, row: _Row, now: datetime) -> dict:
        # No personal data here: the public reads this history (created_by names the member).
        data = {"source": self.source, "line": row.line}
        if row.legacy_id is not None:
            data["legacy_id"] = row.legacy_id
        if row.registered_on is not None:
            data["registered_on"] = row.registered_on.isoformat()
        if row.key_list_matches:
            data["key_list_matches"] = row.key_list_matches
        return audit.event_values(
            actor=None, subject_type="declaration", subject_id=id_, subject_ref=ref,
            action="import", to_state=self.status.value, comment=f"imported from {self.source}",
            data=data, at=now,
        )

    def _register_entry(self, id_: int, ref: str, row: _Row, now: datetime) -> dict:
        return search.entry_values(
            declaration_id=id_, reference=ref, kind=Kind.GENETIC_RESOURCE, title=row.title,
            taxon=row.data["scientific_name"], region_code=row.data["collection_region"],
            holder_id=self.organization.id, holder_name=self.organization.name,
            registered_on=self._registered_at(row, now).date(),
            document=search.with_reference(ref, row.register_text),
        )


# --- the service --------------------------------------------------------------------------


def _organization(session: Session, name: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        raise ValidationError({"org": [f"no organization named {name!r}"]})
    return org


def _declarant(session: Session, org: Organization, email: str | None) -> User:
    """Who the records are filed under: the given member, else the organization's first."""
    stmt = select(User).where(User.organization_id == org.id, User.active,
                              User.role == perm.DECLARANT_ROLE[Kind.GENETIC_RESOURCE])
    if email:
        stmt = stmt.where(User.email == email.strip().lower())
    user = session.scalar(stmt.order_by(User.id).limit(1))
    if user is None:
        who = f"{email!r} is not an active member of" if email else "no active member in"
        raise ValidationError({"org": [f"{who} {org.name!r} who may declare genetic "
                                       "resources; records need a declarant"]})
    return user


def import_declarations(
    session: Session,
    actor: User | None,
    rows: Iterable[tuple[int, str | dict | Problem]],
    *,
    organization_name: str,
    status: Status = Status.REGISTERED,
    declarant_email: str | None = None,
    country: str = "CN",
    source: str = "import",
    progress: Callable[[int], object] | None = None,
    parallel: bool = True,
) -> ImportReport:
    """Import every row or none (see the module docstring); actor None is the CLI's admin.

    ``rows`` are (line number, record) pairs as ``read_source`` gives them; a record may be
    a dict too. ``parallel`` False keeps the checking in this process.
    """
    if actor is not None and actor.role is not Role.ADMIN:
        raise PermissionDenied("only administrators may import declarations in bulk")
    if status not in IMPORTABLE_STATUSES:
        raise ValidationError({"status": ["import as registered, draft or submitted"]})
    started = time.perf_counter()
    with unit_of_work(session), _roomy_sqlite_cache(session):
        org = _organization(session, organization_name)
        writer = _Writer(session, org, _declarant(session, org, declarant_email), status,
                         country, source)
        checker = _Checker(status, org.name, keylist.matcher(session))
        imported = _check_and_write(session, writer, _checked_chunks(rows, checker, parallel),
                                    progress)
    if imported >= ANALYZE_AFTER and session.bind.dialect.name == "postgresql":
        refresh_statistics(session)
    return ImportReport(imported, time.perf_counter() - started, writer.first_reference,
                        writer.last_reference)


@contextmanager
def _roomy_sqlite_cache(session: Session) -> Iterator[None]:
    """Give SQLite's page cache room for the tables and indexes an import keeps touching.

    SQLite keeps 2 MB of pages per connection; 200,000 rows spread over ~400 MB of tables
    and indexes, and re-reading evicted pages took a fifth of the import's time.
    """
    if session.bind.dialect.name != "sqlite":
        yield
        return
    before = session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
    session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        # Through the session, not a kept handle: after an early rollback the connection
        # is back in the pool and may be someone else's.
        session.connection().exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def _check_and_write(session: Session, writer: _Writer, chunks: Iterator[list],
                     progress: Callable[[int], object] | None) -> int:
    problems: list[Problem] = []
    bad_rows = imported = 0
    for checked in chunks:
        bad = [c for c in checked if isinstance(c, list)]
        if bad and not bad_rows:
            session.rollback()  # give the locks back now; the rest of the file is only checked
        bad_rows += len(bad)
        for row_problems in bad:
            problems += row_problems[: max(MAX_REPORTED - len(problems), 0)]
        if not bad_rows:
            imported += writer.write(checked)
        if progress is not None:
            progress(len(checked))
    if bad_rows:
        raise ImportRefused(problems, bad_rows)
    if not imported:
        raise ValidationError({"file": ["no declarations found: the file is empty"]})
    return imported


def refresh_statistics(session: Session) -> None:
    """Let PostgreSQL plan from the tables as they are after a bulk load.

    Autovacuum would analyze them too, but only a while later: until then the register's
    searches are planned for a table a fraction of its size, and run 10x slower.
    """
    with unit_of_work(session):
        session.execute(text(f"ANALYZE {', '.join(t.name for t in _IMPORTED_TABLES)}"))


def import_file(session: Session, actor: User | None, path: Path, **options) -> ImportReport:
    return import_declarations(session, actor, read_source(path), source=path.name, **options)
