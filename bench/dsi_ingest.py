"""Ingesting a 100 MB multi-FASTA into a DSI declaration: MB/s and peak memory.

Generates two files of random DNA (80 residues a line): 100,000 sequences of ~1 kbp, and
100 sequences of ~1 Mbp. Each run happens in a fresh subprocess on a fresh database, so its
peak resident memory (ru_maxrss) is that of one ingest, app and libraries included (the
schema is migrated beforehand by the parent, as a web worker does not run Alembic). "before"
is the peak before the upload starts (interpreter, app, libraries, setup); "ingest" is what
the upload and registration add to it:

1. upload: the real service call (parse, check, fingerprint, compress, store in batches,
   one transaction), the same path as the API and `abs-registry dsi import`;
2. register: the official registers the declaration, which announces its sequences to the
   tracing index (dsi/events.py). Run "with sketch" (the index listens, as in production)
   and "without" (no listener) to see what sketching costs.

Goals for 100 MB: at least 20 MB/s for parse, check, fingerprint, sketch and store (upload and
registration together), at most 200 MB peak RSS. The machine may be shared: each line also
gives the CPU seconds the run used and the load average when it ended.

    .venv/bin/python bench/dsi_ingest.py [--mb 100] [--sketch-modes no,yes] [--pg SERVER]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

LINE = 80
ACGT = bytes(b"ACGT"[i % 4] for i in range(256))


def random_dna(n: int) -> bytes:
    return os.urandom(n).translate(ACGT)


def write_fasta(path: Path, total_bytes: int, length: int) -> int:
    """Random sequences of about `length` bp until the file holds `total_bytes`; returns count."""
    count, written = 0, 0
    with path.open("wb") as out:
        while written < total_bytes:
            residues = random_dna(length + (count % 7) * 13)
            lines = b"\n".join(residues[i:i + LINE] for i in range(0, len(residues), LINE))
            record = b">seq%d sample %d [organism=Oryza sativa]\n%s\n" % (count, count, lines)
            out.write(record)
            written += len(record)
            count += 1
    return count


# --- the child: one ingest on one database -------------------------------------------------------

def child(file: str, url: str, sketch: bool) -> None:
    # As in the app (whose blueprints import the tracing module): the index joins the
    # registration hook when abs_registry.dsi.sketches is imported, which models.py does.
    import abs_registry.models  # noqa: F401
    from abs_registry.auth.models import OfficialLevel, OrgKind, Role
    from abs_registry.auth.passwords import Passwords
    from abs_registry.auth.service import AccountService
    from abs_registry.db import make_engine, make_session_factory
    from abs_registry.declarations import schemas
    from abs_registry.declarations.models import Kind
    from abs_registry.declarations.service import DeclarationService
    from abs_registry.dsi import events
    from abs_registry.dsi.service import SequenceService

    if not sketch:
        events.on_sequences_registered.clear()
    session = make_session_factory(make_engine(url))()
    accounts = AccountService(session, Passwords(time_cost=1, memory_kib=8192))
    org = accounts.create_organization(None, "Bench Seeds", OrgKind.ENTERPRISE, "530100")
    member = accounts.create_user(None, email="m@example.org", display_name="M",
                                  password="correct horse battery", organization=org)
    authority = accounts.create_organization(None, "Bench Authority", OrgKind.AUTHORITY,
                                             "530000")
    official = accounts.create_user(None, email="o@example.org", display_name="O",
                                    password="correct horse battery", organization=authority,
                                    role=Role.OFFICIAL, official_level=OfficialLevel.NATIONAL)
    declarations = DeclarationService(session)
    gr = declarations.create(member, Kind.GENETIC_RESOURCE, schemas.GeneticResourceIn().load({
        "scientific_name": "Oryza sativa", "taxon_rank": "species", "material_type": "seed",
        "quantity": "1", "quantity_unit": "kg", "collection_region": "532822",
        "latitude": "21.95", "longitude": "100.45", "collection_date": "2025-10-12",
        "collector": "Li Wei", "holder": "Bench bank", "conservation": "ex_situ",
        "intended_use": "Benchmark"}))
    declarations.transition(member, gr.reference, "submit")
    declarations.transition(official, gr.reference, "register")
    dsi = declarations.create(member, Kind.DSI, schemas.DSIIn().load({
        "title": "Bench sequences", "molecule_type": "dna",
        "source_resources": [gr.reference], "accessions": []}))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started, cpu = time.perf_counter(), time.process_time()
    with open(file, "rb") as stream:
        upload = SequenceService(session).upload(member, dsi.reference, stream, Path(file).name)
    uploaded, upload_cpu = time.perf_counter() - started, time.process_time() - cpu
    declarations.transition(member, dsi.reference, "submit")
    started, cpu = time.perf_counter(), time.process_time()
    declarations.transition(official, dsi.reference, "register")
    registered, register_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({
        "sequences": upload.sequence_count, "bytes": upload.size,
        "upload_s": uploaded, "register_s": registered,
        "upload_cpu_s": upload_cpu, "register_cpu_s": register_cpu,
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }))


# --- the parent: files, runs, figures -----------------------------------------------------------

def run(file: Path, url: str, sketch: bool) -> dict:
    from abs_registry import migrations

    # Here, not in the child: a web worker or the CLI import does not load Alembic either.
    migrations.upgrade(url)
    answer = subprocess.run(
        [sys.executable, __file__, "--child", str(file), url] + (["--sketch"] if sketch else []),
        capture_output=True, text=True, check=False)
    if answer.returncode != 0:
        raise SystemExit(answer.stderr[-3000:])
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of each generated file")
    parser.add_argument("--pg", help="PostgreSQL server URL (or ABS_BENCH_PG)")
    parser.add_argument("--sketch-modes", default="no,yes",
                        help="which runs: 'no' (no tracing listener), 'yes', or 'no,yes'")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--sketch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, sketch=args.sketch)
        return
    server = _common.pg_server(args.pg)
    with tempfile.TemporaryDirectory(prefix="abs_bench_dsi_") as folder:
        files = {}
        for name, length in (("100k x 1 kbp", 1000), ("100 x 1 Mbp", 1_000_000)):
            path = Path(folder) / f"{length}.fa"
            count = write_fasta(path, args.mb * 2**20, length)
            files[name] = path
            print(f"generated {name}: {count} sequences, {path.stat().st_size / 2**20:.0f} MB")
        print(f"{'database':<11}{'file':<14}{'sketch':<7}{'upload s':>9}{'register s':>11}"
              f"{'MB/s':>6}{'cpu s':>7}{'MB/s cpu':>9}{'peak RSS':>9}{'before':>7}"
              f"{'ingest':>7}{'load':>6}")
        for kind in _common.databases(server):
            for name, path in files.items():
                for sketch in [mode == "yes" for mode in args.sketch_modes.split(",")]:
                    with _common.database(kind, server, "dsi_ingest") as url:
                        r = run(path, url, sketch)
                    mb = r["bytes"] / 2**20
                    cpu = r["upload_cpu_s"] + r["register_cpu_s"]
                    print(f"{kind:<11}{name:<14}{'yes' if sketch else 'no':<7}"
                          f"{r['upload_s']:>9.2f}{r['register_s']:>11.2f}"
                          f"{mb / (r['upload_s'] + r['register_s']):>6.1f}"
                          f"{cpu:>7.2f}{mb / cpu:>9.1f}"
                          f"{r['peak_rss_mb']:>9.0f}{r['rss_before_mb']:>7.0f}"
                          f"{r['peak_rss_mb'] - r['rss_before_mb']:>7.0f}{r['load']:>6.1f}",
                          flush=True)


if __name__ == "__main__":
    main()
