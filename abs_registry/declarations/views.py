"""HTML pages for declarations: forms, the record with its history, the review queue, the register."""

from __future__ import annotations

from functools import cache

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError as SchemaError
from marshmallow import fields
from sqlalchemy import select

from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.auth.models import Organization, OrgKind
from abs_registry.declarations import schemas as s
from abs_registry.declarations import search
from abs_registry.declarations.models import Declaration, Kind
from abs_registry.dsi.section import section
from abs_registry.errors import StaleVersion, ValidationError
from abs_registry.tk import views as tk_forms
from abs_registry.tk.labels import LABELS as TK_LABELS
from abs_registry.tk.service import shown_labels
from abs_registry.web import context, forms, labels

bp = Blueprint("declarations", __name__)

FORMS = {
    "genetic-resource": (Kind.GENETIC_RESOURCE, s.GeneticResourceIn, s.GeneticResourceOut, ()),
    "dsi": (Kind.DSI, s.DSIIn, s.DSIOut, ("source_resources", "accessions")),
    "traditional-knowledge": (
        Kind.TRADITIONAL_KNOWLEDGE, s.TraditionalKnowledgeIn, s.TraditionalKnowledgeOut,
        ("associated_species", "associated_resources"),
    ),
}
PATH_OF_KIND = {kind: path for path, (kind, *_rest) in FORMS.items()}


def _form_or_404(kind_path: str):
    if kind_path not in FORMS:
        abort(404)
    return FORMS[kind_path]


def _render_form(kind_path: str, values: dict, errors: dict, decl: Declaration | None = None,
                 status: int = 200):
    return render_template("declarations/form.html", kind_path=kind_path,
                           kind=FORMS[kind_path][0], values=values, errors=errors,
                           decl=decl, tk_labels=TK_LABELS,
                           translation_slots=range(tk_forms.TRANSLATION_SLOTS)), status


def _values_of(decl: Declaration, out_schema, list_fields) -> dict:
    if decl.kind == Kind.TRADITIONAL_KNOWLEDGE:
        return tk_forms.form_values(decl)
    values = out_schema().dump(decl)
    for name in list_fields:
        values[name] = "\n".join(values.get(name) or [])
    return {k: ("" if v is None else v) for k, v in values.items()}


def _read(kind: Kind, schema, list_fields) -> tuple[dict, dict]:
    """TK forms carry nested translations and labels; the others are flat."""
    if kind is Kind.TRADITIONAL_KNOWLEDGE:
        return tk_forms.read_form(schema)
    return forms.read(schema, list_fields)


@bp.route("/declarations/new/<kind_path>", methods=["GET", "POST"])
@login_required
def new(kind_path: str):
    kind, schema, _out, list_fields = _form_or_404(kind_path)
    service = context.declarations()
    if request.method == "GET":
        return _render_form(kind_path, {}, {})
    values = dict(request.form)
    upload = request.files.get("file") if kind is Kind.DSI else None
    try:
        values, data = _read(kind, schema(), list_fields)
        if upload is not None and upload.filename:  # a DSI record and its sequences at once
            decl = context.sequences().declare_with_sequences(
                context.actor(), data, upload.stream, upload.filename)
        else:
            decl = service.create(context.actor(), kind, data)
    except ValidationError as exc:
        return _render_form(kind_path, values, forms.errors_of(exc), status=422)
    if request.form.get("intent") == "submit":
        service.transition(context.actor(), decl.reference, "submit")
        flash(_("Declaration %(ref)s is submitted for review.", ref=decl.reference))
    else:
        flash(_("Draft %(ref)s is saved.", ref=decl.reference))
    return redirect(url_for("declarations.show", reference=decl.reference))


@cache
def _edit_form(schema):
    """The edit form also carries the version it was read at; the service checks it."""
    return schema.from_dict({"version": fields.Raw(load_default=None)},
                            name=f"{schema.__name__}Edit")


@bp.route("/declarations/<reference>/edit", methods=["GET", "POST"])
@login_required
def edit(reference: str):
    service = context.declarations()
    decl = service.get(context.actor(), reference)
    kind_path = PATH_OF_KIND[Kind(decl.kind)]
    _kind, schema, out_schema, list_fields = FORMS[kind_path]
    if "edit" not in service.allowed_actions(context.actor(), decl):
        flash(_("This declaration cannot be edited now."))
        return redirect(url_for("declarations.show", reference=reference))
    if request.method == "GET":
        values = _values_of(decl, out_schema, list_fields)
        values["version"] = decl.version
        return _render_form(kind_path, values, {}, decl)
    values = dict(request.form)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = None
    try:
        values, data = _read(Kind(decl.kind), _edit_form(schema)(), list_fields)
        data["version"] = version
        service.update(context.actor(), reference, data)
    except (ValidationError, StaleVersion) as exc:
        # a stale version keeps what was typed, with the message at the top of the form
        return _render_form(kind_path, values, forms.errors_of(exc), decl, status=exc.status)
    if request.form.get("intent") == "submit":
        service.transition(context.actor(), reference, "submit")
        flash(_("Declaration %(ref)s is submitted for review.", ref=reference))
    else:
        flash(_("Changes to %(ref)s are saved.", ref=reference))
    return redirect(url_for("declarations.show", reference=reference))


def _tk_parts(decl: Declaration) -> dict:
    """Labels for everyone who sees the record; the body only for whom may read it (the
    read is logged by the TK service)."""
    if decl.kind != Kind.TRADITIONAL_KNOWLEDGE:
        return {}
    actor, tk = context.actor(), context.tk()
    body = tk.body(actor, decl.reference, via="page") if tk.may_read_body(actor, decl) else None
    return {"tk_labels": shown_labels(decl), "body": body,
            "is_steward": perm.is_declarant(actor, decl),
            "in_community": perm.in_organization(actor, decl)}


@bp.get("/declarations/<reference>")
def show(reference: str):
    return render_show(reference)


def render_show(reference: str, errors: dict | None = None, failed_action: str | None = None,
                status: int = 200):
    """The declaration's page, with a failed form's messages where that form is."""
    service, actor = context.declarations(), context.actor()
    decl = service.get(actor, reference)
    kind_path = PATH_OF_KIND[Kind(decl.kind)]
    return render_template(
        "declarations/show.html", decl=decl,
        details=FORMS[kind_path][2]().dump(decl),
        history=service.history(actor, reference),
        allowed=service.allowed_actions(actor, decl),
        sequences=section(context.sequences(), actor, decl,
                          request.args.get("sequences_page", 1, type=int)),
        errors=errors or {}, failed_action=failed_action, **_tk_parts(decl),
    ), status


@bp.post("/declarations/<reference>/act/<action>")
@login_required
def act(reference: str, action: str):
    service = context.declarations()
    try:
        service.transition(context.actor(), reference, action,
                           request.form.get("comment"),
                           int(request.form["version"]) if request.form.get("version") else None)
    except ValidationError as exc:
        return render_show(reference, forms.errors_of(exc), action, 422)
    flash(_("Done: %(action)s.", action=labels.label(action)))
    return redirect(url_for("declarations.show", reference=reference))


@bp.post("/declarations/<reference>/amend")
@login_required
def amend(reference: str):
    new = context.declarations().amend(context.actor(), reference)
    flash(_("Amendment %(ref)s is open as a draft.", ref=new.reference))
    return redirect(url_for("declarations.edit", reference=new.reference))


@bp.get("/review")
@login_required
def review_queue():
    return render_template("declarations/queue.html",
                           queue=context.declarations().review_queue(context.actor()))


@bp.get("/register")
def register():
    args = {k: v for k, v in request.args.items() if v.strip()}
    errors: dict = {}
    page = None
    try:
        query = s.RegisterQuery().load(args)
        page = search.search(context.db(), search.RegisterQuery(**query))
    except SchemaError as exc:
        errors = forms.errors_of(ValidationError(exc.messages))
    holders = context.db().scalars(
        select(Organization).where(Organization.kind != OrgKind.AUTHORITY)
        .order_by(Organization.name).limit(500)
    )
    holder_options = [(str(o.id), o.name) for o in holders]
    return render_template("declarations/register.html", page=page, args=args, errors=errors,
                           holder_options=holder_options), 422 if errors else 200
