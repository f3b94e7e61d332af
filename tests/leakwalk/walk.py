"""Send the planned requests as each role, and collect every leak as a finding.

Three checks on every answer:
- no marker of a field the role may not see, and no reference of a record it may not know of,
  anywhere in what it receives (status, headers, session cookie, body, PDF text);
- a request naming a record the role may not know of answers byte for byte like the same
  request naming a reference never issued (only the reference itself differs);
- a search for a hidden record's marker answers like a search for a marker never planted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Flask
from werkzeug.test import TestResponse

from abs_registry.auth.identity import SESSION_KEY
from abs_registry.auth.service import AccountService
from tests.leakwalk import markers, policy, routes
from tests.leakwalk.plant import ROLES, Cast, Record
from tests.leakwalk.routes import MUTATING, WALK_TEXT, Call, Form

CSRF = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*|(csrf_token":\s*")[^"]*')


@dataclass(frozen=True)
class Finding:
    check: str
    role: str
    method: str
    rule: str
    url: str
    detail: str

    def __str__(self) -> str:
        return (f"[{self.check}] {self.method} {self.rule} as {self.role}: {self.detail}"
                f"\n    request: {self.url}")


@dataclass
class Walker:
    app: Flask
    cast: Cast
    accounts: AccountService
    spec: dict
    missing_tk: str
    findings: list[Finding] = field(default_factory=list)
    forms: dict[str, Form] = field(default_factory=dict)  # endpoint -> a form posting there
    sent: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)  # (role, record.field) received
    probes: int = 0

    def __post_init__(self):
        self.clients, self.tokens = {}, {}
        for role in ROLES:
            self.clients[role] = self.app.test_client()
            user = self.cast.users.get(role)
            if user is not None:
                self.tokens[role] = self.accounts.issue_token(user, "leak walk")[1]
                self.sign_in(role)

    def sign_in(self, role: str) -> None:
        sid = self.accounts.start_session(self.cast.users[role])
        with self.clients[role].session_transaction() as s:
            s[SESSION_KEY] = sid

    # --- sending ----------------------------------------------------------------------------

    def send(self, role: str, call: Call) -> TestResponse:
        self.sent += 1
        kwargs: dict = {"method": call.method, "query_string": call.query or None}
        if call.is_api and role in self.tokens:
            kwargs["headers"] = {"Authorization": f"Bearer {self.tokens[role]}"}
        if call.body_kind == "json":
            kwargs["json"] = call.body
        elif call.body_kind == "form":
            kwargs["data"] = call.body
        elif call.body_kind == "multipart":
            kwargs["data"] = {name: routes.upload() for name in call.body}
            kwargs["content_type"] = "multipart/form-data"
        response = self.clients[role].open(call.path, **kwargs)
        if call.method in MUTATING and role in self.tokens and _cleared_session(response):
            self.sign_in(role)  # signing out (or a password change) must not end the walk
        return response

    # --- what each role may not receive -----------------------------------------------------

    def forbidden(self, role: str, call: Call) -> list[tuple[str, str]]:
        """(text to look for, what it is) for everything ``role`` may not see here; the
        references the request itself carries are compared with missing ones instead."""
        out = []
        for record in self.cast.records:
            for name in policy.hidden_fields(role, record):
                out.append((record.markers[name], f"{record.name}.{name}"))
            if not policy.knows_of(role, record) and record.reference not in call.refs:
                out.append((record.reference.casefold(), f"{record.name}.reference"))
        return out

    def hidden_records(self, role: str) -> list[Record]:
        return [r for r in self.cast.records if not policy.knows_of(role, r)]

    # --- checks -----------------------------------------------------------------------------

    def check(self, role: str, call: Call) -> TestResponse:
        """Send ``call``, look for markers, and for each record it names that ``role`` may
        not know of, compare with the same request naming a missing record."""
        hidden = [r for r in self.hidden_records(role) if r.reference in call.refs]
        if hidden and not call.is_api:
            # A message flashed by an earlier request shows on the next page; let a throwaway
            # request take it, so that both requests compared start from the same session.
            self.send(role, call.with_ref(hidden[0].reference, self.missing_tk))
        response = self.send(role, call)
        self.scan(role, call, response)
        for record in hidden:
            if record.reference in call.refs:
                absent = self.send(role, call.with_ref(record.reference, self.missing_tk))
                self.compare(role, call, response, absent, [record.reference, self.missing_tk],
                             f"naming {record.name} ({record.reference}) answers unlike "
                             f"naming a missing reference ({self.missing_tk})")
        return response

    def scan(self, role: str, call: Call, response: TestResponse) -> None:
        text = markers.response_text(self.app, response)
        for record in self.cast.records:
            self.seen.update((role, f"{record.name}.{name}")
                             for name, token in record.markers.items() if token in text)
        for needle, what in self.forbidden(role, call):
            if needle in text:
                self.report("marker", role, call, f"{what} ({needle}) shows "
                            f"in a {response.status_code} answer")

    def compare(self, role, call, seen, absent, swapped: list[str], detail: str) -> None:
        a, b = normalized(seen, swapped), normalized(absent, swapped)
        if a != b:
            self.report("existence", role, call, f"{detail}; first difference: "
                        f"{_first_difference(a, b)}")

    def probe_search(self, role: str, call: Call, names: list[str]) -> None:
        """A search for a hidden record's marker answers like one for a marker never planted."""
        for record in self.hidden_records(role):
            for field_name, token in record.markers.items():
                if field_name.endswith("comment"):
                    continue
                for name in names:
                    self.probes += 1
                    fresh = markers.token()
                    value = _marker_value(record, field_name, token)
                    hit = self.send(role, _with_query(call, name, value))
                    miss = self.send(role, _with_query(call, name, value.replace(token, fresh)))
                    self.compare(role, _with_query(call, name, value), hit, miss,
                                 [token, fresh], f"searching {name}= for {record.name}."
                                 f"{field_name} answers unlike searching for an unknown marker")

    def report(self, check: str, role: str, call: Call, detail: str) -> None:
        url = call.path + (f"?{urlencode(call.query)}" if call.query else "")
        self.findings.append(Finding(check, role, call.method, call.rule, url, detail))

    # --- forms found on the pages -----------------------------------------------------------

    def harvest(self, call: Call, response: TestResponse) -> None:
        if response.mimetype != "text/html":
            return
        adapter = self.app.url_map.bind("localhost")
        for form in routes.forms_of(call.path, response.get_data(as_text=True)):
            try:
                endpoint, _values = adapter.match(form.action.split("?")[0], method=form.method)
            except Exception:  # noqa: BLE001 - a form posting off the app is not walked
                continue
            self.forms.setdefault(f"{form.method} {endpoint}", form)

    def form_body(self, call: Call) -> Call:
        """A page's POST with the fields of the form found for it, made plausible."""
        form = self.forms.get(f"{call.method} {call.endpoint}")
        if form is None:
            return Call(**{**call.__dict__, "body": {"comment": WALK_TEXT},
                           "body_kind": "form"})
        tokens = [t for r in self.cast.records for t in r.markers.values()]
        body = {}
        for name, value in form.fields.items():
            if any(t in value.casefold() for t in tokens):
                value = WALK_TEXT  # a browser would send what it shows; a role may not know it
            elif not value and name in form.text_inputs:
                value = WALK_TEXT
            body[name] = "{ref}" if routes.REFERENCE.match(value.strip()) else value
        if form.files:
            return Call(**{**call.__dict__, "body": form.files, "body_kind": "multipart"})
        return Call(**{**call.__dict__, "body": body, "body_kind": "form"})

    def search_names(self, call: Call) -> list[str]:
        if call.is_api:
            return routes.query_names(self.spec, call.rule)
        form = self.forms.get(f"GET {call.endpoint}")
        return form.text_inputs if form else []


def with_body_refs(call: Call, refs: list[str]) -> list[Call]:
    """One call per reference where the body names a record (``"{ref}"``); at the route's
    first planted path values only, elsewhere the body names the first reference (public)."""
    if call.body is None or "{ref}" not in json.dumps(call.body):
        return [call]
    return [Call(**{**call.__dict__, "refs": (*call.refs, ref)}).with_ref("{ref}", ref)
            for ref in (refs if call.first else refs[:1])]


def _marker_value(record: Record, field_name: str, token: str) -> str:
    """The whole marker as stored, which a search for it would type."""
    return (f"Leakmark {token}" if field_name == "associated_species"
            else f"LEAKMARK-{record.name.upper()}-{field_name.upper()}-{token}")


def _with_query(call: Call, name: str, value: str) -> Call:
    return Call(**{**call.__dict__, "query": {name: value}})


def _cleared_session(response: TestResponse) -> bool:
    return any(v.split("=", 1)[1].startswith(";") or "Max-Age=0" in v or "Expires=Thu, 01 Jan 1970" in v
               for v in response.headers.getlist("Set-Cookie"))


def normalized(response: TestResponse, swapped: list[str]) -> tuple:
    """Status, headers and body, with the swapped values and per-request tokens blanked."""
    def clean(text: str) -> str:
        text = CSRF.sub(lambda m: (m.group(1) or m.group(2)) + "T", text)
        for value in swapped:
            text = re.sub(re.escape(value), "SWAPPED", text, flags=re.IGNORECASE)
        return text
    headers = sorted((k, clean(v)) for k, v in response.headers.items()
                     if k not in ("Set-Cookie", "Content-Length"))
    return (response.status_code, headers, clean(response.get_data(as_text=True)))


def _first_difference(a: tuple, b: tuple) -> str:
    if a[0] != b[0]:
        return f"status {a[0]} vs {b[0]}"
    if a[1] != b[1]:
        return f"headers {sorted(set(a[1]) ^ set(b[1]))[:4]}"
    i = next((i for i, (x, y) in enumerate(zip(a[2], b[2], strict=False)) if x != y),
             min(len(a[2]), len(b[2])))
    return f"body at {i}: {a[2][max(0, i - 60):i + 60]!r} vs {b[2][max(0, i - 60):i + 60]!r}"
