"""Issue 17 (patient pickers): the patient search of the list and of every picker reads by index.

The invitation form and the audit log's patient filter used to list every patient in a ``<select>``;
they now search (services/patients.py ``search_condition``): the start of the family or given name
(case folded: a range on ``lower(name)``), the patient number, or the birth date. The indexes:
``ix_patients_family_lower`` and ``ix_patients_given_lower`` on the lower-cased names,
``ix_patients_birth_date``, and ``ix_users_patient_id`` (whether a patient has a portal account).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_patients_family_lower', 'patients', [sa.text('lower(family_name)')], unique=False)
    op.create_index('ix_patients_given_lower', 'patients', [sa.text('lower(given_name)')], unique=False)
    op.create_index('ix_patients_birth_date', 'patients', ['birth_date'], unique=False)
    op.create_index('ix_users_patient_id', 'users', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_users_patient_id', table_name='users')
    op.drop_index('ix_patients_birth_date', table_name='patients')
    op.drop_index('ix_patients_given_lower', table_name='patients')
    op.drop_index('ix_patients_family_lower', table_name='patients')
