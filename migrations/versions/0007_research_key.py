"""The clinic's research key (the per-patient date shift of research exports is derived from it).

The key itself is made on the first research export (records/research_keys.py), not here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "research_keys"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('secret', sa.LargeBinary(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_research_keys')),
    sa.UniqueConstraint('purpose', name=op.f('uq_research_keys_purpose'))
    )
    for statement in append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
