"""API tokens: exchange a password for a bearer token, list and revoke them."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from abs_registry.auth.identity import login_required
from abs_registry.declarations.schemas import StrictSchema
from abs_registry.web import context

blp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="Accounts and API tokens")
BEARER = [{"bearerAuth": []}]


class TokenRequest(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewTokenOut(TokenOut):
    token = fields.String(metadata={"description": "shown once; store it safely"})


class MeOut(Schema):
    id = fields.Integer()
    email = fields.String()
    display_name = fields.String()
    role = fields.String()
    official_level = fields.String(allow_none=True)
    tk_clearance = fields.Boolean()
    prior_art_search = fields.Boolean()
    organization = fields.Function(
        lambda u: {"id": u.organization.id, "name": u.organization.name,
                   "kind": u.organization.kind.value} if u.organization else None
    )


class MemberIn(StrictSchema):
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=12, max=128),
                             metadata={"description": "initial password, 12 to 128 characters"})


class MemberOut(Schema):
    id = fields.Integer()
    email = fields.String()
    display_name = fields.String()
    role = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()


@blp.route("/organization/members", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, MemberOut(many=True))
def list_members():
    """The people of the caller's own organization."""
    return context.accounts().members(context.actor())


@blp.route("/organization/members", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(MemberIn)
@blp.response(201, MemberOut)
def add_member(data):
    """Add a colleague to the caller's own organization; they get the organization's role."""
    return context.accounts().add_member(context.actor(), **data)


@blp.route("/tokens", methods=["POST"])
@blp.arguments(TokenRequest)
@blp.response(201, NewTokenOut)
def create_token(data):
    """Sign in with e-mail and password and receive a new bearer token."""
    accounts = context.accounts()
    user = accounts.authenticate(data["email"], data["password"], request.remote_addr)
    token, secret = accounts.issue_token(user, data["name"])
    token.token = secret
    return token, 201, {"Cache-Control": "no-store"}


@blp.route("/tokens", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, TokenOut(many=True))
def list_tokens():
    return context.accounts().tokens(context.actor())


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, TokenOut)
def revoke_token(token_id):
    return context.accounts().revoke_token(context.actor(), token_id)


@blp.route("/me", methods=["GET"])
@login_required
@blp.doc(security=BEARER)
@blp.response(200, MeOut)
def me():
    return context.actor()
