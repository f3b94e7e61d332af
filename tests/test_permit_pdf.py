"""The permit certificate PDF: the authority CA, the bilingual rendering, the PAdES signature,
offline verification (pyHanko with only our root, and poppler's pdfsig), and its caching.

A PDF is checked as an outsider would: from its bytes, the published JWK Set and the root
certificate fetched from /.well-known/abs-registry-ca.pem.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader

from abs_registry.agreements.pdf import write_pdf
from abs_registry.cli import verify as verify_command
from abs_registry.permits import certificate, pdf_verification, signing
from abs_registry.permits.authority_ca import DOCUMENT_SIGNING, AuthorityCA
from abs_registry.permits.service import PermitService


def published(client) -> tuple[signing.PublicKeys, bytes]:
    keys = signing.PublicKeys(client.get("/.well-known/jwks.json").get_json())
    return keys, client.get("/.well-known/abs-registry-ca.pem").data


def pdf_of(client, permit, version=None) -> bytes:
    query = f"?v={version}" if version else ""
    response = client.get(f"/permits/{permit.number}/certificate.pdf{query}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return response.data


def text_of_pdf(data: bytes) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def signed(world, client):
    """One permit, its certificate as served, and what an outsider downloads to check it."""
    permit = world.permit()
    keys, root = published(client)
    return permit, pdf_of(client, permit), keys, root


# --- the authority CA -----------------------------------------------------------------------


def test_the_ca_is_made_once_with_private_keys_only_their_owner_reads(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["keys", "ca"])
    assert first.exit_code == 0 and "created" in first.output, first.output
    again = runner.invoke(args=["keys", "ca"])
    assert again.exit_code == 0 and "already present" in again.output
    ca = app.extensions["abs"].authority
    assert ca.directory.parent == app.extensions["abs"].settings.keys_path
    for key_file in ("root.key.pem", "signer.key.pem"):
        assert stat.S_IMODE((ca.directory / key_file).stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.directory.stat().st_mode) == 0o700


def test_the_signer_is_a_document_signing_leaf_of_a_root_that_signs_only_certificates(app,
                                                                                      client):
    authority, _ = app.extensions["abs"].authority.ensure()
    root = x509.load_pem_x509_certificate(client.get("/.well-known/abs-registry-ca.pem").data)
    assert root == authority.root
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    root_usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert root_usage.key_cert_sign and not root_usage.digital_signature
    signer = authority.signer
    signer.verify_directly_issued_by(root)
    assert signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    purposes = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert DOCUMENT_SIGNING in purposes and ExtendedKeyUsageOID.EMAIL_PROTECTION in purposes


def test_two_processes_making_the_ca_at_once_agree_on_one(tmp_path):
    one, two = AuthorityCA(tmp_path), AuthorityCA(tmp_path)
    assert one._create() is True
    assert two._create() is False  # the second loses the rename and keeps the first's files
    assert two.load().root == one.load().root
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".authority-ca-")]


# --- what the certificate shows -------------------------------------------------------------


def test_the_certificate_shows_every_field_in_both_languages_and_the_qr_link(signed):
    permit, pdf, _, _ = signed
    text = text_of_pdf(pdf)
    payload = permit.payload
    for value in (permit.number, payload["user"]["name"], payload["expires_on"],
                  payload["valid_from"], payload["application"], "Oryza sativa",
                  payload["providers"][0]["name"], payload["exits"][0]["recipient"],
                  payload["agreement"]["text_sha256"][:16], "Permitted exits",
                  "Valid at issuance", permit.kid[:12]):
        assert value in text, value
    for chinese in ("许可证编号", "有效期至", "允许出境", "签发时有效"):
        assert chinese in text, chinese
    url = certificate.verification_url("http://127.0.0.1:5000", payload, permit.jws)
    assert f"#sha256={certificate.jws_sha256(permit.jws)}" in url
    html = certificate.render_html(payload, permit.jws, permit.kid, "http://127.0.0.1:5000")
    assert certificate._qr_svg(url) in html
    fonts = {str(font.get_object()["/BaseFont"]).split("+")[-1]
             for page in PdfReader(io.BytesIO(pdf)).pages
             for font in page["/Resources"]["/Font"].values()}
    assert fonts == {"ABS-Registry-Sans-SC"}, "one face: the packaged CJK font, embedded"


def test_confidential_providers_and_knowledge_show_only_as_confidential(world):
    permit = world.permit()
    payload = json.loads(json.dumps(permit.payload))
    payload["providers"].append({"role": "community", "name": None, "confidential": True,
                                 "consent": "fpic", "consent_granted_on": "2026-01-02"})
    payload["subject_matter"].append({"kind": "traditional_knowledge", "confidential": True})
    html = certificate.render_html(payload, permit.jws, permit.kid, "https://abs.example")
    assert html.count("保密 confidential") == 1
    assert "保密的传统知识 confidential traditional knowledge" in html
    assert "None" not in html


def test_the_signed_jws_is_attached_inside_the_signature(signed):
    permit, pdf, _, _ = signed
    reader = PdfFileReader(io.BytesIO(pdf))
    assert pdf_verification._attached_token(reader) == permit.jws


# --- verifying it offline ------------------------------------------------------------------


def test_a_served_certificate_verifies_against_the_published_root_and_keys(signed):
    permit, pdf, keys, root = signed
    check = pdf_verification.verify_pdf(pdf, root, keys)
    assert check.valid, check.reason
    assert permit.number in check.reason and check.payload == permit.payload


def test_a_byte_flipped_anywhere_makes_the_pdf_not_valid(signed):
    _, pdf, keys, root = signed
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    end = pdf.index(b">", start)
    positions = set(range(0, len(pdf), max(1, len(pdf) // 120))) | {len(pdf) - 1}
    positions |= set(range(start, end, 29))  # the signature container and its zero padding
    for position in sorted(positions):
        flipped = bytearray(pdf)
        flipped[position] ^= 0x01
        check = pdf_verification.verify_pdf(bytes(flipped), root, keys)
        assert not check.valid and check.reason, position


def test_without_our_root_the_signature_is_not_trusted(signed, tmp_path):
    _, pdf, keys, _ = signed
    stranger, _ = AuthorityCA(tmp_path / "stranger").ensure()
    check = pdf_verification.verify_pdf(pdf, stranger.root_pem, keys)
    assert not check.valid and "root CA" in check.reason


def test_a_change_saved_after_signing_is_refused(signed):
    _, pdf, keys, root = signed
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.root["/Lang"] = writer.root.get("/Lang", "zh")  # any incremental update
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    check = pdf_verification.verify_pdf(out.getvalue(), root, keys)
    assert not check.valid and ("after" in check.reason or "modified" in check.reason)
    appended = pdf_verification.verify_pdf(pdf + b"\n% appended\n", root, keys)
    assert not appended.valid


def test_an_expired_permit_pdf_and_a_foreign_key_set_are_not_valid(signed):
    permit, pdf, keys, root = signed
    later = pdf_verification.verify_pdf(pdf, root, keys, today="2999-01-01")
    assert not later.valid and "expired" in later.reason
    nobody = pdf_verification.verify_pdf(pdf, root, signing.PublicKeys({"keys": []}))
    assert not nobody.valid and "unknown key id" in nobody.reason
    for junk in (b"", b"%PDF-1.7\ngarbage", b"not a pdf", pdf[: len(pdf) // 2]):
        assert not pdf_verification.verify_pdf(junk, root, keys).valid


def test_the_verify_command_checks_a_pdf_offline(signed, tmp_path):
    _, pdf, keys, root = signed
    runner = CliRunner()
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [j for j, _ in keys.keys.values()]}))
    (tmp_path / "ca.pem").write_bytes(root)
    (tmp_path / "permit.pdf").write_bytes(pdf)
    args = [str(tmp_path / "permit.pdf"), "--jwks", str(tmp_path / "jwks.json")]
    good = runner.invoke(verify_command, [*args, "--ca", str(tmp_path / "ca.pem")])
    assert good.exit_code == 0 and "VALID" in good.output, good.output
    no_ca = runner.invoke(verify_command, args)
    assert no_ca.exit_code == 1 and "--ca" in no_ca.output
    flipped = bytearray(pdf)
    flipped[len(pdf) // 3] ^= 0x01
    (tmp_path / "permit.pdf").write_bytes(bytes(flipped))
    bad = runner.invoke(verify_command, [*args, "--ca", str(tmp_path / "ca.pem")])
    assert bad.exit_code == 1 and "NOT VALID" in bad.output


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils is not installed")
def test_poppler_pdfsig_reports_the_signature_valid_and_a_flipped_byte_not(signed, tmp_path):
    _, pdf, _, _ = signed
    path = tmp_path / "permit.pdf"
    path.write_bytes(pdf)
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid" in report and "Total document signed" in report
    flipped = bytearray(pdf)
    flipped[len(pdf) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid" not in report


# --- serving and caching ----------------------------------------------------------------------


def test_each_version_is_rendered_once_and_kept_by_payload_hash(world, client, app, session):
    permit = world.permit()
    store = app.extensions["abs"].certificates
    path = store.path(certificate.Signed.of(permit))
    assert path.name == f"{permit.payload_sha256}.pdf" and not path.exists()
    first = pdf_of(client, permit)
    assert path.read_bytes() == first
    stamp = path.stat().st_mtime_ns
    assert pdf_of(client, permit, version=1) == first and path.stat().st_mtime_ns == stamp
    official = permit.application.decided_by if hasattr(permit.application, "decided_by") \
        else None
    service = PermitService(session, app.extensions["abs"].keys)
    new = service.amend(official or permit.issued_by, permit.number,
                        {"conditions": "No use beyond the field trials."}, "clarify use")
    assert pdf_of(client, new) != first
    assert "No use beyond the field trials." in text_of_pdf(pdf_of(client, new))
    assert pdf_of(client, permit, version=1) == first
    for bad in ("/permits/CN-ABS-2026-999999/certificate.pdf", "/permits/nonsense/certificate.pdf",
                f"/permits/{permit.number}/certificate.pdf?v=abc",
                f"/permits/{permit.number}/certificate.pdf?v=9"):
        assert client.get(bad).status_code == 404, bad


def test_warming_renders_in_the_background(world, app):
    permit = world.permit()
    store = app.extensions["abs"].certificates
    thread = store.warm(certificate.Signed.of(permit))
    thread.join(timeout=60)
    assert store.cached(certificate.Signed.of(permit)) is not None
    started = time.perf_counter()
    store.get(certificate.Signed.of(permit))
    assert time.perf_counter() - started < 1.0  # read from disk, not rendered again


def test_signing_and_checking_work_while_an_event_loop_runs(signed, app):
    """pyHanko's synchronous calls wrap asyncio.run; a server or tool with a running loop in
    the same thread (Playwright's sync API did, in this suite) must not break them."""
    permit, pdf, keys, root = signed
    authority = app.extensions["abs"].authority.load()

    async def inside_a_loop():
        blank = write_pdf("<p>permit</p>")
        again = certificate.sign_pdf(blank, permit.jws, permit.payload, authority)
        return pdf_verification.verify_pdf(pdf, root, keys), again

    with ThreadPoolExecutor(max_workers=1) as pool:  # a thread of its own, whatever runs here
        check, again = pool.submit(asyncio.run, inside_a_loop()).result()
    assert check.valid, check.reason
    assert pdf_verification.verify_pdf(again, root, keys).valid
