"""Reminders for due questionnaires through the message outbox (issue 15, design.md 4.9's mail).

**Queue.** :func:`queue_due` (the worker runs it every ``KETACLINIC_QUESTIONNAIRE_REMINDER_SCAN_S``, an hour
by default: clinic policy) reads the patients who consented to contact, did not opt out of reminders and
have an e-mail address and an evaluation, works out what is due for each (the same rule as the portal:
services/questionnaires.due_in), and inserts one ``questionnaire_due`` message per patient, instrument and
due date (the date the questionnaire fell due, in the site's zone). The unique key
``uq_outbox_messages_questionnaire_once`` (migration 0020) and ``ON CONFLICT DO NOTHING`` make that once
only, however many workers scan and however often.

**Send.** The outbox's own worker step (services/reminders.deliver) re-checks at send time: consent and
opt-out (as for appointment reminders), then :func:`message_context` checks the questionnaire is still
due for that date (answered meanwhile: skipped with the reason) and gives the template its names,
including the portal link (``KETACLINIC_PUBLIC_URL`` + ``/me/questionnaires``). The wording is the
admin-edited ``questionnaire_due`` template (Admin > Messages), versioned like the others.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ketaclinic.clinical import questionnaires as core
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.outbox import OutboxMessage
from ketaclinic.records.patients import Patient
from ketaclinic.records.sites import Site
from ketaclinic.services import clinic_settings
from ketaclinic.services import questionnaires as qs
from ketaclinic.services.common import audit
from ketaclinic.services.context import Actor
from ketaclinic.settings import Settings

KIND = "questionnaire_due"
PORTAL_PATH = "/me/questionnaires"


def _zone(site: Site | None, settings: Settings) -> ZoneInfo:
    return ZoneInfo((site.timezone if site is not None else None) or settings.clinic_timezone)


def due_on(since: datetime, zone: ZoneInfo) -> date:
    """The due date of a questionnaire: the day it fell due, in the site's zone."""
    return since.astimezone(zone).date()


def _insert(uow: Session, values: dict[str, Any]) -> int:
    builder = postgresql.insert if uow.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = builder(OutboxMessage).values(**values).on_conflict_do_nothing(
        index_elements=["patient_id", "kind", "instrument", "due_on"])
    return int(uow.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def queue_due(db: Database, settings: Settings, *, now: datetime | None = None) -> int:
    """Queue a reminder for every questionnaire due now for a patient who may be written to; the number
    of new messages (0 when each was queued before)."""
    now = now or utcnow()
    queued = 0
    with db.transaction() as uow:
        evaluated = exists().where(Evaluation.patient_id == Patient.id)
        patients = list(uow.execute(select(Patient).where(
            Patient.contact_consent.is_(True), Patient.reminders_opt_out.is_(False), Patient.email.is_not(None),
            Patient.email != "", evaluated).order_by(Patient.id)).scalars())
        sites = {s.id: s for s in uow.execute(select(Site)).scalars()}
        for patient in patients:
            zone = _zone(sites.get(patient.site_id), settings)
            for due in qs.due_in(uow, patient, qs._current_rows(uow, patient.id), now):
                queued += _insert(uow, {
                    "site_id": patient.site_id, "patient_id": patient.id, "appointment_id": None, "kind": KIND,
                    "appointment_start_at": None, "instrument": due.instrument, "due_on": due_on(due.since, zone),
                    "channel": "email", "status": "pending", "due_at": now, "next_attempt_at": now, "attempts": 0,
                    "created_at": now, "updated_at": now})
        if queued:
            audit(uow, Actor.system("worker"), "questionnaire_reminders.queue", None, None,
                  {"queued": queued, "patients_checked": len(patients)})
    return queued


def portal_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/") + PORTAL_PATH
    return f"the clinic's patient portal ({PORTAL_PATH} once signed in)"


def message_context(uow: Session, row: OutboxMessage, patient: Patient, site: Site, settings: Settings,
                    now: datetime) -> dict[str, Any] | str:
    """The template's names for a questionnaire reminder, or why it is no longer sent."""
    zone = _zone(site, settings)
    due = next((d for d in qs.due_in(uow, patient, qs._current_rows(uow, patient.id), now)
                if d.instrument == row.instrument and due_on(d.since, zone) == row.due_on), None)
    if due is None:
        return "the questionnaire was answered (or is no longer due)"
    instrument, _ = qs.instrument_for(uow, due.instrument, patient.site_id)
    data = clinic_settings.current(uow)[1]
    return {"given_name": patient.given_name, "family_name": patient.family_name,
            "questionnaire": instrument.short_name, "questionnaire_name": instrument.name,
            "purpose": core.CONTEXT_WORDS[due.context].lower(),
            "due_date": f"{row.due_on.day} {row.due_on.strftime('%B %Y')}" if row.due_on else "",
            "items": len(instrument.scored_items), "minutes": f"{instrument.minutes:g}",
            "portal_url": portal_url(settings), "clinic_name": data.clinic_name, "site_name": site.name}
