"""PDQ query variants of a content (turned, mirrored, inner picture)

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30 12:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pdq_variants', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.drop_column('pdq_variants')
