"""Patients: demographics with their full history, and weights over time.

Demographics can be corrected, but every saved version is kept in ``patient_versions``
(append-only), so "what did the chart say on that day" always has an answer. Weights are
measurements, never edited: a new measurement is a new row (``weight_kg`` is the latest).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin, RecordMixin

DEMOGRAPHIC_FIELDS = ("given_name", "family_name", "birth_date", "sex", "phone", "email", "referring_physician",
                      "referring_physician_contact", "height_cm")


DEMO_MARK = "(demo)"  # ends the family name of every synthetic demo patient (ketaclinic.demo)


class Patient(RecordMixin, Base):
    __tablename__ = "patients"
    __table_args__ = (CheckConstraint("sex IN ('female','male','other','unknown')", name="sex"),
                      Index("ix_patients_site_id_id", "site_id", "id"),  # a site's list, keyset on id (0019)
                      # the patient search of the list and the pickers (0021, services/patients.py search_condition)
                      Index("ix_patients_family_lower", text("lower(family_name)")),
                      Index("ix_patients_given_lower", text("lower(given_name)")),
                      Index("ix_patients_birth_date", "birth_date"))

    given_name: Mapped[str] = mapped_column(String(100), nullable=False)
    family_name: Mapped[str] = mapped_column(String(100), nullable=False)
    birth_date: Mapped[date] = mapped_column(nullable=False)
    sex: Mapped[str] = mapped_column(String(16), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # Who sent the patient (the letters after an evaluation and a course go to them; FHIR import fills it)
    referring_physician: Mapped[str | None] = mapped_column(String(200), nullable=True)
    referring_physician_contact: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Height gives the dosing weight (design 4.3 v2: BMI, adjusted weight); absent, doses use the
    # actual weight capped at 100 kg
    height_cm: Mapped[float | None] = mapped_column(nullable=True)
    # The clinic site the patient belongs to (issue 17); staff see the patients of their own sites
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # Contact (issue 13, services/consent.py): nothing is sent to a patient without consent to contact, nor
    # reminders to one who opted out
    contact_consent: Mapped[bool] = mapped_column(default=False, server_default=false(), nullable=False)
    contact_consent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reminders_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false(), nullable=False)


class PatientVersion(AppendOnlyMixin, Base):
    """One saved state of a patient's demographics (version 1 is the creation)."""

    __tablename__ = "patient_versions"
    __table_args__ = (UniqueConstraint("patient_id", "version", name="uq_patient_versions_patient_version"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    version: Mapped[int] = mapped_column(nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class PatientWeight(AppendOnlyMixin, Base):
    __tablename__ = "patient_weights"
    __table_args__ = (
        CheckConstraint("weight_kg > 0 AND weight_kg < 700", name="weight_range"),
        Index("ix_patient_weights_patient_measured", "patient_id", "measured_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    weight_kg: Mapped[float] = mapped_column(nullable=False)
    measured_at: Mapped[datetime] = mapped_column(nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)  # e.g. chart, evaluation, session, patient
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
