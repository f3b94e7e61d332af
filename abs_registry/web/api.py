"""The JSON API under /api/v1: flask-smorest builds the OpenAPI document from the schemas."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import request
from flask_smorest import Api
from flask_swagger_ui import get_swaggerui_blueprint
from marshmallow import Schema, fields

from abs_registry.errors import UnsupportedMediaType

OPENAPI_PATH = "/api/v1/openapi.json"
# Endpoints that take a document as multipart/form-data instead of JSON; only they may
# receive more than the app's MAX_CONTENT_LENGTH.
UPLOAD_ENDPOINTS = frozenset({"applications_api.upload_attachment", "applications.attach",
                              "obligations_api.upload_attachment",
                              "obligations.record_payment", "obligations.add_evidence",
                              "tk_api.upload_attachment", "tk.attach"})
UPLOAD_LIMIT = 11 * 1024 * 1024  # an attachment of 10 MB and its envelope


def allow_uploads() -> None:
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = UPLOAD_LIMIT


class ErrorOut(Schema):
    """What every 4xx and 5xx answer of the API carries (see web/errors.py)."""

    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "messages by field name, or by the rule that was broken",
                  "example": {"latitude": ["Must be between -90 and 90."]}},
    )
    state = fields.String(metadata={"description": "on 409: the record's current state"})
    allowed = fields.List(fields.String(),
                          metadata={"description": "on 409: the moves allowed now"})


class RegistryApi(Api):
    ERROR_SCHEMA = ErrorOut


def require_json_body() -> None:
    """Refuse bodies that are not JSON, instead of reading them as an empty object."""
    if not request.path.startswith("/api/") or request.endpoint in UPLOAD_ENDPOINTS:
        return
    has_body = request.method in {"POST", "PUT", "PATCH"} and request.content_length
    if has_body and not request.is_json:
        raise UnsupportedMediaType("send the body as application/json", field="content_type")


def init_app(app) -> Api:
    app.config.update(
        API_TITLE="abs-registry",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Declarations of genetic resources, DSI and traditional "
                "knowledge; the review workflow; the public register.",
            },
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
            },
        },
    )
    api = RegistryApi(app)

    from abs_registry.applications.api import blp as applications_blp
    from abs_registry.auth.api import blp as auth_blp
    from abs_registry.declarations.api import blp as declarations_blp
    from abs_registry.movements.api import blp as movements_blp
    from abs_registry.obligations.api import blp as obligations_blp
    from abs_registry.permits.api import blp as permits_blp
    from abs_registry.tk.api import blp as tk_blp

    for blp in (auth_blp, declarations_blp, applications_blp, tk_blp, permits_blp,
                obligations_blp, movements_blp):
        api.register_blueprint(blp)
    app.before_request(allow_uploads)
    app.before_request(require_json_body)

    docs: FlaskBlueprint = get_swaggerui_blueprint(
        "/api/v1/docs", OPENAPI_PATH, config={"app_name": "abs-registry API"},
        blueprint_name="api_docs",
    )
    app.register_blueprint(docs)
    return api
