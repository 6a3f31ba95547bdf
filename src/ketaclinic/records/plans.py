"""Treatment plans: protocol, doses, concentration, pump program, series/booster rule, signature.

A signed plan is never changed (a new plan ``supersedes`` it). A soft-limit override is its own
row with the reason and the approving physician, so who accepted which risk is never lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin, RecordMixin


class Plan(RecordMixin, Base):
    __tablename__ = "plans"
    __sealed__ = ("status", ("signed",))
    __table_args__ = (
        CheckConstraint("status IN ('draft','signed')", name="status"),
        CheckConstraint("(status = 'signed') = (signed_by IS NOT NULL AND signed_at IS NOT NULL)", name="signature"),
        CheckConstraint("weight_kg > 0", name="weight_positive"),
        CheckConstraint("concentration_mg_per_ml > 0", name="concentration_positive"),
        Index("ix_plans_status_patient", "status", "patient_id"),  # the signed plans (follow-up; migration 0012)
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), nullable=True)
    protocol_id: Mapped[str] = mapped_column(String(64), nullable=False)
    weight_kg: Mapped[float] = mapped_column(nullable=False)
    concentration_mg_per_ml: Mapped[float] = mapped_column(nullable=False)
    steps: Mapped[list[Any]] = mapped_column(nullable=False)
    pump_program: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    series_rule: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # sessions in the series + booster rule
    dose_check: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # hard/soft limit findings from the core
    rule_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="draft")
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)


class PlanOverride(AppendOnlyMixin, Base):
    """A soft limit the physician accepted for this plan, with the reason."""

    __tablename__ = "plan_overrides"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), nullable=False, index=True)
    limit_code: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    approved_by: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    approved_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
