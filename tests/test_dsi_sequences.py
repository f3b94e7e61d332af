"""Sequence files declared with DSI: parsed, checked, fingerprinted, stored whole or not at all,
and shown to each kind of reader as the rules say."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord
from Bio.SeqUtils.CheckSum import seguid
from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.declarations.models import Declaration, Kind
from abs_registry.dsi import events
from abs_registry.dsi.models import DSISequence, DSIUpload
from tests.conftest import PASSWORD

FASTA = (b">seq1 drought locus [organism=Oryza sativa]\nACGTACGTNN\nacgtRYKM\n"
         b">gb|MN908947.3| second\nTTTTGGGGCCCCAAAA\n")


def declare_dsi(world, member, **overrides):
    source = world.registered(member)
    return world.declare(member, Kind.DSI, source_resources=[source.reference], **overrides)


@pytest.fixture
def dsi(world):
    member = world.member()
    return member, declare_dsi(world, member)


def send(client, world, user, ref, content: bytes, name: str = "sample.fa"):
    headers = world.headers(user) if user is not None else {}
    return client.post(f"/api/v1/declarations/{ref}/sequences",
                       data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data", headers=headers)


def listed(client, world, user, ref, query: str = ""):
    headers = world.headers(user) if user is not None else {}
    return client.get(f"/api/v1/declarations/{ref}/sequences{query}", headers=headers)


def stored(session) -> tuple[int, int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(DSIUpload)),
            session.scalar(select(func.count()).select_from(DSISequence)),
            session.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.subject_type == "declaration")))


def genbank(*records: tuple[str, str, str]) -> bytes:
    handle = io.StringIO()
    SeqIO.write([SeqRecord(Seq(residues), id=f"{acc}.1", name=acc, description="rice gene",
                           annotations={"molecule_type": "DNA", "organism": organism,
                                        "accessions": [acc]})
                 for acc, organism, residues in records], handle, "genbank")
    return handle.getvalue().encode()


# --- accepted files ----------------------------------------------------------------------------

def test_a_fasta_file_is_stored_with_independently_checked_fingerprints(client, world, dsi,
                                                                         session):
    member, decl = dsi
    answer = send(client, world, member, decl.reference, FASTA)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["format"] == "fasta" and body["gzip"] is False
    assert body["sequences"] == 2 and body["residues"] == 18 + 16
    assert body["size"] == len(FASTA) and body["sha256"] == hashlib.sha256(FASTA).hexdigest()

    items = listed(client, world, member, decl.reference).get_json()["items"]
    first, second = items
    assert first["identifier"] == "seq1" and first["description"] == (
        "drought locus [organism=Oryza sativa]")
    assert first["length"] == 18 and first["molecule_type"] == "dna"
    assert first["source_organism"] == "Oryza sativa"
    assert first["sha256"] == hashlib.sha256(b"ACGTACGTNNACGTRYKM").hexdigest()
    assert first["seguid"] == seguid("ACGTACGTNNacgtRYKM")
    assert second["accessions"] == ["MN908947.3"] and second["source_organism"] is None
    assert "sequence" not in first

    fasta = client.get(f"/api/v1/declarations/{decl.reference}/sequences/seq1/fasta",
                       headers=world.headers(member))
    assert fasta.status_code == 200 and fasta.mimetype == "text/x-fasta"
    assert fasta.data.decode() == (
        ">seq1 drought locus [organism=Oryza sativa]\nACGTACGTNNACGTRYKM\n")


def test_a_gzipped_genbank_file_gives_accessions_and_organism(client, world, dsi):
    member, decl = dsi
    residues = "ACGT" * 40 + "N"
    content = gzip.compress(genbank(("AB123456", "Oryza sativa", residues),
                                    ("AB654321", "Oryza rufipogon", "GGCC" * 20)))
    answer = send(client, world, member, decl.reference, content, "rice.gb.gz")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["format"] == "genbank" and answer.get_json()["gzip"] is True
    items = listed(client, world, member, decl.reference, "?include=sequence").get_json()["items"]
    assert [i["identifier"] for i in items] == ["AB123456.1", "AB654321.1"]
    assert items[0]["accessions"] == ["AB123456.1"]
    assert items[1]["source_organism"] == "Oryza rufipogon"
    assert items[0]["sequence"] == residues
    assert items[0]["sha256"] == hashlib.sha256(residues.encode()).hexdigest()
    assert items[0]["seguid"] == seguid(residues)


def test_rna_written_in_dna_letters_is_stored_with_u(client, world):
    member = world.member()
    decl = declare_dsi(world, member, molecule_type="rna")
    answer = send(client, world, member, decl.reference, b">m1\nACGTTG\n>m2\nacguug\n")
    assert answer.status_code == 201, answer.get_json()
    items = listed(client, world, member, decl.reference, "?include=sequence").get_json()["items"]
    assert [i["sequence"] for i in items] == ["ACGUUG", "ACGUUG"]
    assert items[0]["sha256"] == items[1]["sha256"] == hashlib.sha256(b"ACGUUG").hexdigest()


# --- refused files -----------------------------------------------------------------------------

def _many(n: int) -> bytes:
    return b"".join(b">s%d\n%s\n" % (i, b"ACGT" * 25) for i in range(n))


TRUNCATED_GZIP = gzip.compress(_many(3000))[:-2000]
BAD_FILES = {
    "invalid character": (b">seq1\nACGT\n>seq7\nACGT\nACJT\n",
                          "sample.fa, record seq7, line 5: character 'J' is not valid in DNA"),
    "gap": (b">seq1\nAC-GT\n", "sample.fa, record seq1, line 2: character '-' is not valid"),
    "empty sequence": (b">seq1\nACGT\n>seq2\n\n>seq3\nAC\n",
                       "sample.fa, record seq2, line 3: the sequence is empty"),
    "duplicate identifier": (b">seq1\nACGT\n>seq2\nAC\n>seq1\nGG\n",
                             "sample.fa, record seq1, line 5: the identifier is already used "
                             "by the record at line 1"),
    "not fasta": (b"Dear registry,\nplease find attached\n",
                  "sample.fa: not a FASTA or GenBank file"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "sample.fa: this is a binary file"),
    "binary later": (b">seq1\nACGT\n>seq2 \xff\xfe\nACGT\n", "sample.fa, line 3: not text"),
    "empty file": (b"", "sample.fa: the file is empty"),
    "truncated gzip": (TRUNCATED_GZIP, "sample.fa, line "),
    # a bad record after more than one batch of good ones: the earlier batches go too
    "bad after a batch": (_many(2500) + b">late\nACGTX\n",
                          "sample.fa, record late, line 5002: character 'X' is not valid"),
    "truncated genbank": (genbank(("AB123456", "Oryza sativa", "ACGT" * 40))[:-30],
                          "sample.fa, line 13: the file ends inside the record that starts "
                          "at line 1"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_is_refused_naming_file_record_and_line_and_nothing_is_stored(
        client, world, dsi, session, case):
    member, decl = dsi
    content, message = BAD_FILES[case]
    before = stored(session)
    answer = send(client, world, member, decl.reference, content)
    assert answer.status_code == 422, answer.get_json()
    assert message in answer.get_json()["errors"]["file"][0]
    if case == "truncated gzip":
        assert "the gzip data is truncated or damaged" in answer.get_json()["errors"]["file"][0]
    assert stored(session) == before


def test_limits_on_size_and_count_name_the_file_and_store_nothing(client, world, dsi, app,
                                                                  session):
    member, decl = dsi
    settings = app.extensions["abs"].settings
    before = stored(session)
    settings.dsi_upload_max_bytes = 2000
    too_big = send(client, world, member, decl.reference, _many(100), "big.fa")
    assert too_big.status_code == 422
    assert too_big.get_json()["errors"]["file"] == ["big.fa: the file is larger than 0 MB"]
    settings.dsi_upload_max_bytes = 10**9
    settings.dsi_decompressed_max_bytes = 5000
    bomb = send(client, world, member, decl.reference, gzip.compress(_many(1000)), "x.fa.gz")
    assert bomb.get_json()["errors"]["file"][0].startswith(
        "x.fa.gz: the decompressed file is larger than")
    settings.dsi_max_sequences_per_file = 3
    many = send(client, world, member, decl.reference, _many(4), "many.fa")
    assert many.get_json()["errors"]["file"] == ["many.fa: more than 3 sequences in one file"]
    assert stored(session) == before


def test_an_identifier_already_declared_is_refused_in_a_later_file(client, world, dsi, session):
    member, decl = dsi
    assert send(client, world, member, decl.reference, FASTA).status_code == 201
    before = stored(session)
    again = send(client, world, member, decl.reference, b">new\nAC\n>seq1\nGG\n", "more.fa")
    assert again.status_code == 422
    assert again.get_json()["errors"]["file"] == [
        "more.fa, record seq1, line 3: this declaration already has a sequence with this "
        "identifier"]
    assert stored(session) == before


def test_alphabet_follows_the_declarations_molecule_type(client, world):
    member = world.member()
    protein = declare_dsi(world, member, molecule_type="protein")
    assert send(client, world, member, protein.reference, b">p\nMKVLJXUO\n").status_code == 201
    dna = declare_dsi(world, member)
    refused = send(client, world, member, dna.reference, b">d\nACGU\n")
    assert "character 'U' is not valid in DNA" in refused.get_json()["errors"]["file"][0]
    rna = declare_dsi(world, member, molecule_type="rna")
    mixed = send(client, world, member, rna.reference, b">r\nACGU\nT\n")
    assert mixed.get_json()["errors"]["file"] == [
        "sample.fa, record r, line 3: the sequence mixes T and U"]


# --- who may add -------------------------------------------------------------------------------

def test_only_the_declarant_adds_and_only_to_a_draft_or_returned_record(client, world, dsi,
                                                                        session):
    member, decl = dsi
    before = stored(session)
    assert send(client, world, world.member(), decl.reference, FASTA).status_code == 404
    assert send(client, world, None, decl.reference, FASTA).status_code == 401
    world.declarations.transition(member, decl.reference, "submit")
    assert send(client, world, world.official(), decl.reference, FASTA).status_code == 403
    late = send(client, world, member, decl.reference, FASTA)
    assert late.status_code == 409 and late.get_json()["errors"]["status"]
    gr = world.declare(member)
    assert send(client, world, member, gr.reference, FASTA).status_code == 404
    assert stored(session)[:2] == before[:2]


# --- who may see -------------------------------------------------------------------------------

def _sign_in(client, user) -> None:
    answer = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert answer.status_code == 302


def _viewers(world, member):
    return {"anonymous": None, "other enterprise": world.member(), "declarant": member,
            "official": world.official()}


@pytest.mark.parametrize("stage, can_list, can_read", [
    ("submitted", {"declarant", "official"}, {"declarant", "official"}),
    ("registered", {"anonymous", "other enterprise", "declarant", "official"},
     {"anonymous", "other enterprise", "declarant", "official"}),
    ("withdrawn", {"anonymous", "other enterprise", "declarant", "official"},
     {"declarant", "official"}),
])
def test_each_reader_sees_what_the_rules_allow_through_the_api(client, world, dsi, stage,
                                                               can_list, can_read):
    member, decl = dsi
    assert send(client, world, member, decl.reference, FASTA).status_code == 201
    world.declarations.transition(member, decl.reference, "submit")
    if stage != "submitted":
        world.declarations.transition(world.official(), decl.reference, "register")
    if stage == "withdrawn":
        world.declarations.transition(member, decl.reference, "withdraw", "no longer used")
    for name, user in _viewers(world, member).items():
        fingerprints = listed(client, world, user, decl.reference)
        residues = listed(client, world, user, decl.reference, "?include=sequence")
        fasta = client.get(f"/api/v1/declarations/{decl.reference}/sequences/seq1/fasta",
                           headers=world.headers(user) if user else {})
        if name in can_list:
            assert fingerprints.status_code == 200, name
            assert fingerprints.get_json()["total"] == 2
        else:
            assert fingerprints.status_code == 404, name
        if name in can_read:
            assert residues.status_code == 200, name
            assert residues.get_json()["items"][0]["sequence"] == "ACGTACGTNNACGTRYKM"
            assert fasta.status_code == 200, name
        else:
            assert residues.status_code in (403, 404), name
            assert b"ACGTACGTNN" not in residues.data and b"ACGTACGTNN" not in fasta.data
            assert fasta.status_code in (403, 404), name


def test_the_declaration_page_lists_fingerprints_and_links_residues_only_for_the_allowed(
        app_nocsrf, world, dsi):
    app = app_nocsrf
    member, decl = dsi
    client = app.test_client()
    assert send(client, world, member, decl.reference, FASTA).status_code == 201
    world.declarations.transition(member, decl.reference, "submit")
    world.declarations.transition(world.official(), decl.reference, "register")
    world.declarations.transition(member, decl.reference, "withdraw", "no longer used")
    sha = hashlib.sha256(b"ACGTACGTNNACGTRYKM").hexdigest()
    fasta_url = f"/declarations/{decl.reference}/sequences/seq1/fasta"
    for name, user in _viewers(world, member).items():
        browser = app.test_client()
        if user is not None:
            _sign_in(browser, user)
        page = browser.get(f"/declarations/{decl.reference}")
        assert page.status_code == 200, name
        text = page.get_data(as_text=True)
        assert sha in text and seguid("ACGTACGTNNACGTRYKM") in text and "MN908947.3" in text
        assert "<i>Oryza sativa</i>" in text
        allowed = name in {"declarant", "official"}
        assert (fasta_url in text) is allowed, name
        download = browser.get(fasta_url)
        assert (download.status_code == 200) is allowed, name
        assert (b"ACGTACGTNNACGTRYKM" in download.data) is allowed, name


# --- pages: upload, and declare with a file in one go -------------------------------------------

def test_the_page_uploads_a_file_and_shows_a_bad_one_beside_the_field(app_nocsrf, world, dsi,
                                                                      session):
    member, decl = dsi
    browser = app_nocsrf.test_client()
    _sign_in(browser, member)
    page = browser.get(f"/declarations/{decl.reference}").get_data(as_text=True)
    assert 'type="file"' in page and "<progress" in page
    bad = browser.post(f"/declarations/{decl.reference}/sequences",
                       data={"file": (io.BytesIO(b">a\nACJT\n"), "bad.fa")},
                       content_type="multipart/form-data")
    assert bad.status_code == 422
    assert "bad.fa, record a, line 2: character &#39;J&#39; is not valid in DNA" in \
        bad.get_data(as_text=True)
    assert stored(session)[1] == 0
    good = browser.post(f"/declarations/{decl.reference}/sequences",
                        data={"file": (io.BytesIO(FASTA), "good.fa")},
                        content_type="multipart/form-data", follow_redirects=True)
    assert good.status_code == 200
    assert "2 sequences from good.fa are added." in good.get_data(as_text=True)
    assert stored(session)[1] == 2


def test_a_dsi_record_is_declared_with_its_file_in_one_go_or_not_at_all(app_nocsrf, world,
                                                                        session):
    member = world.member()
    source = world.registered(member)
    browser = app_nocsrf.test_client()
    _sign_in(browser, member)
    form = {"title": "Rice loci", "molecule_type": "dna", "source_resources": source.reference,
            "accessions": "", "intent": "save"}
    declarations = lambda: session.scalar(select(func.count()).select_from(Declaration))  # noqa: E731
    before = declarations()
    refused = browser.post("/declarations/new/dsi",
                           data={**form, "file": (io.BytesIO(b">a\n\n"), "a.fa")},
                           content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "a.fa, record a, line 1: the sequence is empty" in refused.get_data(as_text=True)
    session.expire_all()
    assert declarations() == before and stored(session)[1] == 0
    done = browser.post("/declarations/new/dsi",
                        data={**form, "file": (io.BytesIO(FASTA), "rice.fa")},
                        content_type="multipart/form-data")
    assert done.status_code == 302
    session.expire_all()
    assert declarations() == before + 1 and stored(session)[1] == 2


# --- what registration and amendment do with sequences ------------------------------------------

def test_registration_announces_the_sequences_and_an_amendment_keeps_them(client, world, dsi,
                                                                         session):
    member, decl = dsi
    assert send(client, world, member, decl.reference, FASTA).status_code == 201
    heard: list[tuple[str, str]] = []

    def listener(_session, sequences):
        heard.extend((s.identifier, s.sha256) for s in sequences)

    events.on_sequences_registered.append(listener)
    try:
        world.declarations.transition(member, decl.reference, "submit")
        assert heard == []
        world.declarations.transition(world.official(), decl.reference, "register")
    finally:
        events.on_sequences_registered.remove(listener)
    assert [identifier for identifier, _ in heard] == ["seq1", "gb|MN908947.3|"]
    new = world.declarations.amend(member, decl.reference)
    copied = listed(client, world, member, new.reference).get_json()
    assert [i["sha256"] for i in copied["items"]] == [sha for _, sha in heard]


def test_the_cli_imports_a_file_with_a_progress_bar(app, world, dsi, tmp_path, session):
    member, decl = dsi
    path = tmp_path / "rice.fa.gz"
    path.write_bytes(gzip.compress(FASTA))
    result = app.test_cli_runner().invoke(
        args=["dsi", "import", str(path), "--declaration", decl.reference])
    assert result.exit_code == 0, result.output
    assert f"added 2 sequences (34 residues) from rice.fa.gz to {decl.reference}" in \
        result.output
    bad = tmp_path / "bad.fa"
    bad.write_bytes(b">x\nACGT\n>y\nQQ\n")
    failed = app.test_cli_runner().invoke(
        args=["dsi", "import", str(bad), "--declaration", decl.reference])
    assert failed.exit_code != 0
    assert "bad.fa, record y, line 4: character 'Q' is not valid in DNA" in failed.output
    assert stored(session)[1] == 2
