"""PDQ query variants of a content; local features of banked pictures

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_features',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('content_id', sa.Integer(), nullable=False),
    sa.Column('features', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['bank_id'], ['banks.id'], ),
    sa.ForeignKeyConstraint(['content_id'], ['bank_contents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bank_features', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_features_content_id'), ['content_id'], unique=False)

    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pdq_variants', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.drop_column('pdq_variants')
    with op.batch_alter_table('bank_features', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_features_content_id'))

    op.drop_table('bank_features')
