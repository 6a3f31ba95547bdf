"""Referrals received from another system (a FHIR Bundle), kept as they came.

A row is append-only: what the referrer sent (the bundle), the facts the clinic took from it (the
FHIR resources it keeps, as received, re-pointed at the new chart), and the report of what was
taken and what was ignored. The chart shows these facts as "from the referral"; the clinic's own
evaluation (a draft started from them) is separate and is what a physician signs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin


class ReferralImport(AppendOnlyMixin, Base):
    __tablename__ = "referral_imports"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), nullable=True)
    bundle_identifier: Mapped[str | None] = mapped_column(String(500), nullable=True)
    bundle: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # as received
    resources: Mapped[list[Any]] = mapped_column(nullable=False)  # the kept FHIR resources, re-pointed
    report: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # taken / ignored, with reasons
    received_at: Mapped[datetime] = mapped_column(nullable=False)
    received_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
