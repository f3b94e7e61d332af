"""The permit certificate: a bilingual PDF of the signed payload, itself signed as PAdES.

What the PDF holds, and why:
- every field of the signed payload, Chinese and English side by side, made from the payload
  alone (never from the database), so the paper says exactly what was signed; confidential
  providers and traditional knowledge show as "confidential", as the payload already has them;
- a QR code with the verification URL
  ``{public_url}/verify?permit=<number>&v=<version>#sha256=<SHA-256 of the compact JWS>``.
  The compact JWS itself is 2-4 KB: a QR code that size (version 30-40) cannot be scanned
  from print at a size that fits the page, so the URL carries the token's hash instead. The
  /verify page looks the permit up and checks that the token it holds has that hash; the
  fragment never reaches the server's logs;
- the compact JWS as an embedded file ``permit.jws`` (added before the PAdES signature, so
  the signature covers it), for offline checks with the JWK Set alone
  (``abs-registry verify permit.pdf --jwks jwks.json --ca abs-registry-ca.pem``);
- a certifying PAdES signature (DocMDP "no changes") with the authority CA's document-signing
  certificate and its chain (``authority_ca.py``), so Adobe Reader and ``pdfsig`` show it valid
  and any later edit breaks it.

Rendering takes about a second (WeasyPrint), so ``CertificateStore`` keeps each PDF on disk
under the instance folder, named by the SHA-256 of the payload, and can render it in the
background right after issuance; a reader then gets the stored file. See bench/permit_pdf.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import segno
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from babel import Locale
from babel.messages.pofile import read_po
from cryptography.hazmat.primitives import serialization
from jinja2 import Environment, FileSystemLoader, select_autoescape

from abs_registry import i18n, regions
from abs_registry.config import REPO_ROOT
from abs_registry.permits import signing
from abs_registry.permits.authority_ca import Authority

if TYPE_CHECKING:
    from pyhanko.sign import signers

ATTACHMENT = "permit.jws"
FIELD_NAME = "PermitSignature"
MD_ALGORITHM = "sha256"  # ECDSA P-256 (Ed25519 would need sha512)

PURPOSES = {
    "commercial": ("商业利用", "Commercial use"),
    "non_commercial": ("非商业利用", "Non-commercial use"),
    "both": ("商业与非商业利用", "Commercial and non-commercial use"),
}
ROLES = {"provider": ("提供者", "Provider"), "community": ("社区", "Community")}
CONSENTS = {"pic": ("事先知情同意", "PIC"), "fpic": ("自由、事先和知情同意", "FPIC")}
STATUS_AT_ISSUANCE = ("签发时有效", "Valid at issuance")


def jws_sha256(jws: str) -> str:
    return hashlib.sha256(jws.strip().encode("ascii")).hexdigest()


def payload_sha256(payload: dict) -> str:
    """The name the register gives a payload (``Permit.payload_sha256``)."""
    return hashlib.sha256(signing.canonical(payload)).hexdigest()


def verification_url(public_url: str, payload: dict, jws: str) -> str:
    return (f"{public_url.rstrip('/')}/verify?permit={payload['number']}"
            f"&v={payload['version']}#sha256={jws_sha256(jws)}")


@cache
def _chinese() -> dict[str, str]:
    """English interface label -> Chinese, from the shipped catalogue (no app needed)."""
    path = i18n.TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.string}


def _pair(value: str) -> str:
    """'seed' -> '种子 Seed': the interface's own translation of an enum value."""
    english = value.replace("_", " ").capitalize()
    chinese = _chinese().get(english)
    return f"{chinese} {english}" if chinese else english


@cache
def _country(code: str) -> str:
    return f"{Locale('zh').territories.get(code, code)} {Locale('en').territories.get(code, code)}"


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(REPO_ROOT / "templates" / "permits")),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def _qr_svg(url: str) -> str:
    # Level M survives a scuffed print; the URL (~130 characters) stays a version 7-8 code.
    return segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True)


def _subject(item: dict) -> dict:
    if item.get("confidential") or item.get("kind") != "genetic_resource":
        return item
    provenance = item.get("provenance") or {}
    region = provenance.get("region")
    place = " / ".join(filter(None, [regions.display_name(region, "zh_Hans_CN"),
                                     regions.display_name(region, "en")])) if region else ""
    return {**item, "rank": _pair(item.get("taxon_rank") or ""),
            "material": _pair(item.get("material_type") or ""),
            "provenance": f"{_country(provenance.get('country') or '')}"
                          + (f", {place}" if place else "")}


def render_html(payload: dict, jws: str, kid: str, public_url: str) -> str:
    url = verification_url(public_url, payload, jws)
    purpose = PURPOSES.get((payload.get("uses") or {}).get("purpose"), ("", ""))
    providers = [{**pr,
                  "role_zh": ROLES.get(pr.get("role"), ("", ""))[0],
                  "role_en": ROLES.get(pr.get("role"), ("", pr.get("role")))[1],
                  "consent_zh": CONSENTS.get(pr.get("consent"), ("", ""))[0],
                  "consent_en": CONSENTS.get(pr.get("consent"), ("", pr.get("consent")))[1]}
                 for pr in payload.get("providers") or []]
    exits = [{**e, "country": _country(e.get("destination_country") or "")}
             for e in payload.get("exits") or []]
    return _environment().get_template("certificate_pdf.html").render(
        p=payload, purpose={"zh": purpose[0], "en": purpose[1]}, providers=providers,
        subjects=[_subject(item) for item in payload.get("subject_matter") or []],
        exits=exits, status={"zh": STATUS_AT_ISSUANCE[0], "en": STATUS_AT_ISSUANCE[1]},
        qr_svg=_qr_svg(url), verify_url=url, jws_sha256=jws_sha256(jws), kid=kid)


def run_coroutine(coroutine):
    """Run one of pyHanko's coroutines to its end from synchronous code.

    pyHanko's synchronous calls wrap ``asyncio.run``, which refuses to start while another
    event loop runs in the thread (an ASGI server, or Playwright's sync API in the tests); a
    short-lived thread of its own has no loop, so it always works there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyhanko") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _asn1_cert(cert) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _signer(authority: Authority) -> signers.SimpleSigner:
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = asn1_keys.PrivateKeyInfo.load(authority.signer_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(authority.signer), signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(authority.root)]))


def sign_pdf(pdf: bytes, jws: str, payload: dict, authority: Authority) -> bytes:
    """Attach the JWS, then certify the whole file with DocMDP "no changes" (PAdES).

    pyHanko and WeasyPrint are imported where a certificate is made, not with the module:
    together they hold ~70 MB, which every process that never renders one (an ingest of
    sequence files, the daily obligations job) would otherwise carry.
    """
    from pyhanko.pdf_utils import embed
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    embed.embed_file(writer, embed.FileSpec(
        file_spec_string=ATTACHMENT, file_name=ATTACHMENT,
        embedded_data=embed.EmbeddedFileObject.from_file_data(
            writer, data=jws.strip().encode("ascii"), mime_type="application/jose"),
        description="The permit as a compact JWS (RFC 7515, EdDSA); check it with the "
                    "registry's JWK Set"))
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, subfilter=fields.SigSeedSubFilter.PADES, certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES, md_algorithm=MD_ALGORITHM,
        reason=f"Permit {payload['number']} version {payload['version']}",
        location=str((payload.get("issuer") or {}).get("country") or ""))
    pdf_signer = signers.PdfSigner(meta, _signer(authority))
    return run_coroutine(pdf_signer.async_sign_pdf(writer)).getvalue()


def build(payload: dict, jws: str, kid: str, authority: Authority, public_url: str) -> bytes:
    """Render and sign one certificate (about a second; use CertificateStore to keep it)."""
    from abs_registry.agreements.pdf import write_pdf

    return sign_pdf(write_pdf(render_html(payload, jws, kid, public_url)), jws, payload,
                    authority)


@dataclass(frozen=True)
class Signed:
    """What a certificate is made from: a permit version as the register signed it."""

    payload: dict
    jws: str
    kid: str

    @classmethod
    def of(cls, permit) -> Signed:
        return cls(permit.payload, permit.jws, permit.kid)


class CertificateStore:
    """Certificates on disk, one file per payload hash, each rendered at most once per process.

    A payload never changes once signed, so a stored file never goes stale; an amendment is a
    new payload and a new file.
    """

    def __init__(self, directory: Path, authority_source, public_url: str):
        self.directory = Path(directory)
        self._authority = authority_source  # callable returning the Authority (made if missing)
        self.public_url = public_url
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, signed: Signed) -> Path:
        return self.directory / f"{payload_sha256(signed.payload)}.pdf"

    def cached(self, signed: Signed) -> bytes | None:
        path = self.path(signed)
        return path.read_bytes() if path.exists() else None

    def get(self, signed: Signed) -> bytes:
        """The stored PDF, or render, store and return it (one renderer per payload)."""
        if (data := self.cached(signed)) is not None:
            return data
        with self._lock(self.path(signed).name):
            if (data := self.cached(signed)) is not None:
                return data
            data = build(signed.payload, signed.jws, signed.kid, self._authority(),
                         self.public_url)
            self._store(self.path(signed), data)
            return data

    def warm(self, signed: Signed) -> threading.Thread:
        """Render in the background (after issuance), so the first reader does not wait."""
        thread = threading.Thread(target=self.get, args=(signed,), daemon=True,
                                  name=f"permit-pdf-{signed.payload.get('number')}")
        thread.start()
        return thread

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _store(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # readers see the whole file or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
