"""Triage reasons as a code with parameters, so each reader gets their language

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30 15:40:00.000000

Existing English reasons are read back into codes (their shapes are fixed by jikimi/triage.py);
one that fits no shape keeps only its English text.
"""

import re

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None

_FACE = re.compile(r"face matches subject '(?P<subject>.*)' \((?P<level>confident|possible) match, "
                   r"distance (?P<distance>[\d.]+)\)(?: and exposed nudity \((?P<exposed>[\d.]+)\))?$")
_BANK = re.compile(r"matches bank '(?P<bank>.*)' \((?P<kind>\w+)(?:, distance (?P<distance>[\d.e+-]+))?\)$")
_NUDITY = re.compile(r"exposed nudity \((?P<exposed>[\d.]+)\), no known subject$")
_OTHER_CASE_NAME = "(a person enrolled in another case)"


def _message(reason: str) -> dict | None:
    if found := _FACE.match(reason):
        subject = found["subject"]
        params = {"subject": {"code": "subject.other_case", "params": {}} if subject == _OTHER_CASE_NAME else subject,
                  "distance": float(found["distance"])}
        if found["exposed"]:
            return {"code": f"reason.face.{found['level']}.nudity", "params": {**params, "exposed": float(found["exposed"])}}
        return {"code": f"reason.face.{found['level']}", "params": params}
    if found := _BANK.match(reason):
        if found["distance"]:
            return {"code": "reason.bank.distance",
                    "params": {"bank": found["bank"], "kind": found["kind"], "distance": float(found["distance"])}}
        return {"code": "reason.bank", "params": {"bank": found["bank"], "kind": found["kind"]}}
    if found := _NUDITY.match(reason):
        return {"code": "reason.nudity", "params": {"exposed": float(found["exposed"])}}
    return None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_message', sa.JSON(), nullable=True))
    items = sa.table('items', sa.column('id', sa.Integer), sa.column('reason', sa.Text),
                     sa.column('reason_message', sa.JSON))
    connection = op.get_bind()
    rows = connection.execute(sa.select(items.c.id, items.c.reason).where(items.c.reason.is_not(None))).all()
    for item_id, reason in rows:
        if (message := _message(reason)) is not None:
            connection.execute(items.update().where(items.c.id == item_id).values(reason_message=message))


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('reason_message')
