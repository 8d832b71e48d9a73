"""Spread features and region grids of banked pictures, to find their edited copies (jikimi/match_edits.py)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 22:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bank_features', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edit_features', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('regions', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bank_features', schema=None) as batch_op:
        batch_op.drop_column('regions')
        batch_op.drop_column('edit_features')
