"""face templates and faces record their model; consented reference crops

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows stored before this revision were all embedded by dlib's ResNet v1.
    with op.batch_alter_table('subject_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model', sa.String(length=64), server_default='dlib_resnet_v1', nullable=False))
        batch_op.add_column(sa.Column('reference_crop', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('content_faces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model', sa.String(length=64), server_default='dlib_resnet_v1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('content_faces', schema=None) as batch_op:
        batch_op.drop_column('model')
    with op.batch_alter_table('subject_templates', schema=None) as batch_op:
        batch_op.drop_column('reference_crop')
        batch_op.drop_column('model')
