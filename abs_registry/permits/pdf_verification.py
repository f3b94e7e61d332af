"""Checking a permit PDF offline: its PAdES signature against our root CA, then its JWS.

A PDF is valid only if all of these hold, each refused with its reason otherwise:
- it parses as a PDF with exactly one signature, a certification (DocMDP) signature;
- pyHanko finds the signature intact and cryptographically valid, covering the whole file,
  with no change after signing (coverage ENTIRE_FILE, modification level NONE);
- the signer's certificate chains to the root certificate given, and to nothing else (the
  validation context trusts only that root: no system store, no fetching);
- the unused tail of the signature's /Contents is all zeros. pyHanko does not look there
  (the byte range excludes /Contents, and the CMS parser stops at the end of its DER), so a
  byte changed in that padding would otherwise pass; "a byte flipped anywhere" must not;
- the embedded ``permit.jws`` verifies with the JWK Set and is not expired
  (``offline.verify_token``, the same check as for a bare JWS file).

Whether the permit was suspended or revoked since is a question for /verify: a file alone
cannot know.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import ModificationLevel, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from abs_registry.permits import offline, signing
from abs_registry.permits.certificate import ATTACHMENT, run_coroutine

PDF_MAGIC = b"%PDF-"


@dataclass
class PdfCheck:
    valid: bool
    reason: str
    signer: str | None = None
    payload: dict | None = None


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(PDF_MAGIC)


def load_root(root_pem: bytes | str) -> asn1_x509.Certificate:
    data = root_pem.encode("ascii") if isinstance(root_pem, str) else root_pem
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


def _der_length(blob: bytes) -> int:
    """Length of the DER element at the start of ``blob`` (header included)."""
    if len(blob) < 2:
        raise ValueError("empty signature")
    first = blob[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(blob) < 2 + count:
        raise ValueError("bad DER length")
    return 2 + count + int.from_bytes(blob[2:2 + count], "big")


def _container_problem(sig, root: asn1_x509.Certificate) -> str | None:
    """What pyHanko leaves unchecked in the CMS container: the certificates beside the
    chain, unsigned fields, non-canonical encodings and the zero padding of /Contents. A
    permit's container holds exactly what ``certificate.sign_pdf`` puts there."""
    contents = bytes(sig.sig_object["/Contents"])
    end = _der_length(contents)
    if end > len(contents) or contents[end:].strip(b"\x00"):
        return "bytes after the signature container are not zero"
    content_info = cms.ContentInfo.load(contents[:end])
    if content_info.dump(force=True) != contents[:end]:
        return "the signature container is not canonical DER"
    signed = sig.signed_data
    infos = signed["signer_infos"]
    if len(infos) != 1:
        return "the signature container holds more than one signer"
    info = infos[0]
    expected_certs = {root.dump(), sig.signer_cert.dump()}
    certs = [c.chosen.dump() for c in signed["certificates"]]
    if (signed["version"].native != "v1" or info["version"].native != "v1"
            or signed["digest_algorithms"].native != [info["digest_algorithm"].native]
            or signed["encap_content_info"].native != {"content_type": "data", "content": None}
            or signed["crls"].native is not None or info["unsigned_attrs"].native is not None
            or len(certs) != len(expected_certs) or set(certs) != expected_certs):
        return "the signature container holds fields that are not the registry's"
    return None


def _attached_token(reader: PdfFileReader) -> str | None:
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except (KeyError, TypeError):
        return None
    for i in range(0, len(names) - 1, 2):
        if str(names[i]) == ATTACHMENT:
            data = names[i + 1].get_object()["/EF"]["/F"].get_object().data
            return data.decode("ascii").strip()
    return None


def _signature_problem(reader: PdfFileReader, root: asn1_x509.Certificate) -> str | None:
    signatures = reader.embedded_signatures
    if len(signatures) != 1:
        return f"the PDF carries {len(signatures)} signatures; a permit carries exactly one"
    sig = signatures[0]
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    status = run_coroutine(async_validate_pdf_signature(sig, context))
    if not status.intact:
        return "the PDF was changed after it was signed: the signed bytes do not match"
    if not status.valid:
        return "the PDF signature does not verify with the signer's certificate"
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        return "the signature does not cover the whole file: something was added after signing"
    if status.modification_level is not ModificationLevel.NONE or not status.docmdp_ok:
        return "the PDF was modified after it was certified"
    if sig.docmdp_level is None:
        return "the PDF signature is not a certification signature"
    if not status.trusted:
        return "the signing certificate does not chain to the registry's root CA given"
    if problem := _container_problem(sig, root):
        return f"the signature container was altered: {problem}"
    return None


def verify_pdf(data: bytes, root_pem: bytes | str, keys: signing.PublicKeys,
               today: str | None = None) -> PdfCheck:
    """Every check above; never raises on bad input."""
    if not is_pdf(data):
        return PdfCheck(False, "not a PDF file")
    try:
        root = load_root(root_pem)
    except (ValueError, TypeError) as exc:
        return PdfCheck(False, f"the root certificate could not be read ({exc})")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        problem = _signature_problem(reader, root)
        signer = reader.embedded_signatures[0].signer_cert.subject.human_friendly \
            if reader.embedded_signatures else None
        token = None if problem else _attached_token(reader)
    except Exception as exc:  # noqa: BLE001 -- whatever a damaged file breaks is "invalid"
        return PdfCheck(False, f"the PDF or its signature cannot be read ({type(exc).__name__}: "
                               f"{exc})"[:300])
    if problem:
        return PdfCheck(False, problem, signer)
    if token is None:
        return PdfCheck(False, f"the signed PDF has no attached {ATTACHMENT}", signer)
    ok, message = offline.verify_token(token, keys, today)
    result = signing.verify(token, keys)
    return PdfCheck(ok, ("PDF signature valid, by " + str(signer) + "; " if ok else
                         "PDF signature valid, but the attached permit is not: ") + message,
                    signer, result.payload if result.valid else None)


def verify_file(path: Path, jwks_file: Path, ca_file: Path) -> tuple[bool, str]:
    """``abs-registry verify permit.pdf --jwks jwks.json --ca abs-registry-ca.pem``."""
    try:
        keys = signing.PublicKeys(json.loads(Path(jwks_file).read_text("utf-8")))
    except (OSError, ValueError, UnicodeDecodeError, AttributeError) as exc:
        return False, f"{jwks_file}: not a JWK Set ({exc})"
    try:
        root_pem = Path(ca_file).read_bytes()
    except OSError as exc:
        return False, f"{ca_file}: {exc}"
    check = verify_pdf(Path(path).read_bytes(), root_pem, keys)
    return check.valid, check.reason
