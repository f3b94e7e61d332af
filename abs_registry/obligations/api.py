"""Benefit-sharing obligations over JSON, under /api/v1/obligations. Money is a decimal string
with its currency; every rule is the service's."""

from __future__ import annotations

from flask import Response, send_file
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, fields

from abs_registry.auth.identity import login_required
from abs_registry.declarations.schemas import HistoryEventOut
from abs_registry.obligations import report
from abs_registry.obligations import schemas as s
from abs_registry.obligations.models import ObligationStatus
from abs_registry.web import context
from abs_registry.web.idempotency import idempotent

blp = Blueprint("obligations_api", __name__, url_prefix="/api/v1/obligations",
                description="Benefit-sharing obligations: payments, evidence, milestones, "
                            "sales reports, confirmations, waivers; benefits received; the "
                            "Cali Fund")
BEARER = [{"bearerAuth": []}]


class ObligationWithActions(s.ObligationDetailOut):
    allowed_actions = fields.Method("_allowed")

    def _allowed(self, obligation):
        return context.obligations().allowed_actions(context.actor(), obligation)


class ListPage(Schema):
    items = fields.List(fields.Nested(s.ObligationOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ObligationUploadIn(Schema):
    file = Upload(required=True, metadata={"description": "PDF, PNG or JPEG, at most 10 MB"})


@blp.route("", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.ListQuery, location="query")
@blp.response(200, ListPage)
def list_(query):
    """What your organization owes (scope=owed), is owed (owed_to), or everything (officials)."""
    service, actor = context.obligations(), context.actor()
    status = ObligationStatus(query["status"]) if query["status"] else None
    if query["scope"] == "all":
        items, total = service.everything(actor, status, page=query["page"],
                                          per_page=query["per_page"])
        return {"items": items, "total": total, "page": query["page"],
                "per_page": query["per_page"]}
    items = service.owed_by(actor) if query["scope"] == "owed" else service.owed_to(actor)
    items = [o for o in items if status is None or o.status is status]
    return {"items": items, "total": len(items), "page": 1, "per_page": len(items)}


@blp.route("/overdue", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.OverdueOut(many=True))
def overdue():
    """Officials: everything overdue, by user organization, outstanding totals per currency."""
    return context.obligations().overdue_by_payer(context.actor())


@blp.route("/benefits", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.BenefitsOut)
def benefits():
    """Benefits received per beneficiary and per resource, by year and currency."""
    rows = report.received(context.db(), context.actor())
    return {"by_beneficiary": report.by_beneficiary(rows),
            "by_resource": report.by_resource(rows)}


@blp.route("/benefits.csv", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
def benefits_csv():
    """The same as CSV: year, beneficiary, resource, currency, amount, payments."""
    rows = report.received(context.db(), context.actor())
    return csv_response(report.as_csv(rows))


def csv_response(text: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="benefits-received.csv"'
    return response


@blp.route("/milestones", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.MilestoneIn)
@blp.response(201, s.MilestoneOut)
def report_milestone(data):
    """The permit holder reports an event (patent filed, first sale ...): what waits for it
    falls due."""
    report, due = context.obligations().report_milestone(
        context.actor(), data["permit"], data["event"], data["occurred_on"], data["note"])
    return {"report": report, "due": due}


@blp.route("/cali-fund/returns", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.CaliFundOut(many=True))
def cali_fund_returns():
    """Your organization's annual figures and contributions (officials: everyone's)."""
    return context.obligations().cali_fund_returns(context.actor())


@blp.route("/cali-fund/returns", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.CaliFundIn)
@blp.response(201, s.CaliFundOut)
def file_cali_fund_return(data):
    """File a year's figures; the expected Cali Fund contribution becomes an obligation."""
    return context.obligations().file_cali_fund_return(context.actor(), data)


@blp.route("/<reference>", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, ObligationWithActions)
def read(reference):
    return context.obligations().get(context.actor(), reference)


@blp.route("/<reference>/history", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, HistoryEventOut(many=True))
def history(reference):
    return context.obligations().history(context.actor(), reference)


@blp.route("/<reference>/attachments", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(ObligationUploadIn, location="files")
@blp.response(201, s.DocumentOut)
def upload_attachment(files, reference):
    """Upload a proof of payment or an evidence document; name its id in the payment or
    evidence."""
    upload = files["file"]
    return context.obligations().upload(context.actor(), reference, upload.stream,
                                        upload.filename)


@blp.route("/<reference>/attachments/<int:attachment_id>", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
def download_attachment(reference, attachment_id):
    found, path = context.obligations().attachment(context.actor(), reference, attachment_id)
    return send_file(path, mimetype=found.content_type, as_attachment=True,
                     download_name=found.filename, max_age=0)


@blp.route("/<reference>/payments", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.PaymentIn)
@blp.response(201, s.PaymentOut)
def record_payment(data, reference):
    """Record a payment in the obligation's currency (partial payments add up)."""
    return context.obligations().record_payment(context.actor(), reference, data)


@blp.route("/<reference>/evidence", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.EvidenceIn)
@blp.response(201, s.EvidenceOut)
def add_evidence(data, reference):
    """Evidence that a non-monetary benefit was given."""
    return context.obligations().add_evidence(context.actor(), reference, data)


@blp.route("/<reference>/sales-reports", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.SalesReportIn)
@blp.response(201, s.SalesReportOut)
def file_sales_report(data, reference):
    """Turnover for one period of a royalty; the registry computes the royalty payable."""
    return context.obligations().file_sales_report(context.actor(), reference, data)


@blp.route("/<reference>/<any(payments, evidence):items>/<int:item_id>/decision",
           methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.ReceiptDecisionIn)
@blp.response(200, s.ConfirmationOut)
def decide(data, reference, items, item_id):
    """The beneficiary confirms receipt, or disputes it with a reason."""
    item = "payment" if items == "payments" else "evidence"
    return context.obligations().decide_receipt(context.actor(), reference, item, item_id,
                                                confirm=data["confirm"], reason=data["reason"])


@blp.route("/<reference>/waive", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.WaiveIn)
@blp.response(200, ObligationWithActions)
def waive(data, reference):
    """Officials release the user from an obligation, with a reason."""
    return context.obligations().waive(context.actor(), reference, data["reason"],
                                       version=data["version"])
