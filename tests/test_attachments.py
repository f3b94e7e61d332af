"""Documents attached to an application: bounded, checked by content, named in the history."""
# The `case` fixture comes from test_applications; tests name it as their parameter.
# ruff: noqa: F811

from __future__ import annotations

import io

from tests.test_applications import application_body, case, post  # noqa: F401 (fixture)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(case, user, ref, content: bytes, name: str = "consent.pdf"):
    return case.client.post(f"/api/v1/applications/{ref}/attachments",
                            data={"file": (io.BytesIO(content), name)},
                            content_type="multipart/form-data", headers=case.h[user])


def filed(case) -> str:
    ref = post(case, case.applicant, "/api/v1/applications",
               application_body(case)).get_json()["reference"]
    post(case, case.applicant, f"/api/v1/applications/{ref}/submit")
    return ref


def test_a_consent_document_is_attached_and_named_in_the_history(case):
    ref = filed(case)
    url = f"/api/v1/applications/{ref}"
    consents = post(case, case.provincial, f"{url}/accept_complete").get_json()["consents"]
    pic = next(c for c in consents if c["kind"] == "pic")
    stored = upload(case, case.provider, ref, PDF, "../../etc/PIC signed.pdf")
    assert stored.status_code == 201, stored.get_json()
    doc = stored.get_json()
    assert doc["filename"] == "PIC signed.pdf" and doc["content_type"] == "application/pdf"
    granted = post(case, case.provider, f"{url}/consents/{pic['id']}",
                   {"grant": True, "attachments": [doc["id"]]})
    assert granted.status_code == 200
    history = case.client.get(f"{url}/history", headers=case.h[case.applicant]).get_json()
    event = next(e for e in history if e["action"] == "pic_granted")
    assert event["data"]["attachments"] == [
        {"id": doc["id"], "filename": "PIC signed.pdf", "sha256": doc["sha256"],
         "size": len(PDF)}]
    download = case.client.get(f"{url}/attachments/{doc['id']}",
                               headers=case.h[case.applicant])
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"


def test_bad_uploads_are_refused_naming_the_file_and_nothing_is_kept(case, session):
    from abs_registry.attachments.models import Attachment

    ref = filed(case)
    for content, message in ((b"", "empty"), (b"MZ\x90\x00 not a document", "PDF, PNG")):
        answer = upload(case, case.applicant, ref, content, "x.exe")
        assert answer.status_code == 422
        assert message in answer.get_json()["errors"]["file"][0]
    too_big = upload(case, case.applicant, ref, PDF + b"0" * (10 * 1024 * 1024))
    assert too_big.status_code in (413, 422)
    missing = case.client.post(f"/api/v1/applications/{ref}/attachments", data={},
                               content_type="multipart/form-data",
                               headers=case.h[case.applicant])
    assert missing.status_code == 422 and "file" in missing.get_json()["errors"]
    assert session.query(Attachment).count() == 0


def test_outsiders_cannot_attach_or_read_and_moves_name_only_their_own_documents(case):
    ref = filed(case)
    outsider = case.world.member()
    case.h[outsider] = case.world.headers(outsider)
    assert upload(case, outsider, ref, PDF).status_code == 404
    doc = upload(case, case.applicant, ref, PDF).get_json()
    assert case.client.get(f"/api/v1/applications/{ref}/attachments/{doc['id']}",
                           headers=case.h[outsider]).status_code == 404
    other = filed(case)
    answer = post(case, case.provincial, f"/api/v1/applications/{other}/accept_complete",
                  {"attachments": [doc["id"]]})
    assert answer.status_code == 422
    assert "attachments" in answer.get_json()["errors"]


def test_an_id_too_large_for_the_database_is_not_found(client, world):
    member = world.member()
    answer = client.delete("/api/v1/tokens/99999999999999999999",
                           headers=world.headers(member))
    assert answer.status_code == 404


def test_review_notes_are_read_by_officials_and_the_applicant_not_by_providers(case):
    ref = filed(case)
    url = f"/api/v1/applications/{ref}"
    consents = post(case, case.provincial, f"{url}/accept_complete").get_json()["consents"]
    for consent in consents:
        party = case.provider if consent["kind"] == "pic" else case.steward
        post(case, party, f"{url}/consents/{consent['id']}", {"grant": True})
    body = {"template_id": "non_commercial_research", "template_version": 1,
            "values": case.example["values"], "terms": case.example["terms"]}
    agreement = post(case, case.applicant, f"{url}/agreement", body).get_json()
    for party in (case.provider, case.steward, case.applicant):
        post(case, party, f"{url}/agreement/accept",
             {"revision": agreement["revision"], "text_sha256": agreement["text_sha256"]})
    post(case, case.national, f"{url}/notes", {"kind": "expert_opinion",
                                               "text": "The sampling plan is thin."})
    for reader, sees in ((case.applicant, True), (case.provincial, True),
                         (case.provider, False), (case.steward, False)):
        notes = case.client.get(url, headers=case.h[reader]).get_json()["notes"]
        assert bool(notes) is sees, reader.email


def test_a_document_is_attached_through_the_page_and_listed_with_its_hash(case, app_nocsrf):
    ref = filed(case)
    browser = app_nocsrf.test_client()
    from tests.conftest import PASSWORD

    browser.post("/sign-in", data={"email": case.applicant.email, "password": PASSWORD})
    empty = browser.post(f"/applications/{ref}/attachments", data={},
                         content_type="multipart/form-data")
    assert empty.status_code == 422
    assert 'id="error-file"' in empty.get_data(as_text=True)
    bad = browser.post(f"/applications/{ref}/attachments",
                       data={"file": (io.BytesIO(b"plain text"), "notes.txt")},
                       content_type="multipart/form-data")
    assert bad.status_code == 422 and "PDF, PNG or JPEG" in bad.get_data(as_text=True)
    good = browser.post(f"/applications/{ref}/attachments",
                        data={"file": (io.BytesIO(PDF), "permit.pdf")},
                        content_type="multipart/form-data")
    assert good.status_code == 302
    page = browser.get(f"/applications/{ref}").get_data(as_text=True)
    assert "permit.pdf" in page
    history = case.client.get(f"/api/v1/applications/{ref}/history",
                              headers=case.h[case.applicant]).get_json()
    assert history[-1]["action"] == "attach"
    assert history[-1]["data"]["attachment"]["filename"] == "permit.pdf"
