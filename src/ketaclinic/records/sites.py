"""Sites of a clinic group (design.md section 3: site) and the staff who work at each (issue 17).

A site is one clinic location. Every patient and every infusion session belongs to one
(``patients.site_id``, ``sessions.site_id``). A staff member works at one or more sites with a role at
each (``staff_sites``); a patient user has no membership (they reach only their own chart). Migration
0011 made one default site ("Main site", code ``MAIN``) and put every earlier row in it.

``timezone`` is an IANA name (``Europe/Madrid``); absent, the site keeps the clinic's time zone
(``Settings.clinic_timezone``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import RecordMixin

STAFF_ROLES: tuple[str, ...] = ("admin", "physician", "nurse", "coordinator")
DEFAULT_SITE_NAME = "Main site"
DEFAULT_SITE_CODE = "MAIN"


class Site(RecordMixin, Base):
    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    code: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # IANA; None: the clinic's zone
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    active: Mapped[bool] = mapped_column(default=True, nullable=False)


class StaffSite(Base):
    """That ``user_id`` works at ``site_id`` with ``role`` there."""

    __tablename__ = "staff_sites"
    __table_args__ = (
        UniqueConstraint("user_id", "site_id", name="uq_staff_sites_user_site"),
        CheckConstraint("role IN ('admin','physician','nurse','coordinator')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
