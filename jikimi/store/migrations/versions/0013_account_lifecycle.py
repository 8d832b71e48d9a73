"""account lifecycle: token scopes and expiry, forced password change, failures by address

Tokens made before scopes existed keep what they could do (read, review, admin, always cut
down to the owner's role) and expire 90 days after the upgrade.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 15:30:00
"""

from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OLD_TOKEN_SCOPES = "read review admin"
OLD_TOKEN_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default='0', nullable=False))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    expires = datetime.now(timezone.utc) + timedelta(days=OLD_TOKEN_DAYS)
    op.get_bind().execute(sa.text("UPDATE api_tokens SET scopes = :scopes, expires_at = :expires"),
                          {"scopes": OLD_TOKEN_SCOPES, "expires": expires})
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(timezone=True), nullable=False)
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_address_at', ['address', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_address_at')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
