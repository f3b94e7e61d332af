"""Pages for movements of material: a permit's movements and allowances (holder, officials,
checkpoints), the exit and return form, the checkpoint's look-up with confirm and stop, and
transfers and changes of use. Thin views over the services; every rule lives there.

A refused form answers 422 (bad input) or 409 (the permit or the movement does not allow
it) with the message beside the field and the reader's input kept; nothing is stored.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from abs_registry.applications.schemas import COUNTRIES
from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.errors import Conflict, NotFound, ValidationError
from abs_registry.movements import schemas as s
from abs_registry.movements.checkpoints import DECISIONS
from abs_registry.movements.models import Direction
from abs_registry.web import context, forms, labels

bp = Blueprint("movements", __name__)

UNITS = ("mg", "g", "kg", "ul", "ml", "l", "items")


def _countries() -> list[tuple[str, str]]:
    return sorted(((code, name) for code, name in get_locale().territories.items()
                   if code in COUNTRIES), key=lambda item: item[1])


# --- a permit's movements -------------------------------------------------------------------


@bp.get("/permits/<number>/movements")
@login_required
def permit(number: str):
    return _render_permit(number)


def _render_permit(number: str, errors: dict | None = None, values: dict | None = None,
                   failed: str | None = None, status: int = 200):
    actor = context.actor()
    found = context.movements().movements(actor, number)
    return render_template(
        "movements/permit.html", found=found, errors=errors or {}, values=values or {},
        failed=failed, is_holder=perm.is_permit_holder(actor, found.permit),
        materials=_materials(found),
        purposes=[(p, labels.label(p)) for p in ("commercial", "both")]), status


def _materials(found) -> list[tuple[str, str]]:
    return [(r.reference, f"{r.reference} · {r.scientific_name}") for r in found.permit.resources]


@bp.route("/permits/<number>/movements/new", methods=["GET", "POST"])
@login_required
def record(number: str):
    actor = context.actor()
    found = context.movements().movements(actor, number)
    perm.require_permit_holder(actor, found.permit)
    direction = request.values.get("direction", Direction.EXIT.value)
    if direction not in {d.value for d in Direction}:
        abort(404)
    if request.method == "GET":
        return _render_form(found, direction, _defaults(found, direction), {})
    values = dict(request.form)
    try:
        values, data = forms.read(s.MovementIn())
        movement = context.movements().record(actor, data)
    except (ValidationError, Conflict) as exc:
        return _render_form(context.movements().movements(actor, number), direction, values,
                            forms.errors_of(exc), exc.status)
    flash(_("Movement %(ref)s is recorded.", ref=movement.reference))
    return redirect(url_for("movements.permit", number=number))


def _defaults(found, direction: str) -> dict:
    first = found.permit.exits[0] if found.permit.exits else None
    values = {"permit": found.permit.number, "direction": direction,
              "material": first.resource.reference if first else "",
              "unit": first.unit.value if first else ""}
    if direction == Direction.EXIT.value:
        values.update(origin_country="CN",
                      destination_country=first.destination_country if first else "",
                      recipient=first.recipient if first else "")
    else:
        values.update(destination_country="CN",
                      origin_country=first.destination_country if first else "")
    return values


def _render_form(found, direction: str, values: dict, errors: dict, status: int = 200):
    return render_template(
        "movements/form.html", found=found, direction=direction, values=values, errors=errors,
        countries=_countries(), units=[(u, labels.label(u)) for u in UNITS],
        materials=_materials(found)), status


@bp.post("/permits/<number>/transfers")
@login_required
def transfer(number: str):
    values = dict(request.form)
    try:
        values, data = forms.read(s.TransferIn())
        change = context.uses().request_transfer(context.actor(), number, data)
    except (ValidationError, Conflict) as exc:
        return _render_permit(number, forms.errors_of(exc), values, "transfer", exc.status)
    flash(_("The transfer of %(material)s to %(party)s is recorded.",
            material=change.resource.reference, party=change.third_party))
    return redirect(url_for("movements.permit", number=number))


@bp.post("/permits/<number>/change-of-use")
@login_required
def change_of_use(number: str):
    values = dict(request.form)
    try:
        values, data = forms.read(s.ChangeOfUseIn())
        change = context.uses().change_use(context.actor(), number, data)
    except (ValidationError, Conflict) as exc:
        return _render_permit(number, forms.errors_of(exc), values, "change_of_use",
                              exc.status)
    flash(_("The change of use is recorded, covered by permit %(permit)s.",
            permit=change.covering_permit.label))
    return redirect(url_for("movements.permit", number=number))


# --- the checkpoint -------------------------------------------------------------------------


@bp.get("/checkpoint")
@login_required
def checkpoint():
    perm.require_checkpoint_lookup(context.actor())
    query = request.args.get("q", "").strip()
    if not query:
        return _render_checkpoint(None, {}, {})
    return _render_checkpoint(query, {}, {})


def _render_checkpoint(query: str | None, errors: dict, values: dict, failed: str | None = None,
                       status: int = 200):
    actor = context.actor()
    found, lookup_errors = None, {}
    if query:
        try:
            found = context.movements().lookup(actor, query)
        except ValidationError as exc:
            lookup_errors, status = forms.errors_of(exc), exc.status
        except NotFound:
            lookup_errors = {"q": [_("No permit has this number.")]}
            status = 404 if status == 200 else status
    return render_template(
        "movements/checkpoint.html", query=query or "", found=found,
        errors={**lookup_errors, **errors}, values=values, failed=failed,
        may_decide=perm.is_checkpoint_officer(actor)), status


@bp.post("/movements/<reference>/<action>")
@login_required
def decide(reference: str, action: str):
    if action not in DECISIONS:
        abort(404)
    actor = context.actor()
    movement = context.movements().get(actor, reference)
    values = dict(request.form)
    try:
        values, data = forms.read(s.CheckpointDecisionIn())
        found = context.checkpoints().decide(
            actor, reference, action, persons_at_checkpoint=data["persons_at_checkpoint"],
            reason=data["reason"])
    except (ValidationError, Conflict) as exc:
        return _render_checkpoint(movement.permit_number, forms.errors_of(exc), values,
                                  reference, exc.status)
    flash(_("Movement %(ref)s: %(decision)s. Checkpoint communiqué %(communique)s.",
            ref=reference, decision=labels.label(found.decision), communique=found.reference))
    return redirect(url_for("movements.checkpoint", q=movement.permit_number))


@bp.get("/communiques/<reference>.json")
@login_required
def communique(reference: str):
    """The communiqué as JSON in the ABS Clearing-House's field names, to download."""
    found = context.checkpoints().communique(context.actor(), reference)
    response = jsonify(found.document)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.reference}.json"'
    return response
