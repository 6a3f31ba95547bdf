"""Issue 17 (scale): the dashboards' follow-up panels read per-patient summaries kept up to date.

``follow_up_summaries`` holds, per patient, what the follow-up panels show (a booster due, the overdue
risk checks), the day it was computed for and the first day time alone may change it
(records/follow_up.py, ``FollowUpSummary``). The services keep a row up to date in the transaction of any
change to the records it is computed from; the pages and the worker recompute the stale ones.

The migration does not import today's services (later schemas would break it): it writes one **stale**
row per patient (``computed_on`` = ``review_on`` = 1970-01-01, so the rows are recomputed before they are
shown), with the patient's site, the latest booking that was not cancelled and whether a signed plan
exists, all in SQL; the worker (``ketaclinic worker``, also in ``ketaclinic serve``) then computes them.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime

revision: str = '0023'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('follow_up_summaries',
    sa.Column('patient_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=True),
    sa.Column('in_treatment', sa.Boolean(), nullable=False),
    sa.Column('needs_action', sa.Boolean(), nullable=False),
    sa.Column('booster_due', sa.Boolean(), nullable=False),
    sa.Column('booster_message', sa.Text(), nullable=True),
    sa.Column('overdue', JSONType, nullable=False),
    sa.Column('computed_on', sa.Date(), nullable=False),
    sa.Column('review_on', sa.Date(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_follow_up_summaries_patient_id_patients')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_follow_up_summaries_site_id_sites')),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_follow_up_summaries'))
    )
    op.create_index('ix_follow_up_summaries_last_seen', 'follow_up_summaries', ['last_seen_at', 'patient_id'],
                    unique=False)
    op.create_index('ix_follow_up_summaries_site_last_seen', 'follow_up_summaries',
                    ['site_id', 'last_seen_at', 'patient_id'], unique=False)
    op.create_index('ix_follow_up_summaries_review_on', 'follow_up_summaries', ['review_on'], unique=False)
    op.execute(
        "INSERT INTO follow_up_summaries (patient_id, site_id, last_seen_at, in_treatment, needs_action, booster_due,"
        " booster_message, overdue, computed_on, review_on, updated_at, version)"
        " SELECT p.id, p.site_id,"
        " (SELECT max(s.scheduled_at) FROM sessions s WHERE s.patient_id = p.id AND s.state <> 'cancelled'),"
        " EXISTS (SELECT 1 FROM plans pl WHERE pl.patient_id = p.id AND pl.status = 'signed'),"
        " false, false, NULL, '[]', '1970-01-01', '1970-01-01', CURRENT_TIMESTAMP, 0 FROM patients p")


def downgrade() -> None:
    op.drop_index('ix_follow_up_summaries_review_on', table_name='follow_up_summaries')
    op.drop_index('ix_follow_up_summaries_site_last_seen', table_name='follow_up_summaries')
    op.drop_index('ix_follow_up_summaries_last_seen', table_name='follow_up_summaries')
    op.drop_table('follow_up_summaries')
