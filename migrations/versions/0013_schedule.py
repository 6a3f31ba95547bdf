"""Issue 13 (schedule): chairs, rooms, staff availability, appointments and the waiting list.

``chairs`` (treatment chairs and evaluation rooms, per site), ``staff_hours`` (weekly hours in the site's
local minutes), ``staff_absences`` (UTC stretches), ``appointments`` (UTC start and end; an infusion's
appointment points 1:1 to its session; cancelled and no-show appointments are sealed by a trigger) and
``waiting_list``. No existing row changes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import sealed

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED_APPOINTMENTS = ("status", ("cancelled", "no_show"))


def upgrade() -> None:
    op.create_table('staff_absences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_staff_absences_stretch')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_staff_absences_created_by_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_absences_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_absences'))
    )
    op.create_index('ix_staff_absences_user_id', 'staff_absences', ['user_id', 'starts_at'], unique=False)
    op.create_table('chairs',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('chair','room')", name=op.f('ck_chairs_kind')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_chairs_created_by_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_chairs_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chairs')),
    sa.UniqueConstraint('site_id', 'name', name='uq_chairs_site_name')
    )
    op.create_index(op.f('ix_chairs_site_id'), 'chairs', ['site_id'], unique=False)
    op.create_table('staff_hours',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_min', sa.Integer(), nullable=False),
    sa.Column('end_min', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('start_min >= 0 AND end_min <= 1440 AND start_min < end_min', name=op.f('ck_staff_hours_stretch')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_staff_hours_weekday')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_staff_hours_created_by_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_staff_hours_site_id_sites')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_hours_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_hours'))
    )
    op.create_index(op.f('ix_staff_hours_site_id'), 'staff_hours', ['site_id'], unique=False)
    op.create_index('ix_staff_hours_user_id', 'staff_hours', ['user_id'], unique=False)
    op.create_table('appointments',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('start_at', UTCDateTime(), nullable=False),
    sa.Column('end_at', UTCDateTime(), nullable=False),
    sa.Column('chair_id', sa.Integer(), nullable=True),
    sa.Column('nurse_id', sa.Integer(), nullable=True),
    sa.Column('physician_id', sa.Integer(), nullable=True),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('series_id', sa.String(length=36), nullable=True),
    sa.Column('series_index', sa.Integer(), nullable=True),
    sa.Column('booster', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_at', UTCDateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("(kind = 'infusion') = (session_id IS NOT NULL)", name=op.f('ck_appointments_infusion_session')),
    sa.CheckConstraint("kind IN ('evaluation','infusion','follow_up')", name=op.f('ck_appointments_kind')),
    sa.CheckConstraint("status IN ('booked','cancelled','no_show')", name=op.f('ck_appointments_status')),
    sa.CheckConstraint('start_at < end_at', name=op.f('ck_appointments_stretch')),
    sa.ForeignKeyConstraint(['chair_id'], ['chairs.id'], name=op.f('fk_appointments_chair_id_chairs')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_appointments_created_by_users')),
    sa.ForeignKeyConstraint(['nurse_id'], ['users.id'], name=op.f('fk_appointments_nurse_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_appointments_patient_id_patients')),
    sa.ForeignKeyConstraint(['physician_id'], ['users.id'], name=op.f('fk_appointments_physician_id_users')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_appointments_plan_id_plans')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_appointments_session_id_sessions')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_appointments_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('session_id', name=op.f('uq_appointments_session_id'))
    )
    op.create_index('ix_appointments_chair_start', 'appointments', ['chair_id', 'start_at'], unique=False)
    op.create_index('ix_appointments_nurse_start', 'appointments', ['nurse_id', 'start_at'], unique=False)
    op.create_index('ix_appointments_patient_start', 'appointments', ['patient_id', 'start_at'], unique=False)
    op.create_index(op.f('ix_appointments_series_id'), 'appointments', ['series_id'], unique=False)
    op.create_index(op.f('ix_appointments_site_id'), 'appointments', ['site_id'], unique=False)
    op.create_index('ix_appointments_site_start', 'appointments', ['site_id', 'start_at'], unique=False)
    op.create_table('waiting_list',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('earliest', UTCDateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('evaluation','infusion','follow_up')", name=op.f('ck_waiting_list_kind')),
    sa.CheckConstraint("status IN ('waiting','booked','removed')", name=op.f('ck_waiting_list_status')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_waiting_list_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_waiting_list_created_by_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_waiting_list_patient_id_patients')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_waiting_list_plan_id_plans')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_waiting_list_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiting_list'))
    )
    op.create_index(op.f('ix_waiting_list_patient_id'), 'waiting_list', ['patient_id'], unique=False)
    op.create_index(op.f('ix_waiting_list_site_id'), 'waiting_list', ['site_id'], unique=False)

    for guard in sealed(op.get_bind().dialect.name, "appointments", *SEALED_APPOINTMENTS):
        op.execute(guard.create)


def downgrade() -> None:
    for guard in sealed(op.get_bind().dialect.name, "appointments", *SEALED_APPOINTMENTS):
        op.execute(guard.drop)
    op.drop_index(op.f('ix_waiting_list_site_id'), table_name='waiting_list')
    op.drop_index(op.f('ix_waiting_list_patient_id'), table_name='waiting_list')
    op.drop_table('waiting_list')
    op.drop_index('ix_appointments_site_start', table_name='appointments')
    op.drop_index(op.f('ix_appointments_site_id'), table_name='appointments')
    op.drop_index(op.f('ix_appointments_series_id'), table_name='appointments')
    op.drop_index('ix_appointments_patient_start', table_name='appointments')
    op.drop_index('ix_appointments_nurse_start', table_name='appointments')
    op.drop_index('ix_appointments_chair_start', table_name='appointments')
    op.drop_table('appointments')
    op.drop_index('ix_staff_hours_user_id', table_name='staff_hours')
    op.drop_index(op.f('ix_staff_hours_site_id'), table_name='staff_hours')
    op.drop_table('staff_hours')
    op.drop_index(op.f('ix_chairs_site_id'), table_name='chairs')
    op.drop_table('chairs')
    op.drop_index('ix_staff_absences_user_id', table_name='staff_absences')
    op.drop_table('staff_absences')
