"""The tracing page, /dsi/trace: paste FASTA or choose a file, read the hits in a table.

A thin view over ``TraceService`` (the same call as the API); a refusal shows its message
beside the field and keeps what was pasted.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_pgettext as _p
from marshmallow import ValidationError as SchemaError

from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.declarations.models import MoleculeType
from abs_registry.dsi.trace_api import form_options, run_trace
from abs_registry.dsi.tracing import DEFAULT_MIN_CONTAINMENT, TraceService
from abs_registry.errors import DomainError
from abs_registry.web import context, forms, localize

bp = Blueprint("dsi_trace", __name__)

PERMIT_STATUS = {
    "valid": _p("permit", "Valid"),
    "suspended": _p("permit", "Suspended"),
    "revoked": _p("permit", "Revoked"),
    "expired": _p("permit", "Expired"),
}


@bp.route("/dsi/trace", methods=["GET", "POST"])
@login_required
def trace():
    actor = context.actor()
    perm.require_trace(actor)
    values = {"molecule_type": MoleculeType.DNA.value,
              "min_containment": DEFAULT_MIN_CONTAINMENT}
    if request.method == "GET":
        return _render(values)
    values.update({k: v for k, v in request.form.items() if k != "csrf_token"})
    try:
        options = form_options(request.form)
        results = run_trace(TraceService(context.db()), actor, options,
                            request.form.get("fasta"), request.files.get("file"))
    except SchemaError as exc:
        return _render(values, localize.errors(exc.messages), status=422)
    except DomainError as exc:
        return _render(values, forms.errors_of(exc), status=exc.status)
    return _render(values, results=results)


def _render(values: dict, errors: dict | None = None, results: list | None = None,
            status: int = 200):
    return render_template("dsi/trace.html", values=values, errors=errors or {},
                           results=results, molecule_types=list(MoleculeType),
                           permit_status=PERMIT_STATUS), status
