"""register search: filter indexes in register order; a stored tsvector on PostgreSQL

Searching 200,000 registered declarations took up to 250 ms. Each filter's index now
continues with (registered_on, declaration_id), so a search walks one index in the order it
answers and stops early; PostgreSQL keeps the document's tsvector in a generated column
instead of recomputing to_tsvector(document) for every row such a walk visits.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 08:00:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

FILTERS = {  # old single-column index -> (new index, its leading column)
    'ix_register_entries_taxon_key': ('ix_register_entries_taxon_order', 'taxon_key'),
    'ix_register_entries_genus_key': ('ix_register_entries_genus_order', 'genus_key'),
    'ix_register_entries_region_code': ('ix_register_entries_region_order', 'region_code'),
    'ix_register_entries_province_code': ('ix_register_entries_province_order',
                                          'province_code'),
    'ix_register_entries_holder_id': ('ix_register_entries_holder_order', 'holder_id'),
}
POSTGRES_UP = [
    "ALTER TABLE register_entries ADD COLUMN document_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, document)) STORED",
    "CREATE INDEX ix_register_entries_document_tsv ON register_entries USING gin (document_tsv)",
    "DROP INDEX ix_register_entries_document",
]
POSTGRES_DOWN = [
    "CREATE INDEX ix_register_entries_document ON register_entries "
    "USING gin (to_tsvector('simple'::regconfig, document))",
    "DROP INDEX ix_register_entries_document_tsv",
    "ALTER TABLE register_entries DROP COLUMN document_tsv",
]


def upgrade() -> None:
    for old, (new, column) in FILTERS.items():
        op.drop_index(old, table_name='register_entries')
        op.create_index(new, 'register_entries', [column, 'registered_on', 'declaration_id'])
    if op.get_bind().dialect.name == 'postgresql':
        for statement in POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for statement in POSTGRES_DOWN:
            op.execute(statement)
    for old, (new, column) in FILTERS.items():
        op.drop_index(new, table_name='register_entries')
        op.create_index(old, 'register_entries', [column])
