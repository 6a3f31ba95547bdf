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
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clinical.follow_up import DEFAULT_BOOSTER_POLICY
from ketaclinic.clinical.follow_up import DiaryEntry as CoreDiaryEntry
from ketaclinic.clinical.outcomes import (
    AdverseEventSummary,
    DurabilityRecord,
    GroupSummary,
    adverse_event_summary,
    classify_response,
    comparators_for,
    durability_record,
    kaplan_meier_grouped,
)
from ketaclinic.clinical.record import EventRow
from ketaclinic.records.course_summaries import CourseSummary
from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.diary import effective_days
from ketaclinic.services.errors import Forbidden, ValidationFailed
from ketaclinic.services.patient_facts import PatientFacts, load_patient_facts
from ketaclinic.services.patients import load_patient
from ketaclinic.services.sites import may_see_site, site_bound

COHORT_ROLES = ("physician", "nurse")
NO_SIGNED_EVALUATION = "no signed evaluation"
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


def course_end_and_booster(days: list[date]) -> tuple[date, date | None]:
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
        return NO_SIGNED_EVALUATION
    pain = (evaluation.screening_input or {}).get("pain") or {}
    baseline = pain.get("nrs_now")
    if not baseline:
        return "no baseline pain (the evaluation has no NRS)"
    sessions = facts.discharged_days
    if not sessions:
        return "no completed session"
    end, booster = course_end_and_booster(sessions)
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
def _km_of(groups: tuple[tuple[float, bool, int], ...]) -> dict[str, Any]:
    """Kaplan-Meier of these ``(days, relief lost, patients)`` groups. A pure function of a small tuple, so
    the same cohort is not refitted on every page view (lifelines' fit is most of the page's time); a
    worker keeps only this cache, which any other worker can rebuild (design.md 7)."""
    return kaplan_meier_grouped(list(groups)).as_dict()


def _km(groups: Counter[tuple[float, bool]]) -> dict[str, Any] | None:
    return copy.deepcopy(_km_of(tuple((d, lost, n) for (d, lost), n in sorted(groups.items()) if n))) \
        if sum(groups.values()) else None


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


def site_scope(actor: Actor, site_id: int | None = None) -> tuple[int, ...] | None:
    """The sites a cohort covers: one of the actor's (``site_id``), else all of theirs; None: every site
    (the system actor). Another site is refused (403 ``site_not_yours``)."""
    if site_id is not None:
        if not may_see_site(actor, site_id):
            raise Forbidden("you do not work at that site: choose one of your sites", code="site_not_yours",
                            field="site_id")
        return (site_id,)
    return tuple(actor.site_ids) if site_bound(actor) else None


@dataclass
class _Tally:
    """What the cohort page shows, counted: the same totals whether they come from the summaries (by
    the database) or from the records (patient by patient, :func:`cohort_from_records`)."""

    courses: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    # condition -> [assessable, responders_30, responders_50, two_point]
    groups: dict[str, list[int]] = field(default_factory=dict)
    km: dict[str, Counter[tuple[float, bool]]] = field(default_factory=dict)  # condition -> (days, lost) -> n

    def course(self, condition: str, assessable: int, r30: int, r50: int, two: int, n: int = 1) -> None:
        self.courses += n
        if assessable:
            g = self.groups.setdefault(condition, [0, 0, 0, 0])
            for i, value in enumerate((assessable, r30, r50, two)):
                g[i] += value

    def durability(self, condition: str, days: float, lost: bool, n: int = 1) -> None:
        self.km.setdefault(condition, Counter())[(float(days), bool(lost))] += n

    def add_row(self, row: dict[str, Any], condition: str | None, start: date | None, end: date | None,
                ranged: bool) -> None:
        """One patient's summary values (:func:`ketaclinic.services.course_summaries.summary_values`)."""
        if row["reason"] is not None:
            if ranged and not (row["course_end"] is not None and _in_range(row["course_end"], start, end)):
                return
            self.reasons[row["reason"]] += 1
            return
        if (condition is not None and row["condition"] != condition) or not _in_range(row["course_end"], start, end):
            return
        assessable = row["followup_nrs"] is not None
        self.course(row["condition"], int(assessable), int(bool(row["responder_30"])), int(bool(row["responder_50"])),
                    int(bool(row["two_point"])))
        if row["relief_days"] is not None:
            self.durability(row["condition"], row["relief_days"], row["relief_lost"])

    @property
    def assessable(self) -> int:
        return sum(g[0] for g in self.groups.values())


def _tally_summaries(uow: Session, sites: tuple[int, ...] | None, condition: str | None, today: date | None,
                     start: date | None, end: date | None) -> _Tally:
    """The cohort from the per-course summaries: a handful of grouped queries, whatever the clinic's size.
    A row whose diary goes past ``today`` (a report "as of" an earlier day) is recomputed from the records
    as of that day, so the answer is what the records said then."""
    from ketaclinic.services.course_summaries import compute

    cs = CourseSummary
    ranged = start is not None or end is not None
    scope = [] if sites is None else [cs.site_id.in_(sites)]
    stale: list[int] = []
    if today is not None:
        stale = list(uow.execute(select(cs.patient_id).where(*scope, cs.last_diary_day > today)).scalars())
    fresh = [*scope, cs.patient_id.not_in(stale)] if stale else scope
    tally = _Tally()
    period = [cs.course_end >= start] if start is not None else []
    period += [cs.course_end <= end] if end is not None else []
    reasons = select(cs.reason, func.count()).where(*fresh, cs.reason.is_not(None), *period).group_by(cs.reason)
    tally.reasons.update(dict(uow.execute(reasons).all()))
    if not ranged:  # a patient with nothing recorded has no row: no signed evaluation yet
        patients = select(func.count()).select_from(Patient)
        patients = patients.where(Patient.site_id.in_(sites)) if sites is not None else patients
        missing = uow.execute(patients).scalar_one() - uow.execute(select(func.count()).select_from(cs)
                                                                     .where(*scope)).scalar_one()
        if missing:
            tally.reasons[NO_SIGNED_EVALUATION] += missing
    courses = [*fresh, cs.reason.is_(None), *period] + ([cs.condition == condition] if condition is not None else [])
    one = sa.case((cs.followup_nrs.is_not(None), 1), else_=0)

    def true(column: Any) -> Any:
        return func.sum(sa.case((column.is_(True), 1), else_=0))

    for name, n, assessable, r30, r50, two in uow.execute(
            select(cs.condition, func.count(), func.sum(one), true(cs.responder_30), true(cs.responder_50),
                   true(cs.two_point)).where(*courses).group_by(cs.condition)):
        tally.course(name, int(assessable or 0), int(r30 or 0), int(r50 or 0), int(two or 0), n=int(n))
    for name, days, lost, n in uow.execute(
            select(cs.condition, cs.relief_days, cs.relief_lost, func.count())
            .where(*courses, cs.relief_days.is_not(None)).group_by(cs.condition, cs.relief_days, cs.relief_lost)):
        tally.durability(name, days, lost, int(n))
    if stale:
        for row in compute(uow, stale, today=today):
            tally.add_row(row, condition, start, end, ranged)
    return tally


def cohort_from_records(uow: Session, sites: tuple[int, ...] | None, *, condition: str | None = None,
                        today: date | None = None, start: date | None = None, end: date | None = None) -> _Tally:
    """The cohort computed patient by patient from the records (every evaluation, session and diary entry
    of the clinic): what the summaries must agree with (tests/services/test_course_summaries.py). Not for a
    request: it reads the whole clinic."""
    from ketaclinic.services.course_summaries import summary_values

    ranged = start is not None or end is not None
    query = select(Patient.id, Patient.site_id).order_by(Patient.id)
    if sites is not None:
        query = query.where(Patient.site_id.in_(sites))
    patients = dict(uow.execute(query).all())
    facts = load_patient_facts(uow, list(patients))  # three queries for the whole clinic, not three per patient
    tally = _Tally()
    for pid, site in patients.items():
        days = facts[pid].discharged_days
        row = summary_values(pid, site, course_of(facts[pid], today), days, None)
        tally.add_row(row, condition, start, end, ranged)
    return tally


def _present(tally: _Tally, ranged: bool, start: date | None, end: date | None) -> dict[str, Any]:
    overall = _group_summary([tally.groups[c] for c in tally.groups])
    by_condition: dict[str, Any] = {}
    for name in sorted(tally.groups):
        by_condition[name] = {
            **_group_summary([tally.groups[name]]).as_dict(),
            "durability": _km(tally.km.get(name, Counter())),
            "comparators": [_comparator(c) for c in comparators_for(name)],
        }
    everyone: Counter[tuple[float, bool]] = Counter()
    for groups in tally.km.values():
        everyone.update(groups)
    reasons_follow = tally.courses - tally.assessable
    return {
        "definitions": DEFINITIONS,
        "patients_with_a_course": tally.courses,
        "assessable": tally.assessable,
        "not_assessable": {**dict(tally.reasons), **({"follow-up diary too short": reasons_follow}
                                                     if reasons_follow else {})},
        "overall": overall.as_dict(),
        "by_condition": by_condition,
        "durability": _km(everyone),
        "caveats": CAVEATS,
        **({"range": {"start": start, "end": end}} if ranged else {}),
    }


def _group_summary(groups: list[list[int]]) -> GroupSummary:
    return GroupSummary(*(sum(g[i] for g in groups) for i in range(4)))


def cohort_outcomes(db: Database, actor: Actor, *, condition: str | None = None, today: date | None = None,
                    start: date | None = None, end: date | None = None, site_id: int | None = None) -> dict[str, Any]:
    """The clinic's cohort: responders at 30 %/50 %, durability (Kaplan-Meier), by condition, with comparators.

    Read from the per-course summaries of the actor's sites (``site_id``: one of them), never from the
    whole clinic's records (issue 17). With ``start``/``end`` only the courses that ended in that range
    (inclusive) count, and a patient without an assessable course is listed only when their sessions
    ended in it.
    """
    require_role(actor, *COHORT_ROLES)
    check_range(start, end)
    sites = site_scope(actor, site_id)
    ranged = start is not None or end is not None
    with unit_of_work(db) as uow:
        tally = _tally_summaries(uow, sites, condition, today, start, end)
        audit(uow, actor, "outcomes.read", "cohort", None,
              {"patients": tally.courses, "assessable": tally.assessable, "condition": condition,
               **({"site_id": site_id} if site_id is not None else {}),
               **({"start": start.isoformat() if start else None, "end": end.isoformat() if end else None}
                  if ranged else {})})
    return _present(tally, ranged, start, end)


def cohort_outcomes_from_records(uow: Session, sites: tuple[int, ...] | None, *, condition: str | None = None,
                                 today: date | None = None, start: date | None = None,
                                 end: date | None = None) -> dict[str, Any]:
    """:func:`cohort_outcomes`' answer computed from the records (the reference the summaries are checked
    against; no role check or audit: tests and operators only)."""
    ranged = start is not None or end is not None
    return _present(cohort_from_records(uow, sites, condition=condition, today=today, start=start, end=end),
                    ranged, start, end)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def session_events_in(uow: Session, start: date, end: date,
                      sites: tuple[int, ...] | None = None) -> tuple[int, list[EventRow]]:
    """The sessions started in [start, end] (UTC days, inclusive) at ``sites`` (None: every site) and all
    their events, in two queries (by the index on ``sessions.started_at``)."""
    since, until = _day_start(start), _day_start(end + timedelta(days=1))
    started = (select(InfusionSession.id).where(InfusionSession.started_at.is_not(None),
                                                InfusionSession.started_at >= since,
                                                InfusionSession.started_at < until))
    if sites is not None:
        started = started.where(InfusionSession.site_id.in_(sites))
    count = len(uow.execute(started).scalars().all())
    rows = uow.execute(select(SessionEvent.id, SessionEvent.session_id, SessionEvent.kind, SessionEvent.payload,
                                  SessionEvent.amends_event_id)
                           .where(SessionEvent.session_id.in_(started),
                                  SessionEvent.kind.in_(("side_effect", "vitals", "alert", "amendment")))
                           .order_by(SessionEvent.id)).all()
    return count, [EventRow(id=r.id, session_id=r.session_id, kind=r.kind, payload=r.payload or {},
                             amends_event_id=r.amends_event_id) for r in rows]


def adverse_events(db: Database, actor: Actor, *, start: date, end: date, site_id: int | None = None) -> dict[str, Any]:
    """Side effects (by code and worst severity per session) and alerts (by code) of the sessions in a range,
    at the actor's sites (``site_id``: one of them)."""
    require_role(actor, *COHORT_ROLES)
    check_range(start, end)
    sites = site_scope(actor, site_id)
    with unit_of_work(db) as uow:
        sessions, rows = session_events_in(uow, start, end, sites)
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
