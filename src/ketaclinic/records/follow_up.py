"""Long-term risk checks done for a patient (liver tests, brief cognitive screen, misuse check).

Facts, never edited: a check done is a new row. What is *due* is worked out from these rows, the
sessions' checklists and the diary by :mod:`ketaclinic.services.follow_up` with the core's rules
(:func:`ketaclinic.clinical.follow_up.risk_checks_due`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

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


class FollowUpSummary(Base):
    """What the dashboards' follow-up panels show for one patient, kept up to date (issue 17, "Scale").

    Derived data, not a clinical record: rewritten in place. :mod:`ketaclinic.services.follow_up_summaries`
    makes a row stale in the same transaction as any change to the records the rules read (a session booked,
    moved, checked in, discharged or cancelled; a checklist; a diary entry; a risk check; a plan signed; an
    evaluation signed; the patient moved to another site), keeping the columns the pages select by (site,
    last seen, in treatment) current; a row computed on ``computed_on`` holds until the day before
    ``review_on`` (a diary day leaving the booster window, a check falling due, the earliest booster day, the
    next course's day passing...). The pages read the rows that need action or are stale by index and compute
    the stale ones they show, with the chart's rules (:mod:`ketaclinic.services.follow_up`); the worker
    computes the rest.
    """

    __tablename__ = "follow_up_summaries"
    __table_args__ = (
        Index("ix_follow_up_summaries_last_seen", "last_seen_at", "patient_id"),
        Index("ix_follow_up_summaries_site_last_seen", "site_id", "last_seen_at", "patient_id"),
        Index("ix_follow_up_summaries_review_on", "review_on"),
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True, autoincrement=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    # the latest booking that was not cancelled (the dashboards list the most recently seen patients first)
    last_seen_at: Mapped[datetime | None] = mapped_column(nullable=True)
    in_treatment: Mapped[bool] = mapped_column(nullable=False, default=False)  # a signed plan
    needs_action: Mapped[bool] = mapped_column(nullable=False, default=False)  # a booster due or a check overdue
    booster_due: Mapped[bool] = mapped_column(nullable=False, default=False)
    booster_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the overdue checks: [{"code", "check", "what", "due_on" (ISO day or null), "source"}]
    overdue: Mapped[list[Any]] = mapped_column(nullable=False, default=list)
    computed_on: Mapped[date] = mapped_column(nullable=False)  # the day the answer is for
    review_on: Mapped[date] = mapped_column(nullable=False)  # the first day it may differ (stale from then on)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    # how many times the row was made stale: a computed answer is stored only over the version it was computed
    # from, so a change committed while the rules ran is never hidden by the older answer
    version: Mapped[int] = mapped_column(nullable=False, default=0)
