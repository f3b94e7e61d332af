"""Tracing one 1 Mbp query against 100,000 registered sequences: latency, index build and size.

Registers N sequences (default 100,000, lengths uniform in 500-5,000 bp, ~275 Mbp) in one
registered DSI declaration through a bulk path: the sequence rows are inserted directly, and
the index is built by the code registration runs (``sketches.index_sequences``: one segment
per 1,000 sequences, in the transaction that inserts them). Prints the index build rate
and the index's size on disk.

Then builds a 1 Mbp query: 200 pieces of registered sequences (200-2,000 bp, each with 1-3 %
point mutations, a quarter of them reverse-complemented) between stretches of unrelated
random sequence, and traces it through ``TraceService`` as an official, in a fresh session
each time: the first run loads the index into the process (reported as the cold start), then
R timed runs. Then merges the index's segments into one (``dsi-reindex --compact``) and
times the cold start again. Prints median and p95 latency (wall and CPU; the machine may be shared, so the
load average too) and how many of the pieces were traced to the sequence they were cut
from. Goal: under 1 s.

    .venv/bin/python bench/dsi_trace.py [-n 100000] [-r 15] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

import _common
import numpy as np
from Bio.Seq import reverse_complement
from sqlalchemy import insert, select, text

from abs_registry import create_app, migrations
from abs_registry.auth.models import OfficialLevel, OrgKind, Role, User
from abs_registry.auth.passwords import Passwords
from abs_registry.auth.service import AccountService
from abs_registry.config import Settings
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Kind, MoleculeType
from abs_registry.declarations.service import DeclarationService
from abs_registry.dsi import sketches
from abs_registry.dsi.models import DSISequence, DSIUpload, SequenceFormat
from abs_registry.dsi.tracing import TraceService

GOAL_S = 1.0
CHUNK = 1000
QUERY_BP = 1_000_000
PIECES = 200
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


def random_dna(rng: np.random.Generator, length: int) -> str:
    return BASES[rng.integers(0, 4, length)].tobytes().decode("ascii")


def mutate(rng: np.random.Generator, residues: str, rate: float) -> str:
    letters = np.frombuffer(residues.encode(), dtype=np.uint8).copy()
    where = rng.choice(len(letters), size=round(rate * len(letters)), replace=False)
    for i in where:
        letters[i] = rng.choice([b for b in BASES if b != letters[i]])
    return letters.tobytes().decode("ascii")


def setup_register(factory, passwords) -> tuple[int, int, object]:
    """A registered resource, a registered DSI declaration and an official; through services."""
    with factory() as session:
        accounts = AccountService(session, passwords)
        org = accounts.create_organization(None, "Bench Genomics", OrgKind.ENTERPRISE, "530100")
        member = accounts.create_user(None, email="member@example.org", display_name="Member",
                                      password="bench password long enough", organization=org)
        authority = accounts.create_organization(None, "Bench Authority", OrgKind.AUTHORITY,
                                                 "530000")
        official = accounts.create_user(None, email="official@example.org",
                                        display_name="Official", password="bench password long",
                                        organization=authority, role=Role.OFFICIAL,
                                        official_level=OfficialLevel.NATIONAL)
        declarations = DeclarationService(session)
        gr = declarations.create(member, Kind.GENETIC_RESOURCE, schemas.GeneticResourceIn().load({
            "scientific_name": "Oryza sativa", "taxon_rank": "species",
            "material_type": "seed", "quantity": "1", "quantity_unit": "kg",
            "collection_region": "532822", "latitude": "21.95", "longitude": "100.45",
            "collection_date": "2025-10-12", "collector": "Li Wei", "holder": "Bench bank",
            "conservation": "ex_situ", "intended_use": "Benchmark"}))
        declarations.transition(member, gr.reference, "submit")
        declarations.transition(official, gr.reference, "register")
        dsi = declarations.create(member, Kind.DSI, schemas.DSIIn().load({
            "title": "Bench sequences", "molecule_type": "dna",
            "source_resources": [gr.reference]}))
        declarations.transition(member, dsi.reference, "submit")
        declarations.transition(official, dsi.reference, "register")
        return dsi.id, member.id, official.id


def register_sequences(factory, dsi_id: int, member_id: int, n: int,
                       rng: np.random.Generator) -> tuple[list[str], float, int]:
    """Insert n sequences and index them; return (residues, seconds spent indexing, postings)."""
    lengths = rng.integers(500, 5001, n)
    everything, index_seconds, postings_total = [], 0.0, 0
    with factory() as session:
        upload = DSIUpload(dsi_record_id=dsi_id, filename="bench.fa", format=SequenceFormat.FASTA,
                           gzipped=False, size=int(lengths.sum()), sha256="0" * 64,
                           sequence_count=n, total_residues=int(lengths.sum()),
                           uploaded_by_id=member_id)
        session.add(upload)
        session.commit()
        upload_id = upload.id
    for start in range(0, n, CHUNK):
        batch = [random_dna(rng, int(length)) for length in lengths[start:start + CHUNK]]
        everything.extend(batch)
        with factory() as session:
            rows = [{"dsi_record_id": dsi_id, "upload_id": upload_id,
                     "identifier": f"seq{start + i}", "description": "",
                     "molecule_type": MoleculeType.DNA, "length": len(s),
                     "source_organism": None, "accessions": [],
                     "seguid": base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()
                     .rstrip("="),
                     "sha256": hashlib.sha256(s.encode()).hexdigest(),
                     "residues_zlib": zlib.compress(s.encode(), 1)} for i, s in enumerate(batch)]
            session.execute(insert(DSISequence), rows)
            stored = session.execute(
                select(DSISequence.id, DSISequence.molecule_type, DSISequence.residues_zlib)
                .where(DSISequence.upload_id == upload_id).order_by(DSISequence.id)
                .offset(start).limit(CHUNK)).all()
            began = time.perf_counter()
            postings_total += sketches.index_sequences(session, stored)
            session.commit()
            index_seconds += time.perf_counter() - began
        if (start // CHUNK) % 10 == 9:
            print(f"  {start + CHUNK:,} sequences", file=sys.stderr, flush=True)
    return everything, index_seconds, postings_total


def index_size(engine, url: str) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return conn.scalar(text("SELECT pg_total_relation_size('dsi_sketch_segments') "
                                    "+ pg_total_relation_size('dsi_sketches')"))
        try:
            return conn.scalar(text("SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                                    "('dsi_sketch_segments', 'dsi_sketches')"))
        except Exception:  # SQLite built without dbstat: the whole file is an upper bound
            return Path(url.split("///", 1)[1]).stat().st_size


def build_query(rng: np.random.Generator, registered: list[str]) -> tuple[str, list[int]]:
    parts, sources, used = [], [], 0
    filler = (QUERY_BP - PIECES * 1100) // (PIECES + 1)
    for _ in range(PIECES):
        parts.append(random_dna(rng, filler))
        source = int(rng.integers(len(registered)))
        residues = registered[source]
        length = int(rng.integers(200, min(2000, len(residues)) + 1))
        begin = int(rng.integers(0, len(residues) - length + 1))
        piece = mutate(rng, residues[begin:begin + length], float(rng.choice([0.01, 0.02, 0.03])))
        parts.append(reverse_complement(piece) if rng.random() < 0.25 else piece)
        sources.append(source)
        used += filler + length
    parts.append(random_dna(rng, QUERY_BP - used))
    return "".join(parts), sources


def run(kind: str, server: str | None, n: int, repeats: int) -> None:
    rng = np.random.default_rng(20261124)
    passwords = Passwords(time_cost=1, memory_kib=8192)
    with _common.database(kind, server, "dsitrace") as url, \
            tempfile.TemporaryDirectory() as instance:
        migrations.upgrade(url)
        app = create_app(Settings(instance_path=Path(instance), database_url=url,
                                  secret_key="bench", secure_cookies=False,
                                  password_time_cost=1, password_memory_kib=8192))
        ext = app.extensions["abs"]
        factory = ext.session_factory
        dsi_id, member_id, official_id = setup_register(factory, passwords)
        registered, seconds, postings = register_sequences(factory, dsi_id, member_id, n, rng)
        residues = sum(len(s) for s in registered)
        if kind == "postgresql":
            with ext.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        size = index_size(ext.engine, url)
        print(f"{kind}: {n:,} sequences, {residues / 1e6:.0f} Mbp; index build (sketch + "
              f"insert) {n / seconds:,.0f} sequences/s = {residues / seconds / 1e6:.1f} Mbp/s; "
              f"{postings:,} postings, index size {size / 2**20:,.0f} MiB "
              f"({size / postings:.0f} B/posting, {size / residues:.2f} B/bp)")
        query, sources = build_query(rng, registered)
        fasta = ">query\n" + "\n".join(query[i:i + 80] for i in range(0, len(query), 80)) + "\n"
        timings, cpu_times, cold, result = [], [], 0.0, None
        for attempt in range(repeats + 1):
            with factory() as session:
                official = session.get(User, official_id)
                began, cpu = time.perf_counter(), time.process_time()
                result = TraceService(session).trace_text(official, fasta, MoleculeType.DNA)
                if attempt:
                    timings.append(time.perf_counter() - began)
                    cpu_times.append(time.process_time() - cpu)
                else:
                    cold = time.perf_counter() - began
        found = {int(h["sequence"]["identifier"].removeprefix("seq"))
                 for h in result[0]["approximate"]}
        recall = sum(source in found for source in sources)
        med, p95 = _common.median(timings), _common.percentile(timings, 0.95)
        print(f"{kind}: trace 1 Mbp query ({PIECES} mutated pieces): median {med * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms over {repeats} runs "
              f"({'meets' if p95 < GOAL_S else 'MISSES'} the {GOAL_S:.0f} s goal); CPU median "
              f"{_common.median(cpu_times) * 1000:.0f} ms; cold start (loads the index) "
              f"{cold * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}; "
              f"{recall}/{PIECES} pieces traced to their sequence, "
              f"{len(result[0]['approximate'])} hits reported (at most 1000)")
        with factory() as session:
            began = time.perf_counter()
            merged = sketches.compact(session)
            session.commit()
            compacted = time.perf_counter() - began
            official = session.get(User, official_id)
            began, cpu = time.perf_counter(), time.process_time()
            TraceService(session).trace_text(official, fasta, MoleculeType.DNA)
            print(f"{kind}: `dsi-reindex --compact` merged {merged} segments in "
                  f"{compacted:.1f} s; then cold start {(time.perf_counter() - began) * 1000:.0f} "
                  f"ms ({(time.process_time() - cpu) * 1000:.0f} ms CPU); peak RSS of this "
                  f"process so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
                  f" MB (the index in memory: {len(sketches._postings(session).hashes) * 12 / 2**20:.0f} MB)")
        ext.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="sequences to register")
    parser.add_argument("-r", "--repeats", type=int, default=15)
    parser.add_argument("--pg", default=None, help="PostgreSQL server URL (or ABS_BENCH_PG)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    server = _common.pg_server(args.pg)
    for kind in _common.databases(server):
        if args.only in (None, kind):
            run(kind, server, args.n, args.repeats)


if __name__ == "__main__":
    main()
