"""Between courses: which long-term risk checks are due for a patient, and who is due a booster.

The rules are the core's (:mod:`ketaclinic.clinical.follow_up`): liver tests before a repeat course
that is multi-day or starts less than 4 weeks after the last one ended (``noppers2011``); urinary
symptoms asked at every visit (``chan2022_uropathy``); a misuse check (``asra2018``) and a brief
cognitive screen (clinic policy) every 3 months. The booster suggestion is the diary's
(:func:`ketaclinic.clinical.follow_up.booster_advice`) with the patient's current plan's minimum
interval (else the clinic's).

What the rules are given comes from the patient's records: risk checks done
(:class:`~ketaclinic.records.follow_up.RiskCheck`, recorded here), liver tests noted on a session
checklist (``normal`` or ``abnormal`` on the day of the checklist), the next scheduled session and the
end of the previous course (sessions under another plan), the diary (urinary symptoms reported),
and discharged sessions. For the dashboards everything is read for all patients in treatment (a
signed plan) in a handful of queries.

A check is **overdue** when it is due and either was never recorded or fell due before today;
liver tests due before a scheduled course are listed with their date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ketaclinic.clinical.follow_up import (
    BoosterPolicy,
    PlannedCourse,
    booster_advice,
    risk_checks_due,
)
from ketaclinic.clinical.protocols import UnknownProtocolError, get_protocol
from ketaclinic.clock import utcnow
from ketaclinic.evidence.sources import CLINIC_POLICY
from ketaclinic.records.db import Database
from ketaclinic.records.follow_up import RiskCheck
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.services.clinic_settings import current_booster_policy
from ketaclinic.services.common import audit, decode_cursor, encode_cursor, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.diary import effective_days
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.evaluations import RecordId
from ketaclinic.services.patient_facts import PatientFacts, load_patient_facts
from ketaclinic.services.patients import load_patient
from ketaclinic.services.sites import in_sites
from ketaclinic.services.types import Text

ROLES = ("physician", "nurse")
# The dashboards' follow-up lists look at the patients seen in the last 180 days (clinic policy: longer than any
# booster interval in the protocol library), at most 200 of them, the most recently seen first (issue 17: a
# screen's worth, not the whole clinic; every chart still shows its own follow-up in full)
IN_TREATMENT_DAYS = 180
MAX_PATIENTS = 200
SCAN_SESSIONS = 8 * MAX_PATIENTS  # the bookings read to find them (a course is a handful of sessions)
UPCOMING = ("scheduled", "checked_in")
URINARY_LOOKBACK_DAYS = 30
CHECK_NAMES = {"liver_tests": "Liver tests", "cognition_check": "Brief cognitive screen",
               "misuse_check": "Misuse check", "urinary_symptoms": "Urinary symptoms"}


class RiskCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: RecordId
    code: Literal["liver_tests", "cognition_check", "misuse_check", "urinary_symptoms"]
    done_on: date | None = Field(default=None, description="The day it was done (default: today)")
    result: Literal["normal", "abnormal"] = "normal"
    note: Text | None = Field(default=None, max_length=2000)


class RiskCheckView(BaseModel):
    id: int
    patient_id: int
    code: str
    done_on: date
    result: str
    note: str | None
    created_at: datetime
    created_by: int | None


class DueCheck(BaseModel):
    code: str
    name: str
    due: bool
    due_on: date | None
    overdue: bool
    message: str
    source: str


class PatientFollowUp(BaseModel):
    patient_id: int
    today: date
    in_treatment: bool
    checks: list[DueCheck]
    booster_due: bool
    booster_message: str | None
    earliest_booster_day: date | None
    done: list[RiskCheckView] = []


@dataclass
class _SessionRow:
    plan_id: int
    state: str
    scheduled_at: datetime
    discharged_at: datetime | None
    checklist: dict[str, Any] | None


@dataclass
class _Records:
    """Everything the rules need about one patient, loaded in bulk."""

    facts: PatientFacts
    plans: list[Any] = field(default_factory=list)  # signed plans (id, protocol_id, series_rule, signed_at, supersedes_id)
    session_rows: list[_SessionRow] = field(default_factory=list)
    checks: list[RiskCheck] = field(default_factory=list)


def _load(uow: Session, patient_ids: list[int]) -> dict[int, _Records]:
    facts = load_patient_facts(uow, patient_ids)
    records = {pid: _Records(facts[pid]) for pid in patient_ids}
    for row in uow.execute(select(Plan.id, Plan.patient_id, Plan.protocol_id, Plan.series_rule, Plan.signed_at,
                                      Plan.supersedes_id).where(Plan.status == "signed", Plan.patient_id.in_(patient_ids))
                               .order_by(Plan.signed_at, Plan.id)):
        records[row.patient_id].plans.append(row)
    for row in uow.execute(select(InfusionSession.patient_id, InfusionSession.plan_id, InfusionSession.state,
                                      InfusionSession.scheduled_at, InfusionSession.discharged_at, InfusionSession.checklist)
                               .where(InfusionSession.patient_id.in_(patient_ids)).order_by(InfusionSession.scheduled_at)):
        records[row.patient_id].session_rows.append(_SessionRow(row.plan_id, row.state, row.scheduled_at, row.discharged_at,
                                                     row.checklist))
    for check in uow.execute(select(RiskCheck).where(RiskCheck.patient_id.in_(patient_ids))
                                 .order_by(RiskCheck.done_on, RiskCheck.id)).scalars():
        records[check.patient_id].checks.append(check)
    return records


def _last_done(records: _Records, code: str, today: date) -> date | None:
    days = [c.done_on for c in records.checks if c.code == code and c.done_on <= today]
    if code == "liver_tests":  # liver tests noted on a session checklist count on the checklist's day
        for row in records.session_rows:
            checklist = row.checklist or {}
            if (checklist.get("facts") or {}).get("liver_tests") in ("normal", "abnormal") and checklist.get("checked_at"):
                day = datetime.fromisoformat(checklist["checked_at"]).date()
                if day <= today:
                    days.append(day)
    return max(days) if days else None


def _next_course(records: _Records, today: date) -> tuple[PlannedCourse | None, date | None]:
    """The next scheduled session as a course, and the end of the previous course (under another plan)."""
    upcoming = [v for v in records.session_rows if v.state in UPCOMING and v.scheduled_at.date() >= today]
    if not upcoming:
        return None, None
    upcoming_session = upcoming[0]
    ends = [v.discharged_at.date() for v in records.session_rows
            if v.state == "discharged" and v.plan_id != upcoming_session.plan_id and v.discharged_at is not None]
    previous_end = max(ends) if ends else None
    if previous_end is not None and previous_end > upcoming_session.scheduled_at.date():
        return None, None
    protocol_id = next((p.protocol_id for p in records.plans if p.id == upcoming_session.plan_id), None)
    try:
        multi_day = protocol_id is not None and get_protocol(protocol_id).setting == "inpatient"
    except UnknownProtocolError:
        multi_day = False
    return PlannedCourse(upcoming_session.scheduled_at.date(), multi_day), previous_end


def _urinary_reported(records: _Records, today: date) -> date | None:
    since = today - timedelta(days=URINARY_LOOKBACK_DAYS)
    days = [e.recorded_at.date() for e in records.facts.diary
            if any((e.urinary_symptoms or {}).values()) and since <= e.recorded_at.date() <= today]
    for row in records.session_rows:
        checklist = row.checklist or {}
        if (checklist.get("facts") or {}).get("urinary_symptoms") == "present" and checklist.get("checked_at"):
            day = datetime.fromisoformat(checklist["checked_at"]).date()
            if since <= day <= today:
                days.append(day)
    cleared = [c.done_on for c in records.checks if c.code == "urinary_symptoms" and c.done_on <= today]
    latest = max(days) if days else None
    if latest is not None and cleared and max(cleared) >= latest:
        return None  # reviewed since it was reported
    return latest


def _checks(records: _Records, today: date) -> list[DueCheck]:
    course, previous_end = _next_course(records, today)
    found = risk_checks_due(today, next_course=course, previous_course_end=previous_end,
                            last_liver_tests_on=_last_done(records, "liver_tests", today),
                            last_cognition_check_on=_last_done(records, "cognition_check", today),
                            last_misuse_check_on=_last_done(records, "misuse_check", today))
    out: list[DueCheck] = []
    for check in found:
        message, overdue = check.message, check.due and (check.due_on is None or check.due_on < today
                                                          or "never recorded" in check.message)
        if check.code == "urinary_symptoms":
            reported = _urinary_reported(records, today)
            overdue = reported is not None
            if reported is not None:
                message = (f"Urinary symptoms reported on {reported.isoformat()}: review before the next infusion "
                           "(hold ketamine, urinalysis). " + message)
        if check.code == "liver_tests" and check.due:
            overdue = True  # due before a scheduled course: act now
        out.append(DueCheck(code=check.code, name=CHECK_NAMES[check.code], due=check.due, due_on=check.due_on,
                            overdue=overdue, message=message, source=check.source))
    return out


def _booster(records: _Records, today: date, clinic_policy: BoosterPolicy) -> tuple[bool, str | None, date | None]:
    facts = records.facts
    sessions = [d for d in facts.discharged_days if d <= today]
    if not sessions:
        return False, "No completed session yet: nothing to boost.", None
    if any(v.state in UPCOMING and v.scheduled_at.date() >= sessions[-1] for v in records.session_rows):
        return False, "A session is already scheduled.", None
    days = [d for d in effective_days(facts.diary) if d.day <= today]
    nrs = ((facts.evaluation.screening_input or {}).get("pain") or {}).get("nrs_now") if facts.evaluation else None
    baseline = float(nrs) if nrs else None
    if baseline is None:  # as services.diary.baseline_pain: the diary before the first session
        before = [d.pain_nrs for d in days if d.day < sessions[0]]
        baseline = round(sum(before) / len(before), 2) if before and sum(before) > 0 else None
    if baseline is None:
        return False, "No pre-course pain recorded: cannot judge relief.", None
    policy = clinic_policy
    current = _current_plan(records)
    interval = ((current.series_rule or {}).get("booster") or {}).get("min_interval_days") if current else None
    if interval:
        policy = BoosterPolicy(relief_threshold_pct=policy.relief_threshold_pct, window_days=policy.window_days,
                               min_entries_in_window=policy.min_entries_in_window, min_interval_days=int(interval))
    advice = booster_advice(baseline, days, sessions[-1], today, policy)
    return advice.suggest_booster, advice.message, advice.earliest_booster_day


def _current_plan(records: _Records) -> Any:
    superseded = {p.supersedes_id for p in records.plans if p.supersedes_id is not None}
    current = [p for p in records.plans if p.id not in superseded]
    return current[-1] if current else None


def _view(check: RiskCheck) -> RiskCheckView:
    return RiskCheckView(id=check.id, patient_id=check.patient_id, code=check.code, done_on=check.done_on,
                         result=check.result, note=check.note, created_at=check.created_at, created_by=check.created_by)


def _follow_up(records: _Records, today: date, policy: BoosterPolicy) -> PatientFollowUp:
    due, message, earliest = _booster(records, today, policy)
    return PatientFollowUp(patient_id=records.facts.patient_id, today=today, in_treatment=bool(records.plans),
                           checks=_checks(records, today), booster_due=due, booster_message=message,
                           earliest_booster_day=earliest, done=[_view(c) for c in records.checks][-10:])


# --- service calls -----------------------------------------------------------------------------


def record_risk_check(db: Database, actor: Actor, data: RiskCheckIn, *, now: datetime | None = None) -> RiskCheckView:
    """A risk check done (a fact; a correction is a new row)."""
    require_role(actor, *ROLES)
    now = now or utcnow()
    done_on = data.done_on or now.date()
    if done_on > now.date():
        raise ValidationFailed("a check is recorded on or after the day it was done", field="done_on")
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, data.patient_id)
        check = RiskCheck(patient_id=patient.id, code=data.code, done_on=done_on, result=data.result, note=data.note,
                          created_at=now, created_by=actor.user_id)
        uow.add(check)
        uow.flush()
        audit(uow, actor, "risk_check.create", "patient", patient.id,
              {"code": data.code, "done_on": done_on.isoformat(), "result": data.result})
        return _view(check)


def patient_follow_up(db: Database, actor: Actor, patient_id: int, *, today: date | None = None) -> PatientFollowUp:
    """The risk checks due for one patient (the chart) and whether a booster is due."""
    require_role(actor, *ROLES)
    today = today or utcnow().date()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        records = _load(uow, [patient.id])[patient.id]
        result = _follow_up(records, today, current_booster_policy(uow))
        audit(uow, actor, "follow_up.read", "patient", patient.id)
        return result


def follow_up_in(uow: Session, patient_id: int, today: date) -> PatientFollowUp:
    """What :func:`patient_follow_up` answers, inside the caller's transaction, with no role check or audit
    entry of its own: for a document that has already checked the reader's right to this chart (with
    ``load_patient``) and audits itself (the patient's summary, which a patient may read)."""
    records = _load(uow, [patient_id])[patient_id]
    return _follow_up(records, today, current_booster_policy(uow))


def _in_treatment(uow: Session, actor: Actor, today: date, *, limit: int = MAX_PATIENTS,
                  after: tuple[datetime, int] | None = None) -> tuple[list[int], str | None]:
    """The patients the dashboard looks at: at the actor's sites, with a signed plan and a session from
    :data:`IN_TREATMENT_DAYS` ago on, the most recently seen ``limit`` of them (after ``after``, the position
    of the previous page in the walk); and the cursor of the next page (None: none left).

    A bounded walk down the ``scheduled_at`` index from the latest booking (at most :data:`SCAN_SESSIONS`
    rows), never a GROUP BY over every session of the last six months (issue 17: that was 400 ms of the
    dashboard at 20,000 patients on SQLite, and grows with the clinic)."""
    since = datetime.combine(today - timedelta(days=IN_TREATMENT_DAYS), datetime.min.time(), UTC)
    # a session is only ever scheduled from a signed plan, so its patient has one (checked again after the load)
    query = in_sites(select(InfusionSession.patient_id, InfusionSession.scheduled_at, InfusionSession.id).where(
        InfusionSession.scheduled_at >= since, InfusionSession.state != "cancelled"), actor, InfusionSession.site_id)
    if after is not None:
        query = query.where(or_(InfusionSession.scheduled_at < after[0],
                                and_(InfusionSession.scheduled_at == after[0], InfusionSession.id < after[1])))
    rows = list(uow.execute(query.order_by(InfusionSession.scheduled_at.desc(), InfusionSession.id.desc())
                            .limit(SCAN_SESSIONS)).all())
    seen_before: set[int] = set()
    if after is not None and rows:  # patients seen later than ``after`` were on an earlier page
        seen_before = set(uow.execute(select(InfusionSession.patient_id).where(
            InfusionSession.patient_id.in_({r.patient_id for r in rows}), InfusionSession.state != "cancelled",
            or_(InfusionSession.scheduled_at > after[0],
                and_(InfusionSession.scheduled_at == after[0], InfusionSession.id >= after[1])))).scalars())
    ids: list[int] = []
    position: tuple[datetime, int] | None = None
    for row in rows:
        if row.patient_id not in seen_before and row.patient_id not in ids:
            if len(ids) == limit:
                return ids, _encode_position(position)
            ids.append(row.patient_id)
        position = (row.scheduled_at, row.id)
    return ids, _encode_position(position) if len(rows) == SCAN_SESSIONS else None


def _encode_position(position: tuple[datetime, int] | None) -> str | None:
    return encode_cursor({"at": position[0].isoformat(), "id": position[1]}) if position else None


def _decode_position(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = decode_cursor(cursor)
        at = datetime.fromisoformat(str(raw["at"]))
        return at, int(raw["id"])
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed("not a cursor of this list", field="cursor") from None


def follow_up_due(db: Database, actor: Actor, *, today: date | None = None, limit: int = MAX_PATIENTS,
                  cursor: str | None = None) -> dict[str, Any]:
    """For the dashboards and the follow-up list: boosters due and overdue risk checks of ``limit`` patients in
    treatment at the actor's sites (:func:`_in_treatment`, the most recently seen first; ``cursor``: the next
    ones), read in a fixed handful of queries whatever the size of the clinic (issue 17: it was 246 statements
    at 400 patients). ``next_cursor``: patients left for the next page (``more``: there are some)."""
    require_role(actor, *ROLES)
    today = today or utcnow().date()
    limit = max(1, min(limit, MAX_PATIENTS))
    after = _decode_position(cursor)
    with unit_of_work(db) as uow:
        ids, next_cursor = _in_treatment(uow, actor, today, limit=limit, after=after)
        ids.sort()
        names = dict(uow.execute(select(Patient.id, Patient.given_name + " " + Patient.family_name)
                                     .where(Patient.id.in_(ids))).all()) if ids else {}
        records = _load(uow, ids) if ids else {}
        ids = [pid for pid in ids if records[pid].plans]  # in treatment: a signed plan
        policy = current_booster_policy(uow)
        boosters: list[dict[str, Any]] = []
        overdue: list[dict[str, Any]] = []
        for pid in ids:
            result = _follow_up(records[pid], today, policy)
            if result.booster_due:
                boosters.append({"patient_id": pid, "name": names.get(pid), "what": result.booster_message,
                                 "source": CLINIC_POLICY})
            for check in result.checks:
                if check.overdue:
                    overdue.append({"patient_id": pid, "name": names.get(pid), "code": check.code, "what": check.message,
                                    "check": check.name, "due_on": check.due_on, "source": check.source})
        audit(uow, actor, "follow_up.list", "patient", None, {"boosters": len(boosters), "overdue": len(overdue),
                                                               "patients": len(ids)})
        return {"boosters_due": boosters, "overdue_risk_checks": overdue, "more": next_cursor is not None,
                "next_cursor": next_cursor, "patients": len(ids)}
