"""Declarations over JSON: declare, edit, move through review, read history, search the register."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields

from abs_registry.auth.identity import login_required
from abs_registry.declarations import keylist, search
from abs_registry.declarations import schemas as s
from abs_registry.declarations.models import Kind, Status
from abs_registry.errors import NotFound
from abs_registry.web import context

blp = Blueprint(
    "declarations_api", __name__, url_prefix="/api/v1",
    description="Declarations of genetic resources, DSI and traditional knowledge",
)
BEARER = [{"bearerAuth": []}]
KIND_PATHS = {
    "genetic-resources": (Kind.GENETIC_RESOURCE, s.GeneticResourceIn, s.GeneticResourceUpdate),
    "dsi": (Kind.DSI, s.DSIIn, s.DSIUpdate),
    "traditional-knowledge": (
        Kind.TRADITIONAL_KNOWLEDGE, s.TraditionalKnowledgeIn, s.TraditionalKnowledgeUpdate
    ),
}


class DeclarationWithActions(s.DeclarationOut):
    allowed_actions = fields.Method("_allowed")

    def _allowed(self, decl):
        return context.declarations().allowed_actions(context.actor(), decl)


class StatusFilter(s.StrictSchema):
    status = fields.Enum(Status, by_value=True, load_default=None)


class KeyListEntryOut(Schema):
    scientific_name = fields.String()
    rank = fields.String()
    category = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


def _make_create(kind: Kind, schema):
    @login_required
    @blp.doc(security=BEARER)
    @blp.arguments(schema())  # an instance: given a class, webargs builds one per request
    @blp.response(201, DeclarationWithActions)
    def create(data):
        return context.declarations().create(context.actor(), kind, data)

    return create


def _make_update(kind: Kind, schema):
    @login_required
    @blp.doc(security=BEARER)
    @blp.arguments(schema())  # an instance: given a class, webargs builds one per request
    @blp.response(200, DeclarationWithActions)
    def update(data, reference):
        service = context.declarations()
        if service.get(context.actor(), reference).kind != kind:
            raise NotFound("declaration")
        return service.update(context.actor(), reference, data)

    return update


for path, (kind, create_schema, update_schema) in KIND_PATHS.items():
    name = path.replace("-", "_")
    blp.add_url_rule(f"/declarations/{path}", f"create_{name}",
                     _make_create(kind, create_schema), methods=["POST"])
    blp.add_url_rule(f"/declarations/{path}/<reference>", f"update_{name}",
                     _make_update(kind, update_schema), methods=["PUT"])


@blp.route("/declarations", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(StatusFilter, location="query", unknown=RAISE)
@blp.response(200, DeclarationWithActions(many=True))
def list_own(query):
    """The declarations of the caller's organization, newest change first."""
    return context.declarations().list_own(context.actor(), query["status"])


@blp.route("/declarations/<reference>", methods=["GET"])
@blp.doc(security=BEARER)
@blp.response(200, DeclarationWithActions)
def read(reference):
    """Anyone may read a registered public declaration; the rest needs a token that may see it."""
    return context.declarations().get(context.actor(), reference)


@blp.route(
    "/declarations/<reference>/<any(submit, withdraw, register, return, reject):action>",
    methods=["POST"],
)
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.ActionIn)
@blp.response(200, DeclarationWithActions)
def act(data, reference, action):
    """Move a declaration: submit or withdraw (declarant); register, return or reject (official)."""
    return context.declarations().transition(
        context.actor(), reference, action, data["comment"], data["version"]
    )


@blp.route("/declarations/<reference>/amend", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.response(201, DeclarationWithActions)
def amend(reference):
    """Start an amendment of a registered declaration; it supersedes the old one once registered."""
    return context.declarations().amend(context.actor(), reference)


@blp.route("/declarations/<reference>/history", methods=["GET"])
@blp.doc(security=BEARER)
@blp.response(200, s.HistoryEventOut(many=True))
def history(reference):
    return context.declarations().history(context.actor(), reference)


@blp.route("/review-queue", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, DeclarationWithActions(many=True))
def review_queue():
    """Submitted declarations waiting for an official, oldest first."""
    return context.declarations().review_queue(context.actor())


@blp.route("/register", methods=["GET"])
# RAISE: webargs ignores unknown query parameters by default, so a misspelt filter would
# silently return the whole register; the HTML register page refuses them too.
@blp.arguments(s.RegisterQuery, location="query", unknown=RAISE)
@blp.response(200, s.RegisterPageOut)
def register(query):
    """The public register: registered public declarations, full text and filters."""
    return search.search(context.db(), search.RegisterQuery(**query))


@blp.route("/key-list", methods=["GET"])
@blp.response(200, KeyListEntryOut(many=True))
def key_list():
    """Taxa on the key regulatory list, which need national-level review."""
    return keylist.active_entries(context.db())
