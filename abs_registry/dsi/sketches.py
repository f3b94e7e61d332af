"""The tracing index: a FracMinHash sketch of every registered sequence, kept as index segments.

What is kept. A sequence is cut into all its k-mers (k = 31 for DNA and RNA, 10 for
protein). A nucleotide k-mer is encoded 2 bits a base (A C G T/U = 0 1 2 3; 62 bits for
k = 31) and made canonical (the smaller of its code and its reverse complement's, so a
reverse-complemented copy has the same hashes); a protein k-mer is encoded 5 bits a residue
(50 bits). The code is hashed with the splitmix64 finalizer, a bijection on 64 bits, so two
k-mers share a hash exactly when they are the same k-mer: there are no hash collisions at
all. A hash is kept when it falls in the lowest 1/SCALED of the 64-bit range (FracMinHash);
a k-mer holding an ambiguity code (N, R, ...) is skipped. The same rule applies to every
sequence and query, so shared kept hashes estimate shared k-mers without bias.

Why not sourmash. It was used first; called per sequence (100,000 calls for a 100 MB file)
it was the slowest step of registration after the inserts, and importing it took seconds
and tens of MB in every process. The rule above is the same FracMinHash (a different hash
function, the same sampling), computed in numpy over whole batches of sequences at once:
~60 Mbp per CPU second (bench/dsi_ingest.py). Its sensitivity is the one documented below, and
tests/test_dsi_tracing.py checks it (mutated pieces traced, random sequences not; and the
hashes equal a plain per-k-mer reference implementation of the rule).

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

Where it is kept. In the database, written inside the unit of work that registers the
sequences (``dsi.events``), so the index is never behind or ahead of the register, survives
restarts, and needs no second store to back up: one ``dsi_sketches`` row per sequence (its
parameters and hash count) and, per registration batch, one ``dsi_sketch_segments`` row
holding that batch's postings as two arrays (the kept hashes, sorted, uint64; and the
sequence id of each, uint32). One row per posting (a B-tree entry per hash, ~20 million of
them for 100,000 sequences) made registration insert-bound at ~0.4 Mbp/s and cost 18-85
bytes a posting; a segment costs 12 bytes a posting and one INSERT.

How it is read. Each process keeps the postings of every segment its session can see merged
into one sorted array per database (``_Postings``), and checks the list of segment ids (and
their random tokens, since SQLite may reuse the id of a rolled-back row) at every lookup:
new segments are merged in, and if a cached one is gone the cache is rebuilt, so a trace
sees exactly the committed index (and its own transaction's). Concurrent registrations each
add their own segment; none rewrites another's. A lookup is two binary searches per query
hash. The price is memory: 12 bytes a posting in each tracing process (~330 MB for 275 Mbp
registered; the query index is read-only and could be mmapped from the instance folder if
that ever matters). ``compact`` merges all segments into one (a maintenance step; nothing
needs it for correctness).

Nothing registered is ever deleted (DOMAIN rule 3); segments are derived data.
"""

from __future__ import annotations

import secrets
import threading
import weakref
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, delete, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from abs_registry.db import Base, insert_rows
from abs_registry.declarations.models import MoleculeType
from abs_registry.dsi import events

SCALED = 10
NUCLEOTIDE_K = 31
PROTEIN_K = 10
MIN_SHARED = 2
MAX_HASH = 2**64 // SCALED  # a hash is kept when below this
NUCLEOTIDE, PROTEIN = "nucleotide", "protein"
KSIZE = {NUCLEOTIDE: NUCLEOTIDE_K, PROTEIN: PROTEIN_K}
BITS = {NUCLEOTIDE: 2, PROTEIN: 5}
WINDOWS_AT_ONCE = 1 << 15  # k-mers hashed per numpy pass: 256 KB arrays stay in cache
SEED = np.uint64(0x9E3779B97F4A7C15)  # xor-ed in before mixing: poly-A does not hash to 0


def _codes(letters: str, value) -> np.ndarray:
    table = np.full(256, 255, dtype=np.uint8)  # 255: not in the alphabet (ambiguity codes)
    for letter in letters:
        table[ord(letter)] = table[ord(letter.lower())] = value(letter)
    return table


_CODE = {
    NUCLEOTIDE: _codes("ACGTU", lambda c: "ACGT".index(c) if c != "U" else 3),
    PROTEIN: _codes("ABCDEFGHIJKLMNOPQRSTUVWXYZ", lambda c: ord(c) - ord("A")),
}


class DSISketch(Base):
    """How one registered sequence was sketched, and how many hashes it kept."""

    __tablename__ = "dsi_sketches"

    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("dsi_sequences.id", ondelete="RESTRICT"), primary_key=True)
    alphabet: Mapped[str] = mapped_column(String(10))  # nucleotide (DNA and RNA) or protein
    ksize: Mapped[int] = mapped_column(Integer)
    scaled: Mapped[int] = mapped_column(Integer)
    hash_count: Mapped[int] = mapped_column(Integer)


class DSISketchSegment(Base):
    """The postings of one registration batch: sorted kept hashes and their sequence ids."""

    __tablename__ = "dsi_sketch_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random: tells a cache this row from a rolled-back one that had the same id (SQLite).
    token: Mapped[str] = mapped_column(String(32))
    postings: Mapped[int] = mapped_column(Integer)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)  # uint64 little-endian, ascending
    sequence_ids: Mapped[bytes] = mapped_column(LargeBinary)  # uint32 LE, one per hash


def alphabet_of(molecule: MoleculeType | str) -> str:
    """RNA is hashed as DNA (U read as T): an RNA and the DNA it was copied from match."""
    return PROTEIN if molecule == MoleculeType.PROTEIN else NUCLEOTIDE


# --- hashing --------------------------------------------------------------------------------

def _windows(codes: np.ndarray, k: int, bits: int) -> np.ndarray:
    """The code of every k-long window (first residue in the high bits), by doubling:
    log2(k) shifted ORs of whole arrays instead of k."""
    total = len(codes)
    result, covered = None, 0
    power, width = codes, 1
    while True:
        if k & width:
            if result is None:
                result, covered = power, width
            else:
                m = total - covered - width + 1
                result = (result[:m] << np.uint64(width * bits)) | power[covered:covered + m]
                covered += width
        if 2 * width > k:
            return result
        m = total - 2 * width + 1
        power = (power[:m] << np.uint64(width * bits)) | power[width:width + m]
        width *= 2


_M2, _M4 = np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)


def _reverse_complement(codes: np.ndarray, k: int) -> np.ndarray:
    """2-bit k-mer codes of the reverse complement: complement (NOT), reverse the 2-bit
    groups of the 64-bit word, and drop the 64 - 2k bits that come out at the bottom."""
    x = ~codes
    x = ((x >> np.uint64(2)) & _M2) | ((x & _M2) << np.uint64(2))
    x = ((x >> np.uint64(4)) & _M4) | ((x & _M4) << np.uint64(4))
    return x.byteswap() >> np.uint64(64 - 2 * k)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of 64-bit words that scatters every input bit."""
    x = x ^ SEED
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def kept_kmers(residues: bytes | str, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """Every kept k-mer occurrence: (hashes, 0-based start positions), in sequence order.

    ``residues`` may hold many sequences joined by a byte outside the alphabet (b"\\n"): no
    k-mer spans such a byte, so one call hashes a whole batch.
    """
    if isinstance(residues, str):
        residues = residues.encode("ascii")
    k, bits = KSIZE[alphabet], BITS[alphabet]
    codes8 = _CODE[alphabet][np.frombuffer(residues, dtype=np.uint8)]
    found_hashes, found_positions = [], []
    for start in range(0, max(len(codes8) - k + 1, 0), WINDOWS_AT_ONCE):
        part = codes8[start:start + WINDOWS_AT_ONCE + k - 1]
        bad = np.concatenate(([0], np.cumsum(part == 255, dtype=np.int32)))
        valid = bad[k:] == bad[:-k]
        kmers = _windows(part.astype(np.uint64), k, bits)
        if alphabet == NUCLEOTIDE:
            kmers = np.minimum(kmers, _reverse_complement(kmers, k))
        hashes = _mix(kmers)
        where = np.flatnonzero(valid & (hashes < np.uint64(MAX_HASH)))
        found_hashes.append(hashes[where])
        found_positions.append(where + start)
    if not found_hashes:
        return np.array([], dtype=np.uint64), np.array([], dtype=np.int64)
    return np.concatenate(found_hashes), np.concatenate(found_positions)


def sketch(residues: bytes | str, alphabet: str) -> np.ndarray:
    """The sorted distinct kept hashes of a normalized sequence."""
    return np.unique(kept_kmers(residues, alphabet)[0])


@dataclass
class QuerySketch:
    """A query's kept hashes with the position of the first k-mer that produced each."""

    alphabet: str
    ksize: int
    hashes: np.ndarray  # unique kept hashes, sorted
    positions: np.ndarray  # 0-based query position of each one's first k-mer


def sketch_query(residues: str, alphabet: str) -> QuerySketch:
    """Like ``sketch``, but keeping where each hash came from, to report the matched region."""
    hashes, positions = kept_kmers(residues, alphabet)
    found, first = np.unique(hashes, return_index=True)
    return QuerySketch(alphabet, KSIZE[alphabet], found, positions[first])


# --- writing --------------------------------------------------------------------------------

def index_sequences(session: Session, sequences: Iterable) -> int:
    """Add sequences (rows with ``id``, ``molecule_type`` and ``residues_zlib``) to the index,
    as one segment; return the postings written.

    Runs inside the caller's unit of work. A sequence already indexed is left as it is, so
    registering the same sequences twice, or ``index_missing`` after a restore, is harmless.
    """
    sequences = list(sequences)
    if not sequences:
        return 0
    done = set(session.scalars(select(DSISketch.sequence_id).where(
        DSISketch.sequence_id.in_([s.id for s in sequences]))))
    todo = []
    for seq in sequences:
        if seq.id not in done:
            done.add(seq.id)
            todo.append(seq)
    rows, postings = [], []
    for alphabet in (NUCLEOTIDE, PROTEIN):
        group = [s for s in todo if alphabet_of(s.molecule_type) == alphabet]
        if group:
            counts, hashes, ids = _sketch_batch(group, alphabet)
            rows += [(s.id, alphabet, KSIZE[alphabet], SCALED, n)
                     for s, n in zip(group, counts.tolist(), strict=True)]
            postings.append((hashes, ids))
    if not rows:
        return 0
    return write_segment(session, rows, *_merge(postings))


def _sketch_batch(group: list, alphabet: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash a batch of sequences in one pass: (hashes kept per sequence, hashes, their ids)."""
    residues = [zlib.decompress(s.residues_zlib) for s in group]
    starts = np.cumsum([0] + [len(r) + 1 for r in residues[:-1]])
    hashes, positions = kept_kmers(b"\n".join(residues), alphabet)
    del residues
    owner = np.searchsorted(starts, positions, side="right") - 1
    # Distinct (hash, sequence) pairs, sorted by hash. A hash occurs twice only when its
    # k-mer does (repeats within a sequence, or shared by two): those few are sorted again
    # by sequence, so that repeats of one pair end up side by side.
    order = np.argsort(hashes)
    hashes, owner = hashes[order], owner[order]
    repeated = np.flatnonzero(hashes[1:] == hashes[:-1])
    if len(repeated):
        runs = np.unique(np.concatenate((repeated, repeated + 1)))
        owner[runs] = owner[runs][np.lexsort((owner[runs], hashes[runs]))]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (owner[1:] != owner[:-1])
    hashes, owner = hashes[first], owner[first]
    sequence_ids = np.array([s.id for s in group], dtype=np.uint32)
    return np.bincount(owner, minlength=len(group)), hashes, sequence_ids[owner]


SKETCH_COLUMNS = ("sequence_id", "alphabet", "ksize", "scaled", "hash_count")


def write_segment(session: Session, rows: list[tuple], hashes: np.ndarray,
                  sequence_ids: np.ndarray) -> int:
    """Insert the sketch rows (``SKETCH_COLUMNS`` tuples) and one segment of their postings
    (sorted by hash)."""
    insert_rows(session, "dsi_sketches", SKETCH_COLUMNS, rows)
    if len(hashes) == 0:
        return 0
    session.execute(insert(DSISketchSegment.__table__), [{
        "token": secrets.token_hex(16), "postings": len(hashes),
        "hashes": hashes.astype("<u8").tobytes(),
        "sequence_ids": sequence_ids.astype("<u4").tobytes()}])
    return len(hashes)


def index_missing(session: Session, batch: int = 1000) -> int:
    """Index registered sequences that have no sketch yet (after migrating an existing
    register, or restoring a backup taken without the index); return how many were added."""
    from abs_registry.declarations.models import Declaration, Status
    from abs_registry.dsi.models import DSISequence

    on_register = [Status.REGISTERED, Status.WITHDRAWN, Status.SUPERSEDED]
    added = 0
    while True:
        sequences = session.execute(
            select(DSISequence.id, DSISequence.molecule_type, DSISequence.residues_zlib)
            .join(Declaration, Declaration.id == DSISequence.dsi_record_id)
            .outerjoin(DSISketch, DSISketch.sequence_id == DSISequence.id)
            .where(DSISketch.sequence_id.is_(None), Declaration.status.in_(on_register),
                   Declaration.registered_at.is_not(None))
            .order_by(DSISequence.id).limit(batch)).all()
        if not sequences:
            return added
        index_sequences(session, sequences)
        session.flush()
        added += len(sequences)


def compact(session: Session) -> int:
    """Merge every segment into one (fewer rows to read and merge when a process starts);
    return how many segments there were. Run inside a unit of work. Only the segments read
    are replaced, and on PostgreSQL they are locked first: a registration committing
    meanwhile keeps its own segment, and two compactions do not merge the same rows twice."""
    query = select(DSISketchSegment.id, DSISketchSegment.hashes, DSISketchSegment.sequence_ids)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    segments = session.execute(query).all()
    if len(segments) > 1:
        hashes, ids = _merge([_arrays(h, i) for _, h, i in segments])
        session.execute(delete(DSISketchSegment).where(
            DSISketchSegment.id.in_([segment_id for segment_id, _, _ in segments])))
        write_segment(session, [], hashes, ids)
    return len(segments)


# --- reading --------------------------------------------------------------------------------

def _arrays(hashes: bytes, sequence_ids: bytes) -> tuple[np.ndarray, np.ndarray]:
    return (np.frombuffer(hashes, dtype="<u8").astype(np.uint64, copy=False),
            np.frombuffer(sequence_ids, dtype="<u4").astype(np.uint32, copy=False))


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted runs into one sorted run (a stable sort merges presorted runs in linear passes;
    for 27 million postings in 100 runs it takes ~2 s and ~1 GB at its peak, which is what
    ``compact`` saves a new process: one run is used as it is)."""
    parts = [part for part in parts if len(part[0])] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    hashes = np.concatenate([h for h, _ in parts])
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]
    return hashes, np.concatenate([i for _, i in parts])[order]


@dataclass(frozen=True)
class _Postings:
    """The postings of a set of segments, merged: what one database's index holds."""

    segments: frozenset  # (id, token) of the segments merged in
    hashes: np.ndarray
    sequence_ids: np.ndarray


_EMPTY = _Postings(frozenset(), np.array([], dtype=np.uint64), np.array([], dtype=np.uint32))
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> _Postings
_cache_lock = threading.Lock()


def _postings(session: Session) -> _Postings:
    """The index as this session sees it, from the process cache, updated if need be."""
    listed = frozenset(session.execute(select(DSISketchSegment.id, DSISketchSegment.token)))
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    with _cache_lock:
        cached = _cache.get(engine, _EMPTY)
        if cached.segments == listed:
            return cached
        base = cached if cached.segments <= listed else _EMPTY
        missing = [segment_id for segment_id, _ in listed - base.segments]
        loaded = [_arrays(h, i) for h, i in session.execute(
            select(DSISketchSegment.hashes, DSISketchSegment.sequence_ids)
            .where(DSISketchSegment.id.in_(missing)))]
        hashes, ids = _merge([(base.hashes, base.sequence_ids), *loaded])
        cached = _cache[engine] = _Postings(listed, hashes, ids)
        return cached


def lookup(session: Session, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Postings of these (sorted, distinct) hashes: (hash, sequence_id) arrays."""
    index = _postings(session)
    if len(hashes) == 0 or len(index.hashes) == 0:
        return np.array([], dtype=np.uint64), np.array([], dtype=np.int64)
    left = np.searchsorted(index.hashes, hashes, side="left")
    right = np.searchsorted(index.hashes, hashes, side="right")
    counts = right - left
    total = int(counts.sum())
    # Each query hash's run of postings [left, right), laid end to end.
    run_start = np.repeat(left - (np.cumsum(counts) - counts), counts)
    where = run_start + np.arange(total)
    return index.hashes[where], index.sequence_ids[where].astype(np.int64)


def sketch_sizes(session: Session, sequence_ids: Iterable[int]) -> dict[int, DSISketch]:
    ids = list(sequence_ids)
    return {s.sequence_id: s for s in session.scalars(
        select(DSISketch).where(DSISketch.sequence_id.in_(ids)))} if ids else {}


events.on_sequences_registered.append(index_sequences)
