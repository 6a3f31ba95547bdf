"""Issue 15 (PROMs): questionnaire instruments, schedules and responses.

``custom_instruments`` (a site's licensed instruments, versioned), ``questionnaire_responses`` (saved as the
patient answers, partial answers kept, each save a new row replacing the last), ``questionnaire_alerts`` (PHQ-9
item 9 above 0) and ``questionnaire_alert_acks`` (once per alert). All four are append-only.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("custom_instruments", "questionnaire_responses", "questionnaire_alerts", "questionnaire_alert_acks")


def upgrade() -> None:
    op.create_table("custom_instruments",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('instrument', sa.String(length=40), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('definition', JSONType, nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('active','retired')", name=op.f('ck_custom_instruments_status')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_custom_instruments_created_by_users')),
    sa.ForeignKeyConstraint(['replaces_id'], ['custom_instruments.id'],
                            name=op.f('fk_custom_instruments_replaces_id_custom_instruments')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_custom_instruments_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_instruments')),
    sa.UniqueConstraint('replaces_id', name=op.f('uq_custom_instruments_replaces_id'))
    )
    op.create_index('ix_custom_instruments_site', 'custom_instruments', ['site_id', 'instrument'], unique=False)

    op.create_table("questionnaire_responses",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('instrument', sa.String(length=64), nullable=False),
    sa.Column('custom_instrument_id', sa.Integer(), nullable=True),
    sa.Column('context', sa.String(length=16), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('answers', JSONType, nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('severity', sa.String(length=32), nullable=True),
    sa.Column('flags', JSONType, nullable=False),
    sa.Column('prorated', sa.Boolean(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('partial','complete','entered_in_error')",
                       name=op.f('ck_questionnaire_responses_status')),
    sa.CheckConstraint("context IN ('baseline','pre_course','end_of_course','monthly','ad_hoc')",
                       name=op.f('ck_questionnaire_responses_context')),
    sa.CheckConstraint("channel IN ('portal','tablet','staff')", name=op.f('ck_questionnaire_responses_channel')),
    sa.ForeignKeyConstraint(['custom_instrument_id'], ['custom_instruments.id'],
                            name=op.f('fk_questionnaire_responses_custom_instrument_id_custom_instruments')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_questionnaire_responses_patient_id_patients')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_questionnaire_responses_plan_id_plans')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_questionnaire_responses_recorded_by_users')),
    sa.ForeignKeyConstraint(['replaces_id'], ['questionnaire_responses.id'],
                            name=op.f('fk_questionnaire_responses_replaces_id_questionnaire_responses')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_questionnaire_responses_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questionnaire_responses')),
    sa.UniqueConstraint('replaces_id', name=op.f('uq_questionnaire_responses_replaces_id'))
    )
    op.create_index('ix_questionnaire_responses_patient', 'questionnaire_responses',
                    ['patient_id', 'instrument', 'id'], unique=False)
    op.create_index(op.f('ix_questionnaire_responses_site_id'), 'questionnaire_responses', ['site_id'], unique=False)

    op.create_table("questionnaire_alerts",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('raised_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_questionnaire_alerts_patient_id_patients')),
    sa.ForeignKeyConstraint(['response_id'], ['questionnaire_responses.id'],
                            name=op.f('fk_questionnaire_alerts_response_id_questionnaire_responses')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_questionnaire_alerts_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questionnaire_alerts')),
    sa.UniqueConstraint('response_id', name=op.f('uq_questionnaire_alerts_response_id'))
    )
    op.create_index('ix_questionnaire_alerts_site_raised', 'questionnaire_alerts', ['site_id', 'raised_at'], unique=False)
    op.create_index(op.f('ix_questionnaire_alerts_patient_id'), 'questionnaire_alerts', ['patient_id'], unique=False)

    op.create_table("questionnaire_alert_acks",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('acknowledged_at', UTCDateTime(), nullable=False),
    sa.Column('acknowledged_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['users.id'],
                            name=op.f('fk_questionnaire_alert_acks_acknowledged_by_users')),
    sa.ForeignKeyConstraint(['alert_id'], ['questionnaire_alerts.id'],
                            name=op.f('fk_questionnaire_alert_acks_alert_id_questionnaire_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questionnaire_alert_acks')),
    sa.UniqueConstraint('alert_id', name=op.f('uq_questionnaire_alert_acks_alert_id'))
    )
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in append_only(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in drop_append_only(dialect, table):
            op.execute(statement)
    op.drop_table("questionnaire_alert_acks")
    op.drop_index(op.f('ix_questionnaire_alerts_patient_id'), table_name='questionnaire_alerts')
    op.drop_index('ix_questionnaire_alerts_site_raised', table_name='questionnaire_alerts')
    op.drop_table("questionnaire_alerts")
    op.drop_index(op.f('ix_questionnaire_responses_site_id'), table_name='questionnaire_responses')
    op.drop_index('ix_questionnaire_responses_patient', table_name='questionnaire_responses')
    op.drop_table("questionnaire_responses")
    op.drop_index('ix_custom_instruments_site', table_name='custom_instruments')
    op.drop_table("custom_instruments")
