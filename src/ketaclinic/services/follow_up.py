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
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.follow_up import (
    DEFAULT_RISK_POLICY,
    BoosterPolicy,
    PlannedCourse,
    booster_advice,
    risk_checks_due,
)
from ketaclinic.clinical.protocols import UnknownProtocolError, get_protocol
from ketaclinic.clock import utcnow
from ketaclinic.evidence.sources import CLINIC_POLICY
from ketaclinic.records.db import Database
from ketaclinic.records.follow_up import FollowUpSummary, RiskCheck
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
# The dashboards' follow-up lists look at the patients seen in the last 180 days or booked (clinic policy: longer
# than any booster interval in the protocol library), a page of at most 200 of them, the most recently seen first
# (issue 17: a screen's worth, not the whole clinic; every chart still shows its own follow-up in full)
IN_TREATMENT_DAYS = 180
MAX_PATIENTS = 200
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
    _days: list[Any] | None = None

    def diary_days(self) -> list[Any]:
        """The diary, one value per day (:func:`ketaclinic.services.diary.effective_days`), worked out once."""
        if self._days is None:
            self._days = effective_days(self.facts.diary)
        return self._days


def _load(uow: Session, patient_ids: list[int], today: date) -> dict[int, _Records]:
    since = datetime.combine(today - timedelta(days=URINARY_LOOKBACK_DAYS), datetime.min.time(), UTC)
    facts = load_patient_facts(uow, patient_ids, urinary_since=since)  # urinary symptoms: the look-back only
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
    days = [d for d in records.diary_days() if d.day <= today]
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


def _checklist_days(records: _Records, fact: str, values: tuple[str, ...]) -> list[date]:
    days = []
    for row in records.session_rows:
        checklist = row.checklist or {}
        if (checklist.get("facts") or {}).get(fact) in values and checklist.get("checked_at"):
            days.append(datetime.fromisoformat(checklist["checked_at"]).date())
    return days


def review_on(records: _Records, today: date, clinic_policy: BoosterPolicy) -> date:
    """The first day after ``today`` on which :func:`_follow_up`'s panels (what
    :func:`ketaclinic.services.follow_up_summaries.panel_of` keeps) may differ with no new record: the days on
    which something the rules compare with "today" crosses it. Every use of ``today`` in :func:`_booster`,
    :func:`_checks`, :func:`_next_course`, :func:`_urinary_reported`, :func:`_last_done` and the core's
    ``booster_advice`` / ``risk_checks_due`` has its day here; tests/services/test_follow_up_review_on.py checks,
    on random records, that the answer holds on every day before the one returned.

    - anything recorded for a later day (a discharge, a diary day, a check, a checklist) counts from that day;
    - a diary day leaves the booster window ``window_days`` after it; the earliest booster day;
    - the next booked session's day passing (the next course changes);
    - an interval check (misuse, cognition) falls due on its day and is overdue the day after;
    - a urinary symptom report leaves the look-back ``URINARY_LOOKBACK_DAYS`` + 1 days after it."""
    facts = records.facts
    days: set[date] = set(facts.discharged_days)
    diary_days = [d.day for d in records.diary_days()]
    days.update(diary_days)
    policy = clinic_policy
    current = _current_plan(records)
    interval = ((current.series_rule or {}).get("booster") or {}).get("min_interval_days") if current else None
    days.update(d + timedelta(days=policy.window_days) for d in diary_days)
    sessions = [d for d in facts.discharged_days if d <= today]
    if sessions:
        days.add(sessions[-1] + timedelta(days=int(interval or policy.min_interval_days)))
    upcoming = [v for v in records.session_rows if v.state in UPCOMING and v.scheduled_at.date() >= today]
    if upcoming:
        days.add(upcoming[0].scheduled_at.date() + timedelta(days=1))
    days.update(c.done_on for c in records.checks)
    days.update(_checklist_days(records, "liver_tests", ("normal", "abnormal")))
    for code, every in (("misuse_check", DEFAULT_RISK_POLICY.misuse_interval_days),
                        ("cognition_check", DEFAULT_RISK_POLICY.cognition_interval_days)):
        last = _last_done(records, code, today)
        if last is not None:
            days.update((last + timedelta(days=every), last + timedelta(days=every + 1)))
    reported_on_checklists = _checklist_days(records, "urinary_symptoms", ("present",))
    days.update(reported_on_checklists)  # (the diary's reports are diary days, above)
    reports = [e.recorded_at.date() for e in facts.diary if any((e.urinary_symptoms or {}).values())]
    days.update(r + timedelta(days=URINARY_LOOKBACK_DAYS + 1) for r in reports + reported_on_checklists)
    later = [d for d in days if d > today]
    return min(later) if later else date.max


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
        records = _load(uow, [patient.id], today)[patient.id]
        result = _follow_up(records, today, current_booster_policy(uow))
        audit(uow, actor, "follow_up.read", "patient", patient.id)
        return result


def follow_up_in(uow: Session, patient_id: int, today: date) -> PatientFollowUp:
    """What :func:`patient_follow_up` answers, inside the caller's transaction, with no role check or audit
    entry of its own: for a document that has already checked the reader's right to this chart (with
    ``load_patient``) and audits itself (the patient's summary, which a patient may read)."""
    records = _load(uow, [patient_id], today)[patient_id]
    return _follow_up(records, today, current_booster_policy(uow))


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
    """For the dashboards and the follow-up list: the boosters due and overdue risk checks of the patients in
    treatment at the actor's sites (a signed plan, seen in the last :data:`IN_TREATMENT_DAYS` days or booked),
    the most recently seen first, ``limit`` patients a page (``cursor``: the next page; ``more``: there is one).

    Read from the per-patient summaries (:mod:`ketaclinic.services.follow_up_summaries`) by index, whatever the
    size of the clinic (issue 17): the rows that need action, and the stale ones, recomputed here with the
    chart's rules (so what the page shows is never older than today) and, for today, stored."""
    from ketaclinic.services import follow_up_summaries as summaries

    require_role(actor, *ROLES)
    real_today = utcnow().date()
    today = today or real_today
    limit = max(1, min(limit, MAX_PATIENTS))
    after = _decode_position(cursor)
    since = datetime.combine(today - timedelta(days=IN_TREATMENT_DAYS), datetime.min.time(), UTC)
    table = FollowUpSummary.__table__
    with unit_of_work(db) as uow:
        rows, more = summaries.page(uow, lambda q: in_sites(q, actor, table.c.site_id), today=today, since=since,
                                    limit=limit, after=after)
        fresh = {r["patient_id"]: r for r in summaries.compute(uow, [r.patient_id for r in rows if r.is_stale], today)}
        if fresh and today == real_today:
            summaries.store(uow, list(fresh.values()), {r.patient_id: r.version for r in rows if r.is_stale})
        shown = [fresh.get(r.patient_id, r._asdict()) for r in rows]
        shown = [r for r in shown if r["needs_action"] and r["in_treatment"]]
        ids = [r["patient_id"] for r in shown]
        names = dict(uow.execute(select(Patient.id, Patient.given_name + " " + Patient.family_name)
                                     .where(Patient.id.in_(ids))).all()) if ids else {}
        boosters: list[dict[str, Any]] = []
        overdue: list[dict[str, Any]] = []
        for row in shown:
            pid = row["patient_id"]
            if row["booster_due"]:
                boosters.append({"patient_id": pid, "name": names.get(pid), "what": row["booster_message"],
                                 "source": CLINIC_POLICY})
            for check in row["overdue"]:
                overdue.append({"patient_id": pid, "name": names.get(pid), **check,
                                "due_on": date.fromisoformat(check["due_on"]) if check["due_on"] else None})
        next_cursor = _encode_position((rows[-1].last_seen_at, rows[-1].patient_id)) if more and rows else None
        audit(uow, actor, "follow_up.list", "patient", None, {"boosters": len(boosters), "overdue": len(overdue),
                                                               "patients": len(shown), "recomputed": len(fresh)})
        return {"boosters_due": boosters, "overdue_risk_checks": overdue, "more": next_cursor is not None,
                "next_cursor": next_cursor, "patients": len(shown)}
