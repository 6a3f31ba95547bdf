"""Issue 17 (sites, rest): the site in the audit log and wherever else a site must be recorded.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

"""
from collections.abc import Sequence

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
