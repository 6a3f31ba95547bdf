"""Issue 13 (reminders and consent): the message outbox, contact preferences, consent documents and signatures.

``outbox_messages``: every message the clinic means to send, once per appointment, kind and start
(``uq_outbox_messages_once``), claimed by workers with a lease. ``message_template_versions``: the admin's
wording of each kind of message (append-only versions). ``patients.contact_consent`` /
``contact_consent_at`` / ``reminders_opt_out``: nothing is sent to a patient who did not consent to
contact, or who opted out of reminders (existing patients start without consent: the clinic records it).
``consent_documents`` (append-only versions; version 1 is the default text, marked as the template the
medical director must review), ``consent_signatures`` and ``consent_withdrawals`` (append-only).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ketaclinic.clinical.consent import DEFAULT_BODY, DEFAULT_TITLE, document_sha256
from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "kind IN ('confirmation','reminder_first','reminder_second','no_show','cancellation')"
APPEND_ONLY = ("message_template_versions", "consent_documents", "consent_signatures", "consent_withdrawals")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('appointment_start_at', UTCDateTime(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('recipient', sa.String(length=254), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('template_version', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('closed_reason', sa.String(length=300), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint(KINDS, name=op.f('ck_outbox_messages_kind')),
    sa.CheckConstraint("status IN ('pending','sending','sent','failed','cancelled','skipped')",
                       name=op.f('ck_outbox_messages_status')),
    sa.CheckConstraint("channel IN ('email','sms')", name=op.f('ck_outbox_messages_channel')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_messages_attempts')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'],
                            name=op.f('fk_outbox_messages_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_outbox_messages_patient_id_patients')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_outbox_messages_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('appointment_id', 'kind', 'appointment_start_at', name='uq_outbox_messages_once')
    )
    op.create_index('ix_outbox_messages_due', 'outbox_messages', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_outbox_messages_patient', 'outbox_messages', ['patient_id', 'id'], unique=False)
    op.create_index(op.f('ix_outbox_messages_site_id'), 'outbox_messages', ['site_id'], unique=False)

    op.create_table('message_template_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint(KINDS, name=op.f('ck_message_template_versions_kind')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_message_template_versions_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_template_versions')),
    sa.UniqueConstraint('kind', 'version', name='uq_message_template_versions_kind_version')
    )

    # Plain ADD COLUMN on both engines (no table rebuild: SQLite adds a NOT NULL column with a constant default)
    op.add_column("patients", sa.Column('contact_consent', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("patients", sa.Column('contact_consent_at', UTCDateTime(), nullable=True))
    op.add_column("patients", sa.Column('reminders_opt_out', sa.Boolean(), nullable=False, server_default=sa.false()))

    documents = op.create_table('consent_documents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('reviewed_by', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_consent_documents_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_documents')),
    sa.UniqueConstraint('version', name=op.f('uq_consent_documents_version'))
    )
    op.create_table('consent_signatures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('document_version', sa.Integer(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('typed_name', sa.String(length=200), nullable=False),
    sa.Column('signature_svg', sa.Text(), nullable=False),
    sa.Column('signed_at', UTCDateTime(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('signed_in_user_id', sa.Integer(), nullable=True),
    sa.Column('witness_user_id', sa.Integer(), nullable=True),
    sa.Column('witness_name', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("channel IN ('portal','tablet')", name=op.f('ck_consent_signatures_channel')),
    sa.ForeignKeyConstraint(['document_id'], ['consent_documents.id'],
                            name=op.f('fk_consent_signatures_document_id_consent_documents')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_consent_signatures_patient_id_patients')),
    sa.ForeignKeyConstraint(['signed_in_user_id'], ['users.id'],
                            name=op.f('fk_consent_signatures_signed_in_user_id_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_consent_signatures_site_id_sites')),
    sa.ForeignKeyConstraint(['witness_user_id'], ['users.id'], name=op.f('fk_consent_signatures_witness_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_signatures'))
    )
    op.create_index('ix_consent_signatures_patient', 'consent_signatures', ['patient_id', 'id'], unique=False)
    op.create_index(op.f('ix_consent_signatures_site_id'), 'consent_signatures', ['site_id'], unique=False)
    op.create_table('consent_withdrawals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('withdrawn_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_consent_withdrawals_patient_id_patients')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_consent_withdrawals_recorded_by_users')),
    sa.ForeignKeyConstraint(['signature_id'], ['consent_signatures.id'],
                            name=op.f('fk_consent_withdrawals_signature_id_consent_signatures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_withdrawals')),
    sa.UniqueConstraint('signature_id', name=op.f('uq_consent_withdrawals_signature_id'))
    )
    op.create_index(op.f('ix_consent_withdrawals_patient_id'), 'consent_withdrawals', ['patient_id'], unique=False)
    now = datetime.now(UTC)
    op.bulk_insert(documents, [{
        "version": 1, "title": DEFAULT_TITLE, "body": DEFAULT_BODY, "sha256": document_sha256(DEFAULT_TITLE, DEFAULT_BODY),
        "reviewed_by": None, "note": "The default text shipped with KetaClinic: a template the medical director must "
        "review.", "created_at": now, "created_by": None}])
    for table in APPEND_ONLY:
        for statement in append_only(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in drop_append_only(dialect, table):
            op.execute(statement)
    op.drop_index(op.f('ix_consent_withdrawals_patient_id'), table_name='consent_withdrawals')
    op.drop_table('consent_withdrawals')
    op.drop_index(op.f('ix_consent_signatures_site_id'), table_name='consent_signatures')
    op.drop_index('ix_consent_signatures_patient', table_name='consent_signatures')
    op.drop_table('consent_signatures')
    op.drop_table('consent_documents')
    if dialect == "sqlite":  # SQLite >= 3.35 drops a column in place (no table rebuild)
        for column in ("reminders_opt_out", "contact_consent_at", "contact_consent"):
            op.execute(f"ALTER TABLE patients DROP COLUMN {column}")
    else:
        for column in ("reminders_opt_out", "contact_consent_at", "contact_consent"):
            op.drop_column("patients", column)
    op.drop_table('message_template_versions')
    op.drop_index(op.f('ix_outbox_messages_site_id'), table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_patient', table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_due', table_name='outbox_messages')
    op.drop_table('outbox_messages')
