"""The banks' change feed (matchers stay current without rebuilding), and contents' SHA-1

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 18:20:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_changes',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('content_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha1', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.drop_column('sha1')
    op.drop_table('bank_changes')
