"""The tracing index: a k-mer sketch (FracMinHash, sourmash) of every registered sequence.

What is kept. A sequence is cut into all its k-mers (k = 31 for DNA and RNA, 10 for
protein); each k-mer is hashed (MurmurHash64, canonical for nucleotides: the smaller hash of
the k-mer and of its reverse complement, so a reverse-complemented copy has the same
hashes); a hash is kept when it falls in the lowest 1/SCALED of the 64-bit range. The same
rule applies to every sequence and query, so two sequences share a kept hash exactly when
they share that k-mer and it was kept: shared kept hashes estimate shared k-mers without bias.

Why SCALED = 10 (not sourmash's usual 1000). The brief is to trace pieces of ~200 bp that
carry 1-2 % point mutations. A 200 bp piece has L - k + 1 = 170 k-mers; a k-mer survives a
point-mutation rate p unchanged with probability (1 - p)^k, 0.73 at 1 %, 0.53 at 2 %, 0.39 at
3 %. The number of surviving *kept* k-mers is then Poisson with mean 170 (1 - p)^k / SCALED:

    SCALED   1 %    2 %    3 %      P(fewer than 2 shared: the piece is missed)
    1000     0.12   0.09   0.07     > 99 %            (a 1 kbp sequence keeps ~1 hash)
    100      1.2    0.9    0.7      65 % / 77 % / 86 %
    16       7.8    5.7    4.1      0.4 % / 2.3 % / 8.2 %
    10       12.4   9.1    6.6      0.005 % / 0.1 % / 1 %

so SCALED = 10 finds such pieces reliably; anything coarser loses them. Two shared hashes are
asked for (``MIN_SHARED``): two unrelated sequences share a given 31-mer with probability
4^-31 ~ 2e-19, so a 1 Mbp query against 300 Mbp of registered sequence expects ~1e-4 chance
31-mer matches in all; one shared hash is already evidence, two rule out single low-
complexity k-mers (a poly-A or (AT)n stretch has only one or two distinct 31-mers).

What it costs. One kept hash per ~10 residues: 100,000 sequences of 500-5,000 bp (~200 Mbp)
give ~20 million (hash, sequence) postings. That is the price of finding 200 bp pieces; it
grows with the residues registered, not with the number of queries. (See bench/README.md for
the measured size on each database.)

Where it is kept. In the database, as an inverted index: one row per (hash, sequence) in
``dsi_sketch_hashes``, keyed by hash, and one ``dsi_sketches`` row per sequence with its
parameters and hash count. It is written by ``index_sequences`` inside the unit of work that
registers the sequences (``dsi.events``), so the index is never behind or ahead of the
register, survives restarts with the database, needs no second store to back up, and every
web process sees the same index without a cache to keep fresh. A lookup is one indexed join
per query (``lookup``). A file-backed index would be smaller on PostgreSQL but would need
its own crash-safe update path beside the database transaction.

The postings have no foreign key: at ~20 million rows a per-row check would dominate the
write cost. They are written only here, with their ``dsi_sketches`` row (which has the
foreign key to the sequence), and nothing is ever deleted (DOMAIN rule 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np
from sourmash import MinHash
from sourmash.minhash import _get_max_hash_for_scaled
from sqlalchemy import BigInteger, ForeignKey, Integer, String, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from abs_registry.db import Base
from abs_registry.declarations.models import MoleculeType
from abs_registry.dsi import events

SCALED = 10
NUCLEOTIDE_K = 31
PROTEIN_K = 10
MIN_SHARED = 2
# A hash is kept when below this: sourmash's own rule for `scaled` (round(2^64 / SCALED)).
MAX_HASH = _get_max_hash_for_scaled(SCALED)
WRITE_EVERY = 200_000  # postings held in memory at once (~30 MB as Python tuples)
NUCLEOTIDE, PROTEIN = "nucleotide", "protein"


class DSISketch(Base):
    """How one registered sequence was sketched, and how many hashes it kept."""

    __tablename__ = "dsi_sketches"

    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("dsi_sequences.id", ondelete="RESTRICT"), primary_key=True)
    alphabet: Mapped[str] = mapped_column(String(10))  # nucleotide (DNA and RNA) or protein
    ksize: Mapped[int] = mapped_column(Integer)
    scaled: Mapped[int] = mapped_column(Integer)
    hash_count: Mapped[int] = mapped_column(Integer)


class DSISketchHash(Base):
    """One posting of the inverted index: this kept k-mer hash occurs in this sequence."""

    __tablename__ = "dsi_sketch_hashes"
    # On SQLite the rows live in the primary-key B-tree itself (no rowid table beside it),
    # which halves the index's size there.
    __table_args__ = {"sqlite_with_rowid": False}

    hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sequence_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


def alphabet_of(molecule: MoleculeType) -> str:
    """RNA is hashed as DNA (U read as T): an RNA and the DNA it was copied from match."""
    return PROTEIN if molecule is MoleculeType.PROTEIN else NUCLEOTIDE


def new_minhash(alphabet: str) -> MinHash:
    if alphabet == PROTEIN:
        return MinHash(n=0, ksize=PROTEIN_K, is_protein=True, scaled=SCALED)
    return MinHash(n=0, ksize=NUCLEOTIDE_K, scaled=SCALED)


def _letters(residues: str, alphabet: str) -> str:
    return residues if alphabet == PROTEIN else residues.replace("U", "T")


def _every_hash(residues: str, alphabet: str) -> np.ndarray:
    """The hash of every k-mer, in sequence order; 0 where a k-mer holds an ambiguity code.

    One call into sourmash's Rust core; the sampling below is what ``MinHash.add_sequence``
    does, but in numpy: adding 100,000 kept hashes one by one to a MinHash took 0.5 s for a
    1 Mbp query, this takes 0.05 s.
    """
    mh = new_minhash(alphabet)
    if len(residues) < mh.ksize:
        return np.array([], dtype=np.uint64)
    return np.array(mh.seq_to_hashes(_letters(residues, alphabet), force=True,
                                     bad_kmers_as_zeroes=True, is_protein=alphabet == PROTEIN),
                    dtype=np.uint64)


def _kept(every: np.ndarray) -> np.ndarray:
    return (every < MAX_HASH) & (every != 0)


def sketch(residues: str, alphabet: str) -> np.ndarray:
    """The sorted kept hashes of a normalized sequence (k-mers with ambiguity codes skipped)."""
    every = _every_hash(residues, alphabet)
    return np.unique(every[_kept(every)])


@dataclass
class QuerySketch:
    """A query's kept hashes with the position of the first k-mer that produced each."""

    alphabet: str
    ksize: int
    hashes: np.ndarray  # unique kept hashes, sorted
    positions: np.ndarray  # 0-based query position of each one's first k-mer


def sketch_query(residues: str, alphabet: str) -> QuerySketch:
    """Like ``sketch``, but keeping where each hash came from, to report the matched region."""
    every = _every_hash(residues, alphabet)
    where = np.flatnonzero(_kept(every))
    found, first = np.unique(every[where], return_index=True)
    ksize = PROTEIN_K if alphabet == PROTEIN else NUCLEOTIDE_K
    return QuerySketch(alphabet, ksize, found, where[first])


def index_sequences(session: Session, sequences: Iterable) -> int:
    """Add each sequence (``DSISequence`` rows) to the index; return the postings written.

    Runs inside the caller's unit of work. A sequence already indexed is left as it is, so
    registering the same sequences twice, or ``index_missing`` after a restore, is harmless.
    """
    sequences = list(sequences)
    if not sequences:
        return 0
    done = set(session.scalars(select(DSISketch.sequence_id).where(
        DSISketch.sequence_id.in_([s.id for s in sequences]))))
    rows, hashes, pending, written = [], [], 0, 0
    for seq in sequences:
        if seq.id in done:
            continue
        done.add(seq.id)
        alphabet = alphabet_of(seq.molecule_type)
        kept = sketch(seq.residues, alphabet)
        rows.append(sketch_row(seq.id, alphabet, len(kept)))
        hashes.append(kept)
        pending += len(kept)
        if pending >= WRITE_EVERY:  # a batch of genome-sized sequences stays within memory
            written += write_postings(session, rows, hashes)
            rows, hashes, pending = [], [], 0
    return written + write_postings(session, rows, hashes)


def sketch_row(sequence_id: int, alphabet: str, hash_count: int) -> dict:
    return {"sequence_id": sequence_id, "alphabet": alphabet, "scaled": SCALED,
            "ksize": PROTEIN_K if alphabet == PROTEIN else NUCLEOTIDE_K,
            "hash_count": hash_count}


def write_postings(session: Session, rows: list[dict], hashes: list[np.ndarray]) -> int:
    """Insert the sketch rows and their postings (``hashes`` aligned with ``rows``).

    The postings bypass the ORM: ~100 per sequence is too many rows for per-row objects.
    PostgreSQL takes them by COPY, SQLite by one executemany; both inside the transaction.
    """
    if not rows:
        return 0
    session.execute(insert(DSISketch.__table__), rows)
    ids = np.repeat([r["sequence_id"] for r in rows], [len(h) for h in hashes])
    values = np.concatenate(hashes).astype(np.int64)  # kept hashes < 2^64 / SCALED < 2^63
    order = np.argsort(values, kind="stable")  # key order: appends to the B-tree's pages
    values, ids = values[order], ids[order]
    connection = session.connection()
    for start in range(0, len(values), WRITE_EVERY):
        postings = list(zip(values[start:start + WRITE_EVERY].tolist(),
                            ids[start:start + WRITE_EVERY].tolist(), strict=True))
        if connection.dialect.name == "postgresql":
            with connection.connection.dbapi_connection.cursor() as cursor, \
                    cursor.copy("COPY dsi_sketch_hashes (hash, sequence_id) FROM STDIN") as copy:
                for posting in postings:
                    copy.write_row(posting)
        else:
            connection.exec_driver_sql(
                "INSERT INTO dsi_sketch_hashes (hash, sequence_id) VALUES (?, ?)", postings)
    return len(values)


def index_missing(session: Session, batch: int = 500) -> int:
    """Index registered sequences that have no sketch yet (after migrating an existing
    register, or restoring a backup taken without the index); return how many were added."""
    from abs_registry.declarations.models import Declaration, Status
    from abs_registry.dsi.models import DSISequence

    on_register = [Status.REGISTERED, Status.WITHDRAWN, Status.SUPERSEDED]
    added = 0
    while True:
        sequences = list(session.scalars(
            select(DSISequence)
            .join(Declaration, Declaration.id == DSISequence.dsi_record_id)
            .outerjoin(DSISketch, DSISketch.sequence_id == DSISequence.id)
            .where(DSISketch.sequence_id.is_(None), Declaration.status.in_(on_register),
                   Declaration.registered_at.is_not(None))
            .order_by(DSISequence.id).limit(batch)))
        if not sequences:
            return added
        index_sequences(session, sequences)
        session.flush()
        added += len(sequences)


# One statement per query whatever its size: the query's hashes go in as a single parameter
# (a PostgreSQL array, a JSON array on SQLite) and are joined against the primary key.
_LOOKUP = {
    "postgresql": text(
        "SELECT h.hash, h.sequence_id FROM unnest(CAST(:hashes AS BIGINT[])) AS q(hash) "
        "JOIN dsi_sketch_hashes h ON h.hash = q.hash"),
    "sqlite": text(
        "SELECT h.hash, h.sequence_id FROM json_each(:hashes) AS q "
        "JOIN dsi_sketch_hashes h ON h.hash = q.value"),
}


def lookup(session: Session, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Postings of these hashes: (hash, sequence_id) arrays, in no particular order."""
    if len(hashes) == 0:
        return np.array([], dtype=np.uint64), np.array([], dtype=np.int64)
    # As text ('{1,2}' or '[1,2]'): the database parses 100,000 numbers faster than the driver
    # adapts 100,000 Python ints one by one. Kept hashes are < 2^64 / SCALED < 2^63.
    listed = ",".join(map(str, hashes.astype(np.int64).tolist()))
    dialect = session.get_bind().dialect.name
    param = "{" + listed + "}" if dialect == "postgresql" else "[" + listed + "]"
    rows = session.execute(_LOOKUP[dialect], {"hashes": param}).all()
    found = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=2 * len(rows))
    return found[0::2].astype(np.uint64), found[1::2]


def sketch_sizes(session: Session, sequence_ids: Iterable[int]) -> dict[int, DSISketch]:
    ids = list(sequence_ids)
    return {s.sequence_id: s for s in session.scalars(
        select(DSISketch).where(DSISketch.sequence_id.in_(ids)))} if ids else {}


events.on_sequences_registered.append(index_sequences)
