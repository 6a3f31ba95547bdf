"""Appointment messages through the outbox (issue 13, design.md 4.9): enqueue, claim, send, retry.

**Enqueue.** The schedule's service functions call :func:`on_booked`, :func:`on_rescheduled`,
:func:`on_cancelled` and :func:`on_no_show` inside their own transaction, so a message exists exactly when
its booking does. A booking queues a confirmation (now, with an ``.ics``) and two reminders (the clinic's
``reminders.first_hours_before`` / ``second_hours_before``, 48 h and 24 h by default, clinic policy) with
the fasting and escort instructions. A reschedule cancels what is still pending for the old start and
queues the same for the new one; a cancellation cancels the pending ones and queues a notice; a no-show
queues a note asking the patient to call. Rows are inserted with ``ON CONFLICT DO NOTHING`` on the
once-only key (appointment, kind, start): a retried request cannot queue a message twice.

**Send.** :func:`claim` moves due rows to ``sending`` with a lease (PostgreSQL: candidates read
``FOR UPDATE SKIP LOCKED``; both engines: a compare-and-set ``UPDATE ... WHERE status = 'pending'``, and
SQLite's single writer serialises claims). :func:`deliver` re-checks everything at send time (the
appointment still booked at that start, the patient's consent to contact, no opt-out, an e-mail address,
the reminder not already past) and either skips the row with the reason, or renders the clinic's
template, sends, and records ``sent`` only if this worker still holds the lease. A failure goes back to
``pending`` with exponential back-off, and to ``failed`` after ``KETACLINIC_OUTBOX_MAX_ATTEMPTS`` (or at
once when the server refuses the address for good): the admin's outbox page lists it with the error.

Nothing here keeps state in memory between calls: any number of workers on any machines share the table.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.outbox import MESSAGE_KINDS, MessageTemplateVersion, OutboxMessage
from ketaclinic.records.patients import Patient
from ketaclinic.records.schedule import Appointment
from ketaclinic.records.sites import Site
from ketaclinic.services import clinic_settings
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, PreconditionRequired, ValidationFailed
from ketaclinic.services.mail import Attachment, OutgoingMessage, Transport, TransportError
from ketaclinic.services.sites import may_see_site
from ketaclinic.settings import Settings

REMINDER_KINDS = ("reminder_first", "reminder_second")
# What an opt-out of reminders stops: the appointment reminders and the questionnaire reminders (issue 15)
OPT_OUT_KINDS = (*REMINDER_KINDS, "questionnaire_due")
KIND_WORDS = {"confirmation": "Booking confirmation", "reminder_first": "First reminder",
              "reminder_second": "Second reminder", "no_show": "After a missed appointment",
              "cancellation": "Cancellation notice", "questionnaire_due": "Questionnaire due"}
APPOINTMENT_WORDS = {"evaluation": "evaluation visit", "infusion": "ketamine infusion", "follow_up": "follow-up visit"}

_INSTRUCTIONS = """\
{% if kind == "infusion" %}Before your infusion:
- Fasting: no solid food for {{ fasting_light_meal_h }} hours before (no fatty meal for {{ fasting_fatty_meal_h }}
  hours); clear liquids (water, clear apple juice, black tea or coffee) until {{ fasting_clear_liquid_h }} hours before.
- Escort: an adult must take you home. Without an escort the infusion cannot start.
- Do not drive, cycle or operate machinery until the next day, after a night's sleep.
- Take your usual medicines unless the clinic told you otherwise, and bring a list of them.
{% endif %}"""

DEFAULT_TEMPLATES: dict[str, tuple[str, str]] = {
    "confirmation": (
        "Your {{ what }} on {{ when }} is booked",
        "Dear {{ given_name }},\n\nYour {{ what }} at {{ clinic_name }} ({{ site_name }}) is booked for {{ when }} "
        "({{ duration_min }} minutes).\nThe attached calendar file adds it to your calendar.\n\n" + _INSTRUCTIONS +
        "\nTo change or cancel it, please call the clinic.\n\n{{ clinic_name }}"),
    "reminder_first": (
        "Reminder: your {{ what }} on {{ when }}",
        "Dear {{ given_name }},\n\nThis is a reminder of your {{ what }} at {{ clinic_name }} ({{ site_name }}) on "
        "{{ when }}.\n\n" + _INSTRUCTIONS + "\nIf you cannot come, please call the clinic.\n\n{{ clinic_name }}"),
    "reminder_second": (
        "Tomorrow: your {{ what }} at {{ time }}",
        "Dear {{ given_name }},\n\nYour {{ what }} at {{ clinic_name }} ({{ site_name }}) is on {{ when }}.\n\n"
        + _INSTRUCTIONS + "\nIf you cannot come, please call the clinic.\n\n{{ clinic_name }}"),
    "no_show": (
        "We missed you on {{ date }}",
        "Dear {{ given_name }},\n\nWe were expecting you for your {{ what }} on {{ when }}. We hope you are well.\n"
        "Please call the clinic to book another time.\n\n{{ clinic_name }}"),
    "cancellation": (
        "Your {{ what }} on {{ when }} is cancelled",
        "Dear {{ given_name }},\n\nYour {{ what }} at {{ clinic_name }} on {{ when }} is cancelled.\n"
        "Please call the clinic if you would like another time.\n\n{{ clinic_name }}"),
    "questionnaire_due": (
        "Your {{ questionnaire }} questionnaire for {{ clinic_name }}",
        "Dear {{ given_name }},\n\nYour {{ questionnaire_name }} ({{ purpose }}) is due since {{ due_date }}. "
        "It has {{ items }} questions and takes about {{ minutes }} minutes.\n\n"
        "Please answer it on the patient portal: {{ portal_url }}\n"
        "Your answers are saved as you go, so you can stop and continue later.\n\n"
        "If you have thoughts of harming yourself, do not wait for this questionnaire: call 988 (the Suicide & "
        "Crisis Lifeline) or 911, or the clinic.\n\n{{ clinic_name }}"),
}
SAMPLE_CONTEXT = {"given_name": "Alex", "family_name": "Example", "what": "ketamine infusion", "kind": "infusion",
                  "when": "Monday 9 March 2026, 09:00 (EST)", "date": "9 March 2026", "time": "09:00",
                  "duration_min": 150, "clinic_name": "KetaClinic", "site_name": "Main site", "site_address": "",
                  "fasting_light_meal_h": 6, "fasting_fatty_meal_h": 8, "fasting_clear_liquid_h": 2}

QUESTIONNAIRE_SAMPLE_CONTEXT = {"given_name": "Alex", "family_name": "Example", "questionnaire": "PHQ-9",
                                "questionnaire_name": "Patient Health Questionnaire (PHQ-9)", "purpose": "baseline",
                                "due_date": "9 March 2026", "items": 9, "minutes": 2,
                                "portal_url": "https://clinic.example.org/me/questionnaires",
                                "clinic_name": "KetaClinic", "site_name": "Main site"}


def sample_context(kind: str) -> dict[str, Any]:
    """The names a template of ``kind`` may use (with example values: the template check renders them)."""
    return QUESTIONNAIRE_SAMPLE_CONTEXT if kind == "questionnaire_due" else SAMPLE_CONTEXT


_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                            keep_trailing_newline=True)


# --- enqueueing (inside the schedule's transactions) -------------------------------------------------------


def _insert(uow: Session, values: dict[str, Any]) -> None:
    """Insert a message once: a second row for the same (appointment, kind, start) is dropped, and a message
    cancelled for that start (the appointment moved away and back) is queued again."""
    dialect = uow.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(OutboxMessage).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["appointment_id", "kind", "appointment_start_at"],
        set_={"status": "pending", "due_at": statement.excluded.due_at,
              "next_attempt_at": statement.excluded.next_attempt_at, "closed_reason": None,
              "updated_at": statement.excluded.updated_at},
        where=OutboxMessage.status == "cancelled")
    uow.execute(statement)


def _queue(uow: Session, appointment: Appointment, kind: str, due_at: datetime, now: datetime) -> None:
    _insert(uow, {"site_id": appointment.site_id, "patient_id": appointment.patient_id,
                  "appointment_id": appointment.id, "kind": kind, "appointment_start_at": appointment.start_at,
                  "channel": "email", "status": "pending", "due_at": due_at, "next_attempt_at": due_at,
                  "attempts": 0, "created_at": now, "updated_at": now})


def _queue_booking(uow: Session, appointment: Appointment, now: datetime) -> None:
    hours = clinic_settings.current(uow)[1].reminders
    _queue(uow, appointment, "confirmation", now, now)
    for kind, before_h in (("reminder_first", hours.first_hours_before), ("reminder_second", hours.second_hours_before)):
        due = appointment.start_at - timedelta(hours=before_h)
        if due > now:  # booked inside the window: the confirmation already says it
            _queue(uow, appointment, kind, due, now)


def _cancel_pending(uow: Session, appointment_id: int, why: str, now: datetime, start: datetime | None = None) -> int:
    query = update(OutboxMessage).where(OutboxMessage.appointment_id == appointment_id,
                                        OutboxMessage.status == "pending")
    if start is not None:
        query = query.where(OutboxMessage.appointment_start_at == start)
    result = uow.execute(query.values(status="cancelled", closed_reason=why, updated_at=now)
                         .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def on_booked(uow: Session, appointments: list[Appointment], now: datetime) -> None:
    """A booking (one appointment or a series): a confirmation each and its reminders."""
    uow.flush()
    for appointment in appointments:
        _queue_booking(uow, appointment, now)


def on_rescheduled(uow: Session, appointment: Appointment, old_start: datetime, now: datetime) -> None:
    """The pending messages for the old start go; the new start gets its confirmation and reminders."""
    uow.flush()
    _cancel_pending(uow, appointment.id, f"rescheduled from {old_start.isoformat()}", now, old_start)
    _queue_booking(uow, appointment, now)


def on_cancelled(uow: Session, appointment: Appointment, now: datetime) -> None:
    uow.flush()
    _cancel_pending(uow, appointment.id, "appointment cancelled", now)
    _queue(uow, appointment, "cancellation", now, now)


def on_no_show(uow: Session, appointment: Appointment, now: datetime) -> None:
    uow.flush()
    _cancel_pending(uow, appointment.id, "no-show", now)
    _queue(uow, appointment, "no_show", now, now)


def cancel_pending_for_patient(uow: Session, patient_id: int, why: str, now: datetime,
                               *, reminders_only: bool = False) -> int:
    """Cancel what is pending for a patient (consent to contact withdrawn; reminders only: an opt-out)."""
    query = update(OutboxMessage).where(OutboxMessage.patient_id == patient_id, OutboxMessage.status == "pending")
    if reminders_only:
        query = query.where(OutboxMessage.kind.in_(OPT_OUT_KINDS))
    result = uow.execute(query.values(status="cancelled", closed_reason=why, updated_at=now)
                         .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- templates ----------------------------------------------------------------------------------------


class TemplateView(BaseModel):
    kind: str
    words: str
    version: int = Field(description="0: the built-in default, never saved")
    subject: str
    body: str
    created_at: datetime | None
    note: str | None


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=3, max_length=300)
    body: str = Field(min_length=10, max_length=20_000)
    note: str | None = Field(default=None, max_length=2000)


def _template_row(uow: Session, kind: str) -> MessageTemplateVersion | None:
    return uow.execute(select(MessageTemplateVersion).where(MessageTemplateVersion.kind == kind)
                       .order_by(MessageTemplateVersion.version.desc()).limit(1)).scalar_one_or_none()


def _template_view(kind: str, row: MessageTemplateVersion | None) -> TemplateView:
    if row is None:
        subject, body = DEFAULT_TEMPLATES[kind]
        return TemplateView(kind=kind, words=KIND_WORDS[kind], version=0, subject=subject, body=body, created_at=None,
                            note=None)
    return TemplateView(kind=kind, words=KIND_WORDS[kind], version=row.version, subject=row.subject, body=row.body,
                        created_at=row.created_at, note=row.note)


def render(subject: str, body: str, context: dict[str, Any]) -> tuple[str, str]:
    """The message's subject (one line) and body, rendered in Jinja2's sandbox."""
    rendered_subject = " ".join(_env.from_string(subject).render(context).split())
    return rendered_subject, _env.from_string(body).render(context)


def list_templates(db: Database, actor: Actor) -> list[TemplateView]:
    require_role(actor, "admin")
    with db.reading() as uow:
        return [_template_view(kind, _template_row(uow, kind)) for kind in MESSAGE_KINDS]


def save_template(db: Database, actor: Actor, kind: str, expected_version: int | None, data: TemplateIn,
                  *, now: datetime | None = None) -> TemplateView:
    """A new version of one kind's wording (admin; If-Match: the version read, 0 for the default)."""
    require_role(actor, "admin")
    if kind not in MESSAGE_KINDS:
        raise NotFound("no such kind of message")
    try:
        render(data.subject, data.body, sample_context(kind))
    except TemplateError as error:
        raise ValidationFailed(f"the template cannot be used: {error}. The names you can use are: "
                               f"{', '.join(sorted(sample_context(kind)))}", code="template_invalid", field="body") from None
    now = now or utcnow()
    with unit_of_work(db) as uow:
        row = _template_row(uow, kind)
        version = row.version if row else 0
        if expected_version is None:
            raise PreconditionRequired("send If-Match with the template version you last read (0 for the default)")
        if expected_version != version:
            raise Conflict(f"version {expected_version} is stale: the template is at version {version}", field="If-Match")
        new = MessageTemplateVersion(kind=kind, version=version + 1, subject=data.subject,
                                     body=data.body.replace("\r\n", "\n"), note=data.note, created_at=now,
                                     created_by=actor.user_id)
        uow.add(new)
        uow.flush()
        audit(uow, actor, "message_template.save", "message_template", f"{kind}:{new.version}",
              {"kind": kind, "version": new.version, "note": data.note})
        return _template_view(kind, new)


# --- the outbox page -------------------------------------------------------------------------------------


class MessageView(BaseModel):
    id: int
    site_id: int
    patient_id: int
    appointment_id: int | None
    kind: str
    words: str
    appointment_start_at: datetime | None
    instrument: str | None = None  # questionnaire_due: the instrument and the date it fell due
    due_on: date | None = None
    status: str
    due_at: datetime
    next_attempt_at: datetime
    attempts: int
    recipient: str | None
    subject: str | None
    last_error: str | None
    sent_at: datetime | None
    closed_reason: str | None


class OutboxSummary(BaseModel):
    counts: dict[str, int]
    problems: list[MessageView]  # failed, and pending ones that have failed at least once
    recent: list[MessageView]
    smtp_configured: bool


def _message_view(r: OutboxMessage) -> MessageView:
    return MessageView(id=r.id, site_id=r.site_id, patient_id=r.patient_id, appointment_id=r.appointment_id, kind=r.kind,
                       words=KIND_WORDS.get(r.kind, r.kind), appointment_start_at=r.appointment_start_at,
                       instrument=r.instrument, due_on=r.due_on,
                       status=r.status, due_at=r.due_at, next_attempt_at=r.next_attempt_at, attempts=r.attempts,
                       recipient=r.recipient, subject=r.subject, last_error=r.last_error, sent_at=r.sent_at,
                       closed_reason=r.closed_reason)


def outbox_summary(db: Database, actor: Actor, settings: Settings, *, limit: int = 50) -> OutboxSummary:
    """What the outbox holds at the admin's sites: counts by status, the problems, the latest messages."""
    require_role(actor, "admin")
    with unit_of_work(db) as uow:
        sites = select(OutboxMessage)
        if actor.role != "system":
            sites = sites.where(OutboxMessage.site_id.in_(actor.site_ids or (-1,)))
        counts_query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if actor.role != "system":
            counts_query = counts_query.where(OutboxMessage.site_id.in_(actor.site_ids or (-1,)))
        counts = {status: int(n) for status, n in uow.execute(counts_query).all()}
        problems = uow.execute(sites.where(or_(OutboxMessage.status == "failed", (OutboxMessage.status == "pending") &
                                               (OutboxMessage.attempts > 0)))
                               .order_by(OutboxMessage.id.desc()).limit(limit)).scalars().all()
        recent = uow.execute(sites.order_by(OutboxMessage.id.desc()).limit(limit)).scalars().all()
        audit(uow, actor, "outbox.read", None, None, {"counts": counts})
        return OutboxSummary(counts=counts, problems=[_message_view(r) for r in problems],
                             recent=[_message_view(r) for r in recent], smtp_configured=settings.smtp_url is not None)


def retry_message(db: Database, actor: Actor, message_id: int, *, now: datetime | None = None) -> MessageView:
    """Send a failed message again (admin): back to pending, due now, attempts counted afresh."""
    require_role(actor, "admin")
    now = now or utcnow()
    with unit_of_work(db) as uow:
        row = uow.get(OutboxMessage, message_id)
        if row is None or not may_see_site(actor, row.site_id):
            raise NotFound("message not found")
        if row.status != "failed":
            raise Conflict(f"only a failed message is sent again (this one is {row.status})", code="not_failed")
        row.status, row.attempts, row.next_attempt_at, row.updated_at = "pending", 0, now, now
        uow.flush()
        audit(uow, actor, "outbox.retry", "outbox_message", row.id, {"kind": row.kind, "patient_id": row.patient_id})
        return _message_view(row)


# --- the worker's steps ----------------------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(db: Database, worker: str, *, now: datetime | None = None, limit: int = 20,
          lease_s: float = 300) -> list[int]:
    """Take up to ``limit`` due messages for ``worker`` (ids, oldest first); a lease makes them its own."""
    now = now or utcnow()
    due = or_((OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
              (OutboxMessage.status == "sending") & (OutboxMessage.lease_until < now))
    with db.transaction() as uow:
        query = select(OutboxMessage.id).where(due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
        if uow.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(uow.execute(query).scalars())
        if not ids:
            return []
        taken = uow.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids), due)
            .values(status="sending", claimed_by=worker, lease_until=now + timedelta(seconds=lease_s), updated_at=now)
            .returning(OutboxMessage.id).execution_options(synchronize_session=False)).scalars().all()
        return sorted(taken)


@dataclass(frozen=True)
class Outcome:
    message_id: int
    status: str  # sent | skipped | retry | failed | lost (another worker took it)
    detail: str = ""


def _zone(site: Site, settings: Settings) -> ZoneInfo:
    return ZoneInfo(site.timezone or settings.clinic_timezone)


def _context(uow: Session, row: OutboxMessage, appointment: Appointment, patient: Patient, site: Site,
             settings: Settings) -> dict[str, Any]:
    zone = _zone(site, settings)
    local = appointment.start_at.astimezone(zone)
    data = clinic_settings.current(uow)[1]
    return {"given_name": patient.given_name, "family_name": patient.family_name,
            "what": APPOINTMENT_WORDS.get(appointment.kind, appointment.kind), "kind": appointment.kind,
            "when": f"{local.strftime('%A')} {local.day} {local.strftime('%B %Y, %H:%M')} ({local.strftime('%Z')})",
            "date": f"{local.day} {local.strftime('%B %Y')}", "time": local.strftime("%H:%M"),
            "duration_min": int((appointment.end_at - appointment.start_at).total_seconds() // 60),
            "clinic_name": data.clinic_name, "site_name": site.name, "site_address": site.address or "",
            "fasting_light_meal_h": f"{data.fasting_hours.light_meal:g}",
            "fasting_fatty_meal_h": f"{data.fasting_hours.fatty_meal:g}",
            "fasting_clear_liquid_h": f"{data.fasting_hours.clear_liquid:g}"}


def ics_for(appointment: Appointment, site: Site, summary: str, clinic_name: str, now: datetime) -> bytes:
    """The appointment as an iCalendar request (RFC 5545), times in UTC; the UID stays with the appointment
    and SEQUENCE follows its version, so a calendar updates the event when the appointment moves."""
    calendar = Calendar()
    calendar.add("prodid", "-//KetaClinic//Appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", f"appointment-{appointment.id}@ketaclinic")
    event.add("sequence", appointment.version)
    event.add("dtstamp", now)
    event.add("dtstart", appointment.start_at)
    event.add("dtend", appointment.end_at)
    event.add("summary", summary)
    event.add("location", vText(", ".join(p for p in (clinic_name, site.name, site.address or "") if p)))
    organizer = vCalAddress("mailto:no-reply@ketaclinic.invalid")
    organizer.params["cn"] = vText(clinic_name)
    event.add("organizer", organizer)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()


def _close(db: Database, message_id: int, worker: str, values: dict[str, Any]) -> bool:
    """Record the result if ``worker`` still holds the message (its lease may have gone to another)."""
    with db.transaction() as uow:
        result = uow.execute(update(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.status == "sending", OutboxMessage.claimed_by == worker)
            .values(**values).execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _prepare(db: Database, message_id: int, worker: str, settings: Settings,
             now: datetime) -> tuple[str, OutgoingMessage | str, str]:
    """("send", message, channel) or ("skip", reason, "") or ("lost", "", "")."""
    with db.transaction() as uow:
        row = uow.get(OutboxMessage, message_id)
        if row is None or row.status != "sending" or row.claimed_by != worker:
            return "lost", "", ""
        patient = uow.get(Patient, row.patient_id)
        site = uow.get(Site, row.site_id)
        assert patient is not None and site is not None
        if not patient.contact_consent:
            return "skip", "the patient has not consented to contact", ""
        if row.kind in OPT_OUT_KINDS and patient.reminders_opt_out:
            return "skip", "the patient opted out of reminders", ""
        if row.kind == "questionnaire_due":
            return _prepare_questionnaire(uow, row, patient, site, settings, now)
        appointment = uow.get(Appointment, row.appointment_id)
        assert appointment is not None and row.appointment_start_at is not None
        if row.kind not in ("cancellation", "no_show") and (appointment.status != "booked" or
                                                            appointment.start_at != row.appointment_start_at):
            return "skip", "the appointment was moved or cancelled", ""
        if row.kind in REMINDER_KINDS and appointment.start_at <= now:
            return "skip", "too late: the appointment has started", ""
        if row.channel == "email" and not patient.email:
            return "skip", "no e-mail address on the chart", ""
        template = _template_view(row.kind, _template_row(uow, row.kind))
        context = _context(uow, row, appointment, patient, site, settings)
        try:
            subject, text = render(template.subject, template.body, context)
        except TemplateError as error:
            return "fail", f"the {row.kind} template cannot be rendered: {error}", ""
        attachments: tuple[Attachment, ...] = ()
        if row.kind == "confirmation":
            ics = ics_for(appointment, site, f"{context['clinic_name']}: {context['what']}", context["clinic_name"], now)
            attachments = (Attachment("appointment.ics", "text/calendar; method=REQUEST", ics),)
        message = OutgoingMessage(to=patient.email or "", subject=subject, text=text,
                                  message_id=f"<outbox-{row.id}.{row.kind}@ketaclinic>", attachments=attachments)
        row.recipient, row.subject, row.template_version = message.to, subject, template.version
        row.message_id = message.message_id
        return "send", message, row.channel


def _prepare_questionnaire(uow: Session, row: OutboxMessage, patient: Patient, site: Site, settings: Settings,
                           now: datetime) -> tuple[str, OutgoingMessage | str, str]:
    """A questionnaire reminder: still due (not answered since it was queued), to the address on the chart,
    with the link to the portal (services/questionnaire_reminders.py)."""
    from ketaclinic.services import questionnaire_reminders  # it queues through this module

    context = questionnaire_reminders.message_context(uow, row, patient, site, settings, now)
    if isinstance(context, str):
        return "skip", context, ""
    if row.channel == "email" and not patient.email:
        return "skip", "no e-mail address on the chart", ""
    template = _template_view(row.kind, _template_row(uow, row.kind))
    try:
        subject, text = render(template.subject, template.body, context)
    except TemplateError as error:
        return "fail", f"the {row.kind} template cannot be rendered: {error}", ""
    message = OutgoingMessage(to=patient.email or "", subject=subject, text=text,
                              message_id=f"<outbox-{row.id}.{row.kind}@ketaclinic>")
    row.recipient, row.subject, row.template_version = message.to, subject, template.version
    row.message_id = message.message_id
    return "send", message, row.channel


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds before attempt ``attempts + 1``: base, 2 x base, 4 x base ... capped."""
    return min(max_s, base_s * 2 ** max(0, attempts - 1))


def deliver(db: Database, message_id: int, worker: str, transports: dict[str, Transport], settings: Settings,
            *, now: datetime | None = None) -> Outcome:
    """Send one claimed message (or skip it, or schedule the retry)."""
    now = now or utcnow()
    step, payload, channel = _prepare(db, message_id, worker, settings, now)
    if step == "lost":
        return Outcome(message_id, "lost")
    if step == "skip":
        _close(db, message_id, worker, {"status": "skipped", "closed_reason": str(payload), "lease_until": None,
                                        "updated_at": now})
        return Outcome(message_id, "skipped", str(payload))
    if step == "fail":
        _close(db, message_id, worker, {"status": "failed", "last_error": str(payload), "lease_until": None,
                                        "updated_at": now})
        return Outcome(message_id, "failed", str(payload))
    assert isinstance(payload, OutgoingMessage)
    transport = transports.get(channel)
    error: TransportError | None = None
    if transport is None:
        error = TransportError(f"no transport for {channel}: set KETACLINIC_SMTP_URL" if channel == "email"
                               else f"no transport for {channel}: register a provider (services/mail.py)")
    else:
        try:
            transport.send(payload)
        except TransportError as failed:
            error = failed
    if error is None:
        _close(db, message_id, worker, {"status": "sent", "sent_at": utcnow(), "lease_until": None,
                                        "last_error": None, "updated_at": utcnow(), "attempts": OutboxMessage.attempts + 1,
                                        "recipient": payload.to, "subject": payload.subject,
                                        "message_id": payload.message_id})
        return Outcome(message_id, "sent", payload.to)
    with db.reading() as uow:
        attempts = (uow.get(OutboxMessage, message_id).attempts or 0) + 1  # type: ignore[union-attr]
    final = error.permanent or attempts >= settings.outbox_max_attempts
    wait = backoff_s(attempts, settings.outbox_backoff_base_s, settings.outbox_backoff_max_s)
    _close(db, message_id, worker, {"status": "failed" if final else "pending", "attempts": attempts,
                                    "last_error": str(error)[:2000], "lease_until": None, "updated_at": now,
                                    "next_attempt_at": now + timedelta(seconds=wait)})
    return Outcome(message_id, "failed" if final else "retry", str(error))


def run_once(db: Database, settings: Settings, transports: dict[str, Transport], *, worker: str | None = None,
             now: datetime | None = None, limit: int | None = None) -> list[Outcome]:
    """Claim one batch and work through it (the worker loop calls this until nothing is due)."""
    worker = worker or worker_name()
    ids = claim(db, worker, now=now, limit=limit or settings.outbox_batch, lease_s=settings.outbox_lease_s)
    outcomes = []
    try:
        for message_id in ids:
            outcomes.append(deliver(db, message_id, worker, transports, settings, now=now))
    finally:
        for transport in transports.values():
            transport.close()
    return outcomes
