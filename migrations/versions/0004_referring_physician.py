"""The referring physician on the patient's chart (letters go to them; a FHIR referral fills it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("referring_physician", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("referring_physician_contact", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("referring_physician_contact")
        batch.drop_column("referring_physician")
