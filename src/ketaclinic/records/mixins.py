"""What every clinical record carries: ``id``, ``version`` (for If-Match), ``created_at``, ``created_by``.

``version`` is SQLAlchemy's version counter: every UPDATE says ``WHERE version = :seen`` and
bumps it, so two people saving the same record at once cannot both win (the loser gets a
stale-data error that the services turn into 409).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ketaclinic.clock import utcnow


class RecordMixin:
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    @declared_attr
    def created_by(cls) -> Mapped[int | None]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(ForeignKey("users.id"), nullable=True, index=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}


class AppendOnlyMixin:
    """Rows that are facts: inserted once, never updated, never deleted (guards.py enforces it)."""

    __append_only__ = True
