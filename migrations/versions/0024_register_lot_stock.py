"""Issue 17 (scale): each lot's balance now, so the register pages find the lots in stock by index.

``register_lot_stock`` holds one row per lot that has entries: the newest entry's ``balance_after_mg``
(records/register.py, ``RegisterLotStock``), set by the services in the transaction of every register entry.
The migration fills it from the book in SQL (the newest entry of each lot); it does not import today's
services.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime

revision: str = '0024'
down_revision: str | Sequence[str] | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('register_lot_stock',
    sa.Column('lot_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('balance_mg', sa.Double(), nullable=False),
    sa.Column('last_entry_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('balance_mg >= 0', name=op.f('ck_register_lot_stock_balance_not_negative')),
    sa.ForeignKeyConstraint(['last_entry_id'], ['register_entries.id'],
                            name=op.f('fk_register_lot_stock_last_entry_id_register_entries')),
    sa.ForeignKeyConstraint(['lot_id'], ['register_lots.id'], name=op.f('fk_register_lot_stock_lot_id_register_lots')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_register_lot_stock_site_id_sites')),
    sa.PrimaryKeyConstraint('lot_id', name=op.f('pk_register_lot_stock'))
    )
    op.create_index('ix_register_lot_stock_site_balance', 'register_lot_stock', ['site_id', 'balance_mg'], unique=False)
    op.execute(
        "INSERT INTO register_lot_stock (lot_id, site_id, balance_mg, last_entry_id, updated_at)"
        " SELECT e.lot_id, e.site_id, e.balance_after_mg, e.id, CURRENT_TIMESTAMP FROM register_entries e"
        " WHERE e.id IN (SELECT max(n.id) FROM register_entries n GROUP BY n.lot_id)")


def downgrade() -> None:
    op.drop_index('ix_register_lot_stock_site_balance', table_name='register_lot_stock')
    op.drop_table('register_lot_stock')
