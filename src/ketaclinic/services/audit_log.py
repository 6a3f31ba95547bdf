"""The audit log as a person reads it (issue 12): who (by name), what (in words), which record (with a
link to its page), filtered by user, patient, action and date range, newest first, paged by keyset.

The hash-chained log itself (records/audit.py) is unchanged; this module only reads it. A patient
filter finds the entries about the patient's chart and about each of the patient's evaluations,
plans and sessions. Reading the log is itself logged (``audit.read``), as in services/audit.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site
from ketaclinic.records.users import User
from ketaclinic.services.common import audit, cursor_int, encode_cursor, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.patients import SEARCH_LIMIT, PatientChoice, pick_patients
from ketaclinic.services.staff import display_name, staff_names

PAGE_SIZE = 50

#: Every action the services write, in words (a new action without words reads as its key, spaced).
ACTION_WORDS: dict[str, str] = {
    "allergy.list": "Read the allergies", "allergy.record": "Recorded an allergy",
    "allergy.correct": "Corrected an allergy", "allergy.entered_in_error": "Marked an allergy entered in error",
    "audit.read": "Read the audit log", "audit.verify": "Checked the audit chain",
    "auth.login": "Signed in", "auth.login_failed": "Failed sign-in (wrong username or password)",
    "auth.login_refused_demo": "Sign-in refused (demo account in production)",
    "auth.login_throttled": "Sign-in refused (too many failures: waiting)",
    "auth.logout": "Signed out", "auth.throttled": "Sign-ins slowed down after repeated failures",
    "clinic_settings.update": "Changed the clinic settings",
    "diary.booster": "Read the booster suggestion", "diary.create": "Wrote a diary entry",
    "diary.list": "Read the diary",
    "evaluation.amend": "Amended an evaluation", "evaluation.create": "Started an evaluation",
    "evaluation.list": "Listed evaluations", "evaluation.read": "Opened an evaluation",
    "evaluation.sign": "Signed an evaluation", "evaluation.update": "Edited a draft evaluation",
    "follow_up.list": "Read follow-up due", "follow_up.read": "Read the patient's follow-up",
    "inquiry.answer": "Answered an inquiry", "inquiry.close": "Closed an inquiry",
    "inquiry.convert": "Made a patient from an inquiry", "inquiry.create": "Consultation request received",
    "inquiry.list": "Listed inquiries", "inquiry.read": "Opened an inquiry", "inquiry.schedule": "Booked an evaluation",
    "invitation.issue": "Issued a portal invitation", "invitation.accept": "Portal account made from an invitation",
    "invitation.refused": "Portal invitation refused (used, expired, replaced or unknown)",
    "outcomes.adverse_events.read": "Read adverse events", "outcomes.patient.read": "Read a patient's outcomes",
    "outcomes.read": "Read clinic outcomes",
    "password_reset.issue": "Issued a password reset link", "password_reset.use": "Password reset from a link",
    "password_reset.refused": "Password reset link refused (used, expired, replaced or unknown)",
    "patient.create": "Registered a patient", "patient.fhir_export": "Exported the record (FHIR)",
    "patient.history.read": "Read the chart's history", "patient.list": "Listed patients",
    "patient.read": "Opened the chart", "patient.search": "Searched for a patient (picker)", "patient.update": "Changed demographics", "patient.weight": "Recorded a weight",
    "patient.weights.read": "Read the weights",
    "plan.create": "Drafted a plan", "plan.list": "Listed plans", "plan.preview": "Previewed a plan (PK)",
    "plan.read": "Opened a plan", "plan.sign": "Signed a plan", "plan.update": "Edited a draft plan",
    "referral.attach": "Attached a referral", "referral.import": "Imported a referral (FHIR)",
    "referral.read": "Read a referral",
    "report.letter.course": "Printed the course letter", "report.letter.evaluation": "Printed the evaluation letter",
    "report.outcomes": "Printed the outcome report", "report.patient_summary": "Printed the patient summary",
    "report.session_record": "Printed the session record",
    "research.export": "Made a research export", "research.export.refused": "Research export refused",
    "risk_check.create": "Recorded a risk check",
    "session.cancel": "Cancelled a session", "session.check_in": "Checked a patient in",
    "session.checklist": "Recorded the pre-infusion checklist",
    "session.checklist_override": "Overrode a checklist item (physician)",
    "session.discharge": "Discharged a patient", "session.discharge_check": "Assessed discharge readiness",
    "session.discharge_refused": "Discharge refused (criteria not met)",
    "session.events.read": "Read a session's events", "session.list": "Listed sessions",
    "session.read": "Opened a session", "session.schedule": "Scheduled a session", "session.start": "Started an infusion",
    "session.stop": "Stopped an infusion",
    "user.create": "Made an account", "user.list": "Listed accounts", "user.update": "Changed an account",
    "site.create": "Added a site", "site.update": "Changed a site",
    "site.member.add": "Added a staff member to a site", "site.member.role": "Changed a staff member's role at a site",
    "site.member.remove": "Took a staff member off a site",
    # schedule (issue 13)
    "appointment.book": "Booked an appointment", "appointment.cancel": "Cancelled an appointment",
    "appointment.list": "Listed appointments", "appointment.no_show": "Recorded a no-show",
    "appointment.read": "Opened an appointment", "appointment.reschedule": "Moved an appointment",
    "chair.create": "Added a chair or room", "chair.update": "Changed a chair or room",
    "staff_absence.add": "Recorded a staff absence", "staff_absence.remove": "Removed a staff absence",
    "staff_hours.set": "Set a staff member's working hours",
    "waiting_list.add": "Put a patient on the waiting list", "waiting_list.list": "Read the waiting list",
    "waiting_list.remove": "Took a patient off the waiting list",
    # reminders and consent (issue 13)
    "consent.fhir": "Exported a signed consent (FHIR)", "consent.pdf": "Printed a signed consent",
    "consent.read": "Read the consent", "consent.sign": "Consent signed", "consent.withdraw": "Consent withdrawn",
    "consent_document.publish": "Published a consent document version",
    "message_template.save": "Changed a message's wording", "outbox.read": "Read the message outbox",
    "outbox.retry": "Sent a failed message again", "patient.contact_preferences": "Changed contact preferences",
    # medication record and register (issue 14)
    "medication_order.create": "Wrote a PRN order", "medication_order.list": "Read the PRN orders",
    "medication_order.stop": "Stopped a PRN order", "medication_record.read": "Read the medication record",
    "register.location": "Added a storage location", "register.product": "Added a drug product",
    "register.report": "Printed a register report",
    # questionnaires (issue 15)
    "questionnaire.alert": "Self-harm answer alert raised", "questionnaire.alert_acknowledged": "Acknowledged a self-harm alert",
    "questionnaire.alerts": "Read the questionnaire alerts", "questionnaire.complete": "Completed a questionnaire",
    "questionnaire.custom_instrument": "Added a custom questionnaire", "questionnaire.list": "Listed questionnaires",
    "questionnaire.outcomes": "Read questionnaire outcomes", "questionnaire.read": "Opened a questionnaire",
    "questionnaire.save": "Saved questionnaire answers", "questionnaire.start": "Started a questionnaire",
    "questionnaire_reminders.queue": "Queued questionnaire reminders", "invoice.list_own": "Read their own bills",
    # billing (issue 15)
    "billing.csv": "Exported billing (CSV)", "billing.em_code": "Chose the E/M level",
    "billing.patient": "Read a patient's billing", "billing.unbilled": "Read the unbilled sessions",
    "invoice.issue": "Issued an invoice", "invoice.list": "Listed invoices", "invoice.read": "Opened an invoice",
    "invoice.void": "Voided an invoice", "payment.record": "Recorded a payment", "payment.refund": "Refunded a payment",
    "payment.reverse": "Reversed a payment", "price_list.read": "Read the price list",
    "price_list.save": "Changed the price list", "price_list.versions": "Read the price list's versions",
    # scale (issue 17)
    "outcomes.summaries.rebuild": "Rebuilt the outcome summaries",
}
EVENT_WORDS = {"vitals": "Recorded vital signs", "rate_change": "Changed the infusion rate",
               "medication": "Gave a medication", "side_effect": "Recorded a side effect", "note": "Wrote a note",
               "alert_ack": "Acknowledged an alert", "amendment": "Amended a session event",
               "bolus": "Gave an extra bolus", "pause": "Paused the infusion", "resume": "Resumed the infusion"}
RECORD_WORDS = {"patient": "Patient", "session": "Session", "plan": "Plan", "evaluation": "Evaluation",
                "inquiry": "Inquiry", "user": "Account", "diary_entry": "Diary entry", "cohort": "Clinic outcomes",
                "audit_log": "Audit log", "clinic_settings": "Clinic settings", "research_export": "Research export",
                "login": "Sign-in", "site": "Site"}
#: Where a record's link goes for the log's reader, an admin, who may not open charts (design.md section 5):
#: a patient's record opens the log filtered to that patient's trail; a user, their account; settings, the page.
PATIENT_TRAIL = "/admin/audit?patient_id={id}"
PAGES = {"patient": PATIENT_TRAIL, "user": "/admin/users/{id}/name", "clinic_settings": "/admin/settings",
         "site": "/admin/sites#site-{id}"}


def action_words(action: str) -> str:
    """An action key in words ("session.event.vitals" → "Recorded vital signs")."""
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    if action.startswith("session.event."):
        kind = action.removeprefix("session.event.")
        return EVENT_WORDS.get(kind, "Recorded a session event: " + kind.replace("_", " "))
    words = action.replace(".", " ").replace("_", " ")
    return words[:1].upper() + words[1:]


class AuditQuery(BaseModel):
    user_id: int | None = None
    patient_id: int | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    site_id: int | None = None  # the entries about one site (issue 17)


class ReadableEntry(BaseModel):
    seq: int
    at: datetime
    who: str
    role: str | None
    action: str
    what: str
    record: str  # "Patient Ana Example (#3)", "Session #5 — Ana Example", "" when none
    href: str | None
    ip: str | None
    site: str = ""  # the site's name; "" for what belongs to no site (issue 17)


class ReadablePage(BaseModel):
    items: list[ReadableEntry]
    next_cursor: str | None
    size: int


class Choice(BaseModel):
    value: str
    label: str


def _patient_records(uow: Session, patient_id: int) -> dict[str, list[str]]:
    def ids(model) -> list[str]:
        return [str(i) for i in uow.execute(select(model.id).where(model.patient_id == patient_id)).scalars()]

    return {"patient": [str(patient_id)], "session": ids(InfusionSession), "plan": ids(Plan),
            "evaluation": ids(Evaluation)}


def _record_labels(uow: Session, rows: list[AuditEntry]) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(record_type, record_id) → (label, link) for the page's entries."""
    wanted: dict[str, set[int]] = {}
    for r in rows:
        if r.record_type and r.record_id and r.record_id.isdigit():
            wanted.setdefault(r.record_type, set()).add(int(r.record_id))
    owner: dict[tuple[str, int], int] = {}
    for kind, model in (("session", InfusionSession), ("plan", Plan), ("evaluation", Evaluation)):
        if wanted.get(kind):
            for rid, pid in uow.execute(select(model.id, model.patient_id).where(model.id.in_(wanted[kind]))):
                owner[(kind, rid)] = pid
    patient_ids = set(wanted.get("patient", set())) | set(owner.values())
    names = {pid: f"{given} {family}" for pid, given, family in uow.execute(
        select(Patient.id, Patient.given_name, Patient.family_name).where(Patient.id.in_(patient_ids)))} \
        if patient_ids else {}
    users = staff_names(uow, wanted.get("user", ()))
    labels: dict[tuple[str, str], tuple[str, str | None]] = {}
    for kind, ids in wanted.items():
        for rid in ids:
            words = RECORD_WORDS.get(kind, kind.replace("_", " ").capitalize())
            page = PAGES.get(kind)
            href = page.format(id=rid) if page else None
            if kind == "patient":
                label = f"{words} {names[rid]} (#{rid})" if rid in names else f"{words} #{rid}"
                href = href if rid in names else None
            elif kind == "user":
                label = f"{words} {users.get(rid, '#' + str(rid))}"
            elif (kind, rid) in owner:
                label = f"{words} #{rid} — {names.get(owner[(kind, rid)], 'patient #' + str(owner[(kind, rid)]))}"
                href = PATIENT_TRAIL.format(id=owner[(kind, rid)])
            else:
                label = f"{words} #{rid}"
            labels[(kind, str(rid))] = (label, href)
    return labels


def read_audit_log(db: Database, actor: Actor, query: AuditQuery, *, cursor: str | None = None,
                   limit: int = PAGE_SIZE) -> ReadablePage:
    """One page of the log in words, newest first; ``next_cursor`` continues below the last entry (keyset on seq)."""
    require_role(actor, "admin")
    before = cursor_int(cursor, "before")
    if query.since and query.until and query.until <= query.since:
        raise ValidationFailed("the end date is before the start date", field="until")
    with unit_of_work(db) as uow:
        statement = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit + 1)
        if before is not None:
            statement = statement.where(AuditEntry.seq < before)
        if query.user_id is not None:
            statement = statement.where(AuditEntry.user_id == query.user_id)
        if query.action:
            statement = statement.where(AuditEntry.action == query.action)
        if query.site_id is not None:
            statement = statement.where(AuditEntry.site_id == query.site_id)
        if query.since:
            statement = statement.where(AuditEntry.at >= query.since)
        if query.until:
            statement = statement.where(AuditEntry.at < query.until)
        if query.patient_id is not None:
            records = _patient_records(uow, query.patient_id)
            statement = statement.where(or_(*[and_(AuditEntry.record_type == kind, AuditEntry.record_id.in_(ids))
                                              for kind, ids in records.items() if ids]))
        rows = list(uow.execute(statement).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        users = staff_names(uow, (r.user_id for r in rows))
        labels = _record_labels(uow, rows)
        site_ids = {r.site_id for r in rows if r.site_id is not None}
        sites = dict(uow.execute(select(Site.id, Site.name).where(Site.id.in_(site_ids))).all()) if site_ids else {}
        items = []
        for r in rows:
            who = users.get(r.user_id) if r.user_id is not None else None
            if who is None:
                who = (r.username or "").replace("system:", "system: ") or "Public (not signed in)"
            # an entry about no one record (a list, a sign-in attempt) names none: "what" already says it
            label, href = labels.get((r.record_type or "", r.record_id or ""), ("", None))
            if not label and r.record_type and r.record_id:
                label = f"{RECORD_WORDS.get(r.record_type, r.record_type.replace('_', ' '))} {r.record_id}"
            items.append(ReadableEntry(seq=r.seq, at=r.at, who=who, role=r.role, action=r.action,
                                       what=action_words(r.action), record=label, href=href, ip=r.ip,
                                       site=sites.get(r.site_id, "") if r.site_id is not None else ""))
        page = ReadablePage(items=items, size=limit,
                            next_cursor=encode_cursor({"before": rows[-1].seq}) if more and rows else None)
        audit(uow, actor, "audit.read", "audit_log", None, query.model_dump(mode="json", exclude_none=True))
        return page


def filter_choices(db: Database, actor: Actor, *, user_id: int | None = None) -> dict[str, list[Choice]]:
    """The filter pickers: the staff (by name; a patient's portal account only when it is the one chosen),
    the sites, every action the services write (in words). Never the patients (issue 17: a clinic has
    100,000: ``find_patients`` searches them) nor a scan of the log. Read-only."""
    require_role(actor, "admin")
    with db.reading() as uow:
        chosen = User.id == user_id if user_id is not None else false()
        users = [Choice(value=str(uid), label=f"{display_name(u, f, c)} ({role})") for uid, u, f, c, role in uow.execute(
            select(User.id, User.username, User.full_name, User.credentials, User.role)
            .where(or_(User.role != "patient", chosen)).order_by(User.username))]
        sites = [Choice(value=str(sid), label=name) for sid, name in uow.execute(select(Site.id, Site.name).order_by(Site.id))]
    actions = sorted(set(ACTION_WORDS) | {f"session.event.{k}" for k in EVENT_WORDS}, key=action_words)
    return {"users": users, "sites": sites, "actions": [Choice(value=a, label=action_words(a)) for a in actions]}


def find_patients(db: Database, actor: Actor, *, q: str | None = None, patient_id: int | None = None,
                  limit: int = SEARCH_LIMIT) -> tuple[list[PatientChoice], bool]:
    """The patient filter's picker (issue 17): the patients the search ``q`` finds (at most ``limit``, and
    whether more match) or the chosen ``patient_id``. A search shows names and birth dates: it is audited."""
    require_role(actor, "admin")
    searching = patient_id is None and bool(q and q.strip())
    with unit_of_work(db) if searching else db.reading() as uow:
        found, more = pick_patients(uow, actor, q=q, patient_id=patient_id, limit=limit)
        if searching:
            audit(uow, actor, "patient.search", "patient", None, {"q": q.strip()[:100], "ids": [p.id for p in found],
                                                                  "for": "audit"})
    return found, more


def day_bounds(since: date | None, until: date | None, tz: Any) -> tuple[datetime | None, datetime | None]:
    """Clinic-local days → [start of ``since``, end of ``until``) in UTC."""
    from datetime import time, timedelta

    start = datetime.combine(since, time(0), tzinfo=tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz) if until else None
    return start, end
