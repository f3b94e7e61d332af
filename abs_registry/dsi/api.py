"""Sequences of DSI declarations over JSON: upload a file, list fingerprints, fetch FASTA."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE

from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.dsi import schemas as s
from abs_registry.dsi.service import as_fasta
from abs_registry.web import context

blp = Blueprint("dsi_api", __name__, url_prefix="/api/v1",
                description="Sequences declared with DSI: files, fingerprints, FASTA")
BEARER = [{"bearerAuth": []}]
LISTED = s.SequenceOut()


@blp.route("/declarations/<reference>/sequences", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.SequenceFileIn, location="files")
@blp.response(201, s.UploadOut)
def upload_sequences(files, reference):
    """Add a FASTA or GenBank file (also gzip) to a draft or returned DSI declaration."""
    upload = files["file"]
    return context.sequences().upload(context.actor(), reference, upload.stream,
                                      upload.filename)


@blp.route("/declarations/<reference>/sequences", methods=["GET"])
@blp.doc(security=BEARER)
@blp.arguments(s.SequenceQuery, location="query", unknown=RAISE)
@blp.response(200, s.SequencePageOut)
def list_sequences(query, reference):
    """The declaration's sequences with their fingerprints, in upload order."""
    service, actor = context.sequences(), context.actor()
    decl, page = service.page(actor, reference, query["page"], query["per_page"])
    with_residues = query["include"] == "sequence"
    if with_residues:
        perm.require_view_sequences(actor, decl)
    items = []
    for sequence in page.items:
        item = LISTED.dump(sequence)
        if with_residues:
            item["residues"] = sequence.residues
        items.append(item)
    return {"items": items, "total": page.total, "page": page.page, "per_page": page.per_page}


@blp.route("/declarations/<reference>/sequences/<path:identifier>/fasta", methods=["GET"])
@blp.doc(security=BEARER)
def sequence_fasta(reference, identifier):
    """One sequence as FASTA, for those who may see the residues."""
    sequence = context.sequences().sequence(context.actor(), reference, identifier)
    return fasta_response(sequence)


def fasta_response(sequence) -> Response:
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in sequence.identifier)
    return Response(as_fasta(sequence), mimetype="text/x-fasta", headers={
        "Content-Disposition": f'attachment; filename="{safe_name}.fasta"'})
