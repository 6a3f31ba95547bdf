"""Users, their roles (design.md section 5) and the state lock-out needs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.records.db import Base
from ketaclinic.records.mixins import RecordMixin

Role = Literal["admin", "physician", "nurse", "coordinator", "patient"]
ROLES: tuple[str, ...] = get_args(Role)


class User(RecordMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin','physician','nurse','coordinator','patient')", name="role"),
        CheckConstraint("(role = 'patient') = (patient_id IS NOT NULL)", name="patient_link"),
    )

    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", use_alter=True, name="fk_users_patient_id_patients"), nullable=True
    )
    failed_logins: Mapped[int] = mapped_column(default=0, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    active: Mapped[bool] = mapped_column(default=True, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
