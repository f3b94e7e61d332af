"""Tracing sequences back to registered DSI, their resources and permits (issue 6, Tracing).

Sequences are declared and registered through the real services, so the index is filled by
the registration hook; queries go through POST /api/v1/dsi/trace and the /dsi/trace page.
"""

from __future__ import annotations

import io
import random

import pytest
from Bio.Seq import reverse_complement
from sqlalchemy import func, select

from abs_registry.auth.models import OfficialLevel, OrgKind
from abs_registry.declarations.models import Kind
from abs_registry.dsi import sketches
from abs_registry.dsi.models import DSISequence
from abs_registry.dsi.service import SequenceService
from tests.conftest import PASSWORD

RNG_SEED = 20261124


def random_dna(rng: random.Random, length: int) -> str:
    return "".join(rng.choices("ACGT", k=length))


def mutate(rng: random.Random, residues: str, rate: float) -> str:
    """Point substitutions at exactly round(rate * length) distinct positions."""
    letters = list(residues)
    for i in rng.sample(range(len(letters)), round(rate * len(letters))):
        letters[i] = rng.choice([b for b in "ACGT" if b != letters[i]])
    return "".join(letters)


def fasta(records: dict[str, str], width: int = 60) -> str:
    return "".join(f">{name}\n" + "\n".join(seq[i:i + width] for i in range(0, len(seq), width))
                   + "\n" for name, seq in records.items())


def declare_sequences(world, member, records: dict[str, str], *, register: bool = True,
                      molecule: str = "dna", resource=None):
    """A DSI declaration of these sequences from one (new) genetic resource; registered by
    default, which is when the tracing index takes its sequences in."""
    resource = resource or world.registered(member)
    decl = world.declare(member, Kind.DSI, source_resources=[resource.reference],
                         molecule_type=molecule)
    SequenceService(world.session).upload(member, decl.reference,
                                          io.BytesIO(fasta(records).encode()), "seqs.fa")
    world.declarations.transition(member, decl.reference, "submit")
    if register:
        official = world.official(OfficialLevel.NATIONAL)
        world.declarations.transition(official, decl.reference, "register")
    return decl, resource


@pytest.fixture
def registry(world):
    """Two declarants, each with a registered DSI declaration of 8 sequences (1-3 kbp) from
    a resource of their own."""
    rng = random.Random(RNG_SEED)
    declarants, sequences = [], {}
    for org_no in range(2):
        member = world.member()
        records = {f"org{org_no}_seq{i}": random_dna(rng, rng.randint(1000, 3000))
                   for i in range(8)}
        decl, resource = declare_sequences(world, member, records)
        declarants.append(member)
        for name, residues in records.items():
            sequences[name] = (residues, decl, resource)
    return declarants, sequences


def trace(client, world, user, fasta_text: str, **options):
    return client.post("/api/v1/dsi/trace", json={"fasta": fasta_text, **options},
                       headers=world.headers(user))


def by_id(response) -> dict:
    assert response.status_code == 200, response.get_json()
    return {q["identifier"]: q for q in response.get_json()["queries"]}


# --- finding what derives from registered sequences ----------------------------------------

@pytest.mark.parametrize(("length", "rate"), [(200, 0.01), (200, 0.02), (400, 0.03)])
def test_mutated_pieces_trace_back_to_their_resource(client, world, registry, length, rate):
    declarants, sequences = registry
    rng = random.Random(f"{length}-{rate}")
    queries, expected = {}, {}
    for n, name in enumerate(rng.sample(sorted(sequences), 12) * 2):
        residues, decl, resource = sequences[name]
        start = rng.randrange(len(residues) - length)
        queries[f"piece{n}"] = mutate(rng, residues[start:start + length], rate)
        expected[f"piece{n}"] = (name, decl.reference, resource.reference)

    found = by_id(trace(client, world, declarants[0], fasta(queries)))

    for piece, (name, decl_ref, resource_ref) in expected.items():
        hits = found[piece]["approximate"]
        assert hits, f"{piece} ({length} bp, {rate:.0%}) was not traced"
        best = hits[0]
        assert best["sequence"]["identifier"] == name
        assert best["declaration"]["reference"] == decl_ref
        assert [r["reference"] for r in best["resources"]] == [resource_ref]
        assert best["region_containment"] >= 0.15
        assert best["shared_hashes"] >= sketches.MIN_SHARED
        assert found[piece]["exact"] == []


def test_unrelated_random_sequences_are_not_traced(client, world, registry):
    declarants, _ = registry
    rng = random.Random("unrelated")
    queries = {f"random{i}": random_dna(rng, rng.choice([200, 1000, 5000])) for i in range(40)}

    found = by_id(trace(client, world, declarants[0], fasta(queries), min_containment=0.01))

    assert all(q["exact"] == [] and q["approximate"] == [] and q["flag"] is None
               for q in found.values())


def test_reverse_complement_pieces_are_found(client, world, registry):
    declarants, sequences = registry
    rng = random.Random("revcomp")
    residues, decl, _ = sequences["org1_seq3"]
    piece = reverse_complement(mutate(rng, residues[500:800], 0.01))

    found = by_id(trace(client, world, declarants[0], fasta({"rc": piece})))

    best = found["rc"]["approximate"][0]
    assert best["sequence"]["identifier"] == "org1_seq3"
    start, end = best["query_region"]  # from the first to the last shared sampled k-mer
    assert 1 <= start < 50 and 250 < end <= 300


def test_pieces_inside_a_long_query_are_located(client, world, registry):
    """A chimera: 20 kbp of unrelated sequence with two mutated pieces of registered ones."""
    declarants, sequences = registry
    rng = random.Random("chimera")
    a, b = sequences["org0_seq1"][0], sequences["org1_seq6"][0]
    query = (random_dna(rng, 8000) + mutate(rng, a[100:400], 0.01) + random_dna(rng, 8000)
             + mutate(rng, b[:250], 0.02) + random_dna(rng, 4000))

    hits = by_id(trace(client, world, declarants[0], fasta({"q": query})))["q"]["approximate"]

    assert {h["sequence"]["identifier"] for h in hits} == {"org0_seq1", "org1_seq6"}
    located = {h["sequence"]["identifier"]: h["query_region"] for h in hits}
    start, end = located["org0_seq1"]
    assert start >= 8001 and end <= 8300 and end - start > 200
    assert all(h["query_containment"] < 0.05 < h["region_containment"] for h in hits)


def test_exact_matches_by_fingerprint_either_strand_and_spelling(client, world, registry):
    declarants, sequences = registry
    residues, decl, resource = sequences["org0_seq5"]
    queries = {"same": residues.lower(), "rc": reverse_complement(residues)}

    found = by_id(trace(client, world, declarants[1], fasta(queries)))
    as_rna = by_id(trace(client, world, declarants[1], fasta({"rna": residues.replace("T", "U")}),
                         molecule_type="rna"))["rna"]

    stored = world.session.scalars(select(DSISequence).where(
        DSISequence.identifier == "org0_seq5")).one()
    for query, strand in ((found["same"], "same"), (found["rc"], "reverse_complement"),
                          (as_rna, "same")):
        [hit] = query["exact"]
        assert hit["strand"] == strand
        assert hit["sequence"]["sha256"] == stored.sha256
        assert hit["declaration"]["reference"] == decl.reference
        assert hit["resources"][0]["reference"] == resource.reference
        assert query["approximate"] == []  # the exact hit is not repeated
    assert found["same"]["sha256"] == stored.sha256


def test_protein_pieces_are_traced(client, world):
    member = world.member()
    rng = random.Random("protein")
    protein = "".join(rng.choices("ACDEFGHIKLMNPQRSTVWY", k=400))
    decl, _ = declare_sequences(world, member, {"p1": protein}, molecule="protein")

    found = by_id(trace(client, world, member, fasta({"q": protein[100:200]}),
                        molecule_type="protein"))

    assert found["q"]["approximate"][0]["declaration"]["reference"] == decl.reference
    # A DNA query never meets protein hashes, whatever its letters.
    dna = by_id(trace(client, world, member, fasta({"q": "ACGT" * 50})))
    assert dna["q"]["approximate"] == []


def test_results_never_carry_residues(client, world, registry):
    declarants, sequences = registry
    residues = sequences["org0_seq0"][0]
    body = trace(client, world, declarants[1], fasta({"q": residues[:600]})).get_data(True)
    assert residues[:600] not in body and residues[100:160] not in body


# --- the index ------------------------------------------------------------------------------

def test_index_holds_registered_sequences_only(world, session):
    member = world.member()
    rng = random.Random("drafts")
    declare_sequences(world, member, {"draft1": random_dna(rng, 1500)}, register=False)
    assert session.scalar(select(func.count()).select_from(sketches.DSISketch)) == 0

    declare_sequences(world, member, {"reg1": random_dna(rng, 1500)})
    [sketch] = session.scalars(select(sketches.DSISketch)).all()
    postings = session.scalar(select(func.sum(sketches.DSISketchSegment.postings)))
    assert sketch.hash_count == postings and 100 < postings < 200  # ~1470 k-mers / 10
    assert (sketch.ksize, sketch.scaled, sketch.alphabet) == (31, 10, "nucleotide")


def test_repeated_kmers_are_counted_once_per_sequence(world, session):
    """A k-mer repeated within a sequence is one posting; one shared by two sequences is one
    posting for each (the batch hashing sorts them apart)."""
    member = world.member()
    rng = random.Random("repeats")
    block = random_dna(rng, 800)
    records = {"twice": block + random_dna(rng, 300) + block,
               "shares": random_dna(rng, 400) + block, "alone": random_dna(rng, 900)}
    declare_sequences(world, member, records)
    ids = dict(session.execute(select(DSISequence.identifier, DSISequence.id)).all())
    counts = dict(session.execute(select(sketches.DSISketch.sequence_id,
                                         sketches.DSISketch.hash_count)).all())
    for name, residues in records.items():
        assert counts[ids[name]] == len(sketches.sketch(residues, sketches.NUCLEOTIDE))
    total = session.scalar(select(func.sum(sketches.DSISketchSegment.postings)))
    assert total == sum(counts.values())
    shared = sketches.sketch(block, sketches.NUCLEOTIDE)
    hashes, owners = sketches.lookup(session, shared)
    assert sorted(set(owners.tolist())) == sorted([ids["twice"], ids["shares"]])
    assert len(hashes) == 2 * len(shared)


def test_reindex_fills_in_sequences_registered_without_a_sketch(world, session, app):
    member = world.member()
    rng = random.Random("reindex")
    sketch_hook = sketches.index_sequences
    sketches.events.on_sequences_registered.remove(sketch_hook)
    try:
        declare_sequences(world, member, {"late": random_dna(rng, 1200)})
    finally:
        sketches.events.on_sequences_registered.append(sketch_hook)
    assert session.scalar(select(func.count()).select_from(sketches.DSISketch)) == 0

    result = app.test_cli_runner().invoke(args=["dsi-reindex"])

    assert result.exit_code == 0, result.output
    assert "1 sequence" in result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(sketches.DSISketch)) == 1
    again = app.test_cli_runner().invoke(args=["dsi-reindex"])
    assert "0 sequences" in again.output


def test_compacting_the_index_keeps_every_hit(client, world, session, app):
    """Each registration adds a segment; merging them into one changes no trace."""
    member = world.member()
    rng = random.Random("compact")
    first, second = random_dna(rng, 1500), random_dna(rng, 1500)
    declare_sequences(world, member, {"first": first})
    declare_sequences(world, member, {"second": second})
    query = fasta({"a": mutate(rng, first[100:700], 0.01), "b": mutate(rng, second[:500], 0.02)})
    before = by_id(trace(client, world, world.official(), query))
    assert before["a"]["approximate"] and before["b"]["approximate"]
    assert session.scalar(select(func.count()).select_from(sketches.DSISketchSegment)) == 2

    result = app.test_cli_runner().invoke(args=["dsi-reindex", "--compact"])

    assert result.exit_code == 0, result.output
    assert "merged 2 index segments into one" in result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(sketches.DSISketchSegment)) == 1
    assert by_id(trace(client, world, world.official(), query)) == before


# --- who may trace, and what they see -------------------------------------------------------

def test_who_may_trace(client, world, registry):
    declarants, sequences = registry
    query = fasta({"q": sequences["org0_seq2"][0][:500]})
    assert client.post("/api/v1/dsi/trace", json={"fasta": query}).status_code == 401
    for user in (world.steward(), world.admin()):
        response = trace(client, world, user, query)
        assert response.status_code == 403
        assert "role" in response.get_json()["errors"]
    for user in (world.official(), world.member(world.org(OrgKind.RESEARCH_INSTITUTE)),
                 declarants[1]):
        assert by_id(trace(client, world, user, query))["q"]["approximate"]


def test_a_hit_on_a_record_the_caller_may_not_see_is_only_announced(client, world, session):
    """The index holds registered declarations only; should it ever hold another (here: a
    submitted one, indexed by hand), a caller who may not view it learns only that it exists."""
    owner = world.member()
    rng = random.Random("hidden")
    residues = random_dna(rng, 2000)
    decl, resource = declare_sequences(world, owner, {"secret": residues}, register=False)
    sketches.index_sequences(session, session.scalars(select(DSISequence)).all())
    session.commit()
    query = fasta({"q": mutate(rng, residues[200:700], 0.01), "whole": residues})

    outsider = by_id(trace(client, world, world.member(), query))
    for hit in outsider["q"]["approximate"] + outsider["whole"]["exact"]:
        assert hit == {"match": hit["match"], "restricted": True,
                       "note": "a registered sequence matches; contact the competent authority",
                       "query_region": hit["query_region"]}
    body = trace(client, world, world.member(), query).get_data(True)
    assert decl.reference not in body and resource.reference not in body

    for insider in (owner, world.official()):
        seen = by_id(trace(client, world, insider, query))
        assert seen["q"]["approximate"][0]["declaration"]["reference"] == decl.reference
        assert seen["whole"]["exact"][0]["declaration"]["reference"] == decl.reference


# --- permits --------------------------------------------------------------------------------

def test_a_match_without_a_valid_permit_for_the_callers_organization_is_flagged(client, world):
    permit = world.permit()
    holder = permit.holder
    resource = permit.resources[0]
    provider = world.user(resource.organization)  # the resource's declaring institute
    rng = random.Random("permits")
    residues = random_dna(rng, 2000)
    declare_sequences(world, provider, {"licensed": residues}, resource=resource)
    query = fasta({"q": mutate(rng, residues[:600], 0.01)})

    with_permit = by_id(trace(client, world, world.member(holder), query))["q"]
    without = by_id(trace(client, world, world.member(), query))["q"]
    official = by_id(trace(client, world, world.official(), query))["q"]

    [listed] = with_permit["approximate"][0]["resources"][0]["permits"]
    assert (listed["number"], listed["status"], listed["yours"]) == (permit.number, "valid", True)
    assert listed["holder"] == holder.name
    assert with_permit["flag"] is None
    assert without["flag"] == "no valid permit for your organization"
    other = without["approximate"][0]["resources"][0]
    assert other["flag"] == without["flag"] and other["permits"][0]["yours"] is False
    assert "holder" not in other["permits"][0]
    assert official["flag"] is None  # a valid permit exists for someone

    from abs_registry.permits.service import PermitService
    PermitService(world.session, world.app.extensions["abs"].keys).suspend(
        world.official(OfficialLevel.NATIONAL), permit.number, "Benefit report overdue")
    suspended = by_id(trace(client, world, world.member(holder), query))["q"]
    assert suspended["flag"] == "no valid permit for your organization"
    assert suspended["approximate"][0]["resources"][0]["permits"][0]["status"] == "suspended"
    by_official = by_id(trace(client, world, world.official(), query))["q"]
    assert by_official["flag"] == "no valid permit covers this resource"


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field", "words"), [
    ({"fasta": "hello world\nACGT\n"}, "fasta", ["not a FASTA or GenBank file"]),
    ({"fasta": "   \n"}, "fasta", ["Paste FASTA"]),
    ({"fasta": ">q1\nACGT\n>q2\nACGTACGT\nACGJACGT\n"}, "fasta",
     ["record q2", "line 5", "'J'", "DNA"]),
    ({"fasta": ">q1\n\n"}, "fasta", ["record q1", "line 1", "empty"]),
    ({"fasta": ">q\nACGT\n>q\nACGT\n"}, "fasta", ["record q", "line 3", "line 1"]),
    ({"fasta": ">q\nMKV*\n", "molecule_type": "protein"}, "fasta", ["'*'", "protein"]),
    ({"fasta": ">q\nACGT\n", "molecule_type": "lipid"}, "molecule_type", []),
    ({"fasta": ">q\nACGT\n", "min_containment": 2}, "min_containment", []),
    ({"fasta": 42}, "fasta", []),
    ({}, "fasta", []),
])
def test_bad_input_is_refused_naming_the_field(client, world, body, field, words):
    response = client.post("/api/v1/dsi/trace", json=body, headers=world.headers(world.member()))
    assert response.status_code == 422, response.get_json()
    message = " ".join(response.get_json()["errors"][field])
    for word in words:
        assert word in message


def test_bad_files_are_refused_naming_the_file(client, world):
    headers = world.headers(world.member())

    def post(content: bytes, name: str = "query.fa"):
        return client.post("/api/v1/dsi/trace", headers=headers,
                           data={"file": (io.BytesIO(content), name)},
                           content_type="multipart/form-data")

    binary = post(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "query.png")
    big = post(b">big\n" + b"ACGT" * (9 * 1024 * 1024 // 4))
    empty = post(b"")
    no_file = client.post("/api/v1/dsi/trace", headers=headers, data={"molecule_type": "dna"},
                          content_type="multipart/form-data")
    for response, words in ((binary, ["query.png", "binary"]), (big, ["query.fa", "8 MB"]),
                            (empty, ["empty"]), (no_file, ["file"])):
        assert response.status_code == 422, response.get_json()
        message = " ".join(response.get_json()["errors"]["file"])
        assert all(word in message for word in words), message


def test_a_file_query_works_like_pasted_text(client, world, registry):
    declarants, sequences = registry
    residues, decl, _ = sequences["org1_seq0"]
    import gzip
    packed = gzip.compress(fasta({"q": residues[:700]}).encode())
    response = client.post("/api/v1/dsi/trace", headers=world.headers(declarants[0]),
                           data={"file": (io.BytesIO(packed), "q.fa.gz"), "min_containment": "0.5"},
                           content_type="multipart/form-data")
    hits = by_id(response)["q"]["approximate"]
    assert hits[0]["declaration"]["reference"] == decl.reference


# --- the page -------------------------------------------------------------------------------

def sign_in(client, user) -> None:
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_trace_page_shows_hits_in_a_table(app_nocsrf, world, registry):
    declarants, sequences = registry
    client = app_nocsrf.test_client()
    sign_in(client, world.member())
    residues, decl, resource = sequences["org0_seq4"]

    form = client.get("/dsi/trace")
    response = client.post("/dsi/trace", data={"fasta": fasta({"mine": residues[300:900]}),
                                               "molecule_type": "dna", "min_containment": ""})

    assert form.status_code == 200 and 'name="fasta"' in form.get_data(True)
    page = response.get_data(True)
    assert response.status_code == 200
    assert decl.reference in page and resource.reference in page and "<table>" in page
    assert "no valid permit for your organization" in page


def test_trace_page_shows_errors_beside_the_field_and_keeps_the_text(app_nocsrf, world):
    client = app_nocsrf.test_client()
    sign_in(client, world.member())
    response = client.post("/dsi/trace", data={"fasta": ">q\nACGTXX\n", "molecule_type": "dna"})
    page = response.get_data(True)
    assert response.status_code == 422
    assert 'id="error-fasta"' in page and "record q, line 2" in page and "ACGTXX" in page


def test_trace_page_in_chinese(app_nocsrf, world):
    client = app_nocsrf.test_client()
    user = world.member()
    sign_in(client, user)
    page = client.get("/dsi/trace", headers={"Accept-Language": "zh-CN"}).get_data(True)
    assert "追溯" in page


def test_stewards_have_no_trace_page(app_nocsrf, world):
    client = app_nocsrf.test_client()
    sign_in(client, world.steward())
    assert client.get("/dsi/trace").status_code == 403


def reference_hashes(residues: str, alphabet: str) -> set[int]:
    """The rule in sketches.py's docstring, one k-mer at a time in plain Python."""
    mask = 2**64 - 1

    def mix(x: int) -> int:
        x ^= 0x9E3779B97F4A7C15
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & mask
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    k, kept = sketches.KSIZE[alphabet], set()
    for i in range(len(residues) - k + 1):
        kmer = residues[i:i + k].replace("U", "T")
        if alphabet == sketches.PROTEIN:
            code = int("".join(f"{ord(c) - 65:05b}" for c in kmer), 2)
        elif set(kmer) <= set("ACGT"):
            forward = int("".join(f"{'ACGT'.index(c):02b}" for c in kmer), 2)
            reverse = int("".join(f"{3 - 'ACGT'.index(c):02b}" for c in reversed(kmer)), 2)
            code = min(forward, reverse)
        else:
            continue  # an ambiguity code
        if mix(code) < sketches.MAX_HASH:
            kept.add(mix(code))
    return kept


def test_sketches_keep_what_the_documented_rule_keeps():
    """The numpy hashing in sketches.py equals the rule done k-mer by k-mer; it is canonical
    (a reverse complement and an RNA spelling sketch alike) and skips ambiguity codes."""
    rng = random.Random("consistency")
    dna = random_dna(rng, 3000)
    dna = dna[:1000] + "N" + dna[1001:]
    kept = sketches.sketch(dna, sketches.NUCLEOTIDE).tolist()
    assert set(kept) == reference_hashes(dna, sketches.NUCLEOTIDE)
    assert 2500 / sketches.SCALED < len(kept) < 3400 / sketches.SCALED
    assert sketches.sketch(reverse_complement(dna), sketches.NUCLEOTIDE).tolist() == kept
    assert sketches.sketch(dna.replace("T", "U"), sketches.NUCLEOTIDE).tolist() == kept
    protein = "".join(rng.choices("ACDEFGHIKLMNPQRSTVWY", k=800))
    assert set(sketches.sketch(protein, sketches.PROTEIN).tolist()) == \
        reference_hashes(protein, sketches.PROTEIN)
    assert len(sketches.sketch("ACGT", sketches.NUCLEOTIDE)) == 0  # shorter than k
