"""Permits over JSON: issue, amend, change status, read, verify, and the JWK Set."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import current_app, jsonify
from flask_smorest import Blueprint

from abs_registry.auth.identity import login_required
from abs_registry.errors import ValidationError
from abs_registry.permits import certificate
from abs_registry.permits import schemas as s
from abs_registry.permits.keys import jwks
from abs_registry.web import context
from abs_registry.web.idempotency import idempotent

blp = Blueprint("permits_api", __name__, url_prefix="/api/v1",
                description="Signed access permits, their status and their verification")
well_known = FlaskBlueprint("well_known", __name__)
BEARER = [{"bearerAuth": []}]


@well_known.get("/.well-known/jwks.json")
def jwk_set():
    """The authority's public keys, retired ones included, with the period each signed in."""
    response = jsonify(jwks(context.db()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blp.route("/permits", methods=["POST"])
@login_required
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(s.PermitIn)
@blp.response(201, s.PermitOut)
def issue(data):
    """Issue and sign the permit of an approved application (officials of the deciding level)."""
    return _with_certificate(context.permits().issue(context.actor(), data.pop("application"),
                                                     data))


@blp.route("/permits/<number>", methods=["GET"])
@blp.response(200, s.PermitOut)
def read(number):
    """The version in force (public: a permit carries nothing confidential)."""
    return context.permits().get(number)


@blp.route("/permits/<number>/versions/<int:version>", methods=["GET"])
@blp.response(200, s.PermitOut)
def read_version(number, version):
    return context.permits().get(number, version)


@blp.route("/permits/<number>/amendments", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.AmendmentIn)
@blp.response(201, s.PermitOut)
def amend(data, number):
    """Issue a new signed version that supersedes the one in force."""
    reason = data.pop("reason")
    return _with_certificate(context.permits().amend(context.actor(), number, data, reason))


def _with_certificate(permit):
    """Render the signed PDF in the background now, so nobody waits for it later."""
    current_app.extensions["abs"].certificates.warm(certificate.Signed.of(permit))
    return permit


@blp.route("/permits/<number>/status", methods=["POST"])
@login_required
@blp.doc(security=BEARER)
@blp.arguments(s.StatusChangeIn)
@blp.response(201, s.StatementOut)
def change_status(data, number):
    """Suspend, reinstate or revoke: a signed status statement."""
    return context.permits().change_status(context.actor(), number, data["status"],
                                           data["reason"])


@blp.route("/verify", methods=["POST"])
@blp.arguments(s.VerifyIn)
@blp.response(200, s.CheckOut)
def verify(data):
    """Verify a compact JWS, or look a permit up by number; no account needed.

    `valid` is true only when the signature verifies with a published key AND the permit is
    valid today; otherwise `reason` says why.
    """
    service = context.permits()
    if data.get("jws"):
        return service.check_token(data["jws"])
    if data.get("number"):
        return service.check_number(data["number"], data.get("version"))
    raise ValidationError({"jws": ["send a compact JWS, or a permit number"]})
