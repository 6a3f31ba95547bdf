"""The clinic's day (issue 13, design.md 4.9): chairs and rooms, staff hours and absences, appointments
and the waiting list.

- ``chairs``: a named treatment place at a site (``kind = 'chair'``: an infusion occupies it) or a room
  for evaluations and follow-ups (``kind = 'room'``).
- ``staff_hours``: when a staff member works at a site, one row per weekday and stretch, in minutes after
  the site's local midnight (so 09:00 stays 09:00 across a daylight-saving change).
- ``staff_absences``: a stretch (UTC) when someone does not work (leave, training, illness).
- ``appointments``: a booked time (UTC ``start_at`` / ``end_at``) for an evaluation, an infusion or a
  follow-up. An infusion's appointment *is* its session: ``session_id`` links it 1:1 to the
  :class:`~ketaclinic.records.sessions.InfusionSession` the nurse's console opens. A cancelled or
  no-show appointment is sealed (never changed again).
- ``waiting_list``: patients waiting for a slot, taken off when booked or removed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.records.db import Base
from ketaclinic.records.mixins import RecordMixin

PLACE_KINDS = ("chair", "room")
APPOINTMENT_KINDS = ("evaluation", "infusion", "follow_up")
APPOINTMENT_STATUSES = ("booked", "cancelled", "no_show")
WAITING_STATUSES = ("waiting", "booked", "removed")


class Chair(RecordMixin, Base):
    """A treatment place (chair) or an evaluation room at one site."""

    __tablename__ = "chairs"
    __table_args__ = (
        UniqueConstraint("site_id", "name", name="uq_chairs_site_name"),
        CheckConstraint("kind IN ('chair','room')", name="kind"),
    )

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default="chair")
    active: Mapped[bool] = mapped_column(default=True, nullable=False)
    position: Mapped[int] = mapped_column(default=0, nullable=False)  # the column order on the day view


class StaffHours(RecordMixin, Base):
    """``user_id`` works at ``site_id`` on ``weekday`` (0 Monday) from ``start_min`` to ``end_min`` local."""

    __tablename__ = "staff_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_min >= 0 AND end_min <= 1440 AND start_min < end_min", name="stretch"),
        Index("ix_staff_hours_user_id", "user_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    weekday: Mapped[int] = mapped_column(nullable=False)
    start_min: Mapped[int] = mapped_column(nullable=False)
    end_min: Mapped[int] = mapped_column(nullable=False)


class StaffAbsence(RecordMixin, Base):
    """``user_id`` is away from ``starts_at`` to ``ends_at`` (UTC), whichever site."""

    __tablename__ = "staff_absences"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="stretch"),
        Index("ix_staff_absences_user_id", "user_id", "starts_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(nullable=False)
    ends_at: Mapped[datetime] = mapped_column(nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)


class Appointment(RecordMixin, Base):
    __tablename__ = "appointments"
    __sealed__ = ("status", ("cancelled", "no_show"))
    __table_args__ = (
        CheckConstraint("kind IN ('evaluation','infusion','follow_up')", name="kind"),
        CheckConstraint("status IN ('booked','cancelled','no_show')", name="status"),
        CheckConstraint("start_at < end_at", name="stretch"),
        CheckConstraint("(kind = 'infusion') = (session_id IS NOT NULL)", name="infusion_session"),
        Index("ix_appointments_site_start", "site_id", "start_at"),
        Index("ix_appointments_chair_start", "chair_id", "start_at"),
        Index("ix_appointments_nurse_start", "nurse_id", "start_at"),
        Index("ix_appointments_patient_start", "patient_id", "start_at"),
    )

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    start_at: Mapped[datetime] = mapped_column(nullable=False)
    end_at: Mapped[datetime] = mapped_column(nullable=False)
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("chairs.id"), nullable=True)
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"), nullable=True, unique=True)
    series_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    series_index: Mapped[int | None] = mapped_column(nullable=True)
    booster: Mapped[bool] = mapped_column(default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="booked")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class WaitingEntry(RecordMixin, Base):
    """A patient waiting for a slot of ``kind`` from ``earliest`` on (local date as ISO text)."""

    __tablename__ = "waiting_list"
    __table_args__ = (
        CheckConstraint("kind IN ('evaluation','infusion','follow_up')", name="kind"),
        CheckConstraint("status IN ('waiting','booked','removed')", name="status"),
    )

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    earliest: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="waiting")
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)


__all__ = ["Appointment", "Chair", "StaffAbsence", "StaffHours", "WaitingEntry"]
