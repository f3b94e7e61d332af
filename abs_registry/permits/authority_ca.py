"""The registry's own X.509 authority: a root CA and the certificate that signs permit PDFs.

Why an X.509 chain next to the JWS keys: PDF readers (Adobe Reader, poppler's ``pdfsig``) check
PAdES signatures against X.509 certificates, not JWKs. Whoever trusts our root certificate
(published at ``/.well-known/abs-registry-ca.pem``) can check a permit PDF offline.

Why ECDSA P-256 and not Ed25519: pyHanko signs with either, but poppler 22 (Debian 12's
``pdfsig``, through NSS) reports "Document isn't signed or corrupted data" for an Ed25519
CMS signature and "Signature is Valid" for ECDSA P-256 with SHA-256 (tried both, see
tests/test_permit_pdf.py). So the PDF chain uses P-256; the JWS keys stay Ed25519.

The root signs only certificates (keyCertSign, cRLSign; path length 0); the document signer
has digitalSignature and nonRepudiation with the extended key usages Adobe's "document
signing" (1.3.6.1.4.1.311.10.3.12) and emailProtection, which readers accept for documents.
Private keys are PKCS#8 PEM files (0600) in ``<signing key dir>/authority-ca/``, written to a
temporary directory first and renamed into place in one step, so two processes that start
at once cannot leave a root key that does not match the root certificate.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

DIRECTORY = "authority-ca"
ROOT_KEY, ROOT_CERT = "root.key.pem", "root.pem"
SIGNER_KEY, SIGNER_CERT = "signer.key.pem", "signer.pem"
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")  # Adobe/Microsoft
ROOT_YEARS, SIGNER_YEARS = 30, 20
CURVE = ec.SECP256R1()


@dataclass(frozen=True)
class Authority:
    """The loaded chain: what signing a PDF needs, and what a verifier must trust."""

    root: x509.Certificate
    signer: x509.Certificate
    signer_key: ec.EllipticCurvePrivateKey

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, authority: str, country: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, authority[:64]),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _key_usage(*, sign_documents: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign_documents, content_commitment=sign_documents,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=not sign_documents, crl_sign=not sign_documents,
        encipher_only=False, decipher_only=False)


def make_root(authority: str, country: str, now: datetime | None = None
              ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(CURVE)
    name = _name(f"ABS Registry Root CA ({country})", authority, country)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign_documents=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_signer(root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate,
                authority: str, country: str, now: datetime | None = None
                ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(CURVE)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"ABS Registry permit signing ({country})", authority, country))
        .issuer_name(root.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=365 * SIGNER_YEARS), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_documents=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING,
                                              ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class AuthorityCA:
    """The CA files in the signing-key directory; ``ensure`` makes them once."""

    def __init__(self, key_directory: Path, authority: str = "ABS Registry",
                 country: str = "CN"):
        self.directory = Path(key_directory) / DIRECTORY
        self.authority = authority
        self.country = country
        self._loaded: Authority | None = None

    def exists(self) -> bool:
        return (self.directory / SIGNER_CERT).exists()

    def ensure(self) -> tuple[Authority, bool]:
        """The chain, created first if missing. Returns (chain, whether it was created now)."""
        created = False
        if not self.exists():
            created = self._create()
        return self.load(), created

    def load(self) -> Authority:
        if self._loaded is None:
            read = lambda name: (self.directory / name).read_bytes()  # noqa: E731
            self._loaded = Authority(
                root=x509.load_pem_x509_certificate(read(ROOT_CERT)),
                signer=x509.load_pem_x509_certificate(read(SIGNER_CERT)),
                signer_key=serialization.load_pem_private_key(read(SIGNER_KEY), None))
        return self._loaded

    def root_pem(self) -> bytes | None:
        path = self.directory / ROOT_CERT
        return path.read_bytes() if path.exists() else None

    def _create(self) -> bool:
        self.directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".authority-ca-", dir=self.directory.parent))
        try:
            root_key, root = make_root(self.authority, self.country)
            signer_key, signer = make_signer(root_key, root, self.authority, self.country)
            _write(staging / ROOT_KEY, _key_pem(root_key), 0o600)
            _write(staging / ROOT_CERT, _cert_pem(root), 0o644)
            _write(staging / SIGNER_KEY, _key_pem(signer_key), 0o600)
            _write(staging / SIGNER_CERT, _cert_pem(signer), 0o644)
            try:
                os.rename(staging, self.directory)  # atomic; fails if another process won
            except OSError:
                if not self.exists():
                    raise
                return False
            return True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
