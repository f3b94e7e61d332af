"""The transparency log's tables: its entries, the head row that serializes appends, and the
checkpoints it has published.

Where the tree lives: entry ``i`` also stores the hashes of the perfect subtrees that its
leaf completes (for a tree of ``i + 1 = m * 2**t`` leaves, m odd: levels 1 to t, 32 bytes
each). So every perfect subtree ``(level, position)`` sits in exactly one row, the one of
its last leaf, ``(position + 1) * 2**level - 1``, and a proof needs one primary-key lookup
of O(log n) rows. On average a row carries one extra hash; appends write one row; and
``log verify`` checks the whole tree by reading one table in order. Database triggers
refuse UPDATE and DELETE on log_entries and log_checkpoints (migration 0007).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from abs_registry.db import Base, UTCDateTime, utcnow


class LogEntry(Base):
    __tablename__ = "log_entries"
    __table_args__ = (CheckConstraint("leaf_index >= 0", name="leaf_index_not_negative"),)

    # 0-based, gapless: given out under the head row's lock, never by a sequence.
    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(80), index=True)
    # The exact bytes the leaf hash covers (canonical JSON from the caller).
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    # Unique: the same entry twice is refused, naming the first (Rekor's rule).
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    subtree_hashes: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LogHead(Base):
    """One row: the tree's size and root. Writing it first is the lock every append takes."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpoint(Base):
    """A signed tree head as it was published, kept so later ones can be checked against it."""

    __tablename__ = "log_checkpoints"
    __table_args__ = (UniqueConstraint("tree_size", "origin", "key_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(200))
    key_name: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
