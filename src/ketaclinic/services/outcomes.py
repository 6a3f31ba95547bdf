"""Outcomes: who responded, how long relief lasted, by condition, beside published series.

Definitions (clinic policy on top of IMMPACT, :mod:`ketaclinic.clinical.outcomes`):

- **baseline**: the NRS of the patient's current signed evaluation (``pain.nrs_now``);
- **initial course**: the discharged sessions from the first one on, while consecutive sessions
  are at most the booster rule's minimum interval apart (14 days); a later session is a booster;
- **follow-up NRS**: the mean of the diary days in the 28 days after the course ended (at least
  3 days; otherwise the patient is counted as not yet assessable);
- **responder**: a reduction of 30 % / 50 % (and 2 points) from baseline (``immpact2008``);
- **durability**: time from the end of the course to loss of relief
  (:func:`~ketaclinic.clinical.outcomes.durability_record`, censored at a booster or the last
  diary day), summarised by Kaplan-Meier (lifelines).

Published comparators come with their caveats: the clinic's own cohort is uncontrolled and
self-reported, so the comparison is descriptive, never a claim of efficacy.

A date range (``start``/``end``, both inclusive) keeps the courses whose *end* falls in it (the
outcome report for a period); without one every course counts, as before. Adverse events of a
period are counted from the events of the sessions *started* in it
(:func:`~ketaclinic.clinical.outcomes.adverse_event_summary`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.follow_up import DEFAULT_BOOSTER_POLICY
from ketaclinic.clinical.follow_up import DiaryEntry as CoreDiaryEntry
from ketaclinic.clinical.outcomes import (
    AdverseEventSummary,
    DurabilityRecord,
    PatientOutcome,
    adverse_event_summary,
    classify_response,
    cohort_summary,
    comparators_for,
    durability_record,
    kaplan_meier,
)
from ketaclinic.clinical.record import EventRow
from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.diary import effective_days
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.patient_facts import PatientFacts, load_patient_facts
from ketaclinic.services.patients import load_patient

COHORT_ROLES = ("physician", "nurse")
REPORT_ROLES = ("physician", "nurse", "patient")
FOLLOW_UP_DAYS = 28
MIN_FOLLOW_UP_ENTRIES = 3
DEFINITIONS = {
    "baseline": "NRS of the current signed evaluation (pain.nrs_now)",
    "initial_course": f"discharged sessions at most {DEFAULT_BOOSTER_POLICY.min_interval_days} days apart, from the first",
    "follow_up": f"mean diary NRS over the {FOLLOW_UP_DAYS} days after the course (at least {MIN_FOLLOW_UP_ENTRIES} days)",
    "responder": "reduction >= 30 % (moderate) / >= 50 % (substantial) from baseline, IMMPACT (immpact2008)",
    "durability": "days from the end of the course to loss of relief (7 days all < 30 %), Kaplan-Meier; censored at a "
                  "booster or the last diary day",
}
CAVEATS = [
    "An uncontrolled, unblinded clinic cohort with self-reported diary pain: no placebo comparison, regression to the "
    "mean and missing diaries bias it towards benefit.",
    "Published series differ in drug (S- vs racemic ketamine), regimen, setting, co-medication and outcome timing; "
    "set side by side, they describe, they do not compare.",
    "Small groups give wide intervals: read the Kaplan-Meier band, not only the median.",
]


@dataclass(frozen=True)
class PatientCourse:
    patient_id: int
    condition: str
    baseline_nrs: float
    course_end: date
    followup_nrs: float | None
    followup_days: int
    durability: DurabilityRecord | None


class PatientReport(BaseModel):
    patient_id: int
    condition: str | None
    baseline_nrs: float | None
    course_end: date | None
    followup_nrs: float | None
    followup_days: int
    response: dict[str, Any] | None
    durability: dict[str, Any] | None
    message: str


def _course_end(days: list[date]) -> tuple[date, date | None]:
    """The last day of the initial course and the first booster day (None if no booster yet)."""
    gap = DEFAULT_BOOSTER_POLICY.min_interval_days
    end = days[0]
    for day in days[1:]:
        if (day - end).days > gap:
            return end, day
        end = day
    return end, None


def patient_course(uow: Session, patient_id: int, today: date | None = None) -> PatientCourse | str:
    """The patient's course and follow-up, or the reason there is none yet."""
    facts = load_patient_facts(uow, [patient_id])[patient_id]
    return course_of(facts, today)


def course_of(facts: PatientFacts, today: date | None = None) -> PatientCourse | str:
    """The course and follow-up from facts already loaded (the cohort loads every patient's at once)."""
    evaluation = facts.evaluation
    if evaluation is None:
        return "no signed evaluation"
    pain = (evaluation.screening_input or {}).get("pain") or {}
    baseline = pain.get("nrs_now")
    if not baseline:
        return "no baseline pain (the evaluation has no NRS)"
    sessions = facts.discharged_days
    if not sessions:
        return "no completed session"
    end, booster = _course_end(sessions)
    days: list[CoreDiaryEntry] = effective_days(facts.diary)
    if today is not None:
        days = [d for d in days if d.day <= today]
    window = [d.pain_nrs for d in days if end < d.day <= end + timedelta(days=FOLLOW_UP_DAYS)]
    followup = round(sum(window) / len(window), 2) if len(window) >= MIN_FOLLOW_UP_ENTRIES else None
    condition = (pain.get("conditions") or ["other_neuropathic"])[0]
    until = [d for d in days if booster is None or d.day < booster]
    record = durability_record(str(facts.patient_id), condition, end, float(baseline), until)
    return PatientCourse(facts.patient_id, condition, float(baseline), end, followup, len(window), record)


@lru_cache(maxsize=256)
def _km_of(records: tuple[DurabilityRecord, ...]) -> dict[str, Any]:
    """Kaplan-Meier of these records. A pure function of frozen records, so the same cohort is not
    refitted on every page view (lifelines' fit is most of the page's time); a worker keeps only
    this cache, which any other worker can rebuild (design.md 7)."""
    return kaplan_meier(list(records)).as_dict()


def _km(records: list[DurabilityRecord]) -> dict[str, Any] | None:
    return copy.deepcopy(_km_of(tuple(records))) if records else None


def _comparator(c: Any) -> dict[str, Any]:
    return {"source": c.source, "condition": c.condition, "design": c.design, "n": c.n, "regimen": c.regimen,
            "reported": c.reported, "caveats": c.caveats}


def check_range(start: date | None, end: date | None) -> None:
    """A range must run forwards; either end may be open."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed(f"the range starts ({start.isoformat()}) after it ends ({end.isoformat()}): "
                               "give a start on or before the end", field="start")


def _in_range(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def cohort_outcomes(db: Database, actor: Actor, *, condition: str | None = None, today: date | None = None,
                    start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """The clinic's cohort: responders at 30 %/50 %, durability (Kaplan-Meier), by condition, with comparators.

    With ``start``/``end`` only the courses that ended in that range (inclusive) count, and a patient
    without an assessable course is listed only when their sessions ended in it.
    """
    require_role(actor, *COHORT_ROLES)
    check_range(start, end)
    ranged = start is not None or end is not None
    with unit_of_work(db) as uow:
        ids = uow.execute(select(Patient.id).order_by(Patient.id)).scalars().all()
        facts = load_patient_facts(uow, ids)  # three queries for the whole clinic, not three per patient
        courses: list[PatientCourse] = []
        reasons: dict[str, int] = {}
        for pid in ids:
            course = course_of(facts[pid], today)
            if isinstance(course, str):
                days = facts[pid].discharged_days
                if ranged and not (days and _in_range(_course_end(days)[0], start, end)):
                    continue  # no course in the range: not part of this period's cohort
                reasons[course] = reasons.get(course, 0) + 1
            elif (condition is None or course.condition == condition) and _in_range(course.course_end, start, end):
                courses.append(course)
        assessable = [c for c in courses if c.followup_nrs is not None]
        reasons_follow = len(courses) - len(assessable)
        audit(uow, actor, "outcomes.read", "cohort", None,
              {"patients": len(courses), "assessable": len(assessable), "condition": condition,
               **({"start": start.isoformat() if start else None, "end": end.isoformat() if end else None}
                  if ranged else {})})
    summary = cohort_summary([PatientOutcome(str(c.patient_id), c.condition, c.baseline_nrs, c.followup_nrs)
                              for c in assessable if c.followup_nrs is not None])
    records = [c.durability for c in courses if c.durability is not None]
    by_condition: dict[str, Any] = {}
    for name, group in summary.by_condition.items():
        by_condition[name] = {
            **group.as_dict(),
            "durability": _km([r for r in records if r.condition == name]),
            "comparators": [_comparator(c) for c in comparators_for(name)],
        }
    return {
        "definitions": DEFINITIONS,
        "patients_with_a_course": len(courses),
        "assessable": len(assessable),
        "not_assessable": {**reasons, **({"follow-up diary too short": reasons_follow} if reasons_follow else {})},
        "overall": summary.overall.as_dict(),
        "by_condition": by_condition,
        "durability": _km(records),
        "caveats": CAVEATS,
        **({"range": {"start": start, "end": end}} if ranged else {}),
    }


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def session_events_in(uow: Session, start: date, end: date) -> tuple[int, list[EventRow]]:
    """The sessions started in [start, end] (UTC days, inclusive) and all their events, in two queries."""
    since, until = _day_start(start), _day_start(end + timedelta(days=1))
    started = (select(InfusionSession.id).where(InfusionSession.started_at.is_not(None),
                                                InfusionSession.started_at >= since,
                                                InfusionSession.started_at < until))
    count = len(uow.execute(started).scalars().all())
    rows = uow.execute(select(SessionEvent.id, SessionEvent.session_id, SessionEvent.kind, SessionEvent.payload,
                                  SessionEvent.amends_event_id)
                           .where(SessionEvent.session_id.in_(started),
                                  SessionEvent.kind.in_(("side_effect", "vitals", "alert", "amendment")))
                           .order_by(SessionEvent.id)).all()
    return count, [EventRow(id=r.id, session_id=r.session_id, kind=r.kind, payload=r.payload or {},
                             amends_event_id=r.amends_event_id) for r in rows]


def adverse_events(db: Database, actor: Actor, *, start: date, end: date) -> dict[str, Any]:
    """Side effects (by code and worst severity per session) and alerts (by code) of the sessions in a range."""
    require_role(actor, *COHORT_ROLES)
    check_range(start, end)
    with unit_of_work(db) as uow:
        sessions, rows = session_events_in(uow, start, end)
        summary: AdverseEventSummary = adverse_event_summary(rows)
        audit(uow, actor, "outcomes.adverse_events.read", "cohort", None,
              {"start": start.isoformat(), "end": end.isoformat(), "sessions": sessions})
    return {
        "start": start, "end": end, "sessions_started": sessions,
        "sessions_with_side_effects": summary.sessions_with_side_effects,
        "sessions_with_alerts": summary.sessions_with_alerts,
        "side_effects": [vars(c) for c in summary.side_effects],
        "alerts": [vars(a) for a in summary.alerts],
    }


def patient_report(db: Database, actor: Actor, patient_id: int, *, today: date | None = None) -> PatientReport:
    """One patient's own outcome: their response and how long relief lasted."""
    require_role(actor, *REPORT_ROLES)
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        course = patient_course(uow, patient.id, today)
        audit(uow, actor, "outcomes.patient.read", "patient", patient.id)
    if isinstance(course, str):
        return PatientReport(patient_id=patient_id, condition=None, baseline_nrs=None, course_end=None, followup_nrs=None,
                             followup_days=0, response=None, durability=None, message=f"Not yet: {course}.")
    response = None
    if course.followup_nrs is not None:
        r = classify_response(course.baseline_nrs, course.followup_nrs)
        response = {"reduction_pct": r.reduction_pct, "reduction_points": r.reduction_points,
                    "responder_30": r.responder_30, "responder_50": r.responder_50, "two_point": r.two_point}
    durability = None
    if course.durability is not None:
        durability = {"duration_days": course.durability.duration_days, "relief_lost": course.durability.event_observed}
    message = "Follow-up diary too short to judge yet." if response is None else \
        f"Pain {response['reduction_pct']:g} % below the pre-course level in the {FOLLOW_UP_DAYS} days after the course."
    return PatientReport(patient_id=patient_id, condition=course.condition, baseline_nrs=course.baseline_nrs,
                         course_end=course.course_end, followup_nrs=course.followup_nrs,
                         followup_days=course.followup_days, response=response, durability=durability, message=message)
