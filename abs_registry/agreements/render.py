"""Render an agreement from (template id, version, values, terms) to HTML, the same bytes every
time, and hash it: both parties accept exactly that text, identified by its SHA-256.

Determinism: the output depends only on the template files (sealed), the phrasebook the
template names, and the inputs. Templates run in Jinja's immutable sandbox with autoescape,
no loader (no include/import of files), no network, no clock (dates are values), and without
Jinja's ``random`` filter and ``lipsum`` global. The canonical agreement text is the
bilingual document: the Chinese text, then the English text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from jinja2 import FunctionLoader, StrictUndefined, Template, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from abs_registry import errors
from abs_registry.agreements.phrasing import PHRASEBOOKS
from abs_registry.agreements.templates import (
    ContractTemplate,
    TemplateLibrary,
    default_library,
)
from abs_registry.agreements.terms import BenefitTerm, dump_terms

BILINGUAL = "bilingual"
LANGS = ("zh", "en", BILINGUAL)
HTML_LANG = {"zh": "zh-Hans", "en": "en"}

DOCUMENT = """<!DOCTYPE html>
<html lang="{{ html_lang }}">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<meta name="abs-agreement-template" content="{{ key }}">
</head>
<body>
{% for part in parts %}
<article class="agreement" lang="{{ part.html_lang }}" data-lang="{{ part.lang }}">
{{ part.body }}
</article>
{% endfor %}
</body>
</html>
"""


@dataclass(frozen=True)
class AgreementText:
    """An agreement's exact text and what it was made from: store all of it with the
    agreement, and record ``sha256`` with each party's acceptance."""

    template_id: str
    version: int
    values: dict[str, Any]
    terms: list[dict[str, Any]]
    lang: str
    html: str
    sha256: str

    @property
    def body(self) -> str:
        """The articles alone, to show inside a page (the hash covers the whole document)."""
        start = self.html.index("<body>") + len("<body>")
        return self.html[start:self.html.rindex("</body>")].strip()


def text_hash(html: str) -> str:
    """SHA-256 of the rendered text as UTF-8, in hex: what an acceptance records."""
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def draft(template_id: str, version: int, values: Mapping[str, Any],
          terms: Sequence[Mapping[str, Any] | BenefitTerm], lang: str = BILINGUAL, *,
          library: TemplateLibrary | None = None) -> AgreementText:
    """Validate and render; raises ``errors.ValidationError`` naming each bad field
    (parameters by name, terms as ``terms.<n>.<field>``)."""
    template = (library or default_library()).get(template_id, version)
    loaded_values, loaded_terms = _load_inputs(template, values, terms)
    html = _render(template, loaded_values, loaded_terms, lang)
    return AgreementText(
        template_id=template.id,
        version=template.version,
        values=template.dump_values(loaded_values),
        terms=dump_terms(loaded_terms),
        lang=lang,
        html=html,
        sha256=text_hash(html),
    )


def render(template_id: str, version: int, values: Mapping[str, Any],
           terms: Sequence[Mapping[str, Any] | BenefitTerm], lang: str = BILINGUAL, *,
           library: TemplateLibrary | None = None) -> str:
    """The agreement as an HTML document: ``lang`` is "zh", "en" or "bilingual"."""
    return draft(template_id, version, values, terms, lang, library=library).html


def _load_inputs(template: ContractTemplate, values, terms):
    problems: dict[str, list[str]] = {}
    loaded_values = loaded_terms = None
    try:
        loaded_values = template.load_values(values)
    except errors.ValidationError as exc:
        problems.update(exc.errors)
    try:
        loaded_terms = template.load_terms(terms)
    except errors.ValidationError as exc:
        problems.update(exc.errors)
    if problems:
        raise errors.ValidationError(problems)
    return loaded_values, loaded_terms


def _render(template: ContractTemplate, values: dict[str, Any],
            terms: tuple[BenefitTerm, ...], lang: str) -> str:
    if lang not in LANGS:
        raise errors.ValidationError({"lang": [f"Choose one of: {', '.join(LANGS)}."]})
    langs = ("zh", "en") if lang == BILINGUAL else (lang,)
    parts = []
    for part_lang in langs:
        source = _compiled(template.phrasing, template.sources[part_lang])
        body = source.render(v=values, terms=terms, lang=part_lang,
                             title=template.title(part_lang))
        parts.append({"lang": part_lang, "html_lang": HTML_LANG[part_lang],
                      "body": Markup(body.strip())})
    title = " / ".join(template.title(part_lang) for part_lang in langs)
    return _compiled(template.phrasing, DOCUMENT).render(
        html_lang=HTML_LANG[langs[0]], title=title, key=template.key, parts=parts)


@lru_cache(maxsize=256)
def _compiled(phrasing: int, source: str) -> Template:
    """Compiling costs far more than rendering (~20 ms a template), and the sources are
    sealed files: compile each once per process, not on every proposal and read."""
    return _environment(phrasing).from_string(source)


@cache
def _environment(phrasing: int) -> ImmutableSandboxedEnvironment:
    try:
        book = PHRASEBOOKS[phrasing]
    except KeyError as exc:
        raise LookupError(f"no phrasebook {phrasing}") from exc
    env = ImmutableSandboxedEnvironment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        # A loader that finds nothing: {% include %}/{% import %} fail as TemplateNotFound.
        loader=FunctionLoader(lambda name: None),
    )
    env.globals = {"range": range}  # no lipsum (random), cycler, joiner or namespace
    env.filters.pop("random", None)

    def in_lang(function):
        @pass_context
        def apply(context, value, *args):
            return function(value, *args, context["lang"]) if value is not None else ""
        return apply

    env.filters["date"] = in_lang(book["date"])
    env.filters["t"] = in_lang(book["text"])
    env.filters["term"] = in_lang(book["term"])
    env.filters["rate"] = book["rate"]

    @pass_context
    def money(context, amount, currency):
        return book["money"](amount, currency, context["lang"])

    env.filters["money"] = money
    return env
