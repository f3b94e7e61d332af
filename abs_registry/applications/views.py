"""HTML pages of the access-application workflow, for applicants, providers, communities and
officials: thin views over ``ApplicationService``; every rule lives in the service.

Forms are read through the API's marshmallow schemas. HTML sends every value as text, so the
form variants below only accept a version or revision number written as text; nothing else
differs. A refused form answers 422 (bad input) or 409 (the application moved on meanwhile)
with the message beside the field and the reader's input kept; nothing is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from babel import Locale
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError as SchemaError
from marshmallow import validate
from sqlalchemy import select

from abs_registry import agreements, regions
from abs_registry.applications import schemas as s
from abs_registry.applications import states
from abs_registry.applications.models import Application, AppStatus, NoteKind
from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.declarations.models import GeneticResource, Status, TKRecord
from abs_registry.declarations.schemas import WholeNumber
from abs_registry.errors import Conflict, DomainError, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.web import context, forms, labels

bp = Blueprint("applications", __name__)

LIST_FIELDS = ("resources", "tk_records")
PICKER_LIMIT = 500
# Errors the service reports about the application as a whole, not about one input.
GENERAL = ("_schema", "status", "version", "consents", "agreement", "revision", "text_sha256",
           "national_review_required", "own_application", "party_to_application", "applicant",
           "role", "party", "consenting_party", "reviewer")
# The moves of states.ACTIONS in the order the actions card shows them.
MOVE_ORDER = ("submit", "accept_complete", "return_incomplete", "request_information", "respond",
              "approve", "refuse", "withdraw")


class ApplicationUpdateForm(s.ApplicationUpdate):
    version = WholeNumber(required=True)


class MoveForm(s.MoveIn):
    version = WholeNumber(load_default=None, allow_none=True)


class ConsentForm(s.ConsentDecisionIn):
    version = WholeNumber(load_default=None, allow_none=True)


class AcceptForm(s.AgreementAcceptIn):
    revision = WholeNumber(required=True)


class ProposalForm(s.AgreementProposalIn):
    template_version = WholeNumber(required=True, validate=validate.Range(min=1))
    version = WholeNumber(load_default=None, allow_none=True)


# --- the applicant's list and forms ---------------------------------------------------------


@bp.get("/applications")
@login_required
def index():
    apps = context.applications().list_own(context.actor())
    return render_template("applications/index.html", apps=apps)


@bp.route("/applications/new", methods=["GET", "POST"])
@login_required
def new():
    actor = context.actor()
    perm.require_can_apply(actor)
    if request.method == "GET":
        return _render_form({}, {})
    values = dict(request.form)
    try:
        values, data = forms.read(s.ApplicationIn(), LIST_FIELDS)
        app = context.applications().create(actor, data)
    except ValidationError as exc:
        return _render_form(values, forms.errors_of(exc), status=422)
    return _saved(app.reference, _("Draft %(ref)s is saved.", ref=app.reference))


@bp.route("/applications/<reference>/edit", methods=["GET", "POST"])
@login_required
def edit(reference: str):
    service, actor = context.applications(), context.actor()
    app = service.get(actor, reference)
    if "edit" not in service.allowed_actions(actor, app):
        flash(_("This application cannot be edited now."))
        return redirect(url_for("applications.show", reference=reference))
    if request.method == "GET":
        return _render_form(_values_of(app), {}, app)
    values = dict(request.form)
    try:
        values, data = forms.read(ApplicationUpdateForm(), LIST_FIELDS)
        service.update(actor, reference, data)
    except (ValidationError, Conflict) as exc:
        return _render_form(values, forms.errors_of(exc), service.get(actor, reference),
                            exc.status)
    return _saved(reference, _("Changes to %(ref)s are saved.", ref=reference))


def _saved(reference: str, message: str):
    """After saving, submit too when the applicant pressed "Submit"."""
    if request.form.get("intent") == "submit":
        try:
            context.applications().transition(context.actor(), reference, "submit")
            message = _("Application %(ref)s is submitted.", ref=reference)
        except DomainError as exc:
            message = " ".join(m for ms in forms.errors_of(exc).values() for m in ms)
    flash(message)
    return redirect(url_for("applications.show", reference=reference))


def _render_form(values: dict, errors: dict, app: Application | None = None, status: int = 200):
    countries = sorted(
        ((code, name) for code, name in get_locale().territories.items()
         if code in s.COUNTRIES and code != "CN"), key=lambda item: item[1])
    return render_template(
        "applications/form.html", app=app, values=values, errors=errors,
        choices=_choices(context.actor()), purposes=[(p, labels.label(p)) for p in
                                                     ("non_commercial", "commercial", "both")],
        countries=countries, returned=_last_return(app),
    ), status


def _last_return(app: Application | None):
    """The officials' message when the application came back incomplete, to show while editing."""
    if app is None or app.status is not AppStatus.RETURNED:
        return None
    history = context.applications().history(context.actor(), app.reference)
    return next((e for e in reversed(history) if e.action == "return_incomplete"), None)


def _values_of(app: Application) -> dict:
    values = s.ApplicationOut().dump(app)
    for name in LIST_FIELDS:
        values[name] = "\n".join(values[name])
    values["version"] = app.version
    return {k: ("" if v is None else v) for k, v in values.items()}


def _choices(actor) -> dict[str, list]:
    """Registered declarations the applicant may name, for the picker beside each list.

    The picker only helps: the service checks every reference number again.
    """
    found = {}
    for field, model in (("resources", GeneticResource), ("tk_records", TKRecord)):
        rows = context.db().scalars(
            select(model).where(model.status == Status.REGISTERED)
            .order_by(model.id.desc()).limit(PICKER_LIMIT)
        )
        found[field] = [d for d in rows if perm.can_view(actor, d)]
    return found


# --- one application ------------------------------------------------------------------------


@bp.get("/applications/<reference>")
@login_required
def show(reference: str):
    return _render_show(reference)


@bp.post("/applications/<reference>/act/<action>")
@login_required
def act(reference: str, action: str):
    if action not in states.ACTIONS:
        abort(404)
    values = dict(request.form)
    try:
        values, data = forms.read(MoveForm(), ("missing",))
        context.applications().transition(context.actor(), reference, action, data["comment"],
                                          data["version"], data["missing"])
    except (ValidationError, Conflict) as exc:
        return _render_show(reference, forms.errors_of(exc), action, values, exc.status)
    flash(_("Done: %(action)s.", action=labels.label(action)))
    return redirect(url_for("applications.show", reference=reference))


@bp.post("/applications/<reference>/notes")
@login_required
def add_note(reference: str):
    values = dict(request.form)
    try:
        values, data = forms.read(s.NoteIn())
        context.applications().add_note(context.actor(), reference, kind=data["kind"],
                                        text=data["text"],
                                        recommendation=data["recommendation"])
    except (ValidationError, Conflict) as exc:
        return _render_show(reference, forms.errors_of(exc), "add_note", values, exc.status)
    flash(_("Your note is added."))
    return redirect(url_for("applications.show", reference=reference))


@bp.post("/applications/<reference>/attachments")
@login_required
def attach(reference: str):
    """Attach a document (a signed consent, a missing paper); the history records it."""
    app = context.applications().get(context.actor(), reference)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationError({"file": [N_("Choose a file to attach.")]})
        context.attachments().add(context.actor(), app, upload.stream, upload.filename)
    except ValidationError as exc:
        return _render_show(reference, forms.errors_of(exc), "attach", {}, exc.status)
    flash(_("The document is attached."))
    return redirect(url_for("applications.show", reference=reference))


@bp.get("/applications/<reference>/attachments/<int:attachment_id>")
@login_required
def attachment(reference: str, attachment_id: int):
    app = context.applications().get(context.actor(), reference)
    found, path = context.attachments().get(context.actor(), app, attachment_id)
    return send_file(path, mimetype=found.content_type, as_attachment=True,
                     download_name=found.filename, max_age=0)


def _render_show(reference: str, errors: dict | None = None, failed: str | None = None,
                 values: dict | None = None, status: int = 200):
    service, actor = context.applications(), context.actor()
    app = service.get(actor, reference)
    allowed = service.allowed_actions(actor, app)
    history = service.history(actor, reference)
    errors = errors or {}
    return render_template(
        "applications/show.html", app=app, allowed=allowed, history=history,
        moves=[m for m in MOVE_ORDER if m in allowed],
        parties=_parties(service, app), visible=perm.visible_subjects(actor, app),
        show_notes=perm.may_read_review_notes(actor, app), decision=_decision_event(history),
        errors=errors, general={k: v for k, v in errors.items() if k in GENERAL},
        failed=failed, values=values or {}, note_kinds=list(NoteKind), country_name=_country,
        documents=context.attachments().of(actor, app), may_attach=perm.may_attach(actor, app),
    ), status


def _country(code: str | None) -> str:
    return get_locale().territories.get(code, code) if code else ""


def _decision_event(history: list):
    return next((e for e in reversed(history) if e.action in ("approve", "refuse")), None)


@dataclass
class Party:
    organization: object
    role: str
    acceptance: object | None


def _parties(service, app: Application) -> list[Party]:
    """Who must accept the agreement, with their acceptance of the current revision."""
    orgs = {app.applicant_org_id: app.applicant}
    orgs.update({c.organization_id: c.organization for c in app.consents})
    current = app.current_agreement
    accepted = {a.organization_id: a for a in current.acceptances} if current else {}
    return [Party(orgs[org_id], "applicant" if org_id == app.applicant_org_id else "provider",
                  accepted.get(org_id)) for org_id in service.parties(app)]


# --- consent --------------------------------------------------------------------------------


@bp.get("/consents")
@login_required
def consents():
    return _render_consents()


@bp.post("/applications/<reference>/consents/<int:consent_id>")
@login_required
def decide_consent(reference: str, consent_id: int):
    values = dict(request.form)
    try:
        values, data = forms.read(ConsentForm())
        consent = context.applications().decide_consent(
            context.actor(), reference, consent_id, grant=data["grant"],
            conditions=data["conditions"], reason=data["reason"], version=data["version"])
    except (ValidationError, Conflict) as exc:
        return _render_consents(forms.errors_of(exc), consent_id, values, exc.status)
    if consent.status.value == "granted":
        flash(_("You granted consent for %(ref)s.", ref=reference))
    else:
        flash(_("You refused consent for %(ref)s.", ref=reference))
    return redirect(url_for("applications.consents"))


def _render_consents(errors: dict | None = None, failed: int | None = None,
                     values: dict | None = None, status: int = 200):
    actor = context.actor()
    queue = context.applications().consent_queue(actor)
    subjects = {
        c.id: [d for d in [*c.application.resources, *c.application.tk_records]
               if d.reference in c.subjects]
        for c in queue
    }
    return render_template("applications/consents.html", queue=queue, subjects=subjects,
                           errors=errors or {}, failed=failed, values=values or {},
                           country_name=_country), status


# --- the officials' queue -------------------------------------------------------------------


@bp.get("/applications/queue")
@login_required
def queue():
    args = {k: v for k, v in request.args.items() if v.strip()}
    errors: dict = {}
    try:
        query = s.QueueQuery().load(args)
    except SchemaError as exc:
        errors = forms.errors_of(ValidationError(exc.messages))
        query = s.QueueQuery().load({})
    status = AppStatus(query["status"]) if query["status"] else None
    items, total = context.applications().queue(context.actor(), status, page=query["page"],
                                                per_page=query["per_page"])
    pages = max(1, -(-total // query["per_page"]))
    return render_template(
        "applications/queue.html", items=items, total=total, query=query, pages=pages,
        errors=errors, statuses=s.QueueQuery().fields["status"].validate.choices,
    ), 422 if errors else 200


# --- the agreement --------------------------------------------------------------------------


@bp.get("/applications/<reference>/agreement")
@login_required
def agreement(reference: str):
    return _render_agreement(reference)


@bp.get("/applications/<reference>/agreement.pdf")
@login_required
def agreement_pdf(reference: str):
    app = context.applications().get(context.actor(), reference)
    current = app.current_agreement
    if current is None:
        abort(404)
    text = _text_of(current)
    if text.sha256 != current.text_sha256:
        raise Conflict(N_("the agreement text cannot be reproduced from what was stored"),
                       field="text_sha256")
    response = Response(agreements.render_pdf(text), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{app.reference}-agreement-r{current.revision}.pdf"')
    return response


@bp.post("/applications/<reference>/agreement")
@login_required
def propose(reference: str):
    raw = {k: request.form.get(k, "") for k in ("template", "values", "terms", "version")}
    try:
        data = _read_proposal(raw)
        proposed = context.applications().propose_agreement(context.actor(), reference, **data)
    except (ValidationError, Conflict) as exc:
        return _render_agreement(reference, _proposal_errors(exc), raw, exc.status)
    flash(_("Revision %(revision)s of the agreement is proposed; the other parties are told.",
            revision=proposed.revision))
    return redirect(url_for("applications.agreement", reference=reference))


@bp.post("/applications/<reference>/agreement/accept")
@login_required
def accept(reference: str):
    try:
        _values, data = forms.read(AcceptForm())
        context.applications().accept_agreement(context.actor(), reference,
                                                revision=data["revision"],
                                                text_sha256=data["text_sha256"])
    except (ValidationError, Conflict) as exc:
        return _render_agreement(reference, forms.errors_of(exc), status=exc.status)
    flash(_("Your organization accepted this text."))
    return redirect(url_for("applications.agreement", reference=reference))


def _text_of(agreement_row):
    return agreements.draft(agreement_row.template_id, agreement_row.template_version,
                            agreement_row.parameters, agreement_row.terms)


def _render_agreement(reference: str, errors: dict | None = None, proposal: dict | None = None,
                      status: int = 200):
    service, actor = context.applications(), context.actor()
    app = service.get(actor, reference)
    current = app.current_agreement
    text = _text_of(current) if current else None
    allowed = service.allowed_actions(actor, app)
    library = agreements.library()
    if proposal is None and "propose_agreement" in allowed:
        proposal = _proposal_start(app, library, request.args.get("template"))
    errors = errors or {}
    return render_template(
        "applications/agreement.html", app=app, current=current, text=text,
        reproduced=text is not None and text.sha256 == current.text_sha256,
        allowed=allowed, parties=_parties(service, app), templates=library.all(),
        proposal=proposal or {}, errors=errors,
        general={k: v for k, v in errors.items() if k in GENERAL},
    ), status


def _template_key(template) -> str:
    return f"{template.id}/{template.version}"


def _read_proposal(raw: dict) -> dict:
    problems: dict[str, list[str]] = {}
    if raw["template"] not in {_template_key(t) for t in agreements.library().all()}:
        problems["template"] = [_("Choose one of the templates.")]
    template_id, _sep, version = raw["template"].partition("/")
    parsed = {}
    for name in ("values", "terms"):
        try:
            parsed[name] = json.loads(raw[name])
        except ValueError as exc:
            problems[name] = [_("Not valid JSON: %(problem)s.", problem=str(exc))]
    if problems:
        raise ValidationError(problems)
    try:
        return ProposalForm().load({
            "template_id": template_id, "template_version": version or None,
            "values": parsed["values"], "terms": parsed["terms"],
            "version": raw["version"] or None,
        })
    except SchemaError as exc:
        raise ValidationError(_flatten(exc.messages)) from exc


def _flatten(messages, prefix: str = "") -> dict[str, list]:
    """{"terms": {0: ["..."]}} as {"terms.0": ["..."]}: the path names the field."""
    if not isinstance(messages, dict):
        return {prefix or "_schema": messages if isinstance(messages, list) else [messages]}
    flat: dict[str, list] = {}
    for key, inner in messages.items():
        flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _proposal_errors(exc: DomainError) -> dict[str, list[str]]:
    """Each problem beside the input it is about, named by its path in that input."""
    grouped: dict[str, list[str]] = {}
    for key, messages in forms.errors_of(exc).items():
        if key in GENERAL:
            target = key
        elif key.startswith("template"):
            target = "template"
        elif key == "terms" or key.startswith("terms."):
            target = "terms"
        else:
            target = "values"
        path = key.removeprefix("values.")
        grouped.setdefault(target, []).extend(
            messages if path == target else [f"{path}: {m}" for m in messages])
    return grouped


def _proposal_start(app: Application, library, chosen: str | None) -> dict:
    """What the proposal form starts from: the current agreement, or a template's example
    with the application's own details filled in."""
    current = app.current_agreement
    templates = library.all()
    template = next((t for t in templates if _template_key(t) == chosen), None)
    if template is None and current is not None:
        return {"template": f"{current.template_id}/{current.template_version}",
                "values": _json(current.parameters), "terms": _json(current.terms),
                "version": str(app.version)}
    if template is None:
        template = _suggested(app, templates)
    example = _example(template)
    return {"template": _template_key(template),
            "values": _json(_prefilled(app, example.get("values", {}))),
            "terms": _json(example.get("terms", [])), "version": str(app.version)}


def _suggested(app: Application, templates: list):
    wants_tk = bool(app.tk_records)
    purpose = "non_commercial" if app.purpose.value == "non_commercial" else "commercial"
    return next((t for t in templates if t.purpose == purpose and t.involves_tk == wants_tk),
                next((t for t in templates if t.purpose == purpose), templates[0]))


def _example(template) -> dict:
    path = template.folder / "example.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _prefilled(app: Application, values: dict) -> dict:
    """The example's placeholders replaced by what the application already says; the parties
    still check every value before they propose."""
    values = dict(values)
    known = {
        "reference": f"{app.reference}-MAT",
        "project_title": app.title,
        "activities": app.activities,
        "place_of_work": app.work_location,
        "material_leaves_country": app.exports_material,
    }
    values.update({k: v for k, v in known.items() if k in values})
    if "material_leaves_country" in values:
        values.pop("destination", None)
        values.pop("recipient", None)
        if app.exports_material:
            values["destination"] = {lang: Locale.parse(code).territories[app.export_country]
                                     for lang, code in (("zh", "zh_Hans_CN"), ("en", "en"))}
            values["recipient"] = app.export_recipient
    if "user" in values:
        values["user"] = {**values["user"], "name": app.applicant.name}
    # a template about TK is agreed with the community; others with the provider of the material
    kinds = ("fpic", "pic") if "tk_records" in values else ("pic", "fpic")
    providers = [c.organization.name for kind in kinds for c in app.consents
                 if c.kind.value == kind]
    if "provider" in values and providers:
        values["provider"] = {**values["provider"], "name": providers[0]}
    if "resources" in values and app.resources:
        values["resources"] = [_resource_value(r) for r in app.resources]
    if "tk_records" in values and app.tk_records:
        values["tk_records"] = [{"reference": t.reference, "title": t.title,
                                 "community": t.organization.name} for t in app.tk_records]
    return values


def _resource_value(resource: GeneticResource) -> dict:
    value = {"reference": resource.reference,
             "name": resource.common_name or resource.scientific_name,
             "scientific_name": resource.scientific_name,
             "quantity": f"{resource.quantity.normalize():f} {resource.quantity_unit.value}"}
    origin = {"zh": regions.display_name(resource.collection_region, "zh_Hans_CN"),
              "en": regions.display_name(resource.collection_region, "en")}
    if all(origin.values()):
        value["origin"] = origin
    return value


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
