"""This installation's random UUID (FHIR identifiers are derived from it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

"""
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "installation"


def upgrade() -> None:
    table = op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installation')),
    sa.UniqueConstraint('uuid', name=op.f('uq_installation_uuid'))
    )
    op.bulk_insert(table, [{"id": 1, "uuid": str(uuid.uuid4()), "created_at": datetime.now(UTC)}])
    for statement in append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
