"""Offline permit verifications per second on one core, against a bare Ed25519 verify.

The same signed permit is checked again and again, as `abs-registry verify` checks it:
parse the compact JWS, refuse anything but EdDSA, find the key in the JWK Set, verify the
signature, check the payload is canonical JSON and the key was in service when it signed.
The bare figure verifies the same signing input with the same key through `cryptography`
alone, in the same run. Goal: at least 70% of the bare rate.

    .venv/bin/python bench/jws_verify.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import base64
import time

import _common  # noqa: F401  (puts the repository on sys.path)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from abs_registry.permits import offline, signing
from abs_registry.permits.keys import b64url, raw_public, thumbprint

PAYLOAD = {
    "type": "abs-permit", "number": "CN-ABS-2026-000042", "version": "1",
    "issuer": {"authority": "Ministry of Ecology and Environment", "country": "CN",
               "jwks": "https://abs.example.cn/.well-known/jwks.json"},
    "issued_at": "2026-11-24T10:00:00Z", "valid_from": "2026-11-24",
    "expires_on": "2028-11-24", "user": {"name": "Yunnan Herbal Biotech Co., Ltd.",
                                         "reference": "12"},
    "providers": [{"role": "provider", "name": "Kunming Institute of Botany",
                   "confidential": False, "consent": "pic",
                   "consent_granted_on": "2026-11-01"}],
    "subject_matter": [{"kind": "genetic_resource", "reference": "CN-GR-2026-000007",
                        "scientific_name": "Oryza officinalis", "taxon_rank": "species",
                        "material_type": "tissue",
                        "provenance": {"country": "CN", "region": "532800"}}],
    "uses": {"purpose": "non_commercial", "conditions": "Share results yearly."},
    "third_party_transfer": {"allowed": False, "conditions": None},
    "application": "CN-APP-2026-000001",
    "agreement": {"revision": "1", "template": "non_commercial_research/v1",
                  "text_sha256": "0" * 64},
    "exits": [{"material": "CN-GR-2026-000007", "quantity": "20", "unit": "items",
               "destination_country": "DE", "recipient": "Leibniz Institute"}],
}


def rate(check, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            check()
        count += 200
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    private = Ed25519PrivateKey.generate()
    x = b64url(raw_public(private.public_key()))
    kid = thumbprint(x)
    jwk_set = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig",
                         "alg": "EdDSA", "valid_from": "2026-01-01T00:00:00Z",
                         "valid_until": None}]}
    token = signing.sign(PAYLOAD, kid, private)
    keys = signing.PublicKeys(jwk_set)
    assert offline.verify_token(token, keys, today="2026-11-24")[0]

    public = private.public_key()
    head, body, sig = token.split(".")
    signing_input = f"{head}.{body}".encode()
    signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))

    bare = rate(lambda: public.verify(signature, signing_input), args.seconds)
    full = rate(lambda: offline.verify_token(token, keys, today="2026-11-24"), args.seconds)
    print(f"token: {len(token)} bytes")
    print(f"bare Ed25519 verify:     {bare:8.0f} /s")
    print(f"offline permit verify:   {full:8.0f} /s  ({100 * full / bare:.0f}% of bare)")


if __name__ == "__main__":
    main()
