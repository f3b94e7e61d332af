"""Access applications over JSON: file, move through the workflow, consent, agree, review."""

from __future__ import annotations

from flask import send_file
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, post_dump

from abs_registry.applications import schemas as s
from abs_registry.applications.models import AppStatus
from abs_registry.audit.writer import PublicEvent
from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.declarations.schemas import HistoryEventOut
from abs_registry.web import context
from abs_registry.web.idempotency import idempotent

blp = Blueprint("applications_api", __name__, url_prefix="/api/v1",
                description="Access applications: consent, agreement, review and decision")
BEARER = [{"bearerAuth": []}]
MOVES = "submit, withdraw, accept_complete, return_incomplete, request_information, respond, " \
        "approve, refuse"


NOTES_OUT = s.NoteOut(many=True)  # built once, not per application of a queue page


def _only_visible(references: list[str], visible: set[str]) -> list[str]:
    return [ref for ref in references if ref in visible]


class ApplicationWithActions(s.ApplicationOut):
    allowed_actions = fields.Method("_allowed")
    notes = fields.Method("_notes", metadata={
        "description": "review notes; only officials and the applicant read them"})

    @post_dump(pass_original=True)
    def _leave_out_what_the_reader_may_not_see(self, data, app, **_):
        visible = perm.visible_subjects(context.actor(), app)
        data["resources"] = _only_visible(data["resources"], visible)
        data["tk_records"] = _only_visible(data["tk_records"], visible)
        for consent in data.get("consents") or []:
            consent["subjects"] = _only_visible(consent["subjects"], visible)
        return data

    def _allowed(self, app):
        return context.applications().allowed_actions(context.actor(), app)

    def _notes(self, app):
        if not perm.may_read_review_notes(context.actor(), app):
            return []
        return NOTES_OUT.dump(app.notes)


class QueuePage(s.Schema):
    items = fields.List(fields.Nested(ApplicationWithActions))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("/applications", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.ApplicationIn)
@blp.response(201, ApplicationWithActions)
def create(data):
    """File a draft access application (send Idempotency-Key to make retries safe)."""
    return context.applications().create(context.actor(), data)


@blp.route("/applications", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, ApplicationWithActions(many=True))
def list_own():
    """The applications of the caller's organization."""
    return context.applications().list_own(context.actor())


@blp.route("/applications/<reference>", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, ApplicationWithActions)
def read(reference):
    return context.applications().get(context.actor(), reference)


@blp.route("/applications/<reference>", methods=["PUT"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.ApplicationUpdate)
@blp.response(200, ApplicationWithActions)
def update(data, reference):
    """Edit a draft or a returned application (send the version you read)."""
    return context.applications().update(context.actor(), reference, data)


@blp.route(f"/applications/<reference>/<any({MOVES}):action>", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.MoveIn)
@blp.response(200, ApplicationWithActions)
def move(data, reference, action):
    """Move the application; a move the current state does not allow answers 409."""
    return context.applications().transition(
        context.actor(), reference, action, data["comment"], data["version"], data["missing"],
        data["attachments"])


@blp.route("/applications/<reference>/consents/<int:consent_id>", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.ConsentDecisionIn)
@blp.response(200, s.ConsentOut)
def decide_consent(data, reference, consent_id):
    """Grant (possibly with conditions) or refuse (with a reason) prior informed consent."""
    return context.applications().decide_consent(
        context.actor(), reference, consent_id, grant=data["grant"],
        conditions=data["conditions"], reason=data["reason"], version=data["version"],
        attachments=data["attachments"])


@blp.route("/applications/<reference>/agreement", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.AgreementProposalIn)
@blp.response(201, s.AgreementOut)
def propose_agreement(data, reference):
    """Propose agreement terms from a template; earlier acceptances become void."""
    return context.applications().propose_agreement(
        context.actor(), reference, template_id=data["template_id"],
        template_version=data["template_version"], values=data["values"], terms=data["terms"],
        version=data["version"])


@blp.route("/applications/<reference>/agreement/accept", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.AgreementAcceptIn)
@blp.response(200, s.AgreementOut)
def accept_agreement(data, reference):
    """Accept the exact text you read, named by its revision and SHA-256."""
    return context.applications().accept_agreement(
        context.actor(), reference, revision=data["revision"], text_sha256=data["text_sha256"])


@blp.route("/applications/<reference>/notes", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.NoteIn)
@blp.response(201, s.NoteOut)
def add_note(data, reference):
    """Add an expert opinion or a recommendation during review."""
    return context.applications().add_note(
        context.actor(), reference, kind=data["kind"], text=data["text"],
        recommendation=data["recommendation"])


@blp.route("/applications/<reference>/history", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, HistoryEventOut(many=True))
def history(reference):
    service = context.applications()
    visible = perm.visible_subjects(context.actor(), service.get(context.actor(), reference))
    return [_without_hidden_subjects(event, visible)
            for event in service.history(context.actor(), reference)]


def _without_hidden_subjects(event, visible: set[str]) -> PublicEvent:
    data = dict(event.data or {})
    if isinstance(data.get("subjects"), list):
        data["subjects"] = _only_visible(data["subjects"], visible)
    return PublicEvent(seq=event.seq, at=event.at, actor_name=event.actor_name,
                       action=event.action, from_state=event.from_state,
                       to_state=event.to_state, comment=event.comment, data=data)


class UploadIn(Schema):
    file = Upload(required=True, metadata={"description": "PDF, PNG or JPEG, at most 10 MB"})


class AttachmentOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()


@blp.route("/applications/<reference>/attachments", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(UploadIn, location="files")
@blp.response(201, AttachmentOut)
def upload_attachment(files, reference):
    """Attach a document (consent document, missing paper, opinion); name it in a later move."""
    app = context.applications().get(context.actor(), reference)
    upload = files["file"]
    return context.attachments().add(context.actor(), app, upload.stream, upload.filename)


@blp.route("/applications/<reference>/attachments/<int:attachment_id>", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
def download_attachment(reference, attachment_id):
    app = context.applications().get(context.actor(), reference)
    attachment, path = context.attachments().get(context.actor(), app, attachment_id)
    return send_file(path, mimetype=attachment.content_type, as_attachment=True,
                     download_name=attachment.filename, max_age=0)


@blp.route("/application-queue", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.QueueQuery, location="query")
@blp.response(200, QueuePage)
def queue(query):
    """Applications waiting for officials (completeness check and review), oldest first."""
    status = AppStatus(query["status"]) if query["status"] else None
    items, total = context.applications().queue(context.actor(), status, page=query["page"],
                                                per_page=query["per_page"], details=True)
    return {"items": items, "total": total, "page": query["page"],
            "per_page": query["per_page"]}


@blp.route("/consents", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.ConsentOut(many=True))
def consent_queue():
    """Consent requests waiting for the caller's organization."""
    return context.applications().consent_queue(context.actor())
