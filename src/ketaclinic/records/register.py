"""The controlled-substance register (issue 14, design.md 4.8): products, storage locations, lots, entries.

Every table here is append-only: a product, a location or a lot is a fact once written, and the
register itself is a book of entries that are never changed or removed. A correction is a new entry
naming the one it corrects (``corrects_id``, unique: an entry is corrected at most once, so two
people correcting the same line at once cannot both win); a count discrepancy is resolved by an
``adjustment`` naming the count (``resolves_id``, unique).

Quantities are in mg of the drug (to 0.1 mg); ``vials`` says how many containers a receipt or a
dispense moved. ``balance_after_mg`` is the lot's running balance in the clinic's custody after the
entry (what the paper register's last column shows) and ``location_balance_after_mg`` the balance
of the entry's storage location; ``ketaclinic register verify`` recomputes both from the entries.

Lots are locked (``SELECT ... FOR UPDATE``) by every write that moves stock, so two nurses drawing
from one lot at once on PostgreSQL are served one after the other and never oversell; SQLite
serialises writers with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

ENTRY_KINDS = ("receipt", "dispense", "administer", "waste", "return", "transfer", "count", "adjustment", "loss")
LOCATION_KINDS = ("safe", "cabinet", "working_stock")
SCHEDULES = ("II", "III", "IV", "V")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class RegisterProduct(AppendOnlyMixin, Base):
    """A controlled drug as it comes from the supplier: drug, strength, container, NDC, DEA schedule."""

    __tablename__ = "register_products"
    __table_args__ = (
        CheckConstraint(_in("schedule", SCHEDULES), name="schedule"),
        CheckConstraint("strength_mg_per_ml > 0 AND vial_volume_ml > 0", name="positive"),
        UniqueConstraint("name", name="uq_register_products_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    drug: Mapped[str] = mapped_column(String(40), nullable=False)  # the generic name ('ketamine', 'midazolam')
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    strength_mg_per_ml: Mapped[float] = mapped_column(nullable=False)
    vial_volume_ml: Mapped[float] = mapped_column(nullable=False)
    ndc: Mapped[str | None] = mapped_column(String(20), nullable=True)  # only where it was checked
    schedule: Mapped[str] = mapped_column(String(4), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class RegisterLocation(AppendOnlyMixin, Base):
    """Where stock is kept at a site: the safe, an automated cabinet, or one nurse's working stock."""

    __tablename__ = "register_locations"
    __table_args__ = (
        CheckConstraint(_in("kind", LOCATION_KINDS), name="kind"),
        UniqueConstraint("site_id", "name", name="uq_register_locations_site_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    holder_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class RegisterLot(AppendOnlyMixin, Base):
    """One manufacturer's lot of a product received at a site, with its expiry."""

    __tablename__ = "register_lots"
    __table_args__ = (
        UniqueConstraint("site_id", "product_id", "lot_number", name="uq_register_lots_site_product_lot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("register_products.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(40), nullable=False)
    expiry_date: Mapped[date] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class RegisterEntry(AppendOnlyMixin, Base):
    """One line of the register (design 4.8)."""

    __tablename__ = "register_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint("amount_mg >= 0 OR kind = 'adjustment'", name="amount_sign"),
        CheckConstraint("balance_after_mg >= 0", name="balance_not_negative"),
        CheckConstraint("location_balance_after_mg IS NULL OR location_balance_after_mg >= 0",
                        name="location_balance_not_negative"),
        CheckConstraint("kind NOT IN ('dispense','administer','waste') OR session_id IS NOT NULL",
                        name="session_named"),
        CheckConstraint("kind <> 'waste' OR (witness_id IS NOT NULL AND witness_id <> recorded_by)",
                        name="waste_witnessed"),
        CheckConstraint("kind <> 'count' OR (witness_id IS NOT NULL AND witness_id <> recorded_by)",
                        name="count_two_people"),
        Index("ix_register_entries_site", "site_id", "id"),
        Index("ix_register_entries_lot", "lot_id", "id"),
        Index("ix_register_entries_session", "session_id"),
        Index("ix_register_entries_kind_site", "kind", "site_id", "id"),  # the counts (open discrepancies; 0022)
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("register_products.id"), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("register_lots.id"), nullable=False)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("register_locations.id"), nullable=True)
    to_location_id: Mapped[int | None] = mapped_column(ForeignKey("register_locations.id"), nullable=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"), nullable=True)
    amount_mg: Mapped[float] = mapped_column(nullable=False)
    vials: Mapped[int | None] = mapped_column(nullable=True)
    balance_after_mg: Mapped[float] = mapped_column(nullable=False)
    location_balance_after_mg: Mapped[float | None] = mapped_column(nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    witness_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("register_entries.id"), nullable=True, unique=True)
    resolves_id: Mapped[int | None] = mapped_column(ForeignKey("register_entries.id"), nullable=True, unique=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class RegisterLotStock(Base):
    """A lot's balance now (the newest entry's ``balance_after_mg``): which lots are in stock, read by index.

    Derived, never a record of its own: ``_write`` (services/register.py) sets it in the transaction of every
    entry, under the lot's lock, and ``ketaclinic register verify`` checks it against the book. The register
    pages list the lots in stock of the actor's sites; without this row they found them by reading every lot's
    newest entry, 76,000 lots and 0.6-1.2 s at 100,000 patients (issue 17), for the ~3 lots a site holds."""

    __tablename__ = "register_lot_stock"
    __table_args__ = (
        CheckConstraint("balance_mg >= 0", name="balance_not_negative"),
        Index("ix_register_lot_stock_site_balance", "site_id", "balance_mg"),  # a site's lots in stock (> 0)
    )

    lot_id: Mapped[int] = mapped_column(ForeignKey("register_lots.id"), primary_key=True, autoincrement=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False)
    balance_mg: Mapped[float] = mapped_column(nullable=False)
    last_entry_id: Mapped[int] = mapped_column(ForeignKey("register_entries.id"), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

