"""Issue 17 (scale): per-course outcome summaries and the indexes the pages need.

``course_summaries``: one row per patient's course (records/course_summaries.py). The migration
creates it empty (it does not import today's services, which later schemas would break); ``ketaclinic
migrate`` then fills it from the records already there when it is empty
(:func:`ketaclinic.services.course_summaries.rebuild_if_empty`).

Indexes for the queries the main pages run that migration 0012 does not already cover (a site's day
and the sessions under way are there; tests/records/test_query_plans.py runs EXPLAIN on them all):
- ``sessions (started_at)``: the sessions started in a period (the outcome report's adverse events);
- ``patients (site_id, id)``: the patient list of a site, paged by keyset on id;
- ``evaluations (amends_id)``: whether a chart's evaluation was amended (every chart and evaluation page);
- ``course_summaries (site_id, condition)`` and ``(site_id, course_end)``: outcomes by site,
  condition and period.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_sessions_started_at", "sessions", ["started_at"]),
    ("ix_patients_site_id_id", "patients", ["site_id", "id"]),
    ("ix_evaluations_amends_id", "evaluations", ["amends_id"]),
)


def upgrade() -> None:
    op.create_table('course_summaries',
    sa.Column('patient_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=80), nullable=True),
    sa.Column('condition', sa.String(length=40), nullable=True),
    sa.Column('baseline_nrs', sa.Double(), nullable=True),
    sa.Column('course_start', sa.Date(), nullable=True),
    sa.Column('course_end', sa.Date(), nullable=True),
    sa.Column('sessions_in_course', sa.Integer(), nullable=False),
    sa.Column('first_booster_day', sa.Date(), nullable=True),
    sa.Column('boosters', sa.Integer(), nullable=False),
    sa.Column('followup_nrs', sa.Double(), nullable=True),
    sa.Column('followup_days', sa.Integer(), nullable=False),
    sa.Column('reduction_pct', sa.Double(), nullable=True),
    sa.Column('responder_30', sa.Boolean(), nullable=True),
    sa.Column('responder_50', sa.Boolean(), nullable=True),
    sa.Column('two_point', sa.Boolean(), nullable=True),
    sa.Column('relief_days', sa.Double(), nullable=True),
    sa.Column('relief_lost', sa.Boolean(), nullable=True),
    sa.Column('last_diary_day', sa.Date(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_course_summaries_patient_id_patients')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_course_summaries_site_id_sites')),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_course_summaries'))
    )
    op.create_index(op.f('ix_course_summaries_site_id'), 'course_summaries', ['site_id'], unique=False)
    op.create_index('ix_course_summaries_site_condition', 'course_summaries', ['site_id', 'condition'], unique=False)
    op.create_index('ix_course_summaries_site_course_end', 'course_summaries', ['site_id', 'course_end'],
                    unique=False)
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index('ix_course_summaries_site_course_end', table_name='course_summaries')
    op.drop_index('ix_course_summaries_site_condition', table_name='course_summaries')
    op.drop_index(op.f('ix_course_summaries_site_id'), table_name='course_summaries')
    op.drop_table('course_summaries')
