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
# Fixed values for parameters that name no record: (values, values naming nothing).
FIXED = {
    ("*", "kind_path"): (["traditional-knowledge", "genetic-resource", "dsi"],
                         ["nothing-here"]),
    ("static", "filename"): (["style.css"], []),
    ("docs", "path"): (["swagger-ui.css"], []),
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
    first: bool = True  # the route's first planted values (the walk varies a body there)

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
                    tuple(new if r == old else r for r in self.refs), self.first)


def collection(rule: Rule) -> str:
    """What a route's parameters name things in: its first path segment after ``/api/v1``
    (``/api/v1/permits/<number>`` and ``/permits/<number>/amend`` are both ``permits``)."""
    segments = [s for s in rule.rule.split("/") if s and s not in ("api", "v1")]
    return segments[0] if segments else ""


@dataclass
class Fill:
    """What the walker knows to put in a route's parameters.

    ``known[(collection, name)]`` (or ``known[("*", name)]`` for a name that means the same
    in every collection) is a pair: the planted values, and values that name nothing (a
    reference never issued, an id past the end). A parameter without planted values cannot be
    filled, and fails the walk: a route the walk cannot reach is not a route it covers.
    """

    known: dict[tuple[str, str], tuple[list, list]]
    actions: dict[str, list[str]]  # collection -> the actions its routes name

    def values(self, rule: Rule, name: str) -> tuple[list, list] | None:
        converter = rule._converters.get(name)
        if isinstance(converter, AnyConverter):
            return sorted(converter.items), []
        if name == "action":  # a page's free <action>: those of its collection, and one more
            every = sorted({a for actions in self.actions.values() for a in actions})
            return self.actions.get(collection(rule), every), ["nothing-here"]
        found = self.known.get((collection(rule), name)) or self.known.get(("*", name))
        if found is None or not found[0]:
            return None
        return found


def verify_calls(permits: list) -> list[Call]:
    """Verification as a verifier asks it: the page with the QR code's URL, a pasted JWS or
    number, and the API with either (all answer without an account)."""
    calls = []
    for permit in permits:
        number, version, jws = permit.number, str(permit.version), permit.jws
        calls += [
            Call("/verify", "permits.verify", "GET", "/verify",
                 query={"permit": number, "v": version}),
            Call("/verify", "permits.verify", "POST", "/verify", body={"q": jws},
                 body_kind="form"),
            Call("/verify", "permits.verify", "POST", "/verify",
                 body={"q": number, "v": version}, body_kind="form"),
            Call("/api/v1/verify", "permits_api.verify", "POST", "/api/v1/verify",
                 body={"jws": jws}, body_kind="json"),
            Call("/api/v1/verify", "permits_api.verify", "POST", "/api/v1/verify",
                 body={"number": number, "version": int(version)}, body_kind="json"),
        ]
    return calls


def all_actions(app: Flask) -> dict[str, list[str]]:
    """The actions each collection's routes spell out (``<any(submit, ...):action>``)."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        converter = rule._converters.get("action")
        if isinstance(converter, AnyConverter):
            found.setdefault(collection(rule), set()).update(converter.items)
    return {name: sorted(items) for name, items in found.items()}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def plan(app: Flask, fill: Fill, spec: dict) -> tuple[list[Call], list[str]]:
    """Every (route, method, parameter values) to send; and the routes it could not fill.

    Planted values are combined in full (a grant id under every record's reference asks
    whether one record's grant answers through another); a value naming nothing is sent once
    per route, with the first planted value of every other parameter.
    """
    calls, unfillable = [], []
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule in EXCLUDED:
            continue
        choices = {name: fill.values(rule, name) for name in sorted(rule.arguments)}
        if missing := [n for n, v in choices.items() if not v]:
            unfillable.append(f"{rule.rule} ({rule.endpoint}): cannot fill {missing}")
            continue
        combos = [dict(zip(choices, c, strict=True))
                  for c in product(*(planted for planted, _ in choices.values()))]
        first = {name: planted[0] for name, (planted, _) in choices.items()}
        combos += [{**first, name: value} for name, (_, absent) in choices.items()
                   for value in absent]
        for method in sorted(rule.methods - IGNORED_METHODS):
            operation = spec.get("paths", {}).get(openapi_path(rule.rule), {}).get(
                method.lower())
            for index, values in enumerate(combos):
                path = adapter.build(rule.endpoint, values, method=method)
                # building by endpoint may pick a sibling rule; keep only this rule's URLs
                if adapter.match(path, method=method, return_rule=True)[0] is not rule:
                    continue
                refs = tuple(v for v in values.values() if isinstance(v, str)
                             and REFERENCE.match(v))
                calls.append(Call(rule.rule, rule.endpoint, method, path, refs=refs,
                                  first=index == 0, **_api_body(operation, spec)))
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
