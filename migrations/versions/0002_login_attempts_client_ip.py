"""count failed sign-ins per client address too

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_ip', sa.String(length=45), nullable=True))
        batch_op.create_index(batch_op.f('ix_login_attempts_client_ip'), ['client_ip'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempts_client_ip'))
        batch_op.drop_column('client_ip')
