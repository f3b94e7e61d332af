"""Simplified Chinese and English: the user's choice, else a cookie, else the browser's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import g, request, session
from flask_babel import Babel

TRANSLATIONS = Path(__file__).parent / "translations"
LOCALES = {"en": "English", "zh_Hans_CN": "简体中文"}
DEFAULT_LOCALE = "en"


def normalize(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_")
    if value.lower().startswith("zh"):
        return "zh_Hans_CN"
    if value.lower().startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    actor = g.get("actor")
    chosen = normalize(actor.locale if actor else None) or normalize(session.get("locale"))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-Hans-CN"])
    return normalize(best) or DEFAULT_LOCALE


def compile_catalogs(directory: Path = TRANSLATIONS) -> None:
    """Build each .mo from its .po when missing or older, so no binary lives in the repository.

    Several processes may start at once (test workers, server workers): each writes its own
    temporary file and renames it into place, so a reader never sees half a catalog.
    """
    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(fd, "wb") as fh:
                write_mo(fh, catalog)
            os.replace(tmp, mo)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def init_app(app) -> Babel:
    compile_catalogs()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LOCALE
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    return Babel(app, locale_selector=select_locale)
