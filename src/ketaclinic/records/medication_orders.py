"""The medication record (MAR) for adjuncts and rescue drugs (issue 14): PRN orders on a plan, orders
stopped, and every dose given under an order.

All three tables are append-only. An order written on a draft plan is signed with the plan (the
plan's signature is its signature: ``signed_by`` stays empty); an order added to a plan that is
already signed is an **amendment**, signed by the physician who writes it (``amendment`` true,
``signed_by`` and ``signed_at`` set). An order is never changed: stopping it (or withdrawing it from a
draft) is a row in ``medication_order_stops`` (one per order, ``order_id`` unique). A dose given is a
``medication_administrations`` row that names its order, its session and the session event that
shows it on the timeline (a ``medication`` event, so the session record, letters and the FHIR export
read it like every other dose).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

ROUTES = ("iv", "oral", "im", "sublingual")
INDICATIONS = ("nausea_vomiting", "hypertension", "psychomimetic_distress", "hypersalivation", "premedication")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class MedicationOrder(AppendOnlyMixin, Base):
    """One PRN order on a plan: drug, dose, route, indication, how often, how many per session."""

    __tablename__ = "medication_orders"
    __table_args__ = (
        CheckConstraint(_in("route", ROUTES), name="route"),
        CheckConstraint(_in("indication", INDICATIONS), name="indication"),
        CheckConstraint("dose_mg > 0", name="dose_positive"),
        CheckConstraint("max_doses_per_session >= 1 AND max_doses_per_session <= 10", name="max_doses"),
        CheckConstraint("min_interval_min >= 0", name="interval"),
        CheckConstraint("amendment = (signed_by IS NOT NULL AND signed_at IS NOT NULL)", name="amendment_signed"),
        Index("ix_medication_orders_plan", "plan_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), nullable=False)
    drug: Mapped[str] = mapped_column(String(40), nullable=False)  # the library id: 'ondansetron'
    dose_mg: Mapped[float] = mapped_column(nullable=False)
    route: Mapped[str] = mapped_column(String(16), nullable=False)
    indication: Mapped[str] = mapped_column(String(32), nullable=False)
    max_doses_per_session: Mapped[int] = mapped_column(nullable=False)
    min_interval_min: Mapped[float] = mapped_column(nullable=False)
    instructions: Mapped[str | None] = mapped_column(Text, nullable=True)
    dose_check: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # soft limits and the physician's reason
    amendment: Mapped[bool] = mapped_column(nullable=False, default=False)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class MedicationOrderStop(AppendOnlyMixin, Base):
    """An order stopped (or withdrawn from a draft plan), with the reason: at most one per order."""

    __tablename__ = "medication_order_stops"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("medication_orders.id"), nullable=False, unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    stopped_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    stopped_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class MedicationAdministration(AppendOnlyMixin, Base):
    """One PRN dose given at the bedside under an order, as checked then."""

    __tablename__ = "medication_administrations"
    __table_args__ = (
        CheckConstraint(_in("route", ROUTES), name="route"),
        CheckConstraint("dose_mg > 0", name="dose_positive"),
        Index("ix_medication_administrations_session", "session_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), nullable=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("medication_orders.id"), nullable=False, index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("session_events.id"), nullable=False, unique=True)
    alert_event_id: Mapped[int | None] = mapped_column(ForeignKey("session_events.id"), nullable=True)
    drug: Mapped[str] = mapped_column(String(40), nullable=False)
    dose_mg: Mapped[float] = mapped_column(nullable=False)
    route: Mapped[str] = mapped_column(String(16), nullable=False)
    indication: Mapped[str] = mapped_column(String(32), nullable=False)
    lot_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    dose_check: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    minute: Mapped[float | None] = mapped_column(nullable=True)
    given_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    given_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
