"""Workspace settings chosen by an admin (reviewer break interval, re-blur time); on SQLite,
an index on the chat of each post, for the review table's chat filter

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 15:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workspace_settings',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    if op.get_context().dialect.name == 'sqlite':
        op.create_index('ix_item_locators_chat', 'item_locators', [sa.text("json_extract(fields, '$.chat')")])


def downgrade() -> None:
    if op.get_context().dialect.name == 'sqlite':
        op.drop_index('ix_item_locators_chat', table_name='item_locators')
    op.drop_table('workspace_settings')
