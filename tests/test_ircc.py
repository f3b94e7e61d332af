"""The ABS Clearing-House export: a permit as an IRCC (absPermit) record with the CHM's field
names (scbd/clearing-house-documentation, components/ircc/request-body.md)."""

from __future__ import annotations

import json

from abs_registry.permits import ircc
from abs_registry.permits.service import PermitService

# The absPermit fields the Clearing-House marks mandatory, and those we always fill.
MANDATORY = {"header", "government", "absCNA", "title", "dateOfIssuance", "providers",
             "entitiesToWhomPICGranted", "subjectMatter", "keywordOther", "picGranted",
             "matEstablished", "usages"}
FILLED = MANDATORY | {"dateOfExpiry", "providersConfidential", "picInformation",
                      "matInformation", "thirdPartyTransferCondition", "permitFiles",
                      "referenceToNationalPermit", "relevantInformation"}


def test_the_export_uses_the_clearing_house_field_names(world, client):
    permit = world.permit()
    response = client.get(f"/permits/{permit.number}/ircc.json")
    assert response.status_code == 200
    record = response.get_json()
    assert set(record) >= FILLED
    payload = permit.payload
    assert record["header"]["schema"] == "absPermit"
    assert record["government"] == {"identifier": "cn"}
    assert record["title"] == {"en": permit.number}
    assert record["dateOfIssuance"] == payload["issued_at"][:10]
    assert record["dateOfExpiry"] == payload["expires_on"]
    assert record["providers"] == [{"identifier": None,
                                    "customValue": {"en": payload["providers"][0]["name"]}}]
    assert record["providersConfidential"] is False
    assert record["entitiesToWhomPICGranted"][0]["customValue"]["en"] == payload["user"]["name"]
    assert "Oryza sativa" in record["subjectMatter"]["en"]
    assert [u["identifier"] for u in record["usages"]] == ["commercial"]
    assert record["picGranted"] is True and record["matEstablished"] is True
    assert payload["agreement"]["text_sha256"] in record["matInformation"]["en"]
    assert record["thirdPartyTransferCondition"] == {
        "en": "Transfer to third parties is not allowed."}
    assert "1 kg" in record["relevantInformation"]["en"]
    assert any(f"certificate.pdf?v={permit.version}" in f["url"] for f in record["permitFiles"])
    assert "amendmentIntent" not in record
    # the same version always exports the same record
    assert client.get(f"/permits/{permit.number}/ircc.json?v=1").get_json() == record


def test_confidential_providers_are_exported_as_confidential_without_names(world):
    permit = world.permit()
    payload = json.loads(json.dumps(permit.payload))
    payload["providers"].append({"role": "community", "name": None, "confidential": True,
                                 "consent": "fpic", "consent_granted_on": "2026-01-02"})
    payload["subject_matter"].append({"kind": "traditional_knowledge", "confidential": True})
    record = ircc.export(payload, certificate_url="u", verify_url="v", jws_sha256="h")
    assert record["providersConfidential"] is True
    assert record["subjectMatterConfidential"] is True
    assert len(record["providers"]) == 1  # only the named provider
    assert "None" not in json.dumps(record)
    assert "confidential: FPIC" in record["picInformation"]["en"]


def test_an_amendment_exports_its_intent_and_reason(world, app, session, client):
    permit = world.permit(data={"third_party_transfer": "Only to partners under the same MAT."})
    service = PermitService(session, app.extensions["abs"].keys)
    new = service.amend(permit.issued_by, permit.number, {}, "correct the recipient")
    record = client.get(f"/permits/{permit.number}/ircc.json").get_json()
    assert record["amendmentIntent"] == 0
    assert record["amendmentDescription"] == {"en": "correct the recipient"}
    assert record["thirdPartyTransferCondition"] == {"en": "Only to partners under the same MAT."}
    assert new.version == 2 and "version 2" in record["referenceToNationalPermit"]["en"]
    assert client.get("/permits/CN-ABS-2026-999999/ircc.json").status_code == 404
