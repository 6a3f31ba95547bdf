"""Issue 14 (MAR): the drug library beyond ketamine, PRN orders and doses given.

``medication_orders`` (PRN orders on a plan: signed with the plan, or an amendment signed by the
physician who writes it), ``medication_order_stops`` (an order stopped, at most once) and
``medication_administrations`` (every PRN dose given, with the session event that shows it). All
three are append-only and belong to a site. See records/medication_orders.py.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("medication_orders", "medication_order_stops", "medication_administrations")
ROUTES = "route IN ('iv','oral','im','sublingual')"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table("medication_orders",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('drug', sa.String(length=40), nullable=False),
    sa.Column('dose_mg', sa.Double(), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('indication', sa.String(length=32), nullable=False),
    sa.Column('max_doses_per_session', sa.Integer(), nullable=False),
    sa.Column('min_interval_min', sa.Double(), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('dose_check', JSONType, nullable=False),
    sa.Column('amendment', sa.Boolean(), nullable=False),
    sa.Column('signed_by', sa.Integer(), nullable=True),
    sa.Column('signed_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint(ROUTES, name=op.f('ck_medication_orders_route')),
    sa.CheckConstraint("indication IN ('nausea_vomiting','hypertension','psychomimetic_distress','hypersalivation',"
                       "'premedication')", name=op.f('ck_medication_orders_indication')),
    sa.CheckConstraint("dose_mg > 0", name=op.f('ck_medication_orders_dose_positive')),
    sa.CheckConstraint("max_doses_per_session >= 1 AND max_doses_per_session <= 10",
                       name=op.f('ck_medication_orders_max_doses')),
    sa.CheckConstraint("min_interval_min >= 0", name=op.f('ck_medication_orders_interval')),
    sa.CheckConstraint("amendment = (signed_by IS NOT NULL AND signed_at IS NOT NULL)",
                       name=op.f('ck_medication_orders_amendment_signed')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_medication_orders_site_id_sites')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_medication_orders_patient_id_patients')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_medication_orders_plan_id_plans')),
    sa.ForeignKeyConstraint(['signed_by'], ['users.id'], name=op.f('fk_medication_orders_signed_by_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_medication_orders_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medication_orders'))
    )
    op.create_index(op.f('ix_medication_orders_site_id'), 'medication_orders', ['site_id'], unique=False)
    op.create_index(op.f('ix_medication_orders_patient_id'), 'medication_orders', ['patient_id'], unique=False)
    op.create_index('ix_medication_orders_plan', 'medication_orders', ['plan_id', 'id'], unique=False)

    op.create_table("medication_order_stops",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('stopped_at', UTCDateTime(), nullable=False),
    sa.Column('stopped_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['medication_orders.id'],
                            name=op.f('fk_medication_order_stops_order_id_medication_orders')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_medication_order_stops_site_id_sites')),
    sa.ForeignKeyConstraint(['stopped_by'], ['users.id'], name=op.f('fk_medication_order_stops_stopped_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medication_order_stops')),
    sa.UniqueConstraint('order_id', name=op.f('uq_medication_order_stops_order_id'))
    )
    op.create_index(op.f('ix_medication_order_stops_site_id'), 'medication_order_stops', ['site_id'], unique=False)

    op.create_table("medication_administrations",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('alert_event_id', sa.Integer(), nullable=True),
    sa.Column('drug', sa.String(length=40), nullable=False),
    sa.Column('dose_mg', sa.Double(), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('indication', sa.String(length=32), nullable=False),
    sa.Column('lot_number', sa.String(length=100), nullable=True),
    sa.Column('dose_check', JSONType, nullable=False),
    sa.Column('minute', sa.Double(), nullable=True),
    sa.Column('given_at', UTCDateTime(), nullable=False),
    sa.Column('given_by', sa.Integer(), nullable=True),
    sa.CheckConstraint(ROUTES, name=op.f('ck_medication_administrations_route')),
    sa.CheckConstraint("dose_mg > 0", name=op.f('ck_medication_administrations_dose_positive')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_medication_administrations_site_id_sites')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                            name=op.f('fk_medication_administrations_patient_id_patients')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'],
                            name=op.f('fk_medication_administrations_session_id_sessions')),
    sa.ForeignKeyConstraint(['order_id'], ['medication_orders.id'],
                            name=op.f('fk_medication_administrations_order_id_medication_orders')),
    sa.ForeignKeyConstraint(['event_id'], ['session_events.id'],
                            name=op.f('fk_medication_administrations_event_id_session_events')),
    sa.ForeignKeyConstraint(['alert_event_id'], ['session_events.id'],
                            name=op.f('fk_medication_administrations_alert_event_id_session_events')),
    sa.ForeignKeyConstraint(['given_by'], ['users.id'], name=op.f('fk_medication_administrations_given_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medication_administrations')),
    sa.UniqueConstraint('event_id', name=op.f('uq_medication_administrations_event_id'))
    )
    op.create_index(op.f('ix_medication_administrations_site_id'), 'medication_administrations', ['site_id'],
                    unique=False)
    op.create_index(op.f('ix_medication_administrations_patient_id'), 'medication_administrations', ['patient_id'],
                    unique=False)
    op.create_index(op.f('ix_medication_administrations_order_id'), 'medication_administrations', ['order_id'],
                    unique=False)
    op.create_index('ix_medication_administrations_session', 'medication_administrations', ['session_id', 'id'],
                    unique=False)
    for table in TABLES:
        for statement in append_only(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in drop_append_only(dialect, table):
            op.execute(statement)
    op.drop_index('ix_medication_administrations_session', table_name='medication_administrations')
    op.drop_index(op.f('ix_medication_administrations_order_id'), table_name='medication_administrations')
    op.drop_index(op.f('ix_medication_administrations_patient_id'), table_name='medication_administrations')
    op.drop_index(op.f('ix_medication_administrations_site_id'), table_name='medication_administrations')
    op.drop_table("medication_administrations")
    op.drop_index(op.f('ix_medication_order_stops_site_id'), table_name='medication_order_stops')
    op.drop_table("medication_order_stops")
    op.drop_index('ix_medication_orders_plan', table_name='medication_orders')
    op.drop_index(op.f('ix_medication_orders_patient_id'), table_name='medication_orders')
    op.drop_index(op.f('ix_medication_orders_site_id'), table_name='medication_orders')
    op.drop_table("medication_orders")
