"""case members; indexes for the review queue and cross-case routing

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_case_members_case_id'),
    sa.ForeignKeyConstraint(['user_id'], ['web_users.id'], name='fk_case_members_user_id'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'user_id', name='uq_case_members_case_user')
    )
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_members_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_members_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matches_subject_id'), ['subject_id'], unique=False)
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_priority', ['priority', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_priority')
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matches_subject_id'))
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_case_members_case_id'))
    op.drop_table('case_members')
