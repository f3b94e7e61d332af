"""Sign-in, sign-out, registering an organization, its members, and one's API tokens."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError as SchemaError
from marshmallow import fields, validate, validates_schema

from abs_registry import regions
from abs_registry.auth import identity
from abs_registry.auth.identity import login_required
from abs_registry.auth.models import OrgKind
from abs_registry.auth.service import may_manage_members
from abs_registry.declarations.schemas import StrictSchema
from abs_registry.errors import Conflict, DomainError, ValidationError
from abs_registry.i18n_marker import N_
from abs_registry.web import context, forms, localize

bp = Blueprint("auth", __name__)


class SignInForm(StrictSchema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128))
    next = fields.String(load_default=None, allow_none=True)


class RegisterForm(StrictSchema):
    organization_name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = fields.Enum(OrgKind, by_value=True, required=True)
    region_code = fields.String(load_default=None, allow_none=True)
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=12, max=128))
    password_confirm = fields.String(required=True)

    @validates_schema
    def _check(self, data, **_kw):
        if data.get("password") != data.get("password_confirm"):
            raise SchemaError(N_("The passwords do not match."), field_name="password_confirm")
        code = data.get("region_code")
        if code and not regions.is_valid(code):
            raise SchemaError(N_("Unknown administrative region code."),
                              field_name="region_code")


class MemberForm(StrictSchema):
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=12, max=128))


class PasswordForm(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=128))
    new_password = fields.String(required=True, validate=validate.Length(min=12, max=128))
    new_password_confirm = fields.String(required=True)

    @validates_schema
    def _check(self, data, **_kw):
        if data.get("new_password") != data.get("new_password_confirm"):
            raise SchemaError(N_("The passwords do not match."),
                              field_name="new_password_confirm")


class TokenForm(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


def _safe_next(target: str | None) -> str:
    return identity.safe_next(target, url_for("pages.dashboard"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        return render_template("auth/sign_in.html", values={"next": request.args.get("next")},
                               errors={})
    values: dict = dict(request.form)
    try:
        values, data = forms.read(SignInForm())
        user = context.accounts().authenticate(data["email"], data["password"],
                                               request.remote_addr)
    except ValidationError as exc:
        return render_template("auth/sign_in.html", values=values,
                               errors=forms.errors_of(exc)), 422
    except DomainError as exc:
        return render_template("auth/sign_in.html", values=values,
                               errors={"password": localize.messages(exc.message)}), exc.status
    identity.sign_in(user)
    return redirect(_safe_next(values.get("next")))


@bp.post("/sign-out")
def sign_out():
    identity.sign_out()
    flash(_("You are signed out."))
    return redirect(url_for("pages.home"))


@bp.route("/register-organization", methods=["GET", "POST"])
def register_organization():
    if request.method == "GET":
        return render_template("auth/register.html", values={}, errors={})
    values: dict = dict(request.form)
    try:
        values, data = forms.read(RegisterForm())
        data.pop("password_confirm")
        user = context.accounts().register_organization(
            organization_name=data["organization_name"], kind=data["kind"],
            region_code=data["region_code"], display_name=data["display_name"],
            email=data["email"], password=data["password"],
        )
    except ValidationError as exc:
        return render_template("auth/register.html", values=values,
                               errors=forms.errors_of(exc)), 422
    except DomainError as exc:
        return render_template("auth/register.html", values=values,
                               errors=forms.errors_of(exc)), exc.status
    identity.sign_in(user)
    flash(_("Your organization is registered and you are signed in."))
    return redirect(url_for("pages.dashboard"))


@bp.get("/account")
@login_required
def account():
    tokens = context.accounts().tokens(context.actor())
    return render_template("auth/account.html", tokens=tokens, new_token=None, errors={})


@bp.post("/account/tokens")
@login_required
def create_token():
    try:
        _values, data = forms.read(TokenForm())
        _token, secret = context.accounts().issue_token(context.actor(), data["name"])
    except ValidationError as exc:
        tokens = context.accounts().tokens(context.actor())
        return render_template("auth/account.html", tokens=tokens, new_token=None,
                               errors=forms.errors_of(exc)), 422
    tokens = context.accounts().tokens(context.actor())
    return render_template("auth/account.html", tokens=tokens, new_token=secret, errors={})


@bp.post("/account/password")
@login_required
def change_password():
    try:
        _values, data = forms.read(PasswordForm())
        context.accounts().change_password(context.actor(), data["current_password"],
                                           data["new_password"],
                                           keep_session=identity.session_token())
    except ValidationError as exc:
        tokens = context.accounts().tokens(context.actor())
        return render_template("auth/account.html", tokens=tokens, new_token=None,
                               errors=forms.errors_of(exc)), 422
    flash(_("Your password is changed; your other sessions are signed out."))
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    context.accounts().revoke_token(context.actor(), token_id)
    flash(_("The token is revoked."))
    return redirect(url_for("auth.account"))


def _organization_page(values: dict, errors: dict, status: int = 200):
    actor = context.actor()
    members = context.accounts().members(actor)
    return render_template("auth/organization.html", organization=actor.organization,
                           members=members, may_add=may_manage_members(actor),
                           values=values, errors=errors), status


@bp.get("/organization")
@login_required
def organization():
    return _organization_page({}, {})


@bp.post("/organization/members")
@login_required
def add_member():
    values: dict = {}
    try:
        values, data = forms.read(MemberForm())
        member = context.accounts().add_member(
            context.actor(), email=data["email"], display_name=data["display_name"],
            password=data["password"])
    except (ValidationError, Conflict) as exc:
        return _organization_page(values, forms.errors_of(exc), exc.status)
    flash(_("%(name)s can now sign in as a member of your organization.",
            name=member.display_name))
    return redirect(url_for("auth.organization"))
