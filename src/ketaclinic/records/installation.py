"""This installation's identity: one random UUID made when the database is created (migration 0006).

FHIR identifiers and ``urn:uuid`` full URLs are derived from it, so two clinics' patient #1 never
share an identifier in a receiving system, and nothing in an export is a bare internal row id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin


class Installation(AppendOnlyMixin, Base):
    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


def installation_uuid(uow: Session) -> str:
    """The installation's UUID (migration 0006 writes it; a database without it is not migrated)."""
    value = uow.execute(select(Installation.uuid).order_by(Installation.id).limit(1)).scalar_one_or_none()
    if value is None:
        raise RuntimeError("this database has no installation id: run `ketaclinic migrate`")
    return value
