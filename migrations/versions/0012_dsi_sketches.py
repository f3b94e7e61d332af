"""dsi sketches: the tracing index (k-mer sketches of registered sequences)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 09:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dsi_sketches',
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('alphabet', sa.String(length=10), nullable=False),
    sa.Column('ksize', sa.Integer(), nullable=False),
    sa.Column('scaled', sa.Integer(), nullable=False),
    sa.Column('hash_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sequence_id'], ['dsi_sequences.id'], name=op.f('fk_dsi_sketches_sequence_id_dsi_sequences'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('sequence_id', name=op.f('pk_dsi_sketches'))
    )
    # The postings, one row per registration batch (see abs_registry/dsi/sketches.py).
    op.create_table('dsi_sketch_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('postings', sa.Integer(), nullable=False),
    sa.Column('hashes', sa.LargeBinary(), nullable=False),
    sa.Column('sequence_ids', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dsi_sketch_segments'))
    )
    # Sequences registered between revisions 0008 and 0009 have no sketch yet:
    # `abs-registry dsi-reindex` adds them (it is safe to run at any time).


def downgrade() -> None:
    op.drop_table('dsi_sketch_segments')
    op.drop_table('dsi_sketches')
