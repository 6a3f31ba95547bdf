"""Long-term risk checks done for a patient (liver tests, brief cognitive screen, misuse check).

Facts, never edited: a check done is a new row. What is *due* is worked out from these rows, the
sessions' checklists and the diary by :mod:`ketaclinic.services.follow_up` with the core's rules
(:func:`ketaclinic.clinical.follow_up.risk_checks_due`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin


class RiskCheck(AppendOnlyMixin, Base):
    __tablename__ = "risk_checks"
    __table_args__ = (
        CheckConstraint("code IN ('liver_tests','cognition_check','misuse_check','urinary_symptoms')", name="code"),
        CheckConstraint("result IN ('normal','abnormal')", name="result"),
        Index("ix_risk_checks_patient_code", "patient_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    done_on: Mapped[date] = mapped_column(nullable=False)
    result: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
