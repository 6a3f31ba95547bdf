"""The message outbox and the admin-edited message templates (issue 13: reminders).

``outbox_messages``: one row per message the clinic means to send (a booking confirmation, a reminder,
a note after a no-show ...). The row is written in the same transaction as the booking that causes it,
so a message exists exactly when its reason does. ``UNIQUE (appointment_id, kind, appointment_start_at)``
makes "once per appointment and kind" a property of the database: two workers, a retried request or a
restarted worker cannot insert a second row for the same message (a rescheduled appointment is a new
start, so its reminders are new rows; the old ones are cancelled while still pending).

A worker claims a due row by moving it from ``pending`` to ``sending`` with a lease (``claimed_by``,
``lease_until``); on PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED`` so workers never wait
on each other, and on both engines the claim is a compare-and-set (``WHERE status = 'pending'``), so only
one worker ever owns a row. A worker killed mid-send leaves its row ``sending`` with a lease that runs
out; another worker then takes it again. Failures go back to ``pending`` with a later
``next_attempt_at`` (exponential back-off) until ``max`` attempts, then ``failed`` (the admin page).

``message_template_versions``: the wording of each kind of message, versioned and append-only like the
clinic settings (the highest ``version`` per kind is in force; none saved: the built-in default).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

MESSAGE_KINDS = ("confirmation", "reminder_first", "reminder_second", "no_show", "cancellation", "questionnaire_due")
MESSAGE_STATUSES = ("pending", "sending", "sent", "failed", "cancelled", "skipped")
CHANNELS = ("email", "sms")
KINDS_CHECK = "kind IN (" + ",".join(f"'{k}'" for k in MESSAGE_KINDS) + ")"
SUBJECT_CHECK = ("(kind = 'questionnaire_due' AND instrument IS NOT NULL AND due_on IS NOT NULL) OR "
                 "(kind <> 'questionnaire_due' AND appointment_id IS NOT NULL AND appointment_start_at IS NOT NULL)")


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("appointment_id", "kind", "appointment_start_at", name="uq_outbox_messages_once"),
        # questionnaire_due (migration 0020): once per patient, instrument and due date, no appointment
        UniqueConstraint("patient_id", "kind", "instrument", "due_on", name="uq_outbox_messages_questionnaire_once"),
        CheckConstraint(KINDS_CHECK, name="kind"),
        CheckConstraint(SUBJECT_CHECK, name="subject"),
        CheckConstraint("status IN ('pending','sending','sent','failed','cancelled','skipped')", name="status"),
        CheckConstraint("channel IN ('email','sms')", name="channel"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_patient", "patient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), nullable=False)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    # The appointment's start this message is about (part of the once-only key); None for questionnaire_due
    appointment_start_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # questionnaire_due only: the instrument and the date (clinic zone) it fell due
    instrument: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_on: Mapped[date | None] = mapped_column(nullable=True)
    channel: Mapped[str] = mapped_column(String(8), nullable=False, default="email")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    due_at: Mapped[datetime] = mapped_column(nullable=False)  # not before this
    next_attempt_at: Mapped[datetime] = mapped_column(nullable=False)  # due_at, then later after each failure
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(254), nullable=True)  # where it went (when sent)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    template_version: Mapped[int | None] = mapped_column(nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the Message-ID header
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)  # why cancelled or skipped
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class MessageTemplateVersion(AppendOnlyMixin, Base):
    """One saved wording of one kind of message (subject and plain-text body, Jinja2 in a sandbox)."""

    __tablename__ = "message_template_versions"
    __table_args__ = (
        UniqueConstraint("kind", "version", name="uq_message_template_versions_kind_version"),
        CheckConstraint(KINDS_CHECK, name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    version: Mapped[int] = mapped_column(nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
