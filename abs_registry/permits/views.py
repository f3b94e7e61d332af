"""Permit pages: the public /verify page and permit page, the certificate PDF, the IRCC export,
the authority's root certificate, and the officials' forms to issue, amend and change status.

Thin views over ``PermitService``: every rule (who may issue, which transitions are allowed,
which exits fit the application) lives in the service. The public pages show only what the
signed payload shows, and a payload never holds a confidential field (permits/payload.py).

/verify never answers 500 for what a stranger pastes: whatever it is (garbage, a truncated
token, ``alg: none``, a changed payload, an unknown number), the page says "not valid" and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError as SchemaError

from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.db import utcnow
from abs_registry.declarations.models import QuantityUnit
from abs_registry.errors import Conflict, DomainError, NotFound, ValidationError
from abs_registry.permits import certificate, ircc, signing
from abs_registry.permits import schemas as s
from abs_registry.permits.models import Permit, PermitStatus, StatementKind
from abs_registry.web import context, forms

bp = Blueprint("permits", __name__)

NUMBER = re.compile(s.PERMIT_NUMBER)
SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
EXIT_ROWS = 3  # blank exit rows offered beside those already filled
EXIT_FIELDS = ("resource", "quantity", "unit", "destination_country", "recipient")
# Errors about the permit or application as a whole, shown above the form.
GENERAL = ("_schema", "application", "status", "consents", "agreement", "signing_key",
           "national_review_required", "role", "reviewer")

STATUS_LABELS = {
    "valid": _l("Valid"), "suspended": _l("Suspended"), "revoked": _l("Revoked"),
    "expired": _l("Expired"), "superseded": _l("Superseded by an amendment"),
}
STEP_LABELS = {
    "issued": _l("Issued"), "amended": _l("Amended (new version)"),
    "suspended": _l("Suspended"), "reinstated": _l("Reinstated"), "revoked": _l("Revoked"),
}


# --- the authority's files ------------------------------------------------------------------


def _authority():
    return current_app.extensions["abs"].authority.ensure()[0]


def _certificates() -> certificate.CertificateStore:
    return current_app.extensions["abs"].certificates


@bp.get("/.well-known/abs-registry-ca.pem")
def root_certificate():
    """The root of the PDF signatures: trust it to check permit PDFs offline."""
    response = Response(_authority().root_pem, mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = 'inline; filename="abs-registry-ca.pem"'
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# --- reading what was pasted or scanned -----------------------------------------------------


@dataclass
class Query:
    number: str | None = None
    version: int | None = None
    jws: str | None = None
    sha256: str | None = None  # from a QR URL: the hash of the compact JWS printed


def read_query(text: str | None, version: str | None = None) -> Query:
    """A permit number, a compact JWS, or a verification URL; ValueError says why not."""
    text = (text or "").strip()
    if not text:
        raise ValueError(_("Enter a permit number, a signed permit (JWS) or a verification "
                           "link."))
    if "://" in text or text.startswith("/verify"):
        return _read_url(text)
    if NUMBER.match(text.upper()):
        return Query(number=text.upper(), version=_version(version))
    if "." in text and not any(c.isspace() for c in text):
        return Query(jws=text)  # the verifier says what is wrong with it, if anything
    raise ValueError(_("This is not a permit number (such as CN-ABS-2026-000042), a signed "
                       "permit (three parts separated by dots) or a verification link."))


def _version(value) -> int | None:
    if value in (None, ""):
        return None
    if not str(value).isdigit() or not 1 <= int(value) <= 10_000:
        raise ValueError(_("The version must be a whole number from 1."))
    return int(value)


def _read_url(text: str) -> Query:
    parts = urlsplit(text)
    params = parse_qs(parts.query)
    number = (params.get("permit") or [""])[0].strip().upper()
    if not NUMBER.match(number):
        raise ValueError(_("The link does not name a permit: it must end in "
                           "/verify?permit=<number>."))
    fragment = parse_qs(parts.fragment)
    sha = (fragment.get("sha256") or [None])[0]
    if sha is not None and not SHA256.match(sha.lower()):
        raise ValueError(_("The link's fingerprint (#sha256=...) is not a SHA-256 hash."))
    return Query(number=number, version=_version((params.get("v") or [None])[0]),
                 sha256=sha.lower() if sha else None)


# --- what the page reports ------------------------------------------------------------------


@dataclass
class Report:
    valid: bool
    reason: str | None = None
    signature_valid: bool = False
    kid: str | None = None
    key: dict | None = None
    status: str | None = None
    permit: Permit | None = None
    current: Permit | None = None
    history: list[dict] = field(default_factory=list)
    qr_matches: bool | None = None
    jws_sha256: str | None = None  # for the page's script: a scanned link's #sha256 stays
    # in the browser (fragments are never sent), so the browser compares it


def _not_valid(reason: str) -> Report:
    return Report(False, reason)


def check(query: Query) -> Report:
    service = context.permits()
    try:
        result = service.check_token(query.jws) if query.jws else \
            service.check_number(query.number, query.version)
    except NotFound:
        return _not_valid(_("No permit %(number)s%(version)s is in the register.",
                            number=query.number,
                            version=_(" version %(v)s", v=query.version) if query.version
                            else ""))
    report = Report(valid=result.valid, signature_valid=result.signature.valid,
                    kid=result.signature.kid, key=result.signature.key,
                    status=result.status.value if result.status else None,
                    permit=result.permit, current=result.current)
    report.reason = _reason(result)
    if result.permit is not None and result.signature.valid:
        report.history = _history(service, result.permit.number)
        report.jws_sha256 = certificate.jws_sha256(result.permit.jws)
    if query.sha256 and result.permit is not None:
        report.qr_matches = certificate.jws_sha256(result.permit.jws) == query.sha256
        if not report.qr_matches:
            report.valid = False
            report.reason = _("The QR code does not match the permit the register holds: the "
                              "printed permit is not the one that was signed.")
    return report


def _reason(result) -> str | None:
    if result.problem:
        return _(result.problem)
    if not result.signature.valid:
        return result.signature.reason
    if result.status is not PermitStatus.VALID:
        return _("The permit is %(status)s.", status=STATUS_LABELS.get(
            result.status.value, result.status.value) if result.status else "?")
    return None


def _history(service, number: str) -> list[dict]:
    """Every signed step, each signature checked again with the published keys."""
    keys = service.public_keys()
    return [{**step, "signature_valid": signing.verify(step["jws"], keys).valid,
             "label": STEP_LABELS.get(step["what"], step["what"])}
            for step in service.timeline(number)]


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Check a permit without an account: by number, pasted JWS or scanned QR link."""
    if request.method == "POST":
        text, version = request.form.get("q", ""), request.form.get("v")
    elif request.args.get("permit"):
        text, version = request.args["permit"], request.args.get("v")
    else:
        return render_template("permits/verify.html", values={}, errors={}, report=None)
    try:
        query = read_query(text, version)
    except ValueError as exc:
        if not text.strip():
            return render_template("permits/verify.html", values={"q": text},
                                   errors={"q": [str(exc)]}, report=None), 422
        report = _not_valid(str(exc))
    else:
        report = check(query)
    return render_template("permits/verify.html", values={"q": text}, errors={},
                           report=report, statuses=STATUS_LABELS)


# --- the public permit page, its PDF and its IRCC export ------------------------------------


def _permit_or_404(number: str, version: str | None = None) -> Permit:
    if not NUMBER.match(number):
        abort(404)
    try:
        return context.permits().get(number, _version(version))
    except ValueError:
        abort(404)


@bp.get("/permits/<number>")
def show(number: str):
    return _render_show(number)


def _render_show(number: str, errors: dict | None = None, values: dict | None = None,
                 status: int = 200):
    permit = _permit_or_404(number)
    service = context.permits()
    actor = context.actor()
    may_act = perm.application_move_refusal(actor, permit.application, "decider") is None
    today = utcnow().date()
    return render_template(
        "permits/show.html", permit=permit, versions=service.versions(number),
        history=_history(service, number), status_today=permit.status_on(today).value,
        statuses=STATUS_LABELS, may_act=may_act, errors=errors or {}, values=values or {},
        kinds=_allowed_statements(permit) if may_act else [],
        may_see_movements=perm.can_view_movements(actor, permit),
        qr_url=certificate.verification_url(_public_url(), permit.payload, permit.jws),
    ), status


def _allowed_statements(permit: Permit) -> list[tuple[str, str]]:
    texts = {StatementKind.SUSPENDED: _("Suspend"), StatementKind.REINSTATED: _("Reinstate"),
             StatementKind.REVOKED: _("Revoke")}
    from abs_registry.permits.service import STATEMENTS

    return [(kind.value, texts[kind]) for kind, (allowed, _to) in STATEMENTS.items()
            if permit.status in allowed]


def _public_url() -> str:
    return current_app.extensions["abs"].settings.public_url


@bp.get("/permits/<number>/certificate.pdf")
def certificate_pdf(number: str):
    """The signed certificate of a version (default: the newest), rendered once and kept."""
    permit = _permit_or_404(number, request.args.get("v"))
    data = _certificates().get(certificate.Signed.of(permit))
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{permit.number}-v{permit.version}.pdf"')
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable" \
        if request.args.get("v") else "no-cache"
    return response


@bp.get("/permits/<number>/ircc.json")
def ircc_json(number: str):
    """The permit as an ABS Clearing-House IRCC (absPermit) record."""
    permit = _permit_or_404(number, request.args.get("v"))
    base = _public_url()
    document = ircc.export(
        permit.payload,
        certificate_url=f"{base}/permits/{permit.number}/certificate.pdf?v={permit.version}",
        verify_url=certificate.verification_url(base, permit.payload, permit.jws),
        jws_sha256=certificate.jws_sha256(permit.jws))
    response = jsonify(document)
    response.headers["Content-Disposition"] = (
        f'inline; filename="{permit.number}-v{permit.version}-ircc.json"')
    return response


# --- officials: issue, amend, suspend, reinstate, revoke ------------------------------------


def _exit_rows(form) -> tuple[list[dict], list[dict]]:
    """(rows as typed, rows with any value) from exits-<i>-<field> inputs."""
    indexes = sorted({int(m.group(1)) for key in form
                      if (m := re.match(r"exits-(\d{1,3})-", key))})
    typed = [{f: form.get(f"exits-{i}-{f}", "").strip() for f in EXIT_FIELDS} for i in indexes]
    return typed, [row for row in typed if any(row.values())]


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested errors ({"exits": {0: {"quantity": [...]}}}) as "exits.0.quantity",
    the way the service names them."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    else:
        flat[prefix or "_schema"] = list(messages) if isinstance(messages, list) else [messages]
    return flat


def _read_terms(application: str | None, amending: bool) -> tuple[dict, dict]:
    """Validated service input from the issue or amendment form; ValidationError otherwise."""
    form = request.form
    typed, rows = _exit_rows(form)
    data: dict = {"exits": [{k: v for k, v in row.items() if v} for row in rows]}
    if form.get("expires_on", "").strip():
        data["expires_on"] = form["expires_on"].strip()
    data["conditions"] = form.get("conditions", "").strip() or None
    if form.get("third_party") == "allowed":
        data["third_party_transfer"] = form.get("third_party_transfer", "").strip()
        if not data["third_party_transfer"]:
            raise ValidationError({"third_party_transfer": [
                _("Say on which conditions the material may pass to third parties.")]})
    else:
        data["third_party_transfer"] = None
    if amending:
        data["reason"] = form.get("reason", "").strip()
        schema = s.AmendmentIn()
    else:
        data["application"] = application
        schema = s.PermitIn()
    try:
        loaded = schema.load(data)
    except SchemaError as exc:
        raise ValidationError(_flatten(exc.messages)) from exc
    loaded.pop("application", None)
    return loaded, typed


def _form_values(form) -> dict:
    return {k: v for k, v in form.items() if k not in forms.NOT_DATA}


def _render_form(*, app, permit: Permit | None, values: dict, rows: list[dict],
                 errors: dict, status: int = 200):
    rows = rows + [dict.fromkeys(EXIT_FIELDS, "") for _row in range(EXIT_ROWS)]
    general = [m for name in GENERAL for m in errors.get(name, [])]
    return render_template(
        "permits/form.html", app=app, permit=permit, values=values, rows=rows,
        errors=errors, general=general, units=[u.value for u in QuantityUnit],
        resources=[r.reference for r in app.resources]), status


def _decider_application(reference: str):
    actor = context.actor()
    app = context.applications().get(actor, reference)  # 404 for what the actor may not see
    if refusal := perm.application_move_refusal(actor, app, "decider"):
        raise refusal
    return app


@bp.route("/applications/<reference>/permit", methods=["GET", "POST"])
@login_required
def issue(reference: str):
    """Issue the permit of an approved application (officials who may decide it)."""
    app = _decider_application(reference)
    existing = context.permits().for_application(app)
    if existing is not None:
        flash(_("The permit of this application was issued already: %(number)s.",
                number=existing.number))
        return redirect(url_for("permits.show", number=existing.number))
    if request.method == "GET":
        rows = [{"resource": app.resources[0].reference, "quantity": "", "unit": "",
                 "destination_country": app.export_country or "",
                 "recipient": app.export_recipient or ""}] \
            if app.exports_material and app.resources else []
        values = {"third_party": "allowed" if app.third_party_transfer else "barred",
                  "third_party_transfer": app.third_party_details or ""}
        return _render_form(app=app, permit=None, values=values, rows=rows, errors={})
    try:
        data, rows = _read_terms(reference, amending=False)
        permit = context.permits().issue(context.actor(), reference, data)
    except (ValidationError, Conflict) as exc:
        rows = _exit_rows(request.form)[0]
        return _render_form(app=app, permit=None, values=_form_values(request.form),
                            rows=rows, errors=forms.errors_of(exc), status=exc.status)
    _certificates().warm(certificate.Signed.of(permit))
    flash(_("Permit %(number)s is issued and signed.", number=permit.number))
    return redirect(url_for("permits.show", number=permit.number))


@bp.route("/permits/<number>/amend", methods=["GET", "POST"])
@login_required
def amend(number: str):
    permit = _permit_or_404(number)
    app = _decider_application(permit.application.reference)
    if request.method == "GET":
        rows = [{"resource": e.resource.reference, "quantity": str(e.quantity),
                 "unit": e.unit.value, "destination_country": e.destination_country,
                 "recipient": e.recipient} for e in permit.exits]
        values = {"expires_on": permit.expires_on.isoformat(),
                  "conditions": permit.conditions or "",
                  "third_party": "barred" if permit.third_party_transfer is None else "allowed",
                  "third_party_transfer": permit.third_party_transfer or ""}
        return _render_form(app=app, permit=permit, values=values, rows=rows, errors={})
    try:
        data, _rows = _read_terms(None, amending=True)
        reason = data.pop("reason")
        new = context.permits().amend(context.actor(), number, data, reason)
    except DomainError as exc:
        if exc.status not in (409, 422):
            raise
        rows = _exit_rows(request.form)[0]
        return _render_form(app=app, permit=permit, values=_form_values(request.form),
                            rows=rows, errors=forms.errors_of(exc), status=exc.status)
    _certificates().warm(certificate.Signed.of(new))
    flash(_("Permit %(number)s is amended: version %(version)s is signed.",
            number=new.number, version=new.version))
    return redirect(url_for("permits.show", number=new.number))


@bp.post("/permits/<number>/status")
@login_required
def change_status(number: str):
    _permit_or_404(number)
    try:
        _values, data = forms.read(s.StatusChangeIn())
        statement = context.permits().change_status(context.actor(), number, data["status"],
                                                    data["reason"])
    except DomainError as exc:
        if exc.status not in (409, 422):
            raise
        return _render_show(number, forms.errors_of(exc), _form_values(request.form),
                            exc.status)
    flash(_("Permit %(number)s: %(step)s. The signed statement is published.",
            number=number, step=STEP_LABELS[statement.kind.value]))
    return redirect(url_for("permits.show", number=number))
