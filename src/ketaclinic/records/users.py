"""Users, their roles (design.md section 5), their sign-ins (tokens and web sessions) and login throttles.

A sign-in is a row of ``auth_sessions``: the bearer token (API) or the web session id (the cookie)
is a random secret that the database knows only as its SHA-256. Every request looks its row up, on
every worker (design.md 7, 4.10): a row stands while it is not revoked, not expired, and was made
under the user's current ``token_version``. A password change, a role change, deactivation and
logout raise ``token_version``, which ends every earlier token and web session of that user at once.

``account_links`` are the one-time links of a portal invitation or a password reset (issue 12), kept
as the SHA-256 of their secret like a sign-in.

``login_throttles`` counts failed sign-ins per client address and per typed username (known or not,
so the throttle says nothing about which accounts exist) and holds the growing delay.
"""

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
        ForeignKey("patients.id", use_alter=True, name="fk_users_patient_id_patients"), nullable=True,
        index=True,  # whether a patient has a portal account (the invitation picker, migration 0021)
    )
    # Unused since migration 0009 (the hard lock-out gave way to login_throttles); kept so that SQLite
    # need not rebuild the users table, which every other table points to.
    failed_logins: Mapped[int] = mapped_column(default=0, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    active: Mapped[bool] = mapped_column(default=True, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Raised (without touching ``version``) whenever every earlier sign-in of the user must end.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0", nullable=False)
    # How a person reads this user on signatures, letters and the audit log ("Ana Ruiz, MD"; issue 12)
    full_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    credentials: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The clinician's National Provider Identifier (issue 15: the rendering NPI on a superbill; Luhn-checked)
    npi: Mapped[str | None] = mapped_column(String(10), nullable=True)


class AuthSession(Base):
    """One sign-in: an API bearer token (``kind='api'``) or a web session (``kind='web'``)."""

    __tablename__ = "auth_sessions"
    __table_args__ = (CheckConstraint("kind IN ('api','web')", name="kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 (hex) of the secret
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    token_version: Mapped[int] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AccountLink(Base):
    """A one-time link (issue 12): a portal invitation for a patient, or a password reset for a user.

    The link carries 256 random bits that the database knows only as their SHA-256 (``id``). It
    works once (``used_at``), until ``expires_at``, and not after a newer link of the same kind for
    the same patient or user replaced it (``revoked_at``).
    """

    __tablename__ = "account_links"
    __table_args__ = (
        CheckConstraint("kind IN ('invitation','password_reset')", name="kind"),
        CheckConstraint("(kind = 'invitation') = (patient_id IS NOT NULL AND username IS NOT NULL)",
                        name="invitation_names_patient"),
        CheckConstraint("(kind = 'password_reset') = (user_id IS NOT NULL)", name="reset_names_user"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 (hex) of the secret
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True, index=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the account an invitation makes
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LoginThrottle(Base):
    """Failed sign-ins of one key (``ip:<address>`` or ``user:<typed name>``) and the delay they earned."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(nullable=False, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(nullable=False)
    blocked_until: Mapped[datetime | None] = mapped_column(nullable=True)
