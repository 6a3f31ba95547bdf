"""Consent to treatment (issue 13): versioned documents, signatures and withdrawals, all append-only.

- ``consent_documents``: every version of the clinic's consent document. A new wording is a new row
  with the next ``version``; old versions stay readable (a signature names the version it signed and
  the SHA-256 of its text). ``reviewed_by`` is empty while the text is still the template the medical
  director must review.
- ``consent_signatures``: a patient's signature of one version: typed name, the drawn mark (SVG from
  the signature pad), the time, the version and its hash, where it was signed (``portal`` or the
  clinic's ``tablet``), who was signed in, and the witness (staff) where the clinic requires one.
- ``consent_withdrawals``: the patient withdraws a signature (at most once: ``signature_id`` is unique).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

CHANNELS = ("portal", "tablet")


class ConsentDocument(AppendOnlyMixin, Base):
    __tablename__ = "consent_documents"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # Markdown-like plain text: "## " headings, "- " items
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # of the canonical text (title + body)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the medical director, once reviewed
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class ConsentSignature(AppendOnlyMixin, Base):
    __tablename__ = "consent_signatures"
    __table_args__ = (
        CheckConstraint("channel IN ('portal','tablet')", name="channel"),
        Index("ix_consent_signatures_patient", "patient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("consent_documents.id"), nullable=False)
    document_version: Mapped[int] = mapped_column(nullable=False)
    document_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    typed_name: Mapped[str] = mapped_column(String(200), nullable=False)
    signature_svg: Mapped[str] = mapped_column(Text, nullable=False)  # the drawn mark, sanitised SVG paths
    signed_at: Mapped[datetime] = mapped_column(nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    signed_in_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    witness_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    witness_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class ConsentWithdrawal(AppendOnlyMixin, Base):
    __tablename__ = "consent_withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    signature_id: Mapped[int] = mapped_column(ForeignKey("consent_signatures.id"), nullable=False, unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    withdrawn_at: Mapped[datetime] = mapped_column(nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
