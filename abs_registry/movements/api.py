"""Movements, checkpoints, transfers and changes of use over JSON."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from abs_registry.auth.identity import login_required
from abs_registry.movements import schemas as s
from abs_registry.web import context
from abs_registry.web.idempotency import idempotent

blp = Blueprint("movements_api", __name__, url_prefix="/api/v1",
                description="Exits and returns of material under a permit; checkpoints")
BEARER = [{"bearerAuth": []}]


class CommuniqueOut(Schema):
    reference = fields.String()
    movement = fields.String(attribute="movement.reference")
    decision = fields.String(attribute="decision.value")
    created_at = fields.DateTime()
    document = fields.Dict(metadata={
        "description": "the communiqué in the ABS Clearing-House's field names"})


@blp.route("/movements", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.MovementIn)
@blp.response(201, s.MovementOut)
def record(data):
    """Record an exit (checked against the permit) or a return of material."""
    return context.movements().record(context.actor(), data)


@blp.route("/movements/<reference>", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.MovementOut)
def read(reference):
    return context.movements().get(context.actor(), reference)


@blp.route("/permits/<number>/movements", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, s.PermitMovementsOut)
def of_permit(number):
    """What the permit allows to leave, what has left and what remains; every movement."""
    return context.movements().movements(context.actor(), number)


@blp.route("/checkpoint/lookup", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.LookupQuery, location="query")
@blp.response(200, s.PermitMovementsOut)
def lookup(query):
    """Checkpoints: look a permit up by number or by the URL in its QR code."""
    return context.movements().lookup(context.actor(), query["q"])


@blp.route("/movements/<reference>/<any(confirm, stop):action>", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.CheckpointDecisionIn)
@blp.response(201, CommuniqueOut)
def decide(data, reference, action):
    """Checkpoint officers: confirm or stop a recorded movement (a stop needs a reason)."""
    return context.checkpoints().decide(
        context.actor(), reference, action,
        persons_at_checkpoint=data["persons_at_checkpoint"], reason=data["reason"])


@blp.route("/communiques/<reference>", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
def communique(reference):
    """The checkpoint communiqué as JSON in the ABS Clearing-House's field names."""
    return context.checkpoints().communique(context.actor(), reference).document


@blp.route("/permits/<number>/transfers", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.TransferIn)
@blp.response(201, s.UseChangeOut)
def transfer(data, number):
    """Record a transfer of material to a third party, if a permit or its terms allow it."""
    return context.uses().request_transfer(context.actor(), number, data)


@blp.route("/permits/<number>/change-of-use", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.ChangeOfUseIn)
@blp.response(201, s.UseChangeOut)
def change_of_use(data, number):
    """Record a change of use, if a permit with new consent and agreement covers it."""
    return context.uses().change_use(context.actor(), number, data)
