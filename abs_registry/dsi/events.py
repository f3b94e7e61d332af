"""What other parts of the registry hear about declared sequences.

The tracing index (``abs_registry.dsi.sketches``) registers itself here instead of the
declaration workflow importing it: registration stays the same whether tracing is
installed or not, and each listener runs inside the same unit of work as the registration,
so an index that fails to update fails the registration rather than silently missing it.

A listener is ``callback(session, sequences)`` where ``sequences`` is a list of rows of one
registered, public DSI declaration's sequences: read-only rows with the ``DSISequence``
columns (``id``, ``identifier``, ``molecule_type`` as its value, ``sha256``,
``residues_zlib`` ...) but not ORM objects, which cost more to build for 100,000 sequences than sketching them does;
``accessions`` and ``description`` are left out for the same reason. A large declaration is
announced in several calls of at most ``BATCH`` sequences or about ``BATCH_RESIDUES``
residues each, so memory stays bounded.

The declaration workflow (declarations/service.py) calls the two functions below; it knows
nothing else about sequences.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import String, insert, select, type_coerce
from sqlalchemy.orm import Session

from abs_registry.declarations.models import Declaration, Kind, Visibility
from abs_registry.dsi.models import DSISequence

BATCH = 1000
BATCH_RESIDUES = 4_000_000  # long sequences come a few at a time
# molecule_type as its plain value: converting 100,000 of them to the enum costs ~0.1 s.
ANNOUNCED = [type_coerce(c, String).label(c.name) if c.name == "molecule_type" else c
             for c in DSISequence.__table__.columns
             if c.name not in {"accessions", "description"}]

on_sequences_registered: list[Callable] = []


def sequences_registered(session: Session, sequences: list) -> None:
    """Tell every listener that these sequences are now on the public register."""
    if not sequences:
        return
    for callback in list(on_sequences_registered):
        callback(session, sequences)


def declaration_registered(session: Session, decl: Declaration) -> None:
    """A declaration was registered: announce its sequences if it is a public DSI record."""
    if decl.kind != Kind.DSI or decl.visibility is not Visibility.PUBLIC:
        return
    if not on_sequences_registered:
        return
    rows = session.execute(
        select(*ANNOUNCED).where(DSISequence.dsi_record_id == decl.id)
        .order_by(DSISequence.id).execution_options(yield_per=20))  # ~8 MB of 1 Mbp rows
    batch: list = []
    residues = 0
    for sequence in rows:
        batch.append(sequence)
        residues += sequence.length
        if len(batch) >= BATCH or residues >= BATCH_RESIDUES:
            sequences_registered(session, batch)
            batch, residues = [], 0
    sequences_registered(session, batch)


def declaration_amended(session: Session, old: Declaration, new: Declaration) -> None:
    """An amendment starts with the sequences of the version it amends (one INSERT ... SELECT).

    They keep their upload (which names the version they were first declared with).
    """
    if old.kind != Kind.DSI:
        return
    copied = [c for c in DSISequence.__table__.columns if c.name not in {"id", "dsi_record_id"}]
    session.execute(insert(DSISequence).from_select(
        ["dsi_record_id", *(c.name for c in copied)],
        select(new.id, *copied).where(DSISequence.dsi_record_id == old.id)
        .order_by(DSISequence.id)))
