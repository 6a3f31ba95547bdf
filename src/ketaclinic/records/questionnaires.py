"""Questionnaire records (issue 15): responses, self-harm alerts and their acknowledgement, custom instruments.

All append-only. A response is saved as the patient answers (partial answers are kept): each save is a new
row naming the one it replaces (``replaces_id``, unique, so a version is replaced at most once and two
devices saving the same questionnaire cannot both win); the current state is the row no other replaces. A
completed response carries its score (total, severity, flags) computed by the core at completion.

An alert (PHQ-9 item 9 above 0) is one row raised with the response; acknowledging it is one row in
``questionnaire_alert_acks`` (``alert_id`` unique: once only). A custom instrument is a versioned definition
(items, options, bands, missing-item limit) a site holding the licence adds; a new version replaces the old.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

CONTEXTS = ("baseline", "pre_course", "end_of_course", "monthly", "ad_hoc")
CHANNELS = ("portal", "tablet", "staff")
STATUSES = ("partial", "complete", "entered_in_error")


class QuestionnaireResponse(AppendOnlyMixin, Base):
    __tablename__ = "questionnaire_responses"
    __table_args__ = (
        CheckConstraint("status IN ('partial','complete','entered_in_error')", name="status"),
        CheckConstraint("context IN ('baseline','pre_course','end_of_course','monthly','ad_hoc')", name="context"),
        CheckConstraint("channel IN ('portal','tablet','staff')", name="channel"),
        Index("ix_questionnaire_responses_patient", "patient_id", "instrument", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("questionnaire_responses.id"), nullable=True, unique=True)
    instrument: Mapped[str] = mapped_column(String(64), nullable=False)
    custom_instrument_id: Mapped[int | None] = mapped_column(ForeignKey("custom_instruments.id"), nullable=True)
    context: Mapped[str] = mapped_column(String(16), nullable=False)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    answers: Mapped[list[Any]] = mapped_column(nullable=False)  # one value (or null) per item, in item order
    total: Mapped[int | None] = mapped_column(nullable=True)
    severity: Mapped[str | None] = mapped_column(String(32), nullable=True)
    flags: Mapped[list[Any]] = mapped_column(nullable=False, default=list)
    prorated: Mapped[bool] = mapped_column(nullable=False, default=False)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class QuestionnaireAlert(AppendOnlyMixin, Base):
    __tablename__ = "questionnaire_alerts"
    __table_args__ = (Index("ix_questionnaire_alerts_site_raised", "site_id", "raised_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    response_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_responses.id"), nullable=False, unique=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # the clinic's action (settings) when it was raised
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(nullable=False)


class QuestionnaireAlertAck(AppendOnlyMixin, Base):
    __tablename__ = "questionnaire_alert_acks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_alerts.id"), nullable=False, unique=True)
    note: Mapped[str] = mapped_column(Text, nullable=False)  # what the physician did
    acknowledged_at: Mapped[datetime] = mapped_column(nullable=False)
    acknowledged_by: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)


class CustomInstrument(AppendOnlyMixin, Base):
    __tablename__ = "custom_instruments"
    __table_args__ = (
        CheckConstraint("status IN ('active','retired')", name="status"),
        Index("ix_custom_instruments_site", "site_id", "instrument"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    instrument: Mapped[str] = mapped_column(String(40), nullable=False)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("custom_instruments.id"), nullable=True, unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
