"""The community's controls over JSON: the body, attachments, grants, the access log, prior art.

A body, or an attachment, that the caller may not read answers 404 exactly as a reference
that was never issued (auth.permissions.require_body).
"""

from __future__ import annotations

from flask import send_file
from flask_smorest import Blueprint
from marshmallow import RAISE

from abs_registry.auth.identity import login_required
from abs_registry.tk import schemas as s
from abs_registry.tk.labels import LABELS
from abs_registry.tk.service import PriorArtQuery
from abs_registry.web import context

blp = Blueprint("tk_api", __name__, url_prefix="/api/v1",
                description="Traditional knowledge: the body, grants, access log, prior art")
BEARER = [{"bearerAuth": []}]
BASE = "/traditional-knowledge/<reference>"


@blp.route(f"{BASE}/body", methods=["GET"])
@blp.doc(security=BEARER)
@blp.response(200, s.TKBodyOut)
def body(reference):
    """The protected body; every read of a restricted or secret one is logged."""
    return context.tk().body(context.actor(), reference, via="api")


@blp.route(f"{BASE}/attachments", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.TKUploadIn, location="files")
@blp.arguments(s.TKUploadLanguage, location="query", unknown=RAISE)
@blp.response(201, s.TKAttachmentOut)
def upload_attachment(files, query, reference):
    """Add an image, recording or document to the body (stewards, while editable)."""
    upload = files["file"]
    return context.tk().add_attachment(context.actor(), reference, upload.stream,
                                       upload.filename, query["language"])


@blp.route(f"{BASE}/attachments/<int:attachment_id>", methods=["GET"])
@blp.doc(security=BEARER)
def download_attachment(reference, attachment_id):
    found, path = context.tk().attachment(context.actor(), reference, attachment_id, via="api")
    return send_file(path, mimetype=found.content_type, as_attachment=True,
                     download_name=found.filename, max_age=0)


@blp.route(f"{BASE}/grants", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.GrantOut(many=True))
def grants(reference):
    """Every grant of access to the body, newest first, withdrawn and expired ones too."""
    return context.tk().grants(context.actor(), reference)


@blp.route(f"{BASE}/grants", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.GrantIn)
@blp.response(201, s.GrantOut)
def grant(data, reference):
    """Let a named user (e-mail) or organization (name) read the body until ends_on."""
    return context.tk().grant(context.actor(), reference, data)


@blp.route(f"{BASE}/grants/<int:grant_id>/withdraw", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.GrantOut)
def withdraw_grant(reference, grant_id):
    return context.tk().withdraw_grant(context.actor(), reference, grant_id)


@blp.route(f"{BASE}/access-log", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.AccessLogQuery, location="query", unknown=RAISE)
@blp.response(200, s.AccessLogOut)
def access_log(query, reference):
    """Who read the body, and who found the record as prior art: for the community only."""
    _decl, items, has_next = context.tk().access_log(context.actor(), reference, query["page"])
    return {"items": items, "page": query["page"], "has_next": has_next}


@blp.route("/traditional-knowledge/prior-art", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.PriorArtQueryIn, location="query", unknown=RAISE)
@blp.response(200, s.PriorArtHitOut(many=True))
def prior_art(query):
    """Officials and patent examiners: does matching knowledge exist, and whom to ask?"""
    return context.tk().prior_art(context.actor(), PriorArtQuery(**query), via="api")


@blp.route("/tk-labels", methods=["GET"])
@blp.response(200, s.LabelDefOut(many=True))
def labels():
    """The labels a community may apply, with the registry's default texts."""
    return list(LABELS.values())
