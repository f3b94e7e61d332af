"""Error messages in the reader's language, translated where a page shows them.

Services, marshmallow, werkzeug and flask-wtf write messages in English, and the JSON API
keeps them in English: machine clients match on them, and the API has no reader's language.
A page looks each message up in the catalog. A message built from a template
(``N_("... %(x)s ...") % values``) is matched back to its template, which is translated and
filled with the same values; a value that is a stored code ("registered", "seed") or a list
of them is shown by its label.
"""

from __future__ import annotations

import re
from functools import cache

from flask_babel import get_locale, gettext, pgettext

from abs_registry.i18n_marker import N_, TEMPLATES
from abs_registry.web import labels

PLACEHOLDER = re.compile(r"%\((\w+)\)s")

# Messages other libraries write, as our schemas and pages meet them; marshmallow's "{max}"
# placeholders are written "%(max)s" here so that the same matching finds them.
FOREIGN = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Invalid input."),
    N_("Invalid input type."),
    N_("Unknown field."),
    N_("Not a valid string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid date."),
    N_("Not a valid list."),
    N_("Not a valid email address."),
    N_("String does not match expected pattern."),
    N_("Must be one of: %(choices)s."),
    N_("Shorter than minimum length %(min)s."),
    N_("Longer than maximum length %(max)s."),
    N_("Length must be between %(min)s and %(max)s."),
    N_("Length must be %(equal)s."),
    N_("Must be greater than or equal to %(min)s."),
    N_("Must be greater than %(min)s."),
    N_("Must be less than or equal to %(max)s."),
    N_("Must be less than %(max)s."),
    N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than or equal to %(min)s and less than %(max)s."),
    N_("Must be greater than %(min)s and less than %(max)s."),
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
    N_("The requested URL was not found on the server. If you entered the URL manually please "
       "check your spelling and try again."),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
)


@cache
def _pattern(template: str) -> re.Pattern:
    parts, seen, last = [], set(), 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last:match.start()].replace("%%", "%")))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        last = match.end()
    parts.append(re.escape(template[last:].replace("%%", "%")))
    return re.compile("".join(parts), re.DOTALL)


def _literal_length(template: str) -> int:
    return len(PLACEHOLDER.sub("", template))


def _value(text: str) -> str:
    """A stored code, or a list of them as marshmallow and our errors join them, by label."""
    codes = text.split(", ")
    if not all(code in labels.LABELS for code in codes):
        return text
    return pgettext("list separator", ", ").join(str(labels.label(c)) for c in codes)


def message(text: str) -> str:
    """One message in the reader's language; unknown messages are shown as they are."""
    if str(get_locale()) == "en" or not isinstance(text, str):
        return str(text)
    translated = gettext(text)
    if translated != text:
        return translated
    # The most specific template first, so that a short one cannot swallow a long one.
    for template in sorted(TEMPLATES, key=_literal_length, reverse=True):
        found = _pattern(template).fullmatch(text)
        if found:
            values = {name: _value(v) for name, v in found.groupdict().items()}
            return gettext(template, **values)
    return text


def messages(problems) -> list[str]:
    """A field's messages; a list field's are keyed by item, numbered from 1 for the reader."""
    if isinstance(problems, dict):
        return [
            gettext("Item %(number)s: %(message)s",
                    number=key + 1 if isinstance(key, int) else key, message=text)
            for key, inner in problems.items()
            for text in messages(inner)
        ]
    if isinstance(problems, (list, tuple)):
        return [text for problem in problems for text in messages(problem)]
    return [message(problems)]


def errors(by_field: dict) -> dict[str, list[str]]:
    return {field: messages(problems) for field, problems in by_field.items()}
