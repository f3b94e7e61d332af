"""create_app: wires settings, database, extensions, blueprints and the error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from abs_registry import i18n
from abs_registry.auth.passwords import Passwords
from abs_registry.config import REPO_ROOT, Settings
from abs_registry.db import make_engine, make_session_factory
from abs_registry.permits.authority_ca import AuthorityCA
from abs_registry.permits.certificate import CertificateStore
from abs_registry.permits.keys import KeyRing


@dataclass
class Registry:
    """What the web layer shares across requests, kept in app.extensions['abs']."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    passwords: Passwords
    keys: KeyRing
    authority: AuthorityCA  # the X.509 chain that signs permit PDFs
    certificates: CertificateStore  # permit PDFs, rendered once and kept on disk


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "abs_registry" / "static"),
        instance_path=str(settings.instance_path),
    )
    secure = settings.secure_cookies
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="__Host-abs_session" if secure else "abs_session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_absolute_hours),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,  # uploads of documents get more (web/api.py)
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    engine = engine or make_engine(settings.database_url)
    authority = AuthorityCA(settings.keys_path, settings.authority_name,
                            settings.reference_country)
    app.extensions["abs"] = Registry(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        passwords=Passwords(settings.password_time_cost, settings.password_memory_kib),
        keys=KeyRing(settings.keys_path),
        authority=authority,
        certificates=CertificateStore(Path(settings.instance_path) / "permit_pdfs",
                                      lambda: authority.ensure()[0], settings.public_url),
    )

    csrf = CSRFProtect(app)
    i18n.init_app(app)
    _register_web(app, csrf)
    _register_cli(app)
    return app


def _register_web(app: Flask, csrf: CSRFProtect) -> None:
    from abs_registry.applications.views import bp as applications_bp
    from abs_registry.auth import identity
    from abs_registry.auth.views import bp as auth_bp
    from abs_registry.declarations.views import bp as declarations_bp
    from abs_registry.movements.views import bp as movements_bp
    from abs_registry.notifications.views import bp as notifications_bp
    from abs_registry.obligations.views import bp as obligations_bp
    from abs_registry.permits.api import well_known
    from abs_registry.permits.views import bp as permits_bp
    from abs_registry.tk.views import bp as tk_bp
    from abs_registry.translog import api as translog_api
    from abs_registry.web import api, context, converters, errors, pages

    converters.init_app(app)
    app.before_request(identity.load_actor)
    app.teardown_appcontext(context.close_db)
    app.after_request(pages.security_headers)
    app.context_processor(pages.template_globals)
    pages.register_filters(app)

    translog_api.init_app(app, api.init_app(app))
    for name in list(app.blueprints):
        if name in {"auth_api", "declarations_api", "applications_api", "tk_api",
                    "permits_api", "obligations_api", "movements_api", "api_docs"}:
            csrf.exempt(app.blueprints[name])
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(declarations_bp)
    app.register_blueprint(applications_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(obligations_bp)
    app.register_blueprint(tk_bp)
    app.register_blueprint(movements_bp)
    app.register_blueprint(well_known)
    app.register_blueprint(permits_bp)
    errors.register(app)


def _register_cli(app: Flask) -> None:
    from abs_registry.cli import register_commands

    register_commands(app)
