"""URL converters: an <int:id> too large for the database's integer column is simply not found.

Without the bound, /api/v1/tokens/99999999999999999999 reached PostgreSQL and failed there
with "integer out of range" (a 500) instead of answering 404 like any other unknown id.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

INT32_MAX = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's signature)
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)


def init_app(app) -> None:
    app.url_map.converters["int"] = DatabaseIdConverter
