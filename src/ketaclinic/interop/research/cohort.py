"""The plain input rows the service loads, and which of them an export may hold: the treated
patients of a cohort filter, and nothing after the data cut-off (the clinic's days)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from ketaclinic.clinical.record import EventRow
from ketaclinic.interop.research.rules import CUTOFF_DAYS, EXPORTED_SESSION_STATES


@dataclass(frozen=True)
class PatientRow:
    patient_id: int
    birth_date: date
    sex: str
    conditions: tuple[str, ...] = ()
    baseline_pain_nrs: float | None = None
    screening_decision: str | None = None


@dataclass(frozen=True)
class SessionRow:
    session_id: int
    patient_id: int
    scheduled_at: datetime
    state: str
    protocol_id: str | None = None
    weight_kg: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    discharged_at: datetime | None = None
    pump_program: dict[str, Any] | None = None


@dataclass(frozen=True)
class DiaryRow:
    entry_id: int
    patient_id: int
    recorded_at: datetime
    pain_nrs: int
    mood: int | None = None
    sleep: int | None = None
    function: int | None = None
    mme_per_day: float | None = None
    urinary_symptoms: dict[str, Any] = field(default_factory=dict)
    amends_id: int | None = None


@dataclass(frozen=True)
class PromRow:
    """A completed validated questionnaire (issue 15): the scored total, never the free text."""

    response_id: int
    patient_id: int
    instrument: str
    completed_at: datetime
    context: str
    total: int
    severity: str | None = None
    prorated: bool = False
    self_harm_item: bool = False


@dataclass(frozen=True)
class OutcomeRow:
    patient_id: int
    status: str
    baseline_nrs: float | None = None
    course_end: date | None = None
    followup_nrs: float | None = None
    followup_entries: int = 0
    reduction_pct: float | None = None
    reduction_points: float | None = None
    responder_30: bool | None = None
    responder_50: bool | None = None
    two_point: bool | None = None
    durability_days: float | None = None
    relief_lost: bool | None = None


@dataclass(frozen=True)
class Cohort:
    patients: tuple[PatientRow, ...] = ()
    sessions: tuple[SessionRow, ...] = ()
    events: tuple[EventRow, ...] = ()
    diary: tuple[DiaryRow, ...] = ()
    outcomes: tuple[OutcomeRow, ...] = ()
    questionnaires: tuple[PromRow, ...] = ()  # issue 15


def local_day(at: datetime, tz: tzinfo = UTC) -> date:
    """The clinic's day of an instant (a 17:30 session in Los Angeles is that day, not the next UTC one)."""
    return at.astimezone(tz).date()


def first_session_day(sessions: Iterable[SessionRow], tz: tzinfo = UTC) -> dict[int, date]:
    """Each patient's first started session (the day treatment began), real date, the clinic's day."""
    first: dict[int, date] = {}
    for s in sessions:
        if s.started_at is not None:
            day = local_day(s.started_at, tz)
            if s.patient_id not in first or day < first[s.patient_id]:
                first[s.patient_id] = day
    return first


def cutoff_day(as_of: datetime, tz: tzinfo = UTC) -> date:
    """The first day left out: rows on or after it are not exported (the last CUTOFF_DAYS days and today)."""
    return local_day(as_of, tz) - timedelta(days=CUTOFF_DAYS)


def cut_off(everyone: Cohort, *, as_of: datetime, tz: tzinfo = UTC) -> Cohort:
    """The rows an export may hold at ``as_of``: sessions discharged or cancelled before the cut-off
    day (with their events), diary entries before it. Outcomes are left to the caller, who computes
    them from what is kept (:func:`ketaclinic.services.research_export.outcomes_of`)."""
    cutoff = cutoff_day(as_of, tz)
    sessions = tuple(s for s in everyone.sessions if s.state in EXPORTED_SESSION_STATES
                     and local_day(s.started_at or s.scheduled_at, tz) < cutoff)
    kept = {s.session_id for s in sessions}
    return replace(everyone, sessions=sessions, events=tuple(e for e in everyone.events if e.session_id in kept),
                   diary=tuple(d for d in everyone.diary if diary_day(d) < cutoff))


def select_cohort(everyone: Cohort, *, condition: str | None = None, start: date | None = None,
                  end: date | None = None, tz: tzinfo = UTC) -> Cohort:
    """The treated patients (at least one session started) whose conditions include ``condition`` and
    whose first session falls between ``start`` and ``end`` (inclusive, the clinic's days), with their rows."""
    first = first_session_day(everyone.sessions, tz)
    keep = {p.patient_id for p in everyone.patients
            if p.patient_id in first
            and (condition is None or condition in p.conditions)
            and (start is None or first[p.patient_id] >= start)
            and (end is None or first[p.patient_id] <= end)}
    sessions = tuple(s for s in everyone.sessions if s.patient_id in keep)
    session_ids = {s.session_id for s in sessions}
    return Cohort(
        patients=tuple(p for p in everyone.patients if p.patient_id in keep),
        sessions=sessions,
        events=tuple(e for e in everyone.events if e.session_id in session_ids),
        diary=tuple(d for d in everyone.diary if d.patient_id in keep),
        outcomes=tuple(o for o in everyone.outcomes if o.patient_id in keep),
        questionnaires=tuple(q for q in everyone.questionnaires if q.patient_id in keep),
    )



def diary_day(entry: DiaryRow) -> date:
    """The day a diary entry is about: the diary stores it as midday UTC of that day
    (services.diary._day_start), so its UTC date is the day in every clinic zone."""
    return entry.recorded_at.astimezone(UTC).date()
