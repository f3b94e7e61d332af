"""The signed content of a permit and of a status statement.

These documents are public: anyone holding a permit's JWS can read them. So they say what an
IRCC says (issuer, providers, the user who was granted consent, subject matter, uses,
conditions, third-party transfer, the consents and the agreement, dates, permitted exits) and
nothing that DOMAIN rule 4 keeps confidential: a community whose knowledge is not public is
listed as a confidential provider without its name, and its records without their references.
Every number is a string, because RFC 8785 refuses integers beyond 2^53 and a verifier in
another language must read exactly what we signed.
"""

from __future__ import annotations

from datetime import date, datetime

from abs_registry.applications.models import Application, ConsentKind
from abs_registry.declarations.models import TKRecord, Visibility

PERMIT = "abs-permit"
STATUS = "abs-permit-status"


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _confidential_orgs(app: Application) -> set[int]:
    """Communities all of whose knowledge in this application is not public."""
    by_org: dict[int, list[TKRecord]] = {}
    for tk in app.tk_records:
        by_org.setdefault(tk.organization_id, []).append(tk)
    return {org for org, records in by_org.items()
            if all(r.visibility is not Visibility.PUBLIC for r in records)}


def providers(app: Application) -> list[dict]:
    hidden = _confidential_orgs(app)
    listed = []
    for consent in app.consents:
        confidential = consent.kind is ConsentKind.FPIC and consent.organization_id in hidden
        listed.append({
            "role": "community" if consent.kind is ConsentKind.FPIC else "provider",
            "name": None if confidential else consent.organization.name,
            "confidential": confidential,
            "consent": consent.kind.value,
            "consent_granted_on": consent.decided_at.date().isoformat()
            if consent.decided_at else None,
        })
    return listed


def subject_matter(app: Application) -> list[dict]:
    items = [{
        "kind": "genetic_resource",
        "reference": r.reference,
        "scientific_name": r.scientific_name,
        "taxon_rank": r.taxon_rank.value,
        "material_type": r.material_type.value,
        "provenance": {"country": r.reference[:2], "region": r.collection_region},
    } for r in app.resources]
    for tk in app.tk_records:
        if tk.visibility is Visibility.PUBLIC:
            items.append({"kind": "traditional_knowledge", "reference": tk.reference,
                          "title": tk.tk_title, "confidential": False})
        else:
            items.append({"kind": "traditional_knowledge", "confidential": True})
    return items


def exits(rows: list[dict]) -> list[dict]:
    return [{"material": row["resource"].reference, "quantity": str(row["quantity"]),
             "unit": row["unit"], "destination_country": row["destination_country"],
             "recipient": row["recipient"]} for row in rows]


def permit_document(*, number: str, version: int, app: Application, issuer: dict,
                    issued_at: datetime, valid_from: date, expires_on: date,
                    conditions: str | None, third_party_transfer: str | None,
                    exit_rows: list[dict], supersedes: dict | None = None,
                    reason: str | None = None) -> dict:
    agreement = app.current_agreement
    document = {
        "type": PERMIT,
        "number": number,
        "version": str(version),
        "issuer": issuer,
        "issued_at": timestamp(issued_at),
        "valid_from": valid_from.isoformat(),
        "expires_on": expires_on.isoformat(),
        "user": {"name": app.applicant.name, "reference": str(app.applicant_org_id)},
        "providers": providers(app),
        "subject_matter": subject_matter(app),
        "uses": {"purpose": app.purpose.value, "conditions": conditions},
        "third_party_transfer": {"allowed": third_party_transfer is not None,
                                 "conditions": third_party_transfer},
        "application": app.reference,
        "agreement": {
            "revision": str(agreement.revision),
            "template": f"{agreement.template_id}/v{agreement.template_version}",
            "text_sha256": agreement.text_sha256,
        },
        "exits": exits(exit_rows),
    }
    if supersedes:
        document["supersedes"] = supersedes
        document["amendment_reason"] = reason
    return document


def status_document(*, number: str, version: int, permit_sha256: str, status: str,
                    reason: str, issuer: dict, issued_at: datetime) -> dict:
    return {
        "type": STATUS,
        "number": number,
        "version": str(version),
        "permit_sha256": permit_sha256,
        "status": status,
        "reason": reason,
        "issuer": issuer,
        "issued_at": timestamp(issued_at),
    }
