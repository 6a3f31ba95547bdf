"""Issue 12: allergies on the chart, staff names and credentials, one-time account links.

``allergy_entries``: structured allergy statements per patient, append-only (a correction or an
"entered in error" is a new row naming the version it replaces). ``users.full_name`` and
``users.credentials``: how staff are named on signatures, letters and the audit log.
``account_links``: portal invitations and password resets, kept as the SHA-256 of their secret.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALLERGIES = "allergy_entries"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("full_name", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("credentials", sa.String(length=40), nullable=True))
    op.create_table(ALLERGIES,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('substance', sa.String(length=200), nullable=True),
    sa.Column('substance_code', sa.String(length=32), nullable=True),
    sa.Column('reaction', sa.String(length=500), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('allergy','no_known_allergies')", name=op.f('ck_allergy_entries_kind')),
    sa.CheckConstraint("status IN ('active','entered_in_error')", name=op.f('ck_allergy_entries_status')),
    sa.CheckConstraint("severity IS NULL OR severity IN ('mild','moderate','severe','unknown')",
                       name=op.f('ck_allergy_entries_severity')),
    sa.CheckConstraint("(kind = 'allergy') = (substance IS NOT NULL)", name=op.f('ck_allergy_entries_substance_named')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_allergy_entries_patient_id_patients')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_allergy_entries_recorded_by_users')),
    sa.ForeignKeyConstraint(['replaces_id'], ['allergy_entries.id'],
                            name=op.f('fk_allergy_entries_replaces_id_allergy_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allergy_entries')),
    sa.UniqueConstraint('replaces_id', name=op.f('uq_allergy_entries_replaces_id'))
    )
    op.create_index('ix_allergy_entries_patient', ALLERGIES, ['patient_id', 'id'], unique=False)
    for statement in append_only(op.get_bind().dialect.name, ALLERGIES):
        op.execute(statement)
    op.create_table("account_links",
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('invitation','password_reset')", name=op.f('ck_account_links_kind')),
    sa.CheckConstraint("(kind = 'invitation') = (patient_id IS NOT NULL AND username IS NOT NULL)",
                       name=op.f('ck_account_links_invitation_names_patient')),
    sa.CheckConstraint("(kind = 'password_reset') = (user_id IS NOT NULL)", name=op.f('ck_account_links_reset_names_user')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_account_links_created_by_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_account_links_patient_id_patients')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_links_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_links'))
    )
    op.create_index(op.f('ix_account_links_patient_id'), 'account_links', ['patient_id'], unique=False)
    op.create_index(op.f('ix_account_links_user_id'), 'account_links', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_account_links_user_id'), table_name='account_links')
    op.drop_index(op.f('ix_account_links_patient_id'), table_name='account_links')
    op.drop_table("account_links")
    for statement in drop_append_only(op.get_bind().dialect.name, ALLERGIES):
        op.execute(statement)
    op.drop_index('ix_allergy_entries_patient', table_name=ALLERGIES)
    op.drop_table(ALLERGIES)
    if op.get_bind().dialect.name == "sqlite":  # SQLite >= 3.35 drops a column in place (no table rebuild)
        op.execute("ALTER TABLE users DROP COLUMN credentials")
        op.execute("ALTER TABLE users DROP COLUMN full_name")
    else:
        op.drop_column("users", "credentials")
        op.drop_column("users", "full_name")
