"""A permit as an ABS Clearing-House IRCC record (schema ``absPermit``), ready to publish.

Source of the field names and types: the Clearing-House's own API documentation,
github.com/scbd/clearing-house-documentation, ``components/ircc/request-body.md`` ("Schema
for IRCC": the request body of ``absPermit`` documents) and the thesaurus pages beside it.
Types used there: ``lstring`` is an object of language -> text (``{"en": ..., "zh": ...}``;
the CHM's language codes), ``Term`` is ``{"identifier": ...}`` with an optional
``customValue`` lstring, ``Reference`` is ``{"identifier": "<record id>@<revision>"}``.

What we fill, from the signed payload only (so the export says exactly what was signed):
``header`` (schema absPermit, our stable identifier), ``government`` (country term, lower
case ISO code), ``absCNA``, ``title`` (the permit number), ``referenceToNationalPermit``,
``dateOfIssuance``, ``dateOfExpiry``, ``providers`` / ``providersConfidential``,
``entitiesToWhomPICGranted`` / ``entitiesToWhomPICGrantedConfidential``, ``subjectMatter`` /
``subjectMatterConfidential``, ``keywordOther``, ``picGranted``, ``picInformation``,
``matEstablished``, ``matInformation``, ``usages``, ``usagesDescription``,
``thirdPartyTransferCondition``, ``permitFiles`` (our certificate PDF and verify page),
``relevantInformation``, and for an amendment ``amendmentIntent`` / ``amendmentDescription``.

Where the Clearing-House expects a reference to one of ITS records (the CNA, the provider and
user contacts) we cannot know its identifier; such references carry our name for the party in
``customValue`` and a ``identifier`` of ``null``, for the national focal point to link when
publishing. Usages are the CHM thesaurus domain ``A7B77788-8C90-4849-9327-E181E9522F3A``
(commercial / non-commercial); we emit our key as ``identifier`` with the text, for the same
reason. Confidential providers are exported as confidential, without names: the payload
already lists them with ``name: null``.
"""

from __future__ import annotations

import hashlib

USAGE_DOMAIN = "A7B77788-8C90-4849-9327-E181E9522F3A"
USAGES = {
    "commercial": [("commercial", "Commercial use", "商业利用")],
    "non_commercial": [("non_commercial", "Non-commercial use", "非商业利用")],
    "both": [("commercial", "Commercial use", "商业利用"),
             ("non_commercial", "Non-commercial use", "非商业利用")],
}


def _text(en: str | None, zh: str | None = None) -> dict | None:
    if not en and not zh:
        return None
    return {k: v for k, v in (("en", en), ("zh", zh)) if v}


def _party(name: str) -> dict:
    return {"identifier": None, "customValue": {"en": name}}


def identifier(payload: dict) -> str:
    """A stable record identifier: the same permit version always exports the same one."""
    digest = hashlib.sha256(f"{payload['number']}".encode()).hexdigest().upper()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _subject_text(items: list[dict]) -> str:
    lines = []
    for item in items:
        if item.get("confidential"):
            continue
        if item.get("kind") == "genetic_resource":
            provenance = item.get("provenance") or {}
            lines.append(f"{item.get('reference')}: {item.get('scientific_name')} "
                         f"({item.get('taxon_rank')}, {item.get('material_type')}), "
                         f"provenance {provenance.get('country')}"
                         + (f" {provenance['region']}" if provenance.get("region") else ""))
        else:
            lines.append(f"{item.get('reference')}: traditional knowledge, {item.get('title')}")
    return "\n".join(lines)


def _exits_text(exits: list[dict]) -> str:
    return "\n".join(f"{e['material']}: {e['quantity']} {e['unit']} to "
                     f"{e['destination_country']} ({e['recipient']})" for e in exits)


def export(payload: dict, *, certificate_url: str, verify_url: str,
           jws_sha256: str) -> dict:
    """The IRCC document for one signed permit version."""
    providers = payload.get("providers") or []
    subjects = payload.get("subject_matter") or []
    uses = payload.get("uses") or {}
    third = payload.get("third_party_transfer") or {}
    agreement = payload.get("agreement") or {}
    issuer = payload.get("issuer") or {}
    named = [p for p in providers if not p.get("confidential")]
    consents = "; ".join(
        f"{'confidential' if p.get('confidential') else p.get('name')}: {p.get('consent', '').upper()}"
        f" granted {p.get('consent_granted_on') or 'on an unknown date'}" for p in providers)
    exits = payload.get("exits") or []
    record = {
        "header": {"identifier": identifier(payload), "schema": "absPermit",
                   "languages": ["en"]},
        "government": {"identifier": str(issuer.get("country", "")).lower()},
        "absCNA": _party(issuer.get("authority", "")),
        "title": {"en": payload["number"]},
        "referenceToNationalPermit": {"en": f"{payload['number']} version {payload['version']}"
                                            f" (application {payload.get('application')})"},
        "dateOfIssuance": str(payload.get("issued_at", ""))[:10],
        "dateOfExpiry": payload.get("expires_on"),
        "providers": [_party(p["name"]) for p in named],
        "providersConfidential": any(p.get("confidential") for p in providers),
        "entitiesToWhomPICGranted": [_party((payload.get("user") or {}).get("name", ""))],
        "entitiesToWhomPICGrantedConfidential": False,
        "subjectMatter": _text(_subject_text(subjects)),
        "subjectMatterConfidential": any(s.get("confidential") for s in subjects),
        "keywordOther": _text(", ".join(sorted({s["scientific_name"] for s in subjects
                                                if s.get("scientific_name")}))),
        "picGranted": True,
        "picInformation": _text(consents),
        "matEstablished": True,
        "matInformation": _text(f"Agreement {agreement.get('template')}, revision "
                                f"{agreement.get('revision')}, text SHA-256 "
                                f"{agreement.get('text_sha256')}"),
        "usages": [{"identifier": key, "customValue": {"en": en, "zh": zh}}
                   for key, en, zh in USAGES.get(uses.get("purpose"), [])],
        "usagesDescription": _text(uses.get("conditions")),
        "thirdPartyTransferCondition": _text(
            (third.get("conditions") or "Transfer allowed.") if third.get("allowed")
            else "Transfer to third parties is not allowed."),
        "permitFiles": [
            {"url": certificate_url, "name": f"Permit certificate {payload['number']} (PDF, "
                                             "PAdES-signed)", "language": "en"},
            {"url": verify_url, "name": "Verify this permit", "language": "en"},
        ],
        "permitDescription": _text("Bilingual certificate signed by the competent national "
                                   "authority; the permit is also a JWS (EdDSA) with SHA-256 "
                                   f"{jws_sha256}, verifiable against {issuer.get('jwks')}."),
        "relevantInformation": _text(f"Permitted exits:\n{_exits_text(exits)}" if exits
                                     else "No material may leave the country."),
    }
    if payload.get("supersedes"):
        record["amendmentIntent"] = 0  # CHM AmendmentIntent: the record is updated
        record["amendmentDescription"] = _text(payload.get("amendment_reason"))
    return {key: value for key, value in record.items() if value is not None}
