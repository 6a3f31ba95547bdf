"""Clinic settings: append-only versions (drug library tightening, fasting times, observation, boosters).

Each row is one saved version of the whole settings document, with who, when and what changed;
UPDATE and DELETE are refused by triggers, as for the other append-only tables of 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "clinic_settings_versions"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', JSONType, nullable=False),
    sa.Column('changes', JSONType, nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_by_username', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_clinic_settings_versions_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinic_settings_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_clinic_settings_versions_version'))
    )
    for statement in append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
