"""What a document is built from: plain, frozen copies of the records, loaded by
:mod:`ketaclinic.services.documents` (which owns the transaction, the reader's right, the audit entry
and the clock) and handed to the pure builders of this package.

Times are stored as the records hold them (UTC); each builder shows them in the clinic's zone
(:attr:`Issue.tz`). People are named already (``names``: user id → the name
:func:`ketaclinic.services.staff.staff_names` gives), so a builder never looks anything up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from ketaclinic.clinical.outcomes import DurabilityRecord
from ketaclinic.clinical.record import EventRow

#: User id → the name a document prints (``None`` and unknown ids read "—").
Names = Mapping[int | None, str]


@dataclass(frozen=True)
class Issue:
    """Who asked for the document, when, and for which clinic (the frame every page carries)."""

    clinic_name: str  # the clinic settings' name
    now: datetime  # when the document was asked for (UTC)
    tz: tzinfo  # the clinic's zone: a printed record reads in local time
    generated_by: str  # the reader's username, or "ketaclinic" for a system job
    demo: bool  # the synthetic demo clinic: every page says so


@dataclass(frozen=True)
class PatientIdentity:
    """How a document identifies the patient (and addresses the referrer)."""

    id: int
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    referring_physician: str | None = None
    referring_physician_contact: str | None = None


@dataclass(frozen=True)
class PlanOverrideLine:
    """A soft limit the physician overrode when signing the plan."""

    code: str
    message: str
    reason: str
    by: str  # who approved it


@dataclass(frozen=True)
class PlanSnapshot:
    """A signed plan as the documents state it."""

    id: int
    protocol_id: str
    pump_program: Mapping[str, Any] | None
    weight_kg: float | None
    concentration_mg_per_ml: float | None
    series_rule: Mapping[str, Any] | None
    signed_by: str  # the signer's name ("—" when unknown)
    signed_at: datetime | None
    overrides: tuple[PlanOverrideLine, ...] = ()


@dataclass(frozen=True)
class EvaluationSnapshot:
    """An evaluation and its stored screening (the result the physician signed, never a re-run)."""

    id: int
    status: str
    created_at: datetime | None
    signed_at: datetime | None
    signed_by: str | None  # the signer's name (None when nobody is named)
    drafted_by: str  # who created it
    rule_version: str | None
    amends_id: int | None
    replaced_by: int | None  # a signed evaluation that amends this one
    screening_input: Mapping[str, Any] = field(default_factory=dict)
    screening_result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionSnapshot:
    """One monitored session as stored (its program is the snapshot taken at the start)."""

    id: int
    plan_id: int
    state: str
    scheduled_at: datetime | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    discharged_at: datetime | None = None
    weight_kg: float | None = None
    pump_program: Mapping[str, Any] | None = None
    checklist: Mapping[str, Any] | None = None
    discharge: Mapping[str, Any] | None = None
    created_by: int | None = None
    protocol_id: str | None = None  # the plan's protocol (the patient summary says how the medicine was given)


@dataclass(frozen=True)
class DiaryDay:
    """The diary entry that counts for one day (an amended entry replaced by its correction)."""

    day: date
    recorded_at: datetime
    pain_nrs: float
    mood: float | None = None
    sleep: float | None = None
    function: float | None = None
    opioid_doses: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class CourseFacts:
    """The patient's course and its follow-up as the outcomes service measures them."""

    baseline_nrs: float
    course_end: date
    followup_nrs: float | None
    followup_days: int
    durability: DurabilityRecord | None = None


@dataclass(frozen=True)
class CheckDue:
    """A long-term risk check (liver tests, misuse, cognition, urinary symptoms)."""

    code: str
    name: str
    due: bool
    due_on: date | None
    overdue: bool
    message: str
    source: str


@dataclass(frozen=True)
class FollowUpFacts:
    """The booster advice and the risk checks (the follow-up service's answer for one patient)."""

    booster_due: bool
    booster_message: str | None
    earliest_booster_day: date | None
    checks: tuple[CheckDue, ...] = ()


@dataclass(frozen=True)
class FollowUpWindow:
    """The outcomes service's follow-up rule: the days after a course and the diary days it needs."""

    days: int
    min_entries: int


# --- one snapshot per document ---------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationLetterSnapshot:
    issue: Issue
    patient: PatientIdentity
    evaluation: EvaluationSnapshot
    plan: PlanSnapshot | None  # the signed plan made from this evaluation (None while unsigned)
    first_session: datetime | None  # the first session booked under that plan from now on


@dataclass(frozen=True)
class CourseLetterSnapshot:
    issue: Issue
    patient: PatientIdentity
    sessions: tuple[SessionSnapshot, ...]  # the discharged sessions, in order (at least one)
    events: tuple[EventRow, ...]  # their events (``session_id`` set)
    names: Names
    plan: PlanSnapshot  # the plan of the last session
    course: CourseFacts | str  # or why there is no course to judge
    diary: tuple[DiaryDay, ...]  # in day order
    follow_up: FollowUpFacts
    window: FollowUpWindow
    questionnaires: tuple[Any, ...] = ()  # reports.questionnaires.PromLine per instrument (issue 15)


@dataclass(frozen=True)
class SessionRecordSnapshot:
    issue: Issue
    patient: PatientIdentity
    session: SessionSnapshot
    plan: PlanSnapshot
    events: tuple[EventRow, ...]  # in time order
    names: Names


@dataclass(frozen=True)
class PatientSummarySnapshot:
    issue: Issue
    patient: PatientIdentity
    screening_input: Mapping[str, Any] | None  # of the current signed evaluation (None: not assessed)
    sessions: tuple[SessionSnapshot, ...]  # every session, by booking time
    events: tuple[EventRow, ...]  # rate changes, side effects, vitals and amendments of the discharged sessions
    diary: tuple[DiaryDay, ...]  # in day order
    course: CourseFacts | str
    follow_up: FollowUpFacts
    follow_up_days: int
    questionnaires: tuple[Any, ...] = ()  # reports.questionnaires.PromLine per instrument (issue 15)


@dataclass(frozen=True)
class OutcomeReportSnapshot:
    issue: Issue
    start: date
    end: date
    cohort: Mapping[str, Any]  # :func:`ketaclinic.services.outcomes.cohort_outcomes` for the range
    sessions_started: int
    events: tuple[EventRow, ...]  # side effects, vitals, alerts and amendments of those sessions
    proms: Mapping[str, Any] | None = None  # services/questionnaire_outcomes.report_outcomes (issue 15)
