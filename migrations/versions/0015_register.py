"""Issue 14 (register): controlled-substance stock, lots, locations and register entries.

``register_products`` (seeded with the ketamine and midazolam vials the clinic uses; NDCs only where
they were checked), ``register_locations`` and ``register_lots`` per site, and ``register_entries``:
the append-only register of design.md 4.8 (see records/register.py). Every table is append-only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import JSONType, UTCDateTime
from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("register_products", "register_locations", "register_lots", "register_entries")

#: The products every clinic starts with (services/register.py SEED_PRODUCTS says where each NDC was checked).
SEED = (
    ("ketamine", "Ketamine HCl injection 50 mg/mL, 10 mL multiple-dose vial", 50.0, 10.0, None, "III"),
    ("ketamine", "Ketamine HCl injection 10 mg/mL, 20 mL multiple-dose vial", 10.0, 20.0, None, "III"),
    ("midazolam", "Midazolam injection 1 mg/mL, 2 mL vial", 1.0, 2.0, "70860-600-02", "IV"),
    ("midazolam", "Midazolam injection 5 mg/mL, 10 mL vial", 5.0, 10.0, "70860-601-10", "IV"),
)


def _kinds(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    products = op.create_table("register_products",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('drug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('strength_mg_per_ml', sa.Double(), nullable=False),
    sa.Column('vial_volume_ml', sa.Double(), nullable=False),
    sa.Column('ndc', sa.String(length=20), nullable=True),
    sa.Column('schedule', sa.String(length=4), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("schedule IN ('II','III','IV','V')", name=op.f('ck_register_products_schedule')),
    sa.CheckConstraint("strength_mg_per_ml > 0 AND vial_volume_ml > 0", name=op.f('ck_register_products_positive')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_register_products_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_products')),
    sa.UniqueConstraint('name', name='uq_register_products_name')
    )
    op.create_table("register_locations",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('holder_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('safe','cabinet','working_stock')", name=op.f('ck_register_locations_kind')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_register_locations_created_by_users')),
    sa.ForeignKeyConstraint(['holder_user_id'], ['users.id'], name=op.f('fk_register_locations_holder_user_id_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_register_locations_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_locations')),
    sa.UniqueConstraint('site_id', 'name', name='uq_register_locations_site_name')
    )
    op.create_index(op.f('ix_register_locations_site_id'), 'register_locations', ['site_id'], unique=False)
    op.create_table("register_lots",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.String(length=40), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_register_lots_created_by_users')),
    sa.ForeignKeyConstraint(['product_id'], ['register_products.id'], name=op.f('fk_register_lots_product_id_register_products')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_register_lots_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_lots')),
    sa.UniqueConstraint('site_id', 'product_id', 'lot_number', name='uq_register_lots_site_product_lot')
    )
    op.create_index(op.f('ix_register_lots_site_id'), 'register_lots', ['site_id'], unique=False)
    op.create_table("register_entries",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('to_location_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('amount_mg', sa.Double(), nullable=False),
    sa.Column('vials', sa.Integer(), nullable=True),
    sa.Column('balance_after_mg', sa.Double(), nullable=False),
    sa.Column('location_balance_after_mg', sa.Double(), nullable=True),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('witness_id', sa.Integer(), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('resolves_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('details', JSONType, nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint(_kinds("kind", ("receipt", "dispense", "administer", "waste", "return", "transfer", "count",
                                       "adjustment", "loss")), name=op.f('ck_register_entries_kind')),
    sa.CheckConstraint("amount_mg >= 0 OR kind = 'adjustment'", name=op.f('ck_register_entries_amount_sign')),
    sa.CheckConstraint("balance_after_mg >= 0", name=op.f('ck_register_entries_balance_not_negative')),
    sa.CheckConstraint("location_balance_after_mg IS NULL OR location_balance_after_mg >= 0",
                       name=op.f('ck_register_entries_location_balance_not_negative')),
    sa.CheckConstraint("kind NOT IN ('dispense','administer','waste') OR session_id IS NOT NULL",
                       name=op.f('ck_register_entries_session_named')),
    sa.CheckConstraint("kind <> 'waste' OR (witness_id IS NOT NULL AND witness_id <> recorded_by)",
                       name=op.f('ck_register_entries_waste_witnessed')),
    sa.CheckConstraint("kind <> 'count' OR (witness_id IS NOT NULL AND witness_id <> recorded_by)",
                       name=op.f('ck_register_entries_count_two_people')),
    sa.ForeignKeyConstraint(['corrects_id'], ['register_entries.id'],
                            name=op.f('fk_register_entries_corrects_id_register_entries')),
    sa.ForeignKeyConstraint(['location_id'], ['register_locations.id'],
                            name=op.f('fk_register_entries_location_id_register_locations')),
    sa.ForeignKeyConstraint(['lot_id'], ['register_lots.id'], name=op.f('fk_register_entries_lot_id_register_lots')),
    sa.ForeignKeyConstraint(['product_id'], ['register_products.id'],
                            name=op.f('fk_register_entries_product_id_register_products')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_register_entries_recorded_by_users')),
    sa.ForeignKeyConstraint(['resolves_id'], ['register_entries.id'],
                            name=op.f('fk_register_entries_resolves_id_register_entries')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_register_entries_session_id_sessions')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_register_entries_site_id_sites')),
    sa.ForeignKeyConstraint(['to_location_id'], ['register_locations.id'],
                            name=op.f('fk_register_entries_to_location_id_register_locations')),
    sa.ForeignKeyConstraint(['witness_id'], ['users.id'], name=op.f('fk_register_entries_witness_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_entries')),
    sa.UniqueConstraint('corrects_id', name=op.f('uq_register_entries_corrects_id')),
    sa.UniqueConstraint('resolves_id', name=op.f('uq_register_entries_resolves_id'))
    )
    op.create_index('ix_register_entries_site', 'register_entries', ['site_id', 'id'], unique=False)
    op.create_index('ix_register_entries_lot', 'register_entries', ['lot_id', 'id'], unique=False)
    op.create_index('ix_register_entries_session', 'register_entries', ['session_id'], unique=False)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    op.bulk_insert(products, [{"drug": drug, "name": name, "strength_mg_per_ml": strength, "vial_volume_ml": volume,
                               "ndc": ndc, "schedule": schedule, "created_at": now, "created_by": None}
                              for drug, name, strength, volume, ndc, schedule in SEED])
    for table in TABLES:
        for statement in append_only(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in reversed(TABLES):
        for statement in drop_append_only(dialect, table):
            op.execute(statement)
    op.drop_index('ix_register_entries_session', table_name='register_entries')
    op.drop_index('ix_register_entries_lot', table_name='register_entries')
    op.drop_index('ix_register_entries_site', table_name='register_entries')
    op.drop_table("register_entries")
    op.drop_index(op.f('ix_register_lots_site_id'), table_name='register_lots')
    op.drop_table("register_lots")
    op.drop_index(op.f('ix_register_locations_site_id'), table_name='register_locations')
    op.drop_table("register_locations")
    op.drop_table("register_products")
