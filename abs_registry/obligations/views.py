"""HTML pages of benefit-sharing obligations: what we owe, what we are owed, the officials'
overdue page, one obligation with its actions, the benefits-received report and the Cali Fund.

Thin views over ``ObligationService``: forms are read through the API's schemas (a version
or year written as text is the only difference); a refused form answers 422 or 409 with the
message beside the field and the input kept; nothing is stored.
"""

from __future__ import annotations

from babel import numbers
from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError as SchemaError

from abs_registry.agreements import currencies
from abs_registry.auth import permissions as perm
from abs_registry.auth.identity import login_required
from abs_registry.declarations.schemas import WholeNumber
from abs_registry.errors import Conflict, ValidationError
from abs_registry.obligations import report
from abs_registry.obligations import schemas as s
from abs_registry.obligations.api import csv_response
from abs_registry.obligations.models import ObligationStatus
from abs_registry.obligations.service import REPORTABLE
from abs_registry.web import context, forms

bp = Blueprint("obligations", __name__)

# Errors about the obligation as a whole, shown above the actions rather than beside a field.
GENERAL = ("_schema", "status", "version", "kind", "payer", "beneficiary", "role",
           "confirmation", "event_permit")


class PaymentForm(s.PaymentIn):
    version = WholeNumber(load_default=None, allow_none=True)


class EvidenceForm(s.EvidenceIn):
    version = WholeNumber(load_default=None, allow_none=True)


class WaiveForm(s.WaiveIn):
    version = WholeNumber(load_default=None, allow_none=True)


class CaliFundForm(s.CaliFundIn):
    year = WholeNumber(required=True)


@bp.app_template_filter("money")
def money(amount, currency: str | None) -> str:
    """Every digit of an exact amount, grouped for the reader's locale, with its currency."""
    if amount is None:
        return ""
    places = currencies.minor_units(currency) if currency else 0
    pattern = "#,##0" + ("." + "0" * places if places else "")
    digits = numbers.format_decimal(amount, format=pattern, locale=get_locale(),
                                    decimal_quantization=False)
    return f"{digits} {currency}" if currency else digits


def _upload(name: str):
    found = request.files.get(name)
    return (found.stream, found.filename) if found is not None and found.filename else None


# --- lists ----------------------------------------------------------------------------------


@bp.get("/obligations")
@login_required
def index():
    service, actor = context.obligations(), context.actor()
    errors: dict = {}
    try:
        query = s.ListQuery().load({k: v for k, v in request.args.items() if v.strip()})
    except SchemaError as exc:
        errors = forms.errors_of(ValidationError(exc.messages))
        query = s.ListQuery().load({})
    status = ObligationStatus(query["status"]) if query["status"] else None
    everything, total, owed, owed_to = [], 0, [], []
    if actor.is_official:
        everything, total = service.everything(actor, status, page=query["page"])
    else:
        owed = [o for o in service.owed_by(actor) if status is None or o.status is status]
        owed_to = [o for o in service.owed_to(actor) if status is None or o.status is status]
    return render_template(
        "obligations/index.html", everything=everything, total=total, owed=owed,
        owed_to=owed_to, query=query, statuses=list(ObligationStatus), errors=errors,
        pages=max(1, -(-total // query["per_page"])), payer_of=lambda o: o.payer.name,
        beneficiary_of=lambda o: o.beneficiary_name,
    ), 422 if errors else 200


@bp.get("/obligations/overdue")
@login_required
def overdue():
    groups = context.obligations().overdue_by_payer(context.actor())
    return render_template("obligations/overdue.html", groups=groups)


@bp.get("/obligations/benefits")
@login_required
def benefits():
    rows = report.received(context.db(), context.actor())
    charts = [(currency, report.bar_chart(
        currency, points, _("Benefits received per year in %(currency)s", currency=currency)))
        for currency, points in report.by_year(rows).items()]
    return render_template("obligations/benefits.html", by_beneficiary=report.by_beneficiary(rows),
                           by_resource=report.by_resource(rows), charts=charts)


@bp.get("/obligations/benefits.csv")
@login_required
def benefits_csv():
    return csv_response(report.as_csv(report.received(context.db(), context.actor())))


# --- one obligation -------------------------------------------------------------------------


@bp.get("/obligations/<reference>")
@login_required
def show(reference: str):
    return _render_show(reference)


def _render_show(reference: str, errors: dict | None = None, failed: str | None = None,
                 values: dict | None = None, status: int = 200):
    service, actor = context.obligations(), context.actor()
    obligation = service.get(actor, reference)
    errors = errors or {}
    return render_template(
        "obligations/show.html", ob=obligation, allowed=service.allowed_actions(actor, obligation),
        history=service.history(actor, reference), events=[t.value for t in REPORTABLE],
        may_confirm=perm.may_confirm_receipt(actor, obligation), errors=errors,
        general={k: v for k, v in errors.items() if k in GENERAL}, failed=failed,
        values=values or {},
    ), status


def _act(reference: str, action: str, do):
    """Run one form's action; on bad input show the page again with the message."""
    values = dict(request.form)
    try:
        do()
    except (ValidationError, Conflict) as exc:
        return _render_show(reference, forms.errors_of(exc), action, values, exc.status)
    return None


@bp.post("/obligations/<reference>/payments")
@login_required
def record_payment(reference: str):
    def do():
        _values, data = forms.read(PaymentForm())
        context.obligations().record_payment(context.actor(), reference, data,
                                             upload=_upload("proof_file"))
    return _act(reference, "record_payment", do) or _done(reference, _("The payment is recorded."))


@bp.post("/obligations/<reference>/evidence")
@login_required
def add_evidence(reference: str):
    def do():
        _values, data = forms.read(EvidenceForm())
        context.obligations().add_evidence(context.actor(), reference, data,
                                           upload=_upload("evidence_file"))
    return _act(reference, "add_evidence", do) or _done(reference, _("The evidence is recorded."))


@bp.post("/obligations/<reference>/sales-reports")
@login_required
def file_sales_report(reference: str):
    def do():
        _values, data = forms.read(s.SalesReportIn())
        context.obligations().file_sales_report(context.actor(), reference, data)
    return _act(reference, "file_sales_report", do) or _done(
        reference, _("The sales report is filed and the royalty computed."))


@bp.post("/obligations/<reference>/milestone")
@login_required
def report_milestone(reference: str):
    def do():
        _values, data = forms.read(s.MilestoneIn())
        context.obligations().report_milestone(context.actor(), data["permit"], data["event"],
                                               data["occurred_on"], data["note"])
    return _act(reference, "report_milestone", do) or _done(
        reference, _("The event is reported; what waited for it is now due."))


@bp.post("/obligations/<reference>/<any(payments, evidence):items>/<int:item_id>/decision")
@login_required
def decide(reference: str, items: str, item_id: int):
    def do():
        _values, data = forms.read(s.ReceiptDecisionIn())
        context.obligations().decide_receipt(
            context.actor(), reference, "payment" if items == "payments" else "evidence",
            item_id, confirm=data["confirm"], reason=data["reason"])
    return _act(reference, f"decide-{items}-{item_id}", do) or _done(
        reference, _("Your answer is recorded."))


@bp.post("/obligations/<reference>/waive")
@login_required
def waive(reference: str):
    def do():
        _values, data = forms.read(WaiveForm())
        context.obligations().waive(context.actor(), reference, data["reason"],
                                    version=data["version"])
    return _act(reference, "waive", do) or _done(reference, _("The obligation is waived."))


@bp.get("/obligations/<reference>/attachments/<int:attachment_id>")
@login_required
def attachment(reference: str, attachment_id: int):
    found, path = context.obligations().attachment(context.actor(), reference, attachment_id)
    return send_file(path, mimetype=found.content_type, as_attachment=True,
                     download_name=found.filename, max_age=0)


def _done(reference: str, message: str):
    flash(message)
    return redirect(url_for("obligations.show", reference=reference))


# --- the Cali Fund --------------------------------------------------------------------------


@bp.route("/cali-fund", methods=["GET", "POST"])
@login_required
def cali_fund():
    service, actor = context.obligations(), context.actor()
    errors, values, status = {}, {}, 200
    if request.method == "POST":
        values = dict(request.form)
        try:
            _values, data = forms.read(CaliFundForm())
            filed = service.file_cali_fund_return(actor, data)
        except (ValidationError, Conflict) as exc:
            errors, status = forms.errors_of(exc), exc.status
        else:
            flash(_("Your figures for %(year)s are filed.", year=filed.year))
            return redirect(url_for("obligations.cali_fund"))
    return render_template("obligations/cali_fund.html", returns=service.cali_fund_returns(actor),
                           may_file=perm.may_file_cali_fund_return(actor), errors=errors,
                           values=values, policy=service.policy), status
