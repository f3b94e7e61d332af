"""The transparency log: append entries, answer tree heads, proofs and checkpoints, verify.

Plain functions over a session: ``append`` runs inside the caller's unit of work, so an
entry is logged in the same transaction as the change it records, or not at all. Reads
need no lock: the head row is committed with the entries it counts, and a perfect subtree
never changes once its last leaf is in.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import BigInteger, any_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import Conflict, ValidationError
from abs_registry.translog import merkle
from abs_registry.translog.checkpoint import (
    Checkpoint,
    InvalidCheckpoint,
    NoteSigner,
    parse_checkpoint,
    sign_checkpoint,
)
from abs_registry.translog.models import LogCheckpoint, LogEntry, LogHead

MAX_ENTRY_BYTES = 64 * 1024
PAGE_LIMIT = 100

_HEAD = LogHead.__table__
_ENTRIES = LogEntry.__table__
# A write that changes nothing, so that it takes the head row's lock before anything is read.
_LOCK_HEAD = (update(_HEAD).where(_HEAD.c.id == 1).values(size=_HEAD.c.size)
              .returning(_HEAD.c.size))


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: bytes


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    hashes: list[bytes]


# --- appending ------------------------------------------------------------------------------


def _check_entry(kind: str, subject_ref: str, entry: bytes) -> None:
    if not kind or len(kind) > 40:
        raise ValidationError({"kind": ["Give a kind of at most 40 characters."]})
    if not subject_ref or len(subject_ref) > 80:
        raise ValidationError({"subject_ref": ["Give a reference of at most 80 characters."]})
    if not isinstance(entry, bytes) or not 0 < len(entry) <= MAX_ENTRY_BYTES:
        raise ValidationError({"entry": [f"Give 1 to {MAX_ENTRY_BYTES} bytes of JSON."]})
    try:
        json.loads(entry)
    except ValueError:
        raise ValidationError({"entry": ["The entry is not UTF-8 JSON."]}) from None


def _dialect(session: Session):
    """The dialect module whose insert() has ON CONFLICT DO NOTHING."""
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _lock_head(session: Session) -> int:
    """Take the log's lock and answer its size; the first append of a registry makes the row.

    ON CONFLICT DO NOTHING makes the writers racing the first one wait for its row instead
    of failing on the primary key (the audit chain's head works the same way).
    """
    size = session.execute(_LOCK_HEAD).scalar()
    if size is None:
        session.execute(_dialect(session).insert(LogHead)
                        .values(id=1, size=0, root_hash=merkle.EMPTY_ROOT)
                        .on_conflict_do_nothing())
        size = session.execute(_LOCK_HEAD).scalar()
    return size


def append(session: Session, kind: str, subject_ref: str, entry: bytes) -> LogEntry:
    """Append ``entry`` (the caller's canonical JSON) as the next leaf; answer its row.

    Call it inside the caller's unit of work, late in it: from here to the commit, other
    appends wait for this one, which is what keeps the indexes gapless. The same bytes
    twice are refused with a Conflict (409) naming the index they already have. The log is
    public: give it hashes of confidential records, never their content.
    """
    _check_entry(kind, subject_ref, entry)
    leaf = merkle.leaf_hash(entry)
    size = _lock_head(session)
    existing = session.scalar(select(LogEntry.leaf_index).where(LogEntry.leaf_hash == leaf))
    if existing is not None:
        raise Conflict(f"this entry is already in the log at index {existing}",
                       field="entry", index=existing)
    edge = merkle.perfect_subtrees(0, size)
    found = _fetch(session, edge)
    tree = merkle.TreeBuilder(size, [found[node] for node in edge])
    completed = tree.append(leaf)
    row = LogEntry(leaf_index=size, kind=kind, subject_ref=subject_ref, entry=entry,
                   leaf_hash=leaf, subtree_hashes=b"".join(completed))
    session.add(row)
    session.flush()
    session.execute(update(_HEAD).where(_HEAD.c.id == 1)
                    .values(size=size + 1, root_hash=tree.root()))
    return row


# --- reading the tree -----------------------------------------------------------------------


def home_of(node: merkle.Node) -> tuple[int, int]:
    """The row that stores a perfect subtree (its last leaf) and the hash's byte offset there.

    Level 0 is the row's own leaf hash (the offset is unused); level l >= 1 is the
    (l-1)th hash in the row's subtree_hashes.
    """
    level, position = node
    return ((position + 1) << level) - 1, (level - 1) * merkle.HASH_SIZE


_NODE_COLUMNS = select(_ENTRIES.c.leaf_index, _ENTRIES.c.leaf_hash, _ENTRIES.c.subtree_hashes)
# On PostgreSQL one array parameter keeps the statement's text the same whatever the number
# of rows, so psycopg prepares it once and the server stops planning it (half its cost).
_NODE_ROWS = {
    "postgresql": _NODE_COLUMNS.where(_ENTRIES.c.leaf_index == any_(
        bindparam("indexes", type_=postgresql.ARRAY(BigInteger)))),
    "sqlite": _NODE_COLUMNS.where(_ENTRIES.c.leaf_index.in_(
        bindparam("indexes", expanding=True))),
}


def _fetch(session: Session, nodes: Collection[merkle.Node]) -> Mapping[merkle.Node, bytes]:
    """The hashes of perfect subtrees, from one primary-key lookup of their rows."""
    if not nodes:
        return {}
    homes = {node: home_of(node) for node in nodes}
    statement = _NODE_ROWS[session.get_bind().dialect.name]
    indexes = sorted({index for index, _ in homes.values()})
    rows = {row.leaf_index: row for row in session.execute(statement, {"indexes": indexes})}
    found = {}
    for node, (index, offset) in homes.items():
        row = rows[index]
        found[node] = (row.leaf_hash if node[0] == 0
                       else row.subtree_hashes[offset:offset + merkle.HASH_SIZE])
    return found


def _prefetched(session: Session, nodes: Collection[merkle.Node]) -> merkle.Fetch:
    """A fetch answered from one query for every node a proof and its roots will ask for."""
    found = _fetch(session, nodes)
    return lambda wanted: {node: found[node] for node in wanted}


def tree_head(session: Session) -> TreeHead:
    head = session.execute(select(_HEAD.c.size, _HEAD.c.root_hash)
                           .where(_HEAD.c.id == 1)).first()
    return TreeHead(head.size, head.root_hash) if head else TreeHead(0, merkle.EMPTY_ROOT)


def _size_param(session: Session, name: str, value: int | None, *, least: int) -> int:
    """A tree size asked for by a client: at least ``least``, at most the current size."""
    size = tree_head(session).size
    if value is None:
        value = size
    if value > size:
        raise ValidationError({name: [f"The log has {size} entries; ask for at most {size}."]})
    if value < least:
        raise ValidationError({name: [f"Ask for at least {least}."]})
    return value


def entry_at(session: Session, index: int) -> LogEntry:
    entry = session.get(LogEntry, index) if 0 <= index < 2**63 else None
    if entry is None:
        size = tree_head(session).size
        raise ValidationError({"index": [f"The log has {size} entries: 0 to {size - 1}."]
                               if size else ["The log has no entries yet."]})
    return entry


def entries(session: Session, start: int, end: int | None = None) -> list[LogEntry]:
    """Entries [start, end), at most PAGE_LIMIT of them; ``end`` is cut at the log's size."""
    size = tree_head(session).size
    if start > size:
        raise ValidationError({"start": [f"The log has {size} entries; start at most there."]})
    end = min(size, start + PAGE_LIMIT if end is None else end)
    if end < start:
        raise ValidationError({"end": ["End is at least start."]})
    if end - start > PAGE_LIMIT:
        raise ValidationError({"end": [f"Ask for at most {PAGE_LIMIT} entries at a time."]})
    return list(session.scalars(select(LogEntry).where(LogEntry.leaf_index >= start,
                                                       LogEntry.leaf_index < end)
                                .order_by(LogEntry.leaf_index)))


def find_by_entry(session: Session, entry: bytes) -> LogEntry | None:
    return session.scalar(select(LogEntry).where(LogEntry.leaf_hash == merkle.leaf_hash(entry)))


def inclusion_proof(session: Session, index: int, tree_size: int | None = None) -> InclusionProof:
    """The audit path of entry ``index`` in the tree of ``tree_size`` (default: current)."""
    tree_size = _size_param(session, "tree_size", tree_size, least=1)
    if not 0 <= index < tree_size:
        raise ValidationError({"index": [f"Entry {index} is not in a tree of {tree_size}."]})
    fetch = _prefetched(session, merkle.inclusion_nodes(index, tree_size))
    return InclusionProof(index, tree_size, fetch([(0, index)])[(0, index)],
                          merkle.root_hash(tree_size, fetch),
                          merkle.inclusion_proof(index, tree_size, fetch))


def consistency_proof(session: Session, first: int, second: int | None = None) -> ConsistencyProof:
    """The proof that the tree of ``first`` entries is a prefix of ``second`` (default: current)."""
    if first < 1:
        raise ValidationError({"first": ["A consistency proof starts from a size of 1 or more."]})
    second = _size_param(session, "second", second, least=1)
    if first > second:
        raise ValidationError({"first": [f"First is at most second ({second})."]})
    fetch = _prefetched(session, merkle.consistency_nodes(first, second))
    hashes = merkle.consistency_proof(first, second, fetch)
    return ConsistencyProof(first, second, merkle.root_hash(first, fetch),
                            merkle.root_hash(second, fetch), hashes)


# --- checkpoints ----------------------------------------------------------------------------


def checkpoint(session: Session, origin: str, signer: NoteSigner) -> Checkpoint:
    """The current tree head signed by ``signer``; reads only, so any GET may answer it.

    Ed25519 signatures are deterministic: the same head signed by the same key is the same
    note, whether it was published (stored) or not.
    """
    head = tree_head(session)
    return sign_checkpoint(origin, head.size, head.root_hash, signer)


def publish_checkpoint(session: Session, origin: str, signer: NoteSigner) -> Checkpoint:
    """Sign the current tree head and keep it, once per size, origin and key.

    Kept heads are what ``verify_log`` holds the stored entries to, so a tree rewritten
    behind the application's back, hashes and all, still shows. Call it inside the unit of
    work that appended (the permit service, after issuing) or from ``abs-registry log
    publish``. Two callers racing to keep the same head keep one row.
    """
    signed = checkpoint(session, origin, signer)
    with unit_of_work(session):
        session.execute(_dialect(session).insert(LogCheckpoint).values(
            tree_size=signed.size, origin=origin, key_name=signer.name, note=signed.note,
            created_at=utcnow()).on_conflict_do_nothing())
    return signed


def latest_checkpoint(session: Session) -> LogCheckpoint | None:
    return session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc(),
                                                         LogCheckpoint.id.desc()).limit(1))


# --- verifying the stored log ---------------------------------------------------------------


@dataclass
class LogReport:
    checked: int
    root_hash: bytes
    checkpoints: int = 0
    first_bad_index: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_log(session: Session) -> LogReport:
    """Recompute every leaf and subtree hash from the stored entries, in order, and compare
    them with what is stored, with the head row and with every published checkpoint.

    Reports the first mismatch with the index of the entry where it shows.
    """
    published = _published_roots(session)
    tree = merkle.TreeBuilder()
    report = LogReport(0, merkle.EMPTY_ROOT)
    rows = session.execute(
        select(_ENTRIES.c.leaf_index, _ENTRIES.c.entry, _ENTRIES.c.leaf_hash,
               _ENTRIES.c.subtree_hashes).order_by(_ENTRIES.c.leaf_index)
        .execution_options(yield_per=2000))
    for row in rows:
        if problem := _check_row(tree, row):
            return _broken(report, row.leaf_index if problem[0] is None else problem[0],
                           problem[1])
        for note_root, created in published.get(tree.size, []):
            if note_root != tree.root():
                return _broken(report, tree.size - 1, f"the checkpoint published {created} for "
                               f"size {tree.size} has another root than the stored entries")
            report.checkpoints += 1
        report.checked = tree.size
    report.root_hash = tree.root()
    head = tree_head(session)
    if head.size != tree.size:
        return _broken(report, min(head.size, tree.size),
                       f"the head counts {head.size} entries, the table holds {tree.size}")
    if head.root_hash != tree.root():
        return _broken(report, tree.size - 1, "the head's root differs from the entries' root")
    beyond = [size for size in published if size > tree.size]
    if beyond:
        return _broken(report, tree.size, f"a checkpoint was published for size {min(beyond)}, "
                       f"but the log holds {tree.size} entries")
    return report


def _check_row(tree: merkle.TreeBuilder, row) -> tuple[int | None, str] | None:
    if row.leaf_index != tree.size:
        return tree.size, f"entry {tree.size} is missing"
    if merkle.leaf_hash(row.entry) != row.leaf_hash:
        return None, "the entry's bytes do not match its leaf hash"
    if b"".join(tree.append(row.leaf_hash)) != row.subtree_hashes:
        return None, "the stored subtree hashes differ from the recomputed ones"
    return None


def _broken(report: LogReport, index: int, problem: str) -> LogReport:
    report.first_bad_index, report.problem = index, problem
    return report


def _published_roots(session: Session) -> dict[int, list[tuple[bytes, str]]]:
    roots: dict[int, list[tuple[bytes, str]]] = {}
    for stored in session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.id)):
        try:
            published = parse_checkpoint(stored.note)[0]
        except InvalidCheckpoint:
            published = None
        if published is None or published.size != stored.tree_size:
            root = b""  # matches no root: reported at that size
        else:
            root = published.root_hash
        roots.setdefault(stored.tree_size, []).append((root, f"{stored.created_at:%Y-%m-%d}"))
    return roots
