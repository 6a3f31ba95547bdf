"""The clinic's own settings (design.md 5: the admin manages clinic settings and the drug library).

Settings are versioned and append-only: every change is a new row holding the whole settings
document, who saved it, when, and what changed from the version before; the current settings are
the row with the highest ``version``. Nothing is ever overwritten, so "which drug library did this
plan's limits come from" always has an answer. ``version`` is unique, so two admins saving on
top of the same version cannot both win (the loser's insert fails and is answered 409).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin


class ClinicSettingsVersion(AppendOnlyMixin, Base):
    __tablename__ = "clinic_settings_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(nullable=False, unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # the whole settings document
    changes: Mapped[list[Any]] = mapped_column(nullable=False)  # [{"field", "from", "to"}] against the previous version
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_by_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
