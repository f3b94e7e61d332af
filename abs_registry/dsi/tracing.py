"""Tracing sequences back to the registered sequences, resources and permits they came from.

A checkpoint officer, an official or a declarant submits query sequences (a FASTA or GenBank
file, or pasted FASTA; read and checked by ``dsi.ingest``, bounded by ``LIMITS``). For each
query the answer lists:

- exact matches: registered sequences whose SHA-256 equals the normalized query's, or, for
  nucleotides, its reverse complement's (each in DNA and RNA spelling: a DNA query finds the
  RNA registered from it);
- approximate matches, from the k-mer sketches (``dsi.sketches``), with three containment
  scores: of the query (shared hashes / the query's hashes), of the registered sequence
  (shared / its hashes: how much of it is in the query), and of the matched region (shared /
  the query's hashes between the first and last shared one). The region score is what finds
  a 200 bp piece inside a 1 Mbp query, where the whole-query score is ~0.0002. A hit is
  reported when it shares at least ``MIN_SHARED`` hashes and its best score (region or
  registered) reaches ``min_containment`` (default 0.15: a region containment c estimates an
  identity of c^(1/k), and 0.15^(1/31) = 94 %). Hits are ranked by shared hashes, which
  estimate the length derived from the registered sequence (shared x SCALED residues).

Each hit names its declaration, the genetic resources that declaration derives from, and the
current permits covering each resource with their status today. A hit is flagged when a
resource has no valid permit: for a declarant, none held by their organization ("no valid
permit for your organization"); for an official, none at all.

What a caller sees of a hit is decided by ``permissions.can_view`` on its declaration: the
index holds registered (public) declarations only, but should a hit ever be on a record the
caller may not view, it is reported only as "a registered sequence matches; contact the
competent authority", with the query region and nothing about the record, its resources or
permits. Residues are never returned: a trace answers *where from*, not *what*.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

import numpy as np
from Bio.Seq import reverse_complement
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.declarations.models import DSIRecord, GeneticResource, MoleculeType
from abs_registry.dsi import ingest, sketches
from abs_registry.dsi.models import DSISequence
from abs_registry.errors import ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.permits.models import Permit, PermitStatus, permit_resources

MB = 1024 * 1024
LIMITS = ingest.Limits(max_bytes=8 * MB, max_decompressed_bytes=16 * MB, max_sequences=200)
DEFAULT_MIN_CONTAINMENT = 0.15
MAX_HITS = 1000  # per query record; a 1 Mbp chimera may hold hundreds of pieces
RESTRICTED = N_("a registered sequence matches; contact the competent authority")
NO_PERMIT_FOR_YOU = N_("no valid permit for your organization")
NO_PERMIT_AT_ALL = N_("no valid permit covers this resource")


@dataclass
class Candidate:
    """One registered sequence a query matched, before visibility decides what is shown."""

    sequence_id: int
    match: str  # exact | approximate
    strand: str = "same"  # same | reverse_complement (exact matches)
    shared_hashes: int = 0
    query_containment: float = 1.0
    registered_containment: float = 1.0
    region_containment: float = 1.0
    region: tuple[int, int] | None = None  # 1-based, inclusive, in the query

    def scores(self, ksize: int) -> dict:
        if self.match == "exact":
            return {"strand": self.strand}
        return {
            "shared_hashes": self.shared_hashes,
            "query_containment": round(self.query_containment, 4),
            "registered_containment": round(self.registered_containment, 4),
            "region_containment": round(self.region_containment, 4),
            "identity_estimate": round(self.region_containment ** (1 / ksize), 4),
            "query_region": list(self.region) if self.region else None,
        }


@dataclass
class TraceService:
    session: Session
    today: date | None = None

    def trace_text(self, actor: User | None, fasta: str, molecule_type: MoleculeType,
                   min_containment: float = DEFAULT_MIN_CONTAINMENT) -> list[dict]:
        """Trace pasted FASTA; refusals name the field ``fasta``."""
        try:
            return self.trace_file(actor, io.BytesIO(fasta.encode("utf-8", "surrogateescape")),
                                   "fasta", molecule_type, min_containment)
        except ValidationError as exc:
            raise ValidationError({"fasta": exc.as_errors().get("file", [exc.message])}) from exc

    def trace_file(self, actor: User | None, stream: BinaryIO, filename: str,
                   molecule_type: MoleculeType,
                   min_containment: float = DEFAULT_MIN_CONTAINMENT) -> list[dict]:
        perm.require_trace(actor)
        opened = ingest.open_upload(stream, filename, LIMITS)
        queries = list(ingest.read_sequences(opened, molecule_type, filename, LIMITS))
        return [self._trace_one(actor, q, molecule_type, min_containment) for q in queries]

    # --- one query ----------------------------------------------------------------------------

    def _trace_one(self, actor: User | None, query: ingest.Sequence, molecule: MoleculeType,
                   min_containment: float) -> dict:
        residues = query.residues.decode("ascii")
        alphabet = sketches.alphabet_of(molecule)
        exact = self._exact(residues, alphabet)
        approximate = [c for c in self._approximate(residues, alphabet, min_containment)
                       if c.sequence_id not in {e.sequence_id for e in exact}]
        ksize = sketches.PROTEIN_K if alphabet == sketches.PROTEIN else sketches.NUCLEOTIDE_K
        hits = self._describe(actor, exact + approximate, ksize)
        flagged = next((h["flag"] for h in hits if h.get("flag")), None)
        return {"identifier": query.identifier, "length": len(residues),
                "molecule_type": molecule.value, "sha256": query.sha256, "seguid": query.seguid,
                "exact": [h for h in hits if h["match"] == "exact"],
                "approximate": [h for h in hits if h["match"] == "approximate"],
                "flag": flagged}

    def _exact(self, residues: str, alphabet: str) -> list[Candidate]:
        spellings = {residues: "same"}
        if alphabet == sketches.NUCLEOTIDE:
            dna = residues.replace("U", "T")
            rc = reverse_complement(dna)
            # Reverse complement first, so that a palindrome counts as the same strand.
            spellings = {rc: "reverse_complement", rc.replace("T", "U"): "reverse_complement",
                         dna: "same", dna.replace("T", "U"): "same"}
        strand_of = {hashlib.sha256(s.encode("ascii")).hexdigest(): strand
                     for s, strand in spellings.items()}
        rows = self.session.execute(select(DSISequence.id, DSISequence.sha256).where(
            DSISequence.sha256.in_(strand_of)).order_by(DSISequence.id)).all()
        return [Candidate(sequence_id, "exact", strand=strand_of[digest])
                for sequence_id, digest in rows if self._indexed(sequence_id)]

    def _indexed(self, sequence_id: int) -> bool:
        """Exact matches come from the same population as approximate ones: the index."""
        return self.session.get(sketches.DSISketch, sequence_id) is not None

    def _approximate(self, residues: str, alphabet: str,
                     min_containment: float) -> list[Candidate]:
        query = sketches.sketch_query(residues, alphabet)
        hashes, sequence_ids = sketches.lookup(self.session, query.hashes)
        if len(hashes) == 0:
            return []
        positions = query.positions[np.searchsorted(query.hashes, hashes)]
        ids, group, shared = np.unique(sequence_ids, return_inverse=True, return_counts=True)
        first = np.full(len(ids), np.iinfo(np.int64).max)
        last = np.zeros(len(ids), dtype=np.int64)
        np.minimum.at(first, group, positions)
        np.maximum.at(last, group, positions)
        ordered_positions = np.sort(query.positions)
        in_region = (np.searchsorted(ordered_positions, last, side="right")
                     - np.searchsorted(ordered_positions, first, side="left"))
        keep = shared >= sketches.MIN_SHARED
        sizes = sketches.sketch_sizes(self.session, ids[keep].tolist())
        found = []
        for i in np.flatnonzero(keep):
            sketch = sizes.get(int(ids[i]))
            if sketch is None or sketch.alphabet != alphabet:
                continue
            candidate = Candidate(
                int(ids[i]), "approximate", shared_hashes=int(shared[i]),
                query_containment=shared[i] / len(query.hashes),
                registered_containment=shared[i] / max(sketch.hash_count, 1),
                region_containment=shared[i] / in_region[i],
                region=(int(first[i]) + 1, int(last[i]) + query.ksize))
            if max(candidate.region_containment,
                   candidate.registered_containment) >= min_containment:
                found.append(candidate)
        found.sort(key=lambda c: (-c.shared_hashes, -c.region_containment, c.sequence_id))
        return found[:MAX_HITS]

    # --- what the caller may see --------------------------------------------------------------

    def _describe(self, actor: User | None, candidates: list[Candidate], ksize: int) -> list[dict]:
        if not candidates:
            return []
        ids = [c.sequence_id for c in candidates]
        sequences = {s.id: s for s in self.session.scalars(select(DSISequence).where(
            DSISequence.id.in_(ids)))}
        records = {d.id: d for d in self.session.scalars(
            select(DSIRecord).where(DSIRecord.id.in_({s.dsi_record_id for s in sequences.values()}))
            .options(selectinload(DSIRecord.source_resources), selectinload(DSIRecord.organization)))}
        permits = self._permits({r.id for d in records.values() for r in d.source_resources})
        out = []
        for candidate in candidates:
            seq = sequences[candidate.sequence_id]
            record = records[seq.dsi_record_id]
            hit = {"match": candidate.match, **candidate.scores(ksize)}
            if not perm.can_view(actor, record):
                out.append({"match": candidate.match, "restricted": True, "note": RESTRICTED,
                            "query_region": hit.get("query_region")})
                continue
            resources = [self._resource(actor, r, permits.get(r.id, []))
                         for r in record.source_resources if perm.can_view(actor, r)]
            hit.update(
                sequence={"identifier": seq.identifier, "length": seq.length,
                          "molecule_type": seq.molecule_type.value, "sha256": seq.sha256,
                          "seguid": seq.seguid},
                declaration={"reference": record.reference, "title": record.title,
                             "status": record.status.value,
                             "organization": record.organization.name},
                resources=resources,
                flag=next((r["flag"] for r in resources if r["flag"]), None))
            out.append(hit)
        return out

    def _permits(self, resource_ids: set[int]) -> dict[int, list[Permit]]:
        """The current version of every permit covering these resources, by resource."""
        if not resource_ids:
            return {}
        rows = self.session.execute(
            select(permit_resources.c.resource_id, Permit)
            .join(Permit, Permit.id == permit_resources.c.permit_id)
            .where(permit_resources.c.resource_id.in_(resource_ids),
                   Permit.status != PermitStatus.SUPERSEDED)
            .options(selectinload(Permit.holder))
            .order_by(Permit.number)).all()
        by_resource: dict[int, list[Permit]] = {}
        for resource_id, permit in rows:
            by_resource.setdefault(resource_id, []).append(permit)
        return by_resource

    def _resource(self, actor: User | None, resource: GeneticResource,
                  permits: list[Permit]) -> dict:
        today = self.today or date.today()
        shown, valid_for_you, valid_at_all = [], False, False
        for permit in permits:
            status = permit.status_on(today)
            yours = actor is not None and permit.holder_org_id == actor.organization_id
            valid_at_all |= status is PermitStatus.VALID
            valid_for_you |= yours and status is PermitStatus.VALID
            entry = {"number": permit.number, "version": permit.version, "status": status.value,
                     "expires_on": permit.expires_on.isoformat(), "yours": yours}
            if yours or (actor is not None and actor.is_official):
                entry["holder"] = permit.holder.name
            shown.append(entry)
        if actor is not None and actor.is_official:
            flag = None if valid_at_all else NO_PERMIT_AT_ALL
        else:
            flag = None if valid_for_you else NO_PERMIT_FOR_YOU
        return {"reference": resource.reference, "title": resource.title,
                "status": resource.status.value, "permits": shown, "flag": flag}
