"""Self-pay billing (issue 15): price lists, the physician's E/M level, invoices and payments.

Every table is append-only (a fact is written once):

- ``price_lists``: one version of a site's prices per row (``version`` counts up per site, unique with
  the site, so two people saving on top of the same version cannot both win); the current prices are
  the site's newest version.
- ``billing_em_codes``: the E/M level a physician chose for a signed evaluation; the newest row wins.
- ``invoices``: one revision of an invoice per row. An invoice is known by its ``number``; voiding it
  is a new revision (``status='void'``, with the reason) naming the one it replaces (``replaces_id``,
  unique, so a revision is replaced at most once). The codes, diagnoses, place of service, rendering
  clinician and prices are copied in when it is issued: the invoice says what was billed, whatever
  changes later.
- ``payments``: money in (``payment``), money back (``refund``, with its reason) and the withdrawal of
  an entry recorded in error (``reversal``, naming the entry in ``reverses_id``, unique). Amounts are
  integer cents; cash and card payments are recorded by hand (no card processing).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

INVOICE_KINDS = ("session", "course", "evaluation", "no_show")
INVOICE_STATUSES = ("issued", "void")
PAYMENT_KINDS = ("payment", "refund", "reversal")
PAYMENT_METHODS = ("cash", "card", "check", "bank_transfer", "other")


class PriceList(AppendOnlyMixin, Base):
    __tablename__ = "price_lists"
    __table_args__ = (UniqueConstraint("site_id", "version", name="uq_price_lists_site_version"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # the whole price list
    changes: Mapped[list[Any]] = mapped_column(nullable=False)  # [{"field", "from", "to"}] against the previous one
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class BillingEmCode(AppendOnlyMixin, Base):
    __tablename__ = "billing_em_codes"
    __table_args__ = (Index("ix_billing_em_codes_evaluation", "evaluation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), nullable=False)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    em_code: Mapped[str] = mapped_column(String(8), nullable=False)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class Invoice(AppendOnlyMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("kind IN ('session','course','evaluation','no_show')", name="kind"),
        CheckConstraint("status IN ('issued','void')", name="status"),
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
        CheckConstraint("(status = 'void') = (replaces_id IS NOT NULL)", name="void_replaces"),
        UniqueConstraint("number", "revision", name="uq_invoices_number_revision"),
        Index("ix_invoices_patient", "patient_id", "id"),
        Index("ix_invoices_site", "site_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    revision: Mapped[int] = mapped_column(nullable=False)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), nullable=True)
    session_ids: Mapped[list[Any]] = mapped_column(nullable=False)  # the sessions this invoice bills
    service_from: Mapped[date] = mapped_column(nullable=False)
    service_to: Mapped[date] = mapped_column(nullable=False)
    lines: Mapped[list[Any]] = mapped_column(nullable=False)  # [{"date", "code", "units", "description", ...}]
    diagnoses: Mapped[list[Any]] = mapped_column(nullable=False)  # [{"code", "display"}] ICD-10-CM
    place_of_service: Mapped[str] = mapped_column(String(4), nullable=False)
    rendering_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    rendering_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rendering_npi: Mapped[str | None] = mapped_column(String(10), nullable=True)
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("price_lists.id"), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    total_cents: Mapped[int] = mapped_column(nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)  # why it was voided
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class Payment(AppendOnlyMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("kind IN ('payment','refund','reversal')", name="kind"),
        CheckConstraint("method IN ('cash','card','check','bank_transfer','other')", name="method"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("(kind = 'reversal') = (reverses_id IS NOT NULL)", name="reversal_target"),
        CheckConstraint("kind = 'payment' OR reason IS NOT NULL", name="reason_given"),
        Index("ix_payments_invoice", "invoice_number", "id"),
        Index("ix_payments_site", "site_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False, index=True)
    invoice_number: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    amount_cents: Mapped[int] = mapped_column(nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)  # a cheque or terminal slip number
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True, unique=True)
    received_at: Mapped[datetime] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
