"""HTML routes for sequences: add a file to a declaration, download one sequence as FASTA.

The list itself is part of the declaration's page (declarations/views.py, dsi/section.py).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _

from abs_registry.auth.identity import login_required
from abs_registry.declarations.views import render_show
from abs_registry.dsi.api import fasta_response
from abs_registry.errors import Conflict, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.web import context, forms

bp = Blueprint("dsi", __name__)


@bp.post("/declarations/<reference>/sequences")
@login_required
def upload(reference: str):
    """Add a sequence file; the page shows the upload's progress while it is sent."""
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise ValidationError({"file": [N_("Choose a FASTA or GenBank file.")]})
        added = context.sequences().upload(context.actor(), reference, file.stream,
                                           file.filename)
    except (ValidationError, Conflict) as exc:
        return render_show(reference, forms.errors_of(exc), "add_sequences", exc.status)
    flash(_("%(count)s sequences from %(file)s are added.", count=added.sequence_count,
            file=added.filename))
    return redirect(url_for("declarations.show", reference=reference) + "#sequences")


@bp.get("/declarations/<reference>/sequences/<path:identifier>/fasta")
def fasta(reference: str, identifier: str):
    return fasta_response(context.sequences().sequence(context.actor(), reference, identifier))
