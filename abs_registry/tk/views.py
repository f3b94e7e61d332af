"""HTML pages for the community's controls: grants, the access log, attachments of the body,
and the prior-art look-up; plus reading the TK part of the declaration form."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError as SchemaError

from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.errors import DomainError, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.tk import schemas as s
from abs_registry.tk.service import PriorArtQuery, shown_labels, today
from abs_registry.web import context, forms

bp = Blueprint("tk", __name__)
TRANSLATION_SLOTS = 3
LABEL_LANGUAGES = ("zh", "en", "own")  # "own": the community's language, if it has one
NOT_DATA = {"csrf_token", "intent", "version", "label"}


# --- the TK part of the declaration form ---------------------------------------------------


def form_data(form) -> dict:
    """The nested TK payload from the flat form: translation slots and label checkboxes.

    A translation slot left without title and text is not a translation; a label's adapted
    text per language is kept only where the community wrote one.
    """
    data = {k: v.strip() for k, v in form.items()
            if k not in NOT_DATA and not k.startswith(("tr-", "label-")) and v.strip() != ""}
    for name in ("associated_species", "associated_resources"):
        data[name] = [line.strip() for line in form.get(name, "").splitlines() if line.strip()]
    if "community_language" in form and not form["community_language"].strip():
        data["community_language"] = None
    data["translations"] = []
    for i in range(TRANSLATION_SLOTS):
        entry = {f: form.get(f"tr-{i}-{f}", "").strip() for f in ("language", "title",
                                                                    "description")}
        if entry["title"] or entry["description"]:
            data["translations"].append({k: v for k, v in entry.items() if v})
    own = data.get("community_language")
    data["labels"] = []
    for code in form.getlist("label"):
        texts = {}
        for lang in LABEL_LANGUAGES:
            text = form.get(f"label-{code}-{lang}", "").strip()
            language = own if lang == "own" else lang
            if text and language:
                texts[language] = text
        data["labels"].append({"code": code, "texts": texts})
    return data


def read_form(schema) -> tuple[dict, dict]:
    """(values to show again, validated data), as web/forms.read does for flat forms."""
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    values["label"] = request.form.getlist("label")
    try:
        return values, schema.load(form_data(request.form))
    except SchemaError as exc:
        raise ValidationError(exc.messages) from exc


def form_values(decl) -> dict:
    """The form's inputs for an existing record (its body included: only stewards edit)."""
    values = {
        "title": decl.tk_title, "description": decl.description, "domain": decl.domain.value,
        "associated_species": "\n".join(decl.associated_species),
        "associated_resources": "\n".join(r.reference for r in decl.associated_resources),
        "visibility": decl.visibility.value, "language": decl.language,
        "community_language": decl.community_language or "",
        "label": [label.code for label in decl.labels],
    }
    for i, t in enumerate(decl.translations[:TRANSLATION_SLOTS]):
        values.update({f"tr-{i}-language": t.language, f"tr-{i}-title": t.title,
                       f"tr-{i}-description": t.description or ""})
    for label in decl.labels:
        for lang, text in label.texts.items():
            slot = lang if lang in ("zh", "en") else "own"
            values[f"label-{label.code}-{slot}"] = text
    return values


# --- the body's attachments ----------------------------------------------------------------


@bp.post("/traditional-knowledge/<reference>/attachments")
@login_required
def attach(reference: str):
    upload = request.files.get("file")
    language = request.form.get("language", "").strip() or None
    try:
        if upload is None or not upload.filename:
            raise ValidationError({"file": [N_("Choose a file to attach.")]})
        try:
            language = s.TKUploadLanguage().load({"language": language})["language"]
        except SchemaError as exc:
            raise ValidationError(exc.messages) from exc
        context.tk().add_attachment(context.actor(), reference, upload.stream,
                                    upload.filename, language)
    except ValidationError as exc:
        flash("; ".join(m for ms in forms.errors_of(exc).values() for m in ms))
        return redirect(url_for("declarations.show", reference=reference), 303)
    flash(_("The file is attached to the protected body."))
    return redirect(url_for("declarations.show", reference=reference))


@bp.get("/traditional-knowledge/<reference>/attachments/<int:attachment_id>")
def attachment(reference: str, attachment_id: int):
    found, path = context.tk().attachment(context.actor(), reference, attachment_id,
                                          via="page")
    return send_file(path, mimetype=found.content_type, as_attachment=True,
                     download_name=found.filename, max_age=0)


# --- grants --------------------------------------------------------------------------------


def _render_grants(reference: str, errors: dict | None = None, values: dict | None = None,
                   status: int = 200):
    service = context.tk()
    grants = service.grants(context.actor(), reference)
    decl = context.declarations().get(context.actor(), reference)
    return render_template("tk/grants.html", decl=decl, grants=grants, errors=errors or {},
                           values=values or {}, today=today()), status


@bp.get("/traditional-knowledge/<reference>/grants")
@login_required
def grants(reference: str):
    return _render_grants(reference)


@bp.post("/traditional-knowledge/<reference>/grants")
@login_required
def grant(reference: str):
    values = dict(request.form)
    try:
        values, data = forms.read(s.GrantIn())
        found = context.tk().grant(context.actor(), reference, data)
    except ValidationError as exc:
        return _render_grants(reference, forms.errors_of(exc), values, exc.status)
    flash(_("%(who)s may read the protected body until %(day)s.", who=found.grantee_name,
            day=found.ends_on.isoformat()))
    return redirect(url_for("tk.grants", reference=reference))


@bp.post("/traditional-knowledge/<reference>/grants/<int:grant_id>/withdraw")
@login_required
def withdraw_grant(reference: str, grant_id: int):
    try:
        found = context.tk().withdraw_grant(context.actor(), reference, grant_id)
    except DomainError as exc:
        if exc.status == 404 or exc.status == 403:
            raise
        return _render_grants(reference, forms.errors_of(exc), status=exc.status)
    flash(_("Access of %(who)s is withdrawn.", who=found.grantee_name))
    return redirect(url_for("tk.grants", reference=reference))


# --- the access log ------------------------------------------------------------------------


@bp.get("/traditional-knowledge/<reference>/access-log")
@login_required
def access_log(reference: str):
    try:
        page = s.AccessLogQuery().load(dict(request.args))["page"]
    except SchemaError as exc:
        raise ValidationError(exc.messages) from exc
    decl, events, has_next = context.tk().access_log(context.actor(), reference, page)
    return render_template("tk/access_log.html", decl=decl, events=events, page=page,
                           has_next=has_next)


# --- prior art -----------------------------------------------------------------------------


@bp.get("/traditional-knowledge/prior-art")
@login_required
def prior_art():
    args = {k: v for k, v in request.args.items() if v.strip()}
    errors, hits = {}, None
    if args:
        try:
            query = s.PriorArtQueryIn().load(args)
            hits = context.tk().prior_art(context.actor(), PriorArtQuery(**query), via="page")
        except SchemaError as exc:
            errors = forms.errors_of(ValidationError(exc.messages))
        except ValidationError as exc:
            errors = forms.errors_of(exc)
    else:
        perm.require_prior_art_search(context.actor())
    return render_template("tk/prior_art.html", args=args, errors=errors, hits=hits,
                           labels_of=shown_labels), 422 if errors else 200
