"""Source photos of a subject (local features and region hashes only); the "derived" triage tier

Revision ID: 0018
Revises: 0016
Create Date: 2026-11-30 18:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None

# jikimi/triage.py: "her face and sexual content" moved from tier 4 to 5, "derived from her
# photo" took tier 4 (priority = tier * 1000 + a score within the tier).
TIER_SPAN = 1000


def upgrade() -> None:
    op.create_table('subject_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('features', sa.LargeBinary(), nullable=False),
    sa.Column('regions', sa.LargeBinary(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subject_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_sources_subject_id'), ['subject_id'], unique=False)
    op.execute(f"UPDATE items SET priority = priority + {TIER_SPAN} WHERE priority >= {4 * TIER_SPAN}")


def downgrade() -> None:
    op.execute(f"UPDATE items SET priority = priority - {TIER_SPAN} WHERE priority >= {5 * TIER_SPAN}")
    with op.batch_alter_table('subject_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_sources_subject_id'))
    op.drop_table('subject_sources')
