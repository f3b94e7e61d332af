"""Reading HTML forms through the same marshmallow schemas as the API."""

from __future__ import annotations

from flask import request
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from abs_registry.errors import DomainError, ValidationError
from abs_registry.web import localize

NOT_DATA = {"csrf_token", "intent"}


def read(schema: Schema, list_fields: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Return (raw values to show again, validated data); raise ValidationError on bad input.

    Empty inputs count as missing for required fields and as None for optional ones; list
    fields are one item per line.
    """
    raw = {k: v for k, v in request.form.items() if k not in NOT_DATA}
    data: dict = {}
    for name, value in raw.items():
        if name in list_fields:
            data[name] = [line.strip() for line in value.splitlines() if line.strip()]
        elif value.strip() == "":
            field = schema.fields.get(name)
            if field is not None and not field.required:
                data[name] = None
        else:
            data[name] = value.strip()
    try:
        return raw, schema.load(data)
    except SchemaError as exc:
        raise ValidationError(exc.messages) from exc


def errors_of(exc: DomainError) -> dict[str, list[str]]:
    """Each field's messages in the reader's language, to show beside the field."""
    return localize.errors(exc.as_errors())
