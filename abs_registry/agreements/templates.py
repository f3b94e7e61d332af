"""The agreement templates in ``contracts/``: listing, loading, and checking filled-in values.

Each template version is a folder ``contracts/<id>/v<N>/`` holding ``metadata.json`` (titles,
parameters and their types, benefit-sharing rules, phrasebook), ``template.zh.html`` and
``template.en.html`` (Jinja, rendered sandboxed), ``example.json`` (values and terms for a
preview; the tests pin the hash of its rendering) and ``SHA256SUMS``. A version never changes
once an agreement used it, because agreements are re-rendered from (id, version, values,
terms) and must give the same text and hash; the loader refuses a folder whose files no longer
match its SHA256SUMS, so an edit to a sealed version fails loudly instead of silently changing
signed agreements. A change is a new version folder (``scripts/seal_contract.py`` seals it).

Parameter types (``metadata.json`` → ``parameters[].type``):
string, text, i18n_string, i18n_text (Chinese and/or English), date, integer, boolean,
choice (``choices``), party, resource_list, tk_list. ``required_if`` makes a parameter needed
(and only allowed) when another has a given value; ``after`` says a date follows another.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from abs_registry import errors
from abs_registry.agreements.fields import (
    CleanString,
    I18nField,
    StrictBoolean,
    flatten_errors,
)
from abs_registry.agreements.terms import MONETARY, BenefitTerm, load_terms

CONTRACTS_ROOT = Path(__file__).resolve().parents[2] / "contracts"
LANGS = ("zh", "en")
TEMPLATE_ID = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
VERSION_DIR = re.compile(r"^v([1-9]\d{0,3})$")
SEALED_FILES = ("metadata.json", "template.zh.html", "template.en.html", "example.json")


class TemplateIntegrityError(RuntimeError):
    """A sealed template version was edited: a programming error, never the user's input."""


class _Strict(Schema):
    """Optional fields load as None, so templates can test them without tripping Jinja's
    StrictUndefined (which guards against typos in templates)."""

    class Meta:
        unknown = RAISE


class PartySchema(_Strict):
    name = I18nField(required=True, max_length=300)
    address = I18nField(required=True, max_length=500)
    representative = I18nField(required=True, max_length=200)
    registration_number = CleanString(load_default=None, validate=validate.Length(max=64))
    contact = CleanString(load_default=None, validate=validate.Length(max=300))


class ResourceSchema(_Strict):
    reference = CleanString(required=True, validate=validate.Length(max=64))
    name = I18nField(required=True, max_length=300)
    scientific_name = CleanString(load_default=None, validate=validate.Length(max=200))
    quantity = I18nField(load_default=None, max_length=200)
    origin = I18nField(load_default=None, max_length=300)


class TKSchema(_Strict):
    reference = CleanString(required=True, validate=validate.Length(max=64))
    title = I18nField(required=True, max_length=300)
    community = I18nField(required=True, max_length=300)


def _list_of(schema: type[Schema], required: bool, max_items: int) -> fields.List:
    return fields.List(
        fields.Nested(schema),
        required=required,
        validate=validate.Length(min=1 if required else 0, max=max_items,
                                 error=f"Give between {1 if required else 0} and {max_items}."),
    )


def _field_for(spec: Mapping[str, Any]) -> fields.Field:
    kind = spec["type"]
    required = spec.get("required", True) and "required_if" not in spec
    length = validate.Length(max=spec.get("max_length", 300 if "string" in kind else 4000))
    if kind == "string":
        return CleanString(required=required, validate=length)
    if kind == "text":
        return CleanString(required=required, validate=validate.Length(max=spec.get("max_length", 4000)))
    if kind in ("i18n_string", "i18n_text"):
        return I18nField(required=required,
                         max_length=spec.get("max_length", 300 if kind == "i18n_string" else 4000))
    if kind == "date":
        return fields.Date(required=required)
    if kind == "integer":
        return fields.Integer(strict=True, required=required,
                              validate=validate.Range(min=spec.get("min"), max=spec.get("max")))
    if kind == "boolean":
        return StrictBoolean(required=required)
    if kind == "choice":
        return fields.String(required=required, validate=validate.OneOf(spec["choices"]))
    if kind == "party":
        return fields.Nested(PartySchema, required=required)
    if kind == "resource_list":
        return _list_of(ResourceSchema, required, spec.get("max_items", 100))
    if kind == "tk_list":
        return _list_of(TKSchema, required, spec.get("max_items", 50))
    raise TemplateIntegrityError(f"unknown parameter type {kind!r}")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    required: bool
    label_zh: str
    label_en: str
    spec: Mapping[str, Any] = field(repr=False, compare=False)

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(frozen=True)
class BenefitRules:
    """What a template asks of its benefit-sharing terms (Bonn Guidelines App. I, 3(k))."""

    min_terms: int = 1
    requires_monetary: bool = False
    requires_beneficiary: str | None = None
    allowed_kinds: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ContractTemplate:
    id: str
    version: int
    title_zh: str
    title_en: str
    purpose: str
    involves_tk: bool
    phrasing: int
    parameters: tuple[Parameter, ...]
    benefit_rules: BenefitRules
    sources: Mapping[str, str] = field(repr=False, compare=False)
    folder: Path = field(repr=False, compare=False)

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    @property
    def key(self) -> str:
        return f"{self.id}/v{self.version}"

    def _schema(self) -> Schema:
        return _schema_for(self.folder, tuple(p.name for p in self.parameters), self._specs())

    def _specs(self) -> tuple[tuple[str, str], ...]:
        return tuple((p.name, json.dumps(dict(p.spec), sort_keys=True)) for p in self.parameters)

    def load_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values for rendering (dates as ``date``, texts as ``I18nText``); every declared
        parameter is present, ``None`` when left out. Raises ``errors.ValidationError`` with
        one key per bad parameter (``provider.name``, ``resources.0.reference``)."""
        if not isinstance(values, Mapping):
            raise errors.ValidationError({"values": ["Send the values as an object."]})
        schema = self._schema()
        problems: dict[str, list[str]] = {}
        try:
            loaded = schema.load(dict(values))
        except ValidationError as exc:
            problems.update(flatten_errors(exc.messages))
            loaded = {k: v for k, v in (exc.valid_data or {}).items()}
        problems_between = self._rules_between(values, loaded)
        for key, messages in problems_between.items():
            problems.setdefault(key, []).extend(messages)
        if problems:
            raise errors.ValidationError(problems)
        return {p.name: loaded.get(p.name) for p in self.parameters}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values in canonical JSON form, to store with the agreement and render again."""
        return self.dump_values(self.load_values(values))

    def dump_values(self, loaded: Mapping[str, Any]) -> dict[str, Any]:
        dumped = self._schema().dump({k: v for k, v in loaded.items() if v is not None})
        return {key: _prune(value) for key, value in dumped.items() if value is not None}

    def load_terms(self, raw: Any) -> tuple[BenefitTerm, ...]:
        """Benefit-sharing terms checked on their own and against this template's rules."""
        terms = load_terms(raw)
        rules = self.benefit_rules
        problems: dict[str, list[str]] = {}
        if len(terms) < rules.min_terms:
            problems["terms"] = [f"This agreement needs at least {rules.min_terms} "
                                 "benefit-sharing term(s)."]
        if rules.requires_monetary and not any(t.kind in MONETARY for t in terms):
            problems.setdefault("terms", []).append(
                "This template is for monetary benefit-sharing: include at least one payment.")
        if rules.requires_beneficiary and not any(
            t.beneficiary.kind == rules.requires_beneficiary for t in terms
        ):
            problems.setdefault("terms", []).append(
                f"At least one benefit must go to the {rules.requires_beneficiary}.")
        if rules.allowed_kinds is not None:
            for index, term in enumerate(terms):
                if term.kind not in rules.allowed_kinds:
                    problems[f"terms.{index}.kind"] = [
                        f"{term.kind.value} is not used in this template; allowed: "
                        + ", ".join(rules.allowed_kinds) + "."]
        if problems:
            raise errors.ValidationError(problems)
        return terms

    def _rules_between(self, raw: Mapping[str, Any], loaded: Mapping[str, Any]
                       ) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        for param in self.parameters:
            condition = param.spec.get("required_if")
            if condition:
                other, expected = condition["parameter"], condition["equals"]
                given = raw.get(param.name) is not None
                if loaded.get(other) == expected and not given:
                    problems[param.name] = [f"Required when {other} is {json.dumps(expected)}."]
                elif loaded.get(other) != expected and given and other in loaded:
                    problems[param.name] = [f"Only given when {other} is {json.dumps(expected)}."]
            after = param.spec.get("after")
            mine, theirs = loaded.get(param.name), loaded.get(after) if after else None
            if isinstance(mine, date) and isinstance(theirs, date) and mine <= theirs:
                problems[param.name] = [f"Must be after {after}."]
        return problems


def _prune(value: Any) -> Any:
    """Drop keys left empty by the dump, so the stored form has one spelling."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


@cache
def _schema_for(folder: Path, names: tuple[str, ...], specs: tuple[tuple[str, str], ...]
                ) -> Schema:
    declared = {name: _field_for(json.loads(spec)) for name, spec in specs}
    return Schema.from_dict(declared, name=f"Values_{folder.parent.name}_{folder.name}")(
        unknown=RAISE)


class TemplateLibrary:
    """The templates under one root (``contracts/`` by default). Immutable once loaded."""

    def __init__(self, root: Path = CONTRACTS_ROOT):
        self.root = Path(root)
        self._loaded: dict[tuple[str, int], ContractTemplate] = {}

    def ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and TEMPLATE_ID.match(p.name))

    def versions(self, template_id: str) -> list[int]:
        folder = self._folder(template_id)
        return sorted(int(m.group(1)) for p in folder.iterdir()
                      if p.is_dir() and (m := VERSION_DIR.match(p.name)))

    def latest(self, template_id: str) -> ContractTemplate:
        versions = self.versions(template_id)
        if not versions:
            raise errors.NotFound("agreement template")
        return self.get(template_id, versions[-1])

    def all(self) -> list[ContractTemplate]:
        """Every version of every template, for a picker or an index page."""
        return [self.get(t, v) for t in self.ids() for v in self.versions(t)]

    def get(self, template_id: str, version: int) -> ContractTemplate:
        if not isinstance(version, int) or isinstance(version, bool):
            raise errors.NotFound("agreement template version")
        key = (template_id, version)
        if key not in self._loaded:
            folder = self._folder(template_id) / f"v{version}"
            if not folder.is_dir():
                raise errors.NotFound("agreement template version")
            self._loaded[key] = _load(folder, template_id, version)
        return self._loaded[key]

    def _folder(self, template_id: str) -> Path:
        if not isinstance(template_id, str) or not TEMPLATE_ID.match(template_id):
            raise errors.NotFound("agreement template")
        folder = self.root / template_id
        if not folder.is_dir():
            raise errors.NotFound("agreement template")
        return folder


def seal_digests(folder: Path) -> str:
    """The SHA256SUMS text for a version folder (``sha256sum`` format)."""
    lines = [f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}"
             for name in SEALED_FILES]
    return "\n".join(lines) + "\n"


def _verify_seal(folder: Path) -> None:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise TemplateIntegrityError(f"{folder} has no SHA256SUMS: seal it before use")
    if sums.read_text(encoding="utf-8") != seal_digests(folder):
        raise TemplateIntegrityError(
            f"{folder} changed after it was sealed; a sealed version never changes "
            "(agreements are re-rendered from it): make a new version instead")


def _load(folder: Path, template_id: str, version: int) -> ContractTemplate:
    _verify_seal(folder)
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    if meta.get("id") != template_id or meta.get("version") != version:
        raise TemplateIntegrityError(f"{folder}/metadata.json names {meta.get('id')} "
                                     f"v{meta.get('version')}")
    params = tuple(
        Parameter(
            name=spec["name"], type=spec["type"],
            required=spec.get("required", True) and "required_if" not in spec,
            label_zh=spec["label"]["zh"], label_en=spec["label"]["en"], spec=spec,
        )
        for spec in meta["parameters"]
    )
    for param in params:
        _field_for(param.spec)  # an unknown type fails here, at load, not at first use
    rules = meta.get("benefit_sharing", {})
    allowed = rules.get("allowed_kinds")
    return ContractTemplate(
        id=template_id,
        version=version,
        title_zh=meta["title"]["zh"],
        title_en=meta["title"]["en"],
        purpose=meta["purpose"],
        involves_tk=bool(meta.get("involves_tk", False)),
        phrasing=int(meta["phrasing"]),
        parameters=params,
        benefit_rules=BenefitRules(
            min_terms=int(rules.get("min_terms", 1)),
            requires_monetary=bool(rules.get("requires_monetary", False)),
            requires_beneficiary=rules.get("requires_beneficiary"),
            allowed_kinds=tuple(allowed) if allowed is not None else None,
        ),
        sources={lang: (folder / f"template.{lang}.html").read_text(encoding="utf-8")
                 for lang in LANGS},
        folder=folder,
    )


@cache
def default_library() -> TemplateLibrary:
    """The repository's own ``contracts/``; templates on disk are sealed, so caching them for
    the life of the process cannot serve a stale version."""
    return TemplateLibrary()
