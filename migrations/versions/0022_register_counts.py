"""Issue 17 (scale): the register's open discrepancies are read by index.

The register page and every count sheet look for the counts that disagree with the book
(``services/register._open_discrepancies``: ``kind = 'count'`` at the actor's sites). With a dispense,
an administration and a waste per session, a group of clinics' ledger holds millions of lines and
the counts a few thousand; without an index on the kind the page read the sites' whole ledger
(1.0 s at 100,000 patients on PostgreSQL). ``ix_register_entries_kind_site`` is (kind, site_id, id).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0022'
down_revision: str | Sequence[str] | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_register_entries_kind_site', 'register_entries', ['kind', 'site_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_register_entries_kind_site', table_name='register_entries')
