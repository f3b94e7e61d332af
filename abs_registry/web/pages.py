"""Pages that belong to no single domain: home, dashboard, language; and template helpers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel import numbers
from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_wtf.csrf import generate_csrf

from abs_registry import i18n, regions
from abs_registry.auth.identity import login_required, safe_next
from abs_registry.auth.models import Role
from abs_registry.declarations.models import Status
from abs_registry.tk import labels as tk_labels
from abs_registry.tk.service import shown_labels
from abs_registry.web import context, labels

bp = Blueprint("pages", __name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"
)


def security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
    if context.actor() is not None:
        # What a signed-in person sees (their records, a new token) must not stay in caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def template_globals() -> dict:
    return {
        "actor": context.actor(),
        "csrf_token": generate_csrf,
        "locales": i18n.LOCALES,
        "current_locale": str(get_locale()),
        "Role": Role,
        "Status": Status,
        "region_name": lambda code: regions.display_name(code, str(get_locale())),
        "province_options": [(r.code, r.name(str(get_locale()))) for r in regions.provinces()],
        "label": labels.label,
        "title_of": labels.title,
        "tk_label_name": lambda code: tk_labels.shown(code, None, str(get_locale())).name,
        "tk_labels_of": shown_labels,
    }


def _localized(value):
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, "medium")
    if isinstance(value, date):
        return format_date(value, "medium")
    if isinstance(value, (Decimal, int, float)):
        # Every digit the declarant gave: the locale's default pattern would round to three.
        return numbers.format_decimal(value, locale=get_locale(), decimal_quantization=False)
    return value


def register_filters(app) -> None:
    app.add_template_filter(_localized, "l10n")


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/dashboard")
@login_required
def dashboard():
    actor = context.actor()
    service = context.declarations()
    mine = service.list_own(actor) if actor.role in (Role.MEMBER, Role.STEWARD) else []
    queue = service.review_queue(actor) if actor.is_official else []
    return render_template("dashboard.html", mine=mine, queue=queue)


@bp.post("/language")
def set_language():
    chosen = i18n.normalize(request.form.get("locale"))
    if chosen:
        session["locale"] = chosen
        if context.actor() is not None:
            context.accounts().set_locale(context.actor(), chosen)
    return redirect(safe_next(request.form.get("next"), url_for("pages.home")))
