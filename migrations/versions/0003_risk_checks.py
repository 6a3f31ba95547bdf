"""Risk checks done (liver tests, cognitive screen, misuse check): append-only facts per patient.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "risk_checks"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("code IN ('liver_tests','cognition_check','misuse_check','urinary_symptoms')", name=op.f('ck_risk_checks_code')),
    sa.CheckConstraint("result IN ('normal','abnormal')", name=op.f('ck_risk_checks_result')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_risk_checks_created_by_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_risk_checks_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_checks'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index('ix_risk_checks_patient_code', ['patient_id', 'code'], unique=False)
    for statement in append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only(op.get_bind().dialect.name, TABLE):
        op.execute(statement)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index('ix_risk_checks_patient_code')
    op.drop_table(TABLE)
