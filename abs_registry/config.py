"""Settings come from the environment so that no secret ever needs to live in the repository."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = REPO_ROOT / "instance"


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance: Path) -> str:
    """Read ABS_SECRET_KEY, or keep a generated key in the instance folder (mode 0600)."""
    if key := os.environ.get("ABS_SECRET_KEY"):
        return key
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


@dataclass
class Settings:
    instance_path: Path
    database_url: str
    secret_key: str
    development: bool = False
    secure_cookies: bool = True
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # argon2id cost; tests lower it so that a suite creating hundreds of users stays quick.
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    login_attempts_per_15min: int = 10
    register_page_size: int = 20
    reference_country: str = "CN"
    # E-mail is off unless an SMTP host is named; the outbox pages work either way.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    mail_from: str = "abs-registry@localhost"
    public_url: str = "http://127.0.0.1:5000"
    # Benefit-sharing obligations: days after the due date before one counts as overdue, and
    # who receives what an agreement owes to "the national fund".
    obligation_grace_days: int = 30
    national_fund_name: str = "National Biodiversity Conservation Fund"
    # The Cali Fund (CBD COP16 decision 16/2): indicative rates in percent, and the size
    # thresholds in its currency (USD), of which an entity must exceed ``cali_fund_min_exceeded``
    # on average over ``cali_fund_years`` years. Settings, because the Parties may revise them.
    cali_fund_name: str = "Cali Fund"
    cali_fund_currency: str = "USD"
    cali_fund_profit_rate: Decimal = Decimal("1")
    cali_fund_revenue_rate: Decimal = Decimal("0.1")
    cali_fund_basis: str = "profit"  # the basis when a filer names none: profit or revenue
    cali_fund_assets_threshold: Decimal = Decimal("20000000")
    cali_fund_revenue_threshold: Decimal = Decimal("50000000")
    cali_fund_profit_threshold: Decimal = Decimal("5000000")
    cali_fund_min_exceeded: int = 2
    cali_fund_years: int = 3
    # Sequence files declared with DSI (dsi/ingest.py): as sent, once decompressed, records.
    dsi_upload_max_bytes: int = 512 * 1024 * 1024
    dsi_decompressed_max_bytes: int = 4096 * 1024 * 1024
    dsi_max_sequences_per_file: int = 1_000_000
    # Private signing keys live here as 0600 files, never in the database or the repository.
    signing_key_dir: Path | None = None
    authority_name: str = "Ministry of Ecology and Environment of the People's Republic of China"
    extra: dict = field(default_factory=dict)

    @property
    def keys_path(self) -> Path:
        return self.signing_key_dir or Path(self.instance_path) / "keys"

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        instance = Path(os.environ.get("ABS_INSTANCE_PATH", DEFAULT_INSTANCE))
        development = _flag("ABS_DEVELOPMENT", False)
        values = dict(
            instance_path=instance,
            database_url=os.environ.get(
                "ABS_DATABASE_URL", f"sqlite:///{instance / 'abs_registry.db'}"
            ),
            development=development,
            secure_cookies=_flag("ABS_SECURE_COOKIES", not development),
            smtp_host=os.environ.get("ABS_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("ABS_SMTP_PORT", "587")),
            smtp_username=os.environ.get("ABS_SMTP_USERNAME") or None,
            smtp_password=os.environ.get("ABS_SMTP_PASSWORD") or None,
            smtp_starttls=_flag("ABS_SMTP_STARTTLS", True),
            mail_from=os.environ.get("ABS_MAIL_FROM", "abs-registry@localhost"),
            public_url=os.environ.get("ABS_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
            **_obligation_settings(),
            dsi_upload_max_bytes=int(os.environ.get("ABS_DSI_UPLOAD_MAX_MB", "512")) * 2**20,
            dsi_decompressed_max_bytes=int(
                os.environ.get("ABS_DSI_DECOMPRESSED_MAX_MB", "4096")) * 2**20,
            dsi_max_sequences_per_file=int(
                os.environ.get("ABS_DSI_MAX_SEQUENCES_PER_FILE", "1000000")),
        )
        if os.environ.get("ABS_SIGNING_KEY_DIR"):
            values["signing_key_dir"] = Path(os.environ["ABS_SIGNING_KEY_DIR"])
        values.update(overrides)
        if "secret_key" not in values:
            values["secret_key"] = _secret_key(Path(values["instance_path"]))
        return cls(**values)


# Obligation and Cali Fund settings that may come from the environment, with their types.
OBLIGATION_ENV = {
    "obligation_grace_days": ("ABS_OBLIGATION_GRACE_DAYS", int),
    "national_fund_name": ("ABS_NATIONAL_FUND_NAME", str),
    "cali_fund_name": ("ABS_CALI_FUND_NAME", str),
    "cali_fund_currency": ("ABS_CALI_FUND_CURRENCY", str),
    "cali_fund_profit_rate": ("ABS_CALI_FUND_PROFIT_RATE", Decimal),
    "cali_fund_revenue_rate": ("ABS_CALI_FUND_REVENUE_RATE", Decimal),
    "cali_fund_basis": ("ABS_CALI_FUND_BASIS", str),
    "cali_fund_assets_threshold": ("ABS_CALI_FUND_ASSETS_THRESHOLD", Decimal),
    "cali_fund_revenue_threshold": ("ABS_CALI_FUND_REVENUE_THRESHOLD", Decimal),
    "cali_fund_profit_threshold": ("ABS_CALI_FUND_PROFIT_THRESHOLD", Decimal),
    "cali_fund_min_exceeded": ("ABS_CALI_FUND_MIN_EXCEEDED", int),
    "cali_fund_years": ("ABS_CALI_FUND_YEARS", int),
}


def _obligation_settings() -> dict:
    """Only what the environment sets; the dataclass defaults cover the rest."""
    return {name: kind(os.environ[env]) for name, (env, kind) in OBLIGATION_ENV.items()
            if os.environ.get(env)}


def obligation_policy(settings: Settings | None = None):
    """The obligation and Cali Fund settings: from ``settings`` when the caller has them, else
    the defaults above with the environment's overrides (services built with a session
    alone, such as the permit service's call at issue, read the same values)."""
    if settings is not None:
        return settings
    from types import SimpleNamespace

    defaults = {f.name: f.default for f in Settings.__dataclass_fields__.values()
                if f.name in OBLIGATION_ENV}
    return SimpleNamespace(**{**defaults, **_obligation_settings()})
