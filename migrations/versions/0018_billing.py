"""Issue 15 (billing): price lists, invoices, payments and refunds.

``price_lists`` (a site's prices, one version a row), ``billing_em_codes`` (the E/M level a physician
chose for an evaluation), ``invoices`` (one revision a row; voiding is a new revision) and ``payments``
(payments, refunds and reversals), all append-only (the triggers of records/triggers.py), and
``users.npi`` (the clinician's National Provider Identifier, nullable).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("price_lists", "billing_em_codes", "invoices", "payments")


def upgrade() -> None:
    op.add_column("users", sa.Column("npi", sa.String(length=10), nullable=True))
    op.create_table("price_lists",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', JSONType, nullable=False),
    sa.Column('changes', JSONType, nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_price_lists_created_by_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_price_lists_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_lists')),
    sa.UniqueConstraint('site_id', 'version', name='uq_price_lists_site_version')
    )
    op.create_index(op.f('ix_price_lists_site_id'), 'price_lists', ['site_id'], unique=False)
    op.create_table("billing_em_codes",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('em_code', sa.String(length=8), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_billing_em_codes_created_by_users')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'],
                            name=op.f('fk_billing_em_codes_evaluation_id_evaluations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_billing_em_codes_patient_id_patients')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_billing_em_codes_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_em_codes'))
    )
    op.create_index('ix_billing_em_codes_evaluation', 'billing_em_codes', ['evaluation_id', 'id'], unique=False)
    op.create_index(op.f('ix_billing_em_codes_site_id'), 'billing_em_codes', ['site_id'], unique=False)
    op.create_table("invoices",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('evaluation_id', sa.Integer(), nullable=True),
    sa.Column('session_ids', JSONType, nullable=False),
    sa.Column('service_from', sa.Date(), nullable=False),
    sa.Column('service_to', sa.Date(), nullable=False),
    sa.Column('lines', JSONType, nullable=False),
    sa.Column('diagnoses', JSONType, nullable=False),
    sa.Column('place_of_service', sa.String(length=4), nullable=False),
    sa.Column('rendering_user_id', sa.Integer(), nullable=True),
    sa.Column('rendering_name', sa.String(length=200), nullable=True),
    sa.Column('rendering_npi', sa.String(length=10), nullable=True),
    sa.Column('price_list_id', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('session','course','evaluation','no_show')", name=op.f('ck_invoices_kind')),
    sa.CheckConstraint("status IN ('issued','void')", name=op.f('ck_invoices_status')),
    sa.CheckConstraint("total_cents >= 0", name=op.f('ck_invoices_total_not_negative')),
    sa.CheckConstraint("(status = 'void') = (replaces_id IS NOT NULL)", name=op.f('ck_invoices_void_replaces')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_invoices_created_by_users')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], name=op.f('fk_invoices_evaluation_id_evaluations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_invoices_patient_id_patients')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_invoices_plan_id_plans')),
    sa.ForeignKeyConstraint(['price_list_id'], ['price_lists.id'], name=op.f('fk_invoices_price_list_id_price_lists')),
    sa.ForeignKeyConstraint(['rendering_user_id'], ['users.id'], name=op.f('fk_invoices_rendering_user_id_users')),
    sa.ForeignKeyConstraint(['replaces_id'], ['invoices.id'], name=op.f('fk_invoices_replaces_id_invoices')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_invoices_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('number', 'revision', name='uq_invoices_number_revision'),
    sa.UniqueConstraint('replaces_id', name=op.f('uq_invoices_replaces_id'))
    )
    op.create_index('ix_invoices_patient', 'invoices', ['patient_id', 'id'], unique=False)
    op.create_index('ix_invoices_site', 'invoices', ['site_id', 'id'], unique=False)
    op.create_table("payments",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('invoice_number', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('payment','refund','reversal')", name=op.f('ck_payments_kind')),
    sa.CheckConstraint("method IN ('cash','card','check','bank_transfer','other')", name=op.f('ck_payments_method')),
    sa.CheckConstraint("amount_cents > 0", name=op.f('ck_payments_amount_positive')),
    sa.CheckConstraint("(kind = 'reversal') = (reverses_id IS NOT NULL)", name=op.f('ck_payments_reversal_target')),
    sa.CheckConstraint("kind = 'payment' OR reason IS NOT NULL", name=op.f('ck_payments_reason_given')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_payments_created_by_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_payments_patient_id_patients')),
    sa.ForeignKeyConstraint(['reverses_id'], ['payments.id'], name=op.f('fk_payments_reverses_id_payments')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_payments_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_payments_reverses_id'))
    )
    op.create_index('ix_payments_invoice', 'payments', ['invoice_number', 'id'], unique=False)
    op.create_index('ix_payments_site', 'payments', ['site_id', 'id'], unique=False)
    op.create_index(op.f('ix_payments_patient_id'), 'payments', ['patient_id'], unique=False)
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in append_only(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in drop_append_only(dialect, table):
            op.execute(statement)
    op.drop_index(op.f('ix_payments_patient_id'), table_name='payments')
    op.drop_index('ix_payments_site', table_name='payments')
    op.drop_index('ix_payments_invoice', table_name='payments')
    op.drop_table("payments")
    op.drop_index('ix_invoices_site', table_name='invoices')
    op.drop_index('ix_invoices_patient', table_name='invoices')
    op.drop_table("invoices")
    op.drop_index(op.f('ix_billing_em_codes_site_id'), table_name='billing_em_codes')
    op.drop_index('ix_billing_em_codes_evaluation', table_name='billing_em_codes')
    op.drop_table("billing_em_codes")
    op.drop_index(op.f('ix_price_lists_site_id'), table_name='price_lists')
    op.drop_table("price_lists")
    if dialect == "sqlite":  # SQLite >= 3.35 drops a column in place (no table rebuild)
        op.execute("ALTER TABLE users DROP COLUMN npi")
    else:
        op.drop_column("users", "npi")
