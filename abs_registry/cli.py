"""The abs-registry command: database, accounts, key regulatory list, demo data, audit checks."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from abs_registry import migrations
from abs_registry.auth.models import OfficialLevel, Organization, OrgKind, Role
from abs_registry.auth.service import AccountService
from abs_registry.errors import DomainError


def _ext():
    return current_app.extensions["abs"]


def _session():
    return _ext().session_factory()


def _accounts(session) -> AccountService:
    return AccountService(session, _ext().passwords)


def _fail(exc: DomainError) -> None:
    raise click.ClickException(f"{exc.field}: {exc.message}")


@click.group("db", help="Create, migrate and check the database schema.")
def db_group():
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision):
    """Build or migrate the schema (from empty, too)."""
    migrations.upgrade(_ext().settings.database_url, revision)
    click.echo(f"database at revision {revision}")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision):
    migrations.downgrade(_ext().settings.database_url, revision)


@db_group.command("check")
@with_appcontext
def db_check():
    """Fail if the models and the migrations disagree."""
    migrations.check(_ext().settings.database_url)


@db_group.command("current")
@with_appcontext
def db_current():
    migrations.current(_ext().settings.database_url)


@click.group("orgs", help="Organizations.")
def orgs_group():
    pass


@orgs_group.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in OrgKind]), required=True)
@click.option("--region", "region_code", default=None, help="GB/T 2260 code, e.g. 530000")
@with_appcontext
def orgs_create(name, kind, region_code):
    with _session() as session:
        try:
            org = _accounts(session).create_organization(None, name, OrgKind(kind), region_code)
        except DomainError as exc:
            _fail(exc)
        click.echo(f"organization {org.id}: {org.name} ({org.kind.value})")


@click.group("users", help="People who sign in.")
def users_group():
    pass


@users_group.command("create")
@click.argument("email")
@click.option("--name", "display_name", required=True)
@click.option("--org", "org_name", default=None, help="organization name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=None,
              help="defaults from the organization's kind")
@click.option("--level", type=click.Choice([lv.value for lv in OfficialLevel]), default=None,
              help="for officials: provincial or national")
@click.option("--tk-clearance", is_flag=True, help="official may see confidential TK")
@click.option("--prior-art-search", is_flag=True,
              help="may look up restricted TK as prior art (patent examiners)")
@click.option("--checkpoint-officer", is_flag=True,
              help="official of a checkpoint (customs): confirms or stops movements, no reviews")
@click.password_option("--password", envvar="ABS_NEW_PASSWORD")
@with_appcontext
def users_create(email, display_name, org_name, role, level, tk_clearance, prior_art_search,
                 checkpoint_officer,
                 password):
    from sqlalchemy import select

    with _session() as session:
        org = None
        if org_name:
            org = session.scalar(select(Organization).where(Organization.name == org_name))
            if org is None:
                raise click.ClickException(f"org: no organization named {org_name!r}")
        try:
            user = _accounts(session).create_user(
                None, email=email, display_name=display_name, password=password,
                organization=org, role=Role(role) if role else None,
                official_level=OfficialLevel(level) if level else None,
                tk_clearance=tk_clearance, prior_art_search=prior_art_search,
                checkpoint_officer=checkpoint_officer)
        except DomainError as exc:
            _fail(exc)
        click.echo(f"user {user.id}: {user.email} ({user.role.value}"
                   f"{', checkpoint officer' if user.checkpoint_officer else ''})")


@click.group("keylist", help="The key regulatory list of biological genetic resources.")
def keylist_group():
    pass


@keylist_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def keylist_import(csv_file: Path):
    """Replace the list with the taxa in CSV_FILE (columns: scientific_name, rank, category, note)."""
    from abs_registry.declarations import keylist

    with _session() as session:
        try:
            report = keylist.import_list(session, None, csv_file.read_text(encoding="utf-8"))
        except DomainError as exc:
            _fail(exc)
    click.echo(f"added {report.added}, updated {report.updated}, "
               f"deactivated {report.deactivated}; {report.reflagged} waiting declaration(s) "
               "re-flagged")


@click.group("declarations", help="Declarations in bulk.")
def declarations_group():
    pass


@declarations_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", "org_name", required=True, help="the declaring organization's name")
@click.option("--status", type=click.Choice(["registered", "draft", "submitted"]),
              default="registered", show_default=True)
@click.option("--as", "declarant_email", default=None,
              help="e-mail of the member filing them (default: the organization's first)")
@with_appcontext
def declarations_import(file: Path, org_name, status, declarant_email):
    """Import genetic-resource declarations from FILE (JSON Lines, or CSV if *.csv).

    Every row is checked with the API's schema; one bad row refuses the whole file.
    """
    import sys

    from tqdm import tqdm

    from abs_registry.declarations import importer
    from abs_registry.declarations.models import Status

    with _session() as session, tqdm(total=importer.count_records(file), unit=" rows",
                                     file=sys.stderr, mininterval=0.5) as bar:
        try:
            report = importer.import_file(
                session, None, file, organization_name=org_name, status=Status(status),
                declarant_email=declarant_email,
                country=_ext().settings.reference_country, progress=bar.update)
        except DomainError as exc:
            bar.close()
            messages = getattr(exc, "errors", {}).get("file") or [f"{exc.field}: {exc.message}"]
            raise click.ClickException("\n".join([*messages, "nothing was imported"])) from None
    click.echo(f"imported {report.rows} declarations as {status} in {report.seconds:.1f} s "
               f"({report.rows_per_second:.0f} rows/s): {report.first_reference} to "
               f"{report.last_reference}")


@click.group("demo", help="Demonstration data.")
def demo_group():
    pass


@demo_group.command("load")
@with_appcontext
def demo_load():
    """Load demo organizations, sign-ins and declarations in every state (idempotent)."""
    from abs_registry import demo

    with _session() as session:
        created = demo.load(session, _ext().passwords, _ext().keys)
    click.echo("demo data loaded" if created else "demo data already present")
    click.echo(demo.sign_in_help())


@click.group("audit", help="The append-only history.")
def audit_group():
    pass


@audit_group.command("verify")
@with_appcontext
def audit_verify():
    """Check the hash chain of the history; name the first row that was tampered with."""
    from abs_registry.audit.writer import verify_chain

    with _session() as session:
        report = verify_chain(session)
    if not report.ok:
        raise click.ClickException(
            f"history is broken at seq {report.first_bad_seq}: {report.problem}"
        )
    click.echo(f"history intact: {report.checked} events")


@click.group("keys", help="The authority's permit-signing keys.")
def keys_group():
    pass


@keys_group.command("generate")
@with_appcontext
def keys_generate():
    """Make a new Ed25519 signing key (0600 file) and retire the current one: a rotation."""
    with _session() as session:
        key = _ext().keys.generate(session)
    click.echo(f"new signing key {key.kid} in {_ext().keys.directory}; earlier keys retired "
               "but still published in the JWK Set")


@keys_group.command("list")
@with_appcontext
def keys_list():
    """Every key ever used, as published at /.well-known/jwks.json."""
    from abs_registry.permits.keys import jwks

    with _session() as session:
        for key in jwks(session)["keys"]:
            until = key["valid_until"] or "in service"
            click.echo(f"{key['kid']}  from {key['valid_from']}  until {until}")


@keys_group.command("ca")
@with_appcontext
def keys_ca():
    """Make the authority's X.509 root CA and PDF-signing certificate if missing (0600 keys)."""
    authority, created = _ext().authority.ensure()
    click.echo(("created" if created else "already present") + f": {_ext().authority.directory}")
    click.echo(f"root: {authority.root.subject.rfc4514_string()}, valid until "
               f"{authority.root.not_valid_after_utc:%Y-%m-%d}; published at "
               "/.well-known/abs-registry-ca.pem")


@click.command("verify", help="Check a signed permit offline: a compact JWS against a JWK Set "
                              "file, or a certificate PDF against the JWK Set and the root CA "
                              "(--ca); exit 1 with the reason if it is not valid.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the JWK Set, saved from /.well-known/jwks.json")
@click.option("--ca", "ca_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="for a PDF: the root certificate, saved from /.well-known/abs-registry-ca.pem")
def verify(file: Path, jwks_file: Path, ca_file: Path | None):
    from abs_registry.permits import offline, pdf_verification

    with file.open("rb") as fh:
        is_pdf = pdf_verification.is_pdf(fh.read(1024))
    if is_pdf and ca_file is None:
        ok, message = False, "a PDF is checked against the registry's root certificate: add --ca"
    elif is_pdf:
        ok, message = pdf_verification.verify_file(file, jwks_file, ca_file)
    else:
        ok, message = offline.verify_file(file, jwks_file)
    if not ok:
        raise click.ClickException(f"NOT VALID: {message}")
    click.echo(f"VALID: {message}")
@click.group("log", help="The public transparency log of permits.")
def log_group():
    pass


@log_group.command("verify")
@with_appcontext
def log_verify():
    """Recompute the Merkle tree from the stored entries; name the first entry that differs.

    Checks every leaf hash, every stored subtree hash, the head row and every published
    checkpoint.
    """
    from abs_registry.translog.service import verify_log

    with _session() as session:
        report = verify_log(session)
    if not report.ok:
        raise click.ClickException(
            f"log is broken at index {report.first_bad_index}: {report.problem}")
    click.echo(f"log intact: {report.checked} entries, root {report.root_hash.hex()}, "
               f"{report.checkpoints} published checkpoint(s) match")


@log_group.command("publish")
@with_appcontext
def log_publish():
    """Sign the current tree head and keep it (run it from a scheduler); needs LOG_SIGNER."""
    from abs_registry.translog.api import configured_signer
    from abs_registry.translog.service import publish_checkpoint

    signer = configured_signer()
    if signer is None:
        raise click.ClickException("LOG_SIGNER: no signing key is configured for the log")
    with _session() as session:
        signed = publish_checkpoint(session, current_app.config["LOG_ORIGIN"], signer)
    click.echo(signed.note, nl=False)


@click.command("serve", help="Serve the registry (threaded development server).")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@with_appcontext
def serve(host, port):
    import gc

    from werkzeug.serving import run_simple

    # What is loaded by now lives as long as the process: keep it out of the collector's
    # full passes, which otherwise rescan it (~70 ms) every few API pages of 100 items.
    gc.collect()
    gc.freeze()
    click.echo(f"abs-registry is at http://{host}:{port}/  (API docs: /api/v1/docs)")
    run_simple(host, port, current_app._get_current_object(), threaded=True,
               use_reloader=False)


@click.group("notifications", help="The outbox of notifications.")
def notifications_group():
    pass


@notifications_group.command("send")
@click.option("--limit", default=500, show_default=True, help="at most this many e-mails")
@with_appcontext
def notifications_send(limit):
    """E-mail unsent notifications through ABS_SMTP_HOST; run it from a scheduler."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from abs_registry import i18n
    from abs_registry.notifications import mail
    from abs_registry.notifications.views import sentence

    settings = _ext().settings
    if not settings.smtp_host:
        click.echo("e-mail is off: set ABS_SMTP_HOST to send notifications")
        return

    def compose(notification):
        with force_locale(i18n.normalize(notification.user.locale) or i18n.DEFAULT_LOCALE):
            subject = _("ABS Registry: %(reference)s",
                        reference=(notification.params or {}).get("reference", ""))
            body = f"{sentence(notification)}\n\n{settings.public_url}{notification.link}\n"
        return subject, body

    with _session() as session:
        sent = mail.send_pending(session, settings, compose, limit=limit)
    click.echo(f"sent {sent} e-mail(s)")


@click.group("obligations", help="Benefit-sharing obligations.")
def obligations_group():
    pass


@obligations_group.command("daily")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the day to run for (default: today, UTC)")
@click.option("--batch", default=50_000, show_default=True, help="ids per UPDATE")
@with_appcontext
def obligations_daily(today, batch):
    """Move obligations to due and overdue, and notify; run it once a day from a scheduler.

    Running it twice on the same day changes nothing the second time.
    """
    import sys

    from tqdm import tqdm

    from abs_registry.db import utcnow
    from abs_registry.obligations import daily

    day = today.date() if today else utcnow().date()
    settings = _ext().settings
    with _session() as session, tqdm(unit=" ids", unit_scale=True, file=sys.stderr,
                                     mininterval=0.5) as bar:
        report = daily.run(session, day, settings.obligation_grace_days, batch=batch,
                           progress=bar.update, total=lambda n: bar.reset(total=n))
    click.echo(f"{day.isoformat()}: {report.due} fell due, {report.overdue} became overdue, "
               f"{report.notified} notification(s), in {report.seconds:.1f} s")


def register_commands(app) -> None:
    for command in (db_group, orgs_group, users_group, keylist_group, declarations_group,
                    demo_group, audit_group, log_group, notifications_group, keys_group, verify,
                    obligations_group, serve):
        app.cli.add_command(command)


def main() -> None:
    from abs_registry.app import create_app

    FlaskGroup(create_app=lambda: create_app(), add_default_commands=True,
               help="abs-registry administration").main(prog_name="abs-registry")
