"""Per-course outcome summaries (issue 17, "Scale"): one row per patient's course, kept up to date.

The outcome definitions (:mod:`ketaclinic.services.outcomes`) count one course per patient: the
discharged sessions from the first one while consecutive sessions are at most the booster rule's
minimum interval apart; a later session starts the boosters. Working that out for every patient on
every request read the whole clinic (every evaluation, session and diary entry). This table holds
the result per patient, refreshed **in the same transaction** as the change that can alter it
(a session discharged or cancelled, a diary entry or its correction, an evaluation signed, which is
also how an amended evaluation starts to count): :func:`ketaclinic.services.course_summaries.refresh`.
The cohort page then aggregates these rows (counts in SQL, Kaplan-Meier over grouped durations),
never the raw records.

A row is derived data, not a clinical record: it is rewritten in place (not append-only), and
:func:`ketaclinic.services.course_summaries.rebuild` recomputes every row from the records (the bulk
loader and an operator after a restore use it). ``reason`` is set when the patient has no
assessable course yet (the same words the cohort lists under "not assessable"); the outcome
columns are then null. ``site_id`` is the patient's site when the row was last refreshed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base


class CourseSummary(Base):
    __tablename__ = "course_summaries"
    __table_args__ = (
        Index("ix_course_summaries_site_condition", "site_id", "condition"),
        Index("ix_course_summaries_site_course_end", "site_id", "course_end"),
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True, autoincrement=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    # why there is no course yet (None when there is one): "no signed evaluation", "no completed session"...
    reason: Mapped[str | None] = mapped_column(String(80), nullable=True)
    condition: Mapped[str | None] = mapped_column(String(40), nullable=True)
    baseline_nrs: Mapped[float | None] = mapped_column(nullable=True)
    course_start: Mapped[date | None] = mapped_column(nullable=True)  # first discharged session
    course_end: Mapped[date | None] = mapped_column(nullable=True)  # last session of the initial course
    sessions_in_course: Mapped[int] = mapped_column(nullable=False, default=0)
    first_booster_day: Mapped[date | None] = mapped_column(nullable=True)
    boosters: Mapped[int] = mapped_column(nullable=False, default=0)  # discharged sessions after the course
    followup_nrs: Mapped[float | None] = mapped_column(nullable=True)  # mean diary NRS in the follow-up window
    followup_days: Mapped[int] = mapped_column(nullable=False, default=0)
    reduction_pct: Mapped[float | None] = mapped_column(nullable=True)
    responder_30: Mapped[bool | None] = mapped_column(nullable=True)
    responder_50: Mapped[bool | None] = mapped_column(nullable=True)
    two_point: Mapped[bool | None] = mapped_column(nullable=True)
    relief_days: Mapped[float | None] = mapped_column(nullable=True)  # Kaplan-Meier duration (None: never relieved)
    relief_lost: Mapped[bool | None] = mapped_column(nullable=True)  # False: censored
    last_diary_day: Mapped[date | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
