"""``N_`` marks an English message for the catalog without translating it, and imports no Flask.

Services raise errors in English: the JSON API answers machine clients in English, and a
service cannot know who will read the message. The web layer translates a marked message
when it shows it on a page (``web/localize.py``). A message with values in it is written as
``N_("... %(name)s ...") % {"name": value}`` (``%(name)s`` only), so the web layer can find
the template again and translate it with the same values.
"""

from __future__ import annotations

TEMPLATES: set[str] = set()


def N_(message: str) -> str:  # noqa: N802 - the name pybabel looks for
    if "%(" in message:
        TEMPLATES.add(message)
    return message
