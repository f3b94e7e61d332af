"""Every rule of ``app.url_map`` as concrete requests: parameters filled, bodies made up.

Parameters are filled by name from the planted data; a parameter the walker does not know
fails the walk, naming the route, so a new route is never skipped silently. API bodies are
generated from the app's own OpenAPI document (so a new API schema is filled without help);
page forms are the forms the walk found on the pages it read, as browsers would post them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import product

from flask import Flask
from werkzeug.routing import AnyConverter, Rule

from abs_registry.declarations.schemas import REFERENCE

# Routes the walk leaves out, each with its reason. Nothing else is skipped.
EXCLUDED: dict[str, str] = {}
# Fixed values for parameters that name no record.
FIXED = {
    "kind_path": ["traditional-knowledge", "genetic-resource", "dsi", "nothing-here"],
    "filename": ["style.css"],  # the static folder
    "path": ["swagger-ui.css"],  # the API docs' static files
}
MISSING_ID = 2**31 - 1  # the largest id the converters accept; never issued in a walk
WALK_TEXT = "Walked by the leak test, plainly."
IGNORED_METHODS = {"HEAD", "OPTIONS"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Call:
    rule: str
    endpoint: str
    method: str
    path: str
    query: dict = field(default_factory=dict)
    body: dict | None = None
    body_kind: str = "none"  # none, json, form, multipart
    refs: tuple[str, ...] = ()  # references the request itself carries (path, query, body)

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    def with_ref(self, old: str, new: str) -> Call:
        """The same request with one reference swapped for another (a missing one)."""
        def swap(value):
            if isinstance(value, str):
                return value.replace(old, new)
            if isinstance(value, list):
                return [swap(v) for v in value]
            if isinstance(value, dict):
                return {k: swap(v) for k, v in value.items()}
            return value
        return Call(self.rule, self.endpoint, self.method, swap(self.path), swap(self.query),
                    swap(self.body), self.body_kind,
                    tuple(new if r == old else r for r in self.refs))


@dataclass
class Fill:
    """What the walker knows to put in a route's parameters."""

    tk_refs: list[str]
    missing_tk: str
    app_refs: list[str]
    missing_app: str
    consent_ids: list[int]
    token_ids: list[int]
    actions: list[str]

    def values(self, rule: Rule, name: str) -> list | None:
        converter = rule._converters.get(name)
        if isinstance(converter, AnyConverter):
            return sorted(converter.items)
        if name == "reference":
            if "application" in rule.endpoint:
                return [*self.app_refs, self.missing_app]
            return [*self.tk_refs, self.missing_tk]
        if name == "action":
            return self.actions
        if name == "consent_id":
            return [*self.consent_ids, MISSING_ID]
        if name == "token_id":
            return [*self.token_ids, MISSING_ID]
        if name == "attachment_id":
            return [1, MISSING_ID]
        return FIXED.get(name)


def all_actions(app: Flask) -> list[str]:
    return sorted({item for rule in app.url_map.iter_rules()
                   for c in rule._converters.values() if isinstance(c, AnyConverter)
                   for item in c.items})


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def plan(app: Flask, fill: Fill, spec: dict) -> tuple[list[Call], list[str]]:
    """Every (route, method, parameter values) to send; and the routes it could not fill."""
    calls, unfillable = [], []
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule in EXCLUDED:
            continue
        choices = {name: fill.values(rule, name) for name in sorted(rule.arguments)}
        if missing := [n for n, v in choices.items() if not v]:
            unfillable.append(f"{rule.rule} ({rule.endpoint}): cannot fill {missing}")
            continue
        for method in sorted(rule.methods - IGNORED_METHODS):
            operation = spec.get("paths", {}).get(openapi_path(rule.rule), {}).get(
                method.lower())
            for combo in product(*choices.values()):
                values = dict(zip(choices, combo, strict=True))
                path = adapter.build(rule.endpoint, values, method=method)
                # building by endpoint may pick a sibling rule; keep only this rule's URLs
                if adapter.match(path, method=method, return_rule=True)[0] is not rule:
                    continue
                refs = tuple(v for v in values.values() if isinstance(v, str)
                             and REFERENCE.match(v))
                calls.append(Call(rule.rule, rule.endpoint, method, path, refs=refs,
                                  **_api_body(operation, spec)))
    return calls, unfillable


# --- API bodies from the OpenAPI document ---------------------------------------------------

def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _api_body(operation: dict | None, spec: dict) -> dict:
    if not operation or "requestBody" not in operation:
        return {}
    content = operation["requestBody"]["content"]
    if "multipart/form-data" in content:
        return {"body": {"file": "upload"}, "body_kind": "multipart"}
    schema = _resolve(spec, content.get("application/json", {}).get("schema", {}))
    return {"body": example(spec, schema, ""), "body_kind": "json"}


def example(spec: dict, schema: dict, name: str):
    """A plausible value for a JSON schema; ``"{ref}"`` marks where a reference goes."""
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: example(spec, v, k) for k, v in schema.get("properties", {}).items()
                if k != "version" or k in schema.get("required", [])}
    if kind == "array":
        item = example(spec, schema.get("items", {}), name)
        return [item] if item is not None else []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return max(int(float(schema.get("minimum", 1))), 1)
    if kind == "string":
        if schema.get("pattern") == REFERENCE.pattern:
            return "{ref}"
        if "pattern" in schema:
            return None
        if schema.get("format") == "date":
            return "2026-01-15"
        if schema.get("format") == "email":
            return "walker@example.org"
        if "species" in name or "scientific" in name:
            return "Oryza sativa"
        text = WALK_TEXT
        return text[: schema.get("maxLength", len(text))] if len(text) >= schema.get(
            "minLength", 0) else text * 4
    return None


def query_names(spec: dict, rule: str) -> list[str]:
    """Free-text query parameters of an API route (where a search term goes)."""
    operation = spec.get("paths", {}).get(openapi_path(rule), {}).get("get", {})
    return [p["name"] for p in operation.get("parameters", [])
            if p.get("in") == "query" and p.get("schema", {}).get("type") == "string"
            and "enum" not in p["schema"] and "format" not in p["schema"]]


# --- page forms, as found on the pages -------------------------------------------------------

@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    files: list[str]
    text_inputs: list[str]


class _FormParser(HTMLParser):
    def __init__(self, page_path: str):
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = a.get("action") or self.page_path
            self._form = Form(action.split("#")[0], (a.get("method") or "get").upper(), {},
                              [], [])
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "file":
                self._form.files.append(name)
            elif kind in ("checkbox", "radio"):
                self._form.fields.setdefault(name, a.get("value", "on"))
            elif kind not in ("submit", "button", "reset"):
                self._form.fields[name] = a.get("value", "")
                if kind in ("text", "search"):
                    self._form.text_inputs.append(name)
        elif tag == "button" and a.get("value"):
            self._form.fields.setdefault(name, a["value"])
        elif tag == "textarea":
            self._textarea = name
            self._form.fields[name] = ""
            self._form.text_inputs.append(name)
        elif tag == "select":
            self._select = name
            self._form.fields.setdefault(name, "")
        elif tag == "option" and self._select and "value" in a and (
                not self._form.fields.get(self._select) or "selected" in a):
            self._form.fields[self._select] = a["value"]

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def forms_of(page_path: str, html_text: str) -> list[Form]:
    parser = _FormParser(page_path)
    parser.feed(html_text)
    return parser.forms


def upload() -> tuple[io.BytesIO, str]:
    return io.BytesIO(b"%PDF-1.4\n% a document attached by the leak walk\n"), "walk.pdf"
