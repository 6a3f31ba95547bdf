"""Allergies on the chart: structured, append-only entries with amendments (issue 12).

Each row is one version of one allergy statement about a patient: a substance the patient reacts to
(``kind='allergy'``), or the explicit statement "no known allergies" (``kind='no_known_allergies'``).
A row is never changed or removed: a correction, or marking an entry entered in error, is a new row
that names the version it replaces (``replaces_id``, unique, so a version is replaced at most once and
two people correcting the same entry at once cannot both win). The current state of a statement is
its newest version, the one no other row replaces; every earlier version stays readable.

"Unknown" is the absence of any row: only a current ``no_known_allergies`` row says "none".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

KINDS = ("allergy", "no_known_allergies")
STATUSES = ("active", "entered_in_error")
SEVERITIES = ("mild", "moderate", "severe", "unknown")


class AllergyEntry(AppendOnlyMixin, Base):
    __tablename__ = "allergy_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('allergy','no_known_allergies')", name="kind"),
        CheckConstraint("status IN ('active','entered_in_error')", name="status"),
        CheckConstraint("severity IS NULL OR severity IN ('mild','moderate','severe','unknown')", name="severity"),
        CheckConstraint("(kind = 'allergy') = (substance IS NOT NULL)", name="substance_named"),
        Index("ix_allergy_entries_patient", "patient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    # The version this row corrects or withdraws (None: the first version of a statement)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("allergy_entries.id"), nullable=True, unique=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    substance: Mapped[str | None] = mapped_column(String(200), nullable=True)  # as typed (or the coded name)
    substance_code: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the clinic's code: 'ketamine' ...
    reaction: Mapped[str | None] = mapped_column(String(500), nullable=True)
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)  # why a version was corrected or withdrawn
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
