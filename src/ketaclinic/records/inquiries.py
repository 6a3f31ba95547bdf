"""Consultation requests from the public form (design.md section 3: answered within one business day)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.records.db import Base
from ketaclinic.records.mixins import RecordMixin

INQUIRY_STATUSES = ("new", "answered", "scheduled", "converted", "closed")


class Inquiry(RecordMixin, Base):
    __tablename__ = "inquiries"
    __table_args__ = (
        CheckConstraint("status IN ('new','answered','scheduled','converted','closed')", name="status"),
        CheckConstraint("preferred_contact IN ('phone','email')", name="preferred_contact"),
        Index("ix_inquiries_status_answer_by", "status", "answer_by"),
        Index("ix_inquiries_site_status_answer_by", "site_id", "status", "answer_by"),  # a site's waiting ones
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    preferred_contact: Mapped[str] = mapped_column(String(8), nullable=False)
    condition: Mapped[str | None] = mapped_column(String(200), nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    consent_to_contact: Mapped[bool] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    received_at: Mapped[datetime] = mapped_column(nullable=False)
    answer_by: Mapped[datetime] = mapped_column(nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    answer_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(nullable=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The site the request is for (issue 17; migration 0012): chosen on the public form, else the default site
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
