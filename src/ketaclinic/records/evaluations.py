"""Pre-treatment evaluations: the screening input (contract 4.2), its result and the physician's sign-off.

A signed evaluation is never changed; a correction is a new evaluation whose ``amends_id``
points to the one it corrects (the original stays).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.records.db import Base
from ketaclinic.records.mixins import RecordMixin


class Evaluation(RecordMixin, Base):
    __tablename__ = "evaluations"
    __sealed__ = ("status", ("signed",))
    __table_args__ = (
        CheckConstraint("status IN ('draft','signed')", name="status"),
        CheckConstraint("(status = 'signed') = (signed_by IS NOT NULL AND signed_at IS NOT NULL)", name="signature"),
        Index("ix_evaluations_status_id", "status", "id"),  # the drafts waiting for a signature (migration 0012)
        Index("ix_evaluations_amends_id", "amends_id"),  # a chart's amendments of an evaluation (migration 0019)
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    screening_input: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    screening_result: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    rule_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notes: Mapped[str | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="draft")
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    amends_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), nullable=True)
