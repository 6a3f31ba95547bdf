"""Patient-reported diary entries between sessions (pain NRS, mood, sleep, function, opioids, urinary symptoms).

Entries are facts reported on a day: never edited; a correction is a new entry with ``amends_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin


class DiaryEntry(AppendOnlyMixin, Base):
    __tablename__ = "diary_entries"
    __table_args__ = (
        CheckConstraint("pain_nrs BETWEEN 0 AND 10", name="pain_nrs"),
        CheckConstraint("mood IS NULL OR mood BETWEEN 0 AND 10", name="mood"),
        CheckConstraint("sleep IS NULL OR sleep BETWEEN 0 AND 10", name="sleep"),
        CheckConstraint("function IS NULL OR function BETWEEN 0 AND 10", name="function"),
        Index("ix_diary_entries_patient_recorded", "patient_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(nullable=False)  # the day the patient reports about
    pain_nrs: Mapped[int] = mapped_column(nullable=False)
    mood: Mapped[int | None] = mapped_column(nullable=True)
    sleep: Mapped[int | None] = mapped_column(nullable=True)
    function: Mapped[int | None] = mapped_column(nullable=True)
    opioid_doses: Mapped[list[Any]] = mapped_column(nullable=False, default=list)  # [{"drug","dose_mg","route"}]
    urinary_symptoms: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    amends_id: Mapped[int | None] = mapped_column(ForeignKey("diary_entries.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
