"""Infusion sessions and their append-only events (design.md section 3: session, event).

The session row holds the state machine, the checklist and the pump program snapshot taken
from a signed plan; everything that happens during the visit is a ``SessionEvent`` that is
never changed: a correction is a new event of kind ``amendment`` pointing to the one it corrects.
Once a session is discharged or cancelled its row is sealed too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin, RecordMixin

SESSION_STATES = ("scheduled", "checked_in", "running", "observing", "discharged", "cancelled")
EVENT_KINDS = (
    "vitals", "rate_change", "side_effect", "medication", "alert", "alert_ack",
    "note", "amendment", "state_change",
)


class InfusionSession(RecordMixin, Base):
    __tablename__ = "sessions"
    __sealed__ = ("state", ("discharged", "cancelled"))
    __table_args__ = (
        CheckConstraint(
            "state IN ('scheduled','checked_in','running','observing','discharged','cancelled')", name="state"
        ),
        Index("ix_sessions_scheduled_at", "scheduled_at"),
        Index("ix_sessions_site_scheduled", "site_id", "scheduled_at"),  # a site's day (issue 17, migration 0012)
        Index("ix_sessions_state_site", "state", "site_id"),  # the sessions under way (open alerts)
        Index("ix_sessions_started_at", "started_at"),  # the sessions started in a period (migration 0019)
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), nullable=False, index=True)
    # Where the session happens (issue 17): the patient's site when it is scheduled
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    scheduled_at: Mapped[datetime] = mapped_column(nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="scheduled")
    checklist: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    pump_program: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # snapshot from the signed plan
    weight_kg: Mapped[float | None] = mapped_column(nullable=True)  # weighed on the day
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    discharged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    discharge: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # criteria result from the core


class SessionEvent(AppendOnlyMixin, Base):
    __tablename__ = "session_events"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('vitals','rate_change','side_effect','medication','alert','alert_ack',"
            "'note','amendment','state_change')",
            name="kind",
        ),
        CheckConstraint("(kind = 'amendment') = (amends_event_id IS NOT NULL)", name="amendment_target"),
        Index("ix_session_events_session_id", "session_id", "id"),
        Index("ix_session_events_session_kind", "session_id", "kind"),  # a session's alerts (migration 0012)
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    minute: Mapped[float | None] = mapped_column(nullable=True)  # minutes since the infusion started
    recorded_at: Mapped[datetime] = mapped_column(nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    amends_event_id: Mapped[int | None] = mapped_column(ForeignKey("session_events.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
