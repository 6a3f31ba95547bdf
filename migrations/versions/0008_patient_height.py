"""Height on the patient record: it gives the dosing weight of design 4.3 v2 (BMI, adjusted body weight).

Nullable: a patient without a height is dosed on the actual weight capped at 100 kg.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("height_cm", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("height_cm")
