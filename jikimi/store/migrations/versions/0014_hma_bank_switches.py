"""HMA's bank and content switches: a bank's matching ratio, a content's disable_until_ts

Revision ID: 0014
Revises: 0015
Create Date: 2026-11-30 16:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('banks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matching_enabled_ratio', sa.Float(), server_default='1.0', nullable=False))
    with op.batch_alter_table('bank_contents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disable_until_ts', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('bank_contents', schema=None) as batch_op:
        batch_op.drop_column('disable_until_ts')
    with op.batch_alter_table('banks', schema=None) as batch_op:
        batch_op.drop_column('matching_enabled_ratio')
