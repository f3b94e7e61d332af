"""The access-application pages, used the way each party uses them: an applicant files and
edits, providers and communities consent, the parties agree on terms, officials check, review
and decide. Everything goes through the HTML forms with a browser-like client per person."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from abs_registry.applications.models import (
    Agreement,
    AgreementAcceptance,
    Application,
    ConsentRequest,
    ReviewNote,
)
from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import OfficialLevel, OrgKind
from abs_registry.declarations.models import Kind
from abs_registry.notifications.models import Notification
from tests.conftest import PASSWORD, tk_payload

EXAMPLE = "contracts/non_commercial_research/v1/example.json"


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def beside(response, field: str) -> str:
    """The message shown right after the input it is about."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<(p|ul) class="field-error" id="error-{re.escape(field)}"[^>]*>(.*?)</\1>',
                      html, re.S)
    assert match, f"no message beside {field}"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", match.group(2)))).strip()


def hidden(response, name: str) -> str:
    html = response.get_data(as_text=True)
    return unescape(re.search(rf'name="{name}" value="([^"]*)"', html).group(1))


def snapshot(session) -> dict:
    """What a refused form must leave untouched, read fresh from the database."""
    session.rollback()
    counted = (Application, ConsentRequest, Agreement, AgreementAcceptance, ReviewNote,
               Notification, AuditEvent)
    state = {model.__name__: session.scalar(select(func.count()).select_from(model))
             for model in counted}
    state["applications"] = session.execute(
        select(Application.reference, Application.status, Application.version,
               Application.title).order_by(Application.id)).all()
    session.rollback()
    return state


@pytest.fixture
def case(world, app_nocsrf, repo_root):
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE, name="Provider Institute"))
    steward = world.steward(world.org(OrgKind.COMMUNITY, name="Hani Community", region="532800"))
    applicant = world.member(world.org(OrgKind.ENTERPRISE, name="Applicant Co"))
    national = world.official(OfficialLevel.NATIONAL)
    provincial = world.official(OfficialLevel.PROVINCIAL)
    resource = world.registered(provider, reviewer=national)
    tk = world.registered(steward, Kind.TRADITIONAL_KNOWLEDGE, reviewer=national,
                          **tk_payload(associated_species=["Oryza sativa"]))

    class Case:
        pass

    c = Case()
    c.world, c.app = world, app_nocsrf
    c.provider, c.steward, c.applicant = provider, steward, applicant
    c.national, c.provincial = national, provincial
    c.resource, c.tk = resource, tk
    c.example = json.loads((repo_root / EXAMPLE).read_text(encoding="utf-8"))
    c.browsers = {}

    def browser(user):
        if user.id not in c.browsers:
            client = app_nocsrf.test_client()
            signed = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
            assert signed.status_code == 302
            c.browsers[user.id] = client
        return c.browsers[user.id]

    c.browser = browser
    return c


def application_form(case, **overrides) -> dict:
    form = {
        "title": "Drought tolerance in rice landraces",
        "resources": case.resource.reference,
        "tk_records": case.tk.reference,
        "purpose": "non_commercial",
        "activities": "Genotyping and field trials of drought tolerance.",
        "work_location": "Kunming laboratories",
        "duration_months": "24",
        "export_country": "",
        "export_recipient": "",
        "third_party_details": "",
        "intent": "save",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def file_application(case, **overrides) -> str:
    answer = case.browser(case.applicant).post("/applications/new",
                                               data=application_form(case, **overrides))
    assert answer.status_code == 302, text_of(answer)
    return answer.headers["Location"].rsplit("/", 1)[-1]


def act(case, user, ref, action, **form):
    browser = case.browser(user)
    version = hidden(browser.get(f"/applications/{ref}"), "version")
    return browser.post(f"/applications/{ref}/act/{action}", data={"version": version, **form})


def to_agreement(case, ref, **overrides) -> None:
    """Through completeness and consent, with forms, up to the agreement step."""
    assert act(case, case.applicant, ref, "submit").status_code == 302
    assert act(case, case.provincial, ref, "accept_complete").status_code == 302
    for party in (case.provider, case.steward):
        page = case.browser(party).get("/consents")
        for consent_id in re.findall(r'id="consent-(\d+)"', page.get_data(as_text=True)):
            answer = case.browser(party).post(f"/applications/{ref}/consents/{consent_id}",
                                              data={"grant": "true", "conditions": ""})
            assert answer.status_code == 302, text_of(answer)


def propose(case, user, ref, values=None, terms=None):
    browser = case.browser(user)
    page = browser.get(f"/applications/{ref}/agreement")
    return browser.post(f"/applications/{ref}/agreement", data={
        "template": "non_commercial_research/1",
        "values": json.dumps(values if values is not None else case.example["values"]),
        "terms": json.dumps(terms if terms is not None else case.example["terms"]),
        "version": hidden(page, "version"),
    })


def accept(case, user, ref):
    browser = case.browser(user)
    page = browser.get(f"/applications/{ref}/agreement")
    return browser.post(f"/applications/{ref}/agreement/accept", data={
        "revision": hidden(page, "revision"), "text_sha256": hidden(page, "text_sha256")})


# --- the whole flow -----------------------------------------------------------------------------


def test_the_whole_workflow_through_the_forms_of_each_party(case):
    applicant = case.browser(case.applicant)
    form = applicant.get("/applications/new")
    assert form.status_code == 200
    assert case.resource.reference in form.get_data(as_text=True)  # offered in the picker
    ref = file_application(case)
    page = applicant.get(f"/applications/{ref}")
    assert "Drought tolerance in rice landraces" in text_of(page)
    assert ref in text_of(applicant.get("/applications"))

    assert act(case, case.applicant, ref, "submit").status_code == 302
    queue = case.browser(case.provincial).get("/applications/queue")
    assert ref in text_of(queue)
    returned = act(case, case.provincial, ref, "return_incomplete",
                   missing="Work plan\nSampling permit", comment="")
    assert returned.status_code == 302
    edit = applicant.get(f"/applications/{ref}/edit")
    assert "Sampling permit" in text_of(edit)
    saved = applicant.post(f"/applications/{ref}/edit", data=application_form(
        case, version=hidden(edit, "version"), activities="Genotyping with a work plan attached.",
        intent="submit"))
    assert saved.status_code == 302
    assert "Submitted" in text_of(applicant.get(f"/applications/{ref}"))

    assert act(case, case.provincial, ref, "accept_complete").status_code == 302
    consents = case.browser(case.steward).get("/consents")
    assert ref in text_of(consents)
    assert "What the applicant is asking to use" in text_of(consents)
    assert case.tk.title in text_of(consents)
    for party, conditions in ((case.provider, "Cite the institute."), (case.steward, "")):
        page = case.browser(party).get("/consents")
        consent_id = re.search(r'id="consent-(\d+)"', page.get_data(as_text=True)).group(1)
        answer = case.browser(party).post(f"/applications/{ref}/consents/{consent_id}",
                                          data={"grant": "true", "conditions": conditions})
        assert answer.status_code == 302
    assert "Cite the institute." in text_of(applicant.get(f"/applications/{ref}"))

    proposal_page = applicant.get(f"/applications/{ref}/agreement")
    assert "Propose terms" in text_of(proposal_page)
    assert propose(case, case.applicant, ref).status_code == 302
    agreement = applicant.get(f"/applications/{ref}/agreement")
    sha = hidden(agreement, "text_sha256")
    assert sha in text_of(agreement)
    assert '<article class="agreement" lang="zh-Hans"' in agreement.get_data(as_text=True)
    for party in (case.provider, case.steward, case.applicant):
        assert accept(case, party, ref).status_code == 302

    assert "Under review" in text_of(applicant.get(f"/applications/{ref}"))
    note = case.browser(case.national).post(f"/applications/{ref}/notes", data={
        "kind": "recommendation", "text": "Sampling is sustainable.",
        "recommendation": "approve"})
    assert note.status_code == 302
    approved = act(case, case.national, ref, "approve", comment="Report results yearly.")
    assert approved.status_code == 302

    final = text_of(applicant.get(f"/applications/{ref}"))
    assert "Approved" in final and "Report results yearly." in final
    assert "Sampling is sustainable." in final  # the applicant reads the review notes
    for step in ("Return as incomplete", "Work plan", "Accept as complete",
                 "Prior informed consent granted", "Free, prior and informed consent granted",
                 "Agreement accepted by every party", sha):
        assert step in final


def test_the_reviewer_asks_and_the_applicant_answers(case):
    ref = file_application(case, tk_records="")
    to_agreement(case, ref)
    propose(case, case.applicant, ref)
    for party in (case.provider, case.applicant):
        accept(case, party, ref)
    asked = act(case, case.national, ref, "request_information",
                comment="Where are the field trials?")
    assert asked.status_code == 302, text_of(asked)
    page = text_of(case.browser(case.applicant).get(f"/applications/{ref}"))
    assert "Information requested" in page and "Where are the field trials?" in page
    answered = act(case, case.applicant, ref, "respond", comment="In Menghai county.")
    assert answered.status_code == 302
    assert "Under review" in text_of(case.browser(case.national).get(f"/applications/{ref}"))


# --- bad input ----------------------------------------------------------------------------------


def test_a_bad_application_form_shows_each_message_beside_its_field_and_stores_nothing(
        case, session):
    before = snapshot(session)
    answer = case.browser(case.applicant).post("/applications/new", data=application_form(
        case, title="", duration_months="twelve", resources="CN-GR-2099-999999"))
    assert answer.status_code == 422
    assert beside(answer, "title")
    assert "integer" in beside(answer, "duration_months")
    assert "CN-GR-2099-999999" in answer.get_data(as_text=True)  # what was typed is kept
    export = case.browser(case.applicant).post("/applications/new", data=application_form(
        case, exports_material="true", export_recipient="Lab abroad"))
    assert export.status_code == 422
    assert "Required when material leaves the country" in beside(export, "export_country")
    assert 'name="exports_material" value="true" style="width:auto" checked' in \
        export.get_data(as_text=True)
    assert snapshot(session) == before


def test_a_reference_nobody_registered_is_named_beside_the_resources(case, session):
    before = snapshot(session)
    answer = case.browser(case.applicant).post("/applications/new", data=application_form(
        case, resources="CN-GR-2099-999999"))
    assert answer.status_code == 422
    assert "CN-GR-2099-999999" in beside(answer, "resources")
    assert snapshot(session) == before


def test_editing_a_version_someone_else_changed_answers_409_and_keeps_the_record(case, session):
    ref = file_application(case)
    browser = case.browser(case.applicant)
    stale = hidden(browser.get(f"/applications/{ref}/edit"), "version")
    assert browser.post(f"/applications/{ref}/edit", data=application_form(
        case, version=stale, title="First change")).status_code == 302
    before = snapshot(session)
    answer = browser.post(f"/applications/{ref}/edit",
                          data=application_form(case, version=stale, title="Second change"))
    assert answer.status_code == 409
    assert "changed since version" in beside(answer, "version")
    assert snapshot(session) == before


def test_a_reason_is_needed_to_withdraw_and_to_refuse_consent(case, session):
    ref = file_application(case)
    before = snapshot(session)
    answer = act(case, case.applicant, ref, "withdraw", comment="  ")
    assert answer.status_code == 422
    assert "reason" in beside(answer, "comment")
    assert snapshot(session) == before

    act(case, case.applicant, ref, "submit")
    act(case, case.provincial, ref, "accept_complete")
    page = case.browser(case.steward).get("/consents")
    consent_id = re.search(r'id="consent-(\d+)"', page.get_data(as_text=True)).group(1)
    before = snapshot(session)
    refused = case.browser(case.steward).post(f"/applications/{ref}/consents/{consent_id}",
                                              data={"grant": "false", "reason": ""})
    assert refused.status_code == 422
    assert "reason" in beside(refused, "reason")
    assert snapshot(session) == before
    stopped = case.browser(case.steward).post(f"/applications/{ref}/consents/{consent_id}",
                                              data={"grant": "false",
                                                    "reason": "Sacred knowledge."})
    assert stopped.status_code == 302
    page = text_of(case.browser(case.applicant).get(f"/applications/{ref}"))
    assert "Consent refused" in page and "Sacred knowledge." in page


def test_a_move_the_state_does_not_allow_answers_409_on_the_page(case, session):
    ref = file_application(case)
    act(case, case.applicant, ref, "submit")
    browser = case.browser(case.applicant)
    version = hidden(browser.get(f"/applications/{ref}"), "version")
    assert browser.post(f"/applications/{ref}/act/submit",
                        data={"version": version}).status_code == 409
    official = case.browser(case.provincial)
    version = hidden(official.get(f"/applications/{ref}"), "version")
    assert act(case, case.provincial, ref, "accept_complete").status_code == 302
    before = snapshot(session)
    late = official.post(f"/applications/{ref}/act/return_incomplete",
                         data={"version": version, "missing": "Work plan"})
    assert late.status_code == 409
    assert "consent" in text_of(late).lower()
    assert snapshot(session) == before


def test_a_bad_proposal_names_the_json_path_beside_its_box_and_stores_nothing(case, session):
    ref = file_application(case, tk_records="")
    to_agreement(case, ref)
    before = snapshot(session)
    browser = case.browser(case.applicant)
    version = hidden(browser.get(f"/applications/{ref}/agreement"), "version")
    broken = browser.post(f"/applications/{ref}/agreement", data={
        "template": "non_commercial_research/1", "values": "{not json", "terms": "[]",
        "version": version})
    assert broken.status_code == 422
    assert "Not valid JSON" in beside(broken, "values")
    terms = [dict(case.example["terms"][3], amount=5000)]  # money must be a string
    wrong = propose(case, case.applicant, ref, terms=terms)
    assert wrong.status_code == 422
    assert "terms.0.amount" in beside(wrong, "terms")
    values = {k: v for k, v in case.example["values"].items() if k != "provider"}
    missing = propose(case, case.applicant, ref, values=values)
    assert missing.status_code == 422
    assert "provider" in beside(missing, "values")
    assert snapshot(session) == before


def test_accepting_a_text_that_changed_meanwhile_answers_409(case, session):
    ref = file_application(case, tk_records="")
    to_agreement(case, ref)
    propose(case, case.applicant, ref)
    provider = case.browser(case.provider)
    seen = provider.get(f"/applications/{ref}/agreement")
    changed = dict(case.example["values"], report_interval_months=6)
    assert propose(case, case.applicant, ref, values=changed).status_code == 302
    before = snapshot(session)
    late = provider.post(f"/applications/{ref}/agreement/accept", data={
        "revision": hidden(seen, "revision"), "text_sha256": hidden(seen, "text_sha256")})
    assert late.status_code == 409
    assert "changed since you read it" in text_of(late)
    assert snapshot(session) == before


# --- who sees what ------------------------------------------------------------------------------


def test_an_outsider_gets_404_on_another_organizations_application(case):
    ref = file_application(case)
    outsider = case.world.member(case.world.org(OrgKind.ENTERPRISE, name="Someone Else"))
    for url in (f"/applications/{ref}", f"/applications/{ref}/agreement",
                f"/applications/{ref}/edit", f"/applications/{ref}/agreement.pdf"):
        assert case.browser(outsider).get(url).status_code == 404
    # a provider sees nothing of a draft either
    assert case.browser(case.provider).get(f"/applications/{ref}").status_code == 404
    assert case.browser(outsider).post(f"/applications/{ref}/act/withdraw",
                                       data={"comment": "no"}).status_code == 404


def test_only_officials_see_the_queue(case):
    assert case.browser(case.applicant).get("/applications/queue").status_code == 403
    ref = file_application(case)
    act(case, case.applicant, ref, "submit")
    queue = case.browser(case.national).get("/applications/queue?status=submitted")
    assert queue.status_code == 200 and ref in text_of(queue)
    assert ref not in text_of(case.browser(case.national).get("/applications/queue?status=review"))
    assert case.browser(case.national).get("/applications/queue?status=nonsense").status_code \
        == 422


def test_review_notes_are_for_officials_and_the_applicant_only(case):
    ref = file_application(case, tk_records="")
    to_agreement(case, ref)
    propose(case, case.applicant, ref)
    for party in (case.provider, case.applicant):
        accept(case, party, ref)
    case.browser(case.national).post(f"/applications/{ref}/notes", data={
        "kind": "expert_opinion", "text": "Confidential assessment.", "recommendation": ""})
    assert "Confidential assessment." in text_of(case.browser(case.applicant).get(
        f"/applications/{ref}"))
    provider_view = text_of(case.browser(case.provider).get(f"/applications/{ref}"))
    assert "Expert opinion" in provider_view
    assert "Confidential assessment." not in provider_view


def test_only_allowed_actions_are_offered(case):
    ref = file_application(case)
    act(case, case.applicant, ref, "submit")
    applicant = case.browser(case.applicant).get(f"/applications/{ref}").get_data(as_text=True)
    assert f"/applications/{ref}/act/withdraw" in applicant
    assert f"/applications/{ref}/act/accept_complete" not in applicant
    official = case.browser(case.provincial).get(f"/applications/{ref}").get_data(as_text=True)
    assert f"/applications/{ref}/act/accept_complete" in official
    assert f"/applications/{ref}/act/return_incomplete" in official
    assert f"/applications/{ref}/act/approve" not in official
    assert f"/applications/{ref}/act/withdraw" not in official


# --- the agreement as a document and notifications --------------------------------------------


def test_the_agreement_pdf_downloads(case):
    ref = file_application(case, tk_records="")
    to_agreement(case, ref)
    propose(case, case.applicant, ref)
    pdf = case.browser(case.provider).get(f"/applications/{ref}/agreement.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    disposition = pdf.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"{ref}-agreement-r1.pdf" in disposition


def test_each_party_is_told_when_it_is_their_turn(case):
    ref = file_application(case)
    assert "0 unread" in text_of(case.browser(case.provincial).get("/notifications"))
    act(case, case.applicant, ref, "submit")
    inbox = case.browser(case.provincial).get("/notifications")
    assert f"Application {ref} was submitted" in text_of(inbox)
    assert "1 unread" in text_of(inbox)
    assert f'href="/applications/{ref}"' in inbox.get_data(as_text=True)

    act(case, case.provincial, ref, "accept_complete")
    steward_inbox = case.browser(case.steward).get("/notifications")
    assert f"Your consent is asked for application {ref}" in text_of(steward_inbox)
    anchor = re.search(r'href="/consents#(\d+)"', steward_inbox.get_data(as_text=True)).group(1)
    assert f'id="{anchor}"' in case.browser(case.steward).get("/consents").get_data(as_text=True)
    assert ref not in text_of(case.browser(case.national).get("/consents"))

    read = case.browser(case.steward).post("/notifications/read")
    assert read.status_code == 302
    assert "0 unread" in text_of(case.browser(case.steward).get("/notifications"))

    for party in (case.provider, case.steward):
        page = case.browser(party).get("/consents")
        consent_id = re.search(r'id="consent-(\d+)"', page.get_data(as_text=True)).group(1)
        case.browser(party).post(f"/applications/{ref}/consents/{consent_id}",
                                 data={"grant": "true"})
    assert f"Every consent for {ref} is given" in text_of(
        case.browser(case.applicant).get("/notifications"))
    propose(case, case.applicant, ref)
    assert f"Revision 1 of the agreement for {ref} was proposed" in text_of(
        case.browser(case.steward).get("/notifications"))


def test_the_pages_speak_chinese_to_a_chinese_reader(case):
    ref = file_application(case)
    case.world.accounts.set_locale(case.applicant, "zh_Hans_CN")
    case.world.accounts.set_locale(case.provincial, "zh_Hans_CN")
    act(case, case.applicant, ref, "submit")
    for user, url in ((case.applicant, f"/applications/{ref}"), (case.applicant, "/applications"),
                      (case.applicant, "/applications/new"),
                      (case.provincial, "/applications/queue"),
                      (case.provincial, "/notifications")):
        page = case.browser(user).get(url)
        assert page.status_code == 200
        assert page.get_data(as_text=True).count("lang=\"zh-Hans\"") >= 1
    page = text_of(case.browser(case.applicant).get(f"/applications/{ref}"))
    assert "What you can do" not in page and "History" not in page
    assert "已提交" in page and "可执行的操作" in page
    assert f"申请 {ref}" in text_of(case.browser(case.provincial).get("/notifications"))
