"""Tracing over JSON: POST /api/v1/dsi/trace with pasted FASTA or a sequence file.

The body is either JSON ``{"fasta": "...", "molecule_type": "dna", "min_containment": 0.15}``
or multipart/form-data with the file as ``file`` and the same options as form fields.
"""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from abs_registry.auth.identity import login_required
from abs_registry.declarations.models import MoleculeType
from abs_registry.dsi.tracing import DEFAULT_MIN_CONTAINMENT, TraceService
from abs_registry.errors import ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.web import context

blp = Blueprint("dsi_trace_api", __name__, url_prefix="/api/v1",
                description="Trace sequences back to registered DSI, resources and permits")
BEARER = [{"bearerAuth": []}]


class TraceOptions(Schema):
    molecule_type = fields.Enum(MoleculeType, by_value=True, load_default=MoleculeType.DNA,
                                metadata={"description": "of every query record"})
    min_containment = fields.Float(
        load_default=DEFAULT_MIN_CONTAINMENT, validate=validate.Range(min=0.01, max=1),
        metadata={"description": "report approximate hits whose region or registered "
                                 "containment reaches this"})


class TraceIn(TraceOptions):
    fasta = fields.String(required=True, validate=validate.Length(min=1),
                          metadata={"description": "one or more FASTA records"})


class TraceOut(Schema):
    queries = fields.List(fields.Dict(), metadata={
        "description": "per query record: identifier, length, sha256, seguid, exact and "
                       "approximate hits (each with its declaration, resources, permits and "
                       "flag), and the query's flag"})


def form_options(form) -> dict:
    """The options sent as form fields (multipart API call or the page); blanks take defaults."""
    return TraceOptions().load({k: v for k, v in form.items()
                                if k in TraceOptions().fields and v not in ("", None)})


def run_trace(service: TraceService, actor, options: dict, text: str | None, upload) -> list:
    """Shared by the API and the page: the file if one was sent, else the pasted text."""
    if upload is not None and upload.filename:
        return service.trace_file(actor, upload.stream, upload.filename,
                                  options["molecule_type"], options["min_containment"])
    if not (text or "").strip():
        raise ValidationError({"fasta": [N_("Paste FASTA text or choose a sequence file.")]})
    return service.trace_text(actor, text, options["molecule_type"], options["min_containment"])


@blp.route("/dsi/trace", methods=["POST"])
@login_required
@blp.doc(security=BEARER, requestBody={"content": {
    "application/json": {"schema": TraceIn},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"},
        "molecule_type": {"type": "string", "enum": [m.value for m in MoleculeType]},
        "min_containment": {"type": "number"}}}}}})
@blp.response(200, TraceOut)
def trace():
    """Which registered sequences, resources and permits do these sequences come from?"""
    service = TraceService(context.db())
    if request.is_json:
        data = TraceIn().load(request.get_json())
        return {"queries": run_trace(service, context.actor(), data, data["fasta"], None)}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError({"file": [N_(
            "Send a FASTA file as the multipart field 'file', or JSON {\"fasta\": \"...\"}.")]})
    return {"queries": run_trace(service, context.actor(), form_options(request.form), None,
                                 upload)}
