"""The one mapping from errors to HTTP answers: JSON under /api/, a page elsewhere."""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from marshmallow import ValidationError as SchemaError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from abs_registry.auth.identity import is_api_request
from abs_registry.errors import DomainError
from abs_registry.i18n_marker import N_
from abs_registry.web import localize

log = logging.getLogger(__name__)

WEBARGS_LOCATIONS = ("json", "query", "form", "files", "headers", "view_args", "path")


def _flatten(messages: dict) -> dict[str, list[str]]:
    """webargs nests messages by location ({"json": {"field": [...]}}); the API names fields."""
    flat: dict[str, list[str]] = {}
    for location, by_field in messages.items():
        if location in WEBARGS_LOCATIONS and isinstance(by_field, dict):
            for field, problems in by_field.items():
                key = location if field == "_schema" else field
                flat[key] = _as_list(problems)
        else:
            flat[location] = _as_list(by_field)
    return flat


def _as_list(problems) -> list:
    if isinstance(problems, list):
        return problems
    if isinstance(problems, dict):
        return [problems]
    return [str(problems)]


def _answer(status: int, errors: dict, extra: dict | None = None):
    if is_api_request():
        body = {"errors": errors, **(extra or {})}
        return jsonify(body), status
    message = "; ".join(m for ms in errors.values() for m in localize.messages(ms))
    return render_template("error.html", status=status, message=message), status


# Headers that tell a client how to recover (RFC 9110: 401 names the scheme, 429 the wait).
RECOVERY_HEADERS = {401: ("WWW-Authenticate", "Bearer"), 429: ("Retry-After", "900")}


def handle_domain(exc: DomainError):
    extra = {k: v for k, v in exc.details.items()}
    body, status = _answer(exc.status, exc.as_errors(), extra)
    if status in RECOVERY_HEADERS and is_api_request():
        name, value = RECOVERY_HEADERS[status]
        body.headers[name] = value
    return body, status


def handle_schema(exc: SchemaError):
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return _answer(422, _flatten(messages))


def handle_http(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    if "messages" in data:
        response = _answer(exc.code, _flatten(data["messages"]))
    else:
        response = _answer(exc.code or 500, {"_schema": [exc.description or exc.name]})
    if exc.code == 405 and is_api_request():
        body, status = response
        body.headers["Allow"] = ", ".join(exc.valid_methods or [])
    return response


def handle_stale(_exc: StaleDataError):
    return _answer(409, {"version": [N_("the record was changed by someone else; reload it")]})


def handle_recursion(exc: RecursionError):
    """A JSON body nested deeper than the parser's stack is bad input, not a server fault."""
    if request.is_json and "JSON" in str(exc):
        return _answer(400, {"json": [N_("The JSON body is nested too deeply.")]})
    return handle_unexpected(exc)


def handle_integrity(_exc: IntegrityError):
    """Two requests raced to create the same thing (a name, an e-mail): the loser is told so."""
    return _answer(409, {"_schema": [N_(
        "this conflicts with a record that was just created; reload and try again")]})


def handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _answer(500, {"_schema": [N_("internal error; it has been logged")]})


def register(app) -> None:
    app.register_error_handler(DomainError, handle_domain)
    app.register_error_handler(SchemaError, handle_schema)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(StaleDataError, handle_stale)
    app.register_error_handler(IntegrityError, handle_integrity)
    app.register_error_handler(RecursionError, handle_recursion)
    app.register_error_handler(Exception, handle_unexpected)
