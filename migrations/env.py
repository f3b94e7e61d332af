"""Alembic environment: the URL comes from abs_registry.migrations, the models from the package."""

from alembic import context

import abs_registry.models  # noqa: F401  (registers every table on Base.metadata)
from abs_registry.db import Base, ExactDecimal, UTCDateTime, make_engine

# Objects that exist only on one database, created by hand in the migrations.
DIALECT_ONLY = {"register_fts", "register_fts_data", "register_fts_idx", "register_fts_docsize",
                "register_fts_config", "register_fts_content"}


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name in DIALECT_ONLY:
        return False
    if type_ == "column" and name == "document_tsv":  # PostgreSQL's stored tsvector (0004)
        return False
    return not (type_ == "index" and (name or "").startswith("ix_register_entries_document"))


def render_item(type_, obj, autogen_context):
    """Migrations must not import application types: write each as its plain column."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, ExactDecimal):
        return "sa.BigInteger()"
    return False


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
