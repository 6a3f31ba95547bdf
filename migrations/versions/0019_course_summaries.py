"""Issue 17 (scale): per-course outcome summaries and the indexes the pages need.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

"""
from collections.abc import Sequence

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
