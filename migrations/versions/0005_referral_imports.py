"""Referrals received as FHIR Bundles: append-only, kept as received with the import report.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "referral_imports"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=True),
    sa.Column('bundle_identifier', sa.String(length=500), nullable=True),
    sa.Column('bundle', JSONType, nullable=False),
    sa.Column('resources', JSONType, nullable=False),
    sa.Column('report', JSONType, nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('received_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_referral_imports_patient_id_patients')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], name=op.f('fk_referral_imports_evaluation_id_evaluations')),
    sa.ForeignKeyConstraint(['received_by'], ['users.id'], name=op.f('fk_referral_imports_received_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_imports'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_imports_patient_id'), ['patient_id'], unique=False)
    for statement in append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_imports_patient_id'))
    op.drop_table(TABLE)
