"""Marshmallow fields the agreement layer shares: exact decimals and two-language text.

Money and rates are exact decimals sent as strings (TRUST.md: amounts travel as strings);
a JSON number is refused outright rather than silently rounded through a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import fields

LANGS = ("zh", "en")
DECIMAL_TEXT = re.compile(r"^-?\d{1,15}(?:\.\d{1,8})?$")


class DecimalString(fields.Field):
    """A decimal written as a string ("1000.00"), or a Decimal from Python callers."""

    default_error_messages = {
        "type": 'Send a decimal as a string such as "1000.00", not a number: '
                "a float cannot hold money exactly.",
        "format": 'Not a decimal: write digits with an optional point, such as "1000.00" '
                  "(no sign, separators, spaces or exponent).",
    }

    def _deserialize(self, value: Any, attr, data, **kwargs) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | Decimal):
            raise self.make_error("type")
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise self.make_error("format")
            return value
        if not DECIMAL_TEXT.match(value):
            raise self.make_error("format")
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern already guards
            raise self.make_error("format") from exc

    def _serialize(self, value: Decimal | None, attr, obj, **kwargs) -> str | None:
        return None if value is None else format(value, "f")


@dataclass(frozen=True)
class I18nText:
    """A text given in Chinese, English or both; a language left out falls back to the other.

    Names of parties and places are often known in one language only; the agreement shows the
    same words in both texts rather than inventing a translation.
    """

    zh: str | None = None
    en: str | None = None

    def get(self, lang: str) -> str:
        primary, other = (self.zh, self.en) if lang == "zh" else (self.en, self.zh)
        return primary if primary is not None else (other or "")

    def as_json(self) -> dict[str, str]:
        return {lang: text for lang in LANGS if (text := getattr(self, lang)) is not None}

    def __str__(self) -> str:  # a template that forgets the filter still shows something
        return self.get("zh")


class I18nField(fields.Field):
    """Accepts "text" (the same in both languages) or {"zh": "...", "en": "..."}."""

    default_error_messages = {
        "type": 'Send a text, or an object {"zh": "...", "en": "..."}.',
        "keys": 'Only the languages "zh" and "en" can be given.',
        "blank": "Must not be blank.",
        "too_long": "Longer than {max} characters.",
    }

    def __init__(self, *, max_length: int = 300, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr, data, **kwargs) -> I18nText:
        if isinstance(value, I18nText):
            value = value.as_json()
        if isinstance(value, str):
            value = {"zh": value, "en": value}
        if not isinstance(value, dict):
            raise self.make_error("type")
        if set(value) - set(LANGS):
            raise self.make_error("keys")
        texts = {}
        for lang in LANGS:
            text = value.get(lang)
            if text is None:
                continue
            if not isinstance(text, str):
                raise self.make_error("type")
            text = text.strip()
            if not text:
                raise self.make_error("blank")
            if len(text) > self.max_length:
                raise self.make_error("too_long", max=self.max_length)
            texts[lang] = text
        if not texts:
            raise self.make_error("blank")
        return I18nText(**texts)

    def _serialize(self, value: I18nText | None, attr, obj, **kwargs) -> dict | None:
        return None if value is None else value.as_json()


class StrictBoolean(fields.Boolean):
    """true or false only: "yes", 1 or "on" in a contract's terms are more likely mistakes."""

    def __init__(self, **kwargs):
        super().__init__(truthy={True}, falsy={False}, **kwargs)


class CleanString(fields.String):
    """A one-line string, trimmed, never blank."""

    default_error_messages = {"blank": "Must not be blank."}

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        return text


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as {"resources.0.name": [...]}, one key per field."""
    if isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "_schema": list(messages)}
        flat: dict[str, list[str]] = {}
        for item in messages:
            for key, value in flatten_errors(item, prefix).items():
                flat.setdefault(key, []).extend(value)
        return flat
    if isinstance(messages, dict):
        flat = {}
        for key, value in messages.items():
            name = prefix if key == "_schema" and prefix else (
                f"{prefix}.{key}" if prefix else str(key)
            )
            for inner_key, inner in flatten_errors(value, name).items():
                flat.setdefault(inner_key, []).extend(inner)
        return flat
    return {prefix or "_schema": [str(messages)]}
