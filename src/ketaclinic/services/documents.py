"""Documents: the letters to the referring physician, the session record, the patient's summary and
the clinic's outcome report, as PDF.

This service owns everything about a document that is not drawing it: who may read it, the
transaction, the queries, the audit entry and the clock. Each function checks the reader's role,
loads a plain snapshot (:mod:`ketaclinic.reports.snapshots`: the patient's identity, the plan, the
events as :class:`~ketaclinic.clinical.record.EventRow`, staff names from
:func:`ketaclinic.services.staff.staff_names`, the clinic's name, the time zone, "now"), writes the
audit entry in the same transaction, and hands the snapshot to a pure builder in
:mod:`ketaclinic.reports`, which turns it into bytes.

Who reads what (design.md 5; docs/decisions.md "Letters to the referring physician"):

- **letters** (:func:`evaluation_letter`, :func:`course_letter`): physicians and nurses; a patient
  their own, and an evaluation letter only once the evaluation is signed (403
  ``letter_not_signed``); someone else's chart answers 404. A course letter needs at least one
  discharged session (409 ``no_course``). Audited as ``report.letter.evaluation`` /
  ``report.letter.course``.
- **session record** (:func:`session_record`): physicians and nurses; ``report.session_record``.
- **patient summary** (:func:`patient_summary`): physicians, nurses and the patient themselves;
  ``report.patient_summary``.
- **outcome report** (:func:`outcome_report`): the cohort's readers (physicians and nurses), for
  the courses that ended in a range of days (:func:`resolve_range`); ``report.outcomes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.record import EventRow
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.records.plans import Plan, PlanOverride
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.reports.letters import build_course_letter, build_evaluation_letter
from ketaclinic.reports.outcome_report import build_outcome_report
from ketaclinic.reports.patient_summary import build_patient_summary, summary_counts
from ketaclinic.reports.session_record import build_session_record, build_session_record_html
from ketaclinic.reports.snapshots import (
    CheckDue,
    CourseFacts,
    CourseLetterSnapshot,
    DiaryDay,
    EvaluationLetterSnapshot,
    EvaluationSnapshot,
    FollowUpFacts,
    FollowUpWindow,
    Issue,
    OutcomeReportSnapshot,
    PatientIdentity,
    PatientSummarySnapshot,
    PlanOverrideLine,
    PlanSnapshot,
    SessionRecordSnapshot,
    SessionSnapshot,
)
from ketaclinic.services import questionnaire_outcomes
from ketaclinic.services.clinic_settings import current
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.diary import current_by_day, patient_entries
from ketaclinic.services.errors import Conflict, Forbidden, ValidationFailed
from ketaclinic.services.evaluations import load_evaluation
from ketaclinic.services.follow_up import PatientFollowUp, follow_up_in
from ketaclinic.services.outcomes import (
    COHORT_ROLES,
    FOLLOW_UP_DAYS,
    MIN_FOLLOW_UP_ENTRIES,
    PatientCourse,
    check_range,
    cohort_outcomes,
    course_of,
    patient_course,
    session_events_in,
    site_scope,
)
from ketaclinic.services.patient_facts import load_patient_facts
from ketaclinic.services.patients import has_demo, load_patient
from ketaclinic.services.questionnaires import document_lines as questionnaire_lines
from ketaclinic.services.sessions import load_session
from ketaclinic.services.staff import NOBODY, staff_names

LETTER_ROLES = ("physician", "nurse", "patient")
RECORD_ROLES = ("physician", "nurse")
SUMMARY_ROLES = ("physician", "nurse", "patient")
OUTCOME_REPORT_ROLES = COHORT_ROLES
#: Plausibility bounds of a date typed into the outcome report's range: a typo, not a clinic's history.
EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)


# --- the outcome report's range ---------------------------------------------------------------------


def parse_day(value: str | date | None, name: str) -> date | None:
    """A date from a query parameter, a form field or an option: ``YYYY-MM-DD``, or a clear refusal naming the field."""
    if value is None:
        return None
    if isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            day = date.fromisoformat(text) if len(text) == 10 else _bad_day(name, text)
        except ValueError:
            day = _bad_day(name, text)
    if not EARLIEST <= day <= LATEST:
        raise ValidationFailed(f"{name} must be between {EARLIEST.isoformat()} and {LATEST.isoformat()} "
                               f"(got {day.isoformat()})", field=name)
    return day


def _bad_day(name: str, text: str) -> date:
    raise ValidationFailed(f"{name} must be a date written YYYY-MM-DD, e.g. 2026-01-31 (got {text[:40]!r})",
                           field=name)


def year_before(day: date) -> date:
    """The first day of the 12 months ending on ``day`` (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - 1) + timedelta(days=1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28) + timedelta(days=1)


def resolve_range(start: str | date | None, end: str | date | None, today: date) -> tuple[date, date]:
    """The report's range: given dates, else the 12 months ending today (or ending on ``end``)."""
    first, last = parse_day(start, "start"), parse_day(end, "end")
    last = last or today
    first = first or year_before(last)
    check_range(first, last)
    return first, last


# --- file names ------------------------------------------------------------------------------------


def evaluation_letter_filename(evaluation_id: int, now: datetime) -> str:
    return f"letter-evaluation-{evaluation_id}-{now:%Y%m%d}.pdf"


def course_letter_filename(patient_id: int, now: datetime) -> str:
    return f"letter-course-patient-{patient_id}-{now:%Y%m%d}.pdf"


def session_record_filename(session_id: int, now: datetime) -> str:
    return f"session-record-{session_id}-{now:%Y%m%d-%H%M}.pdf"


def patient_summary_filename(patient_id: int, now: datetime | None = None) -> str:
    return f"treatment-summary-patient-{patient_id}-{(now or utcnow()):%Y-%m-%d}.pdf"


def outcome_report_filename(start: str | date | None, end: str | date | None, today: date) -> str:
    first, last = resolve_range(start, end, today)
    return f"outcome-report-{first.isoformat()}-to-{last.isoformat()}.pdf"


# --- copying the records into a snapshot -----------------------------------------------------------


def _issue(uow: Session, actor: Actor, now: datetime, tz: tzinfo, *, demo: bool) -> Issue:
    return Issue(clinic_name=current(uow)[1].clinic_name, now=now, tz=tz,
                 generated_by=actor.username or "ketaclinic", demo=demo)


def _is_demo(patient: Patient) -> bool:
    """A demo patient's family name carries the demo mark (:mod:`ketaclinic.demo`)."""
    return str(patient.family_name).endswith(DEMO_MARK)


def _identity(patient: Patient) -> PatientIdentity:
    return PatientIdentity(id=patient.id, given_name=patient.given_name, family_name=patient.family_name,
                           birth_date=patient.birth_date, sex=patient.sex,
                           referring_physician=patient.referring_physician,
                           referring_physician_contact=patient.referring_physician_contact)


def _plan(uow: Session, plan: Plan) -> PlanSnapshot:
    overrides = uow.execute(select(PlanOverride).where(PlanOverride.plan_id == plan.id)
                                .order_by(PlanOverride.id)).scalars().all()
    names = staff_names(uow, [plan.signed_by, *(o.approved_by for o in overrides)])
    return PlanSnapshot(
        id=plan.id, protocol_id=plan.protocol_id, pump_program=plan.pump_program, weight_kg=plan.weight_kg,
        concentration_mg_per_ml=plan.concentration_mg_per_ml, series_rule=plan.series_rule,
        signed_by=names.get(plan.signed_by, NOBODY), signed_at=plan.signed_at,
        overrides=tuple(PlanOverrideLine(code=o.limit_code, message=(o.detail or {}).get("message", ""),
                                         reason=o.reason, by=names.get(o.approved_by, NOBODY)) for o in overrides))


def _session_snapshot(session: InfusionSession, protocol_id: str | None = None) -> SessionSnapshot:
    return SessionSnapshot(id=session.id, plan_id=session.plan_id, state=session.state, scheduled_at=session.scheduled_at,
                         started_at=session.started_at, ended_at=session.ended_at, discharged_at=session.discharged_at,
                         weight_kg=session.weight_kg, pump_program=session.pump_program, checklist=session.checklist,
                         discharge=session.discharge, created_by=session.created_by, protocol_id=protocol_id)


def _event(row: SessionEvent) -> EventRow:
    return EventRow(id=row.id, kind=row.kind, payload=row.payload or {}, session_id=row.session_id, minute=row.minute,
                    recorded_at=row.recorded_at, recorded_by=row.recorded_by, amends_event_id=row.amends_event_id)


def _diary(entries: Iterable[DiaryEntry]) -> tuple[DiaryDay, ...]:
    """The entry that counts for each day (:func:`ketaclinic.services.diary.current_by_day`), in day order."""
    return tuple(DiaryDay(day=day, recorded_at=e.recorded_at, pain_nrs=e.pain_nrs, mood=e.mood, sleep=e.sleep,
                          function=e.function, opioid_doses=tuple(e.opioid_doses or ()))
                 for day, e in current_by_day(entries).items())


def _course(course: PatientCourse | str) -> CourseFacts | str:
    if isinstance(course, str):
        return course
    return CourseFacts(baseline_nrs=course.baseline_nrs, course_end=course.course_end,
                       followup_nrs=course.followup_nrs, followup_days=course.followup_days,
                       durability=course.durability)


def _follow_up(follow_up: PatientFollowUp) -> FollowUpFacts:
    return FollowUpFacts(booster_due=follow_up.booster_due, booster_message=follow_up.booster_message,
                         earliest_booster_day=follow_up.earliest_booster_day,
                         checks=tuple(CheckDue(code=c.code, name=c.name, due=c.due, due_on=c.due_on, overdue=c.overdue,
                                               message=c.message, source=c.source) for c in follow_up.checks))


def _signed_plan_of(uow: Session, evaluation: Evaluation) -> Plan | None:
    """The signed plan made from this evaluation that no signed plan supersedes (else the latest signed)."""
    plans = uow.execute(select(Plan).where(Plan.evaluation_id == evaluation.id, Plan.status == "signed")
                            .order_by(Plan.signed_at.desc(), Plan.id.desc())).scalars().all()
    if not plans:
        return None
    superseded = set(uow.execute(select(Plan.supersedes_id).where(
        Plan.patient_id == evaluation.patient_id, Plan.status == "signed", Plan.supersedes_id.is_not(None))).scalars())
    return next((p for p in plans if p.id not in superseded), plans[0])


# --- the letters to the referring physician --------------------------------------------------------


def evaluation_letter(db: Database, actor: Actor, evaluation_id: int, now: datetime | None = None,
                      *, tz: tzinfo | None = None) -> bytes:
    """The letter to the referring physician after an evaluation, as PDF bytes (a draft is marked as one)."""
    require_role(actor, *LETTER_ROLES)
    now = now or utcnow()
    tz = tz or UTC
    with unit_of_work(db) as uow:
        evaluation = load_evaluation(uow, actor, evaluation_id)  # 404 for another patient's chart
        signed = evaluation.status == "signed"
        if actor.is_patient and not signed:
            raise Forbidden("this letter is still a draft: it is yours to read once a physician signs the evaluation",
                            code="letter_not_signed")
        patient = uow.get(Patient, evaluation.patient_id)
        assert patient is not None
        plan_row = _signed_plan_of(uow, evaluation) if signed else None
        replaced_by = uow.execute(select(Evaluation.id).where(
            Evaluation.amends_id == evaluation.id, Evaluation.status == "signed")).scalars().first()
        names = staff_names(uow, [evaluation.signed_by, evaluation.created_by])
        first_session = None
        if plan_row is not None:
            first_session = uow.execute(select(InfusionSession.scheduled_at).where(
                InfusionSession.plan_id == plan_row.id, InfusionSession.state == "scheduled",
                InfusionSession.scheduled_at >= now).order_by(InfusionSession.scheduled_at)).scalars().first()
        snapshot = EvaluationLetterSnapshot(
            issue=_issue(uow, actor, now, tz, demo=_is_demo(patient)),
            patient=_identity(patient),
            evaluation=EvaluationSnapshot(
                id=evaluation.id, status=evaluation.status, created_at=evaluation.created_at,
                signed_at=evaluation.signed_at, signed_by=names.get(evaluation.signed_by),
                drafted_by=names.get(evaluation.created_by, NOBODY), rule_version=evaluation.rule_version,
                amends_id=evaluation.amends_id, replaced_by=replaced_by,
                screening_input=evaluation.screening_input or {}, screening_result=evaluation.screening_result or {}),
            plan=_plan(uow, plan_row) if plan_row is not None else None,
            first_session=first_session)
        audit(uow, actor, "report.letter.evaluation", "evaluation", evaluation.id,
              {"patient_id": patient.id, "status": evaluation.status, "plan_id": plan_row.id if plan_row else None})
    return build_evaluation_letter(snapshot)


def course_letter(db: Database, actor: Actor, patient_id: int, now: datetime | None = None,
                  *, tz: tzinfo | None = None) -> bytes:
    """The letter to the referring physician after a course of sessions, as PDF bytes."""
    require_role(actor, *LETTER_ROLES)
    now = now or utcnow()
    tz = tz or UTC
    today = now.astimezone(tz).date()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        sessions = uow.execute(select(InfusionSession).where(
            InfusionSession.patient_id == patient.id, InfusionSession.state == "discharged")
            .order_by(InfusionSession.started_at, InfusionSession.id)).scalars().all()
        if not sessions:
            raise Conflict("no completed session yet: a course letter follows at least one discharged session",
                           code="no_course")
        events = uow.execute(select(SessionEvent).where(SessionEvent.session_id.in_([v.id for v in sessions]))
                                 .order_by(SessionEvent.id)).scalars().all()
        last_plan = uow.get(Plan, sessions[-1].plan_id)
        assert last_plan is not None
        course = patient_course(uow, patient.id, today)
        snapshot = CourseLetterSnapshot(
            issue=_issue(uow, actor, now, tz, demo=_is_demo(patient)),
            patient=_identity(patient),
            sessions=tuple(_session_snapshot(v) for v in sessions),
            events=tuple(_event(e) for e in events),
            names=staff_names(uow, [last_plan.signed_by, *(e.recorded_by for e in events)]),
            plan=_plan(uow, last_plan),
            course=_course(course),
            diary=_diary(patient_entries(uow, patient.id)),
            follow_up=_follow_up(follow_up_in(uow, patient.id, today)),
            window=FollowUpWindow(days=FOLLOW_UP_DAYS, min_entries=MIN_FOLLOW_UP_ENTRIES),
            questionnaires=questionnaire_lines(uow, patient.id, patient.site_id))
        audit(uow, actor, "report.letter.course", "patient", patient.id,
              {"sessions": [v.id for v in sessions], "responder_assessable": not isinstance(course, str)
               and course.followup_nrs is not None})
    return build_course_letter(snapshot)


# --- the session record ----------------------------------------------------------------------------


def _session_record_snapshot(db: Database, actor: Actor, session_id: int, now: datetime | None,
                             tz: tzinfo | None) -> SessionRecordSnapshot:
    """Check the reader's right, load the record and audit the print."""
    require_role(actor, *RECORD_ROLES)
    now = now or utcnow()
    tz = tz or UTC
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        patient = uow.get(Patient, session.patient_id)
        plan_row = uow.get(Plan, session.plan_id)
        assert patient is not None and plan_row is not None
        rows = uow.execute(select(SessionEvent).where(SessionEvent.session_id == session.id)
                               .order_by(SessionEvent.recorded_at, SessionEvent.id)).scalars().all()
        snapshot = SessionRecordSnapshot(
            issue=_issue(uow, actor, now, tz, demo=_is_demo(patient)),
            patient=_identity(patient),
            session=_session_snapshot(session),
            plan=_plan(uow, plan_row),
            events=tuple(_event(e) for e in rows),
            names=staff_names(uow, [session.created_by, *(e.recorded_by for e in rows)]))
        audit(uow, actor, "report.session_record", "session", session.id,
              {"patient_id": patient.id, "state": session.state, "events": len(rows)})
    return snapshot


def session_record(db: Database, actor: Actor, session_id: int, now: datetime | None = None,
                   *, tz: tzinfo | None = None) -> bytes:
    """The monitored-session record as PDF bytes ("as of" ``now``: a running session prints what has happened)."""
    return build_session_record(_session_record_snapshot(db, actor, session_id, now, tz))


def session_record_html(db: Database, actor: Actor, session_id: int, now: datetime | None = None,
                        *, tz: tzinfo | None = None) -> str:
    """The same record as HTML (what the PDF is drawn from: a preview), checked and audited like the PDF."""
    return build_session_record_html(_session_record_snapshot(db, actor, session_id, now, tz))


# --- the patient's summary -------------------------------------------------------------------------


def patient_summary(db: Database, actor: Actor, patient_id: int, *, now: datetime | None = None,
                    tz: tzinfo = UTC) -> bytes:
    """The patient's plain-language treatment summary as PDF bytes (physicians, nurses, the patient themselves)."""
    require_role(actor, *SUMMARY_ROLES)
    now = now or utcnow()
    today = now.astimezone(tz).date()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        facts = load_patient_facts(uow, [patient.id])[patient.id]
        rows = uow.execute(select(InfusionSession, Plan.protocol_id).join(Plan, Plan.id == InfusionSession.plan_id)
                               .where(InfusionSession.patient_id == patient.id)
                               .order_by(InfusionSession.scheduled_at, InfusionSession.id)).all()
        discharged = [session.id for session, _ in rows if session.state == "discharged"]
        events = uow.execute(select(SessionEvent).where(
            SessionEvent.session_id.in_(discharged),
            SessionEvent.kind.in_(("rate_change", "side_effect", "vitals", "amendment")))
            .order_by(SessionEvent.id)).scalars().all() if discharged else []
        evaluation = facts.evaluation
        snapshot = PatientSummarySnapshot(
            issue=_issue(uow, actor, now, tz, demo=_is_demo(patient)),
            patient=_identity(patient),
            screening_input=(evaluation.screening_input or {}) if evaluation is not None else None,
            sessions=tuple(_session_snapshot(session, protocol_id) for session, protocol_id in rows),
            events=tuple(_event(e) for e in events),
            diary=_diary(patient_entries(uow, patient.id)),
            course=_course(course_of(facts, today)),
            follow_up=_follow_up(follow_up_in(uow, patient.id, today)),
            follow_up_days=FOLLOW_UP_DAYS,
            questionnaires=questionnaire_lines(uow, patient.id, patient.site_id))
        sessions, diary_days = summary_counts(snapshot)
        audit(uow, actor, "report.patient_summary", "patient", patient.id,
              {"sessions": sessions, "diary_days": diary_days})
    return build_patient_summary(snapshot)


# --- the clinic's outcome report -------------------------------------------------------------------


def outcome_report(db: Database, actor: Actor, *, start: str | date | None = None, end: str | date | None = None,
                   now: datetime | None = None) -> bytes:
    """The outcome report for the courses that ended in [start, end] as PDF bytes (physicians and nurses)."""
    require_role(actor, *OUTCOME_REPORT_ROLES)
    now = now or utcnow()
    first, last = resolve_range(start, end, now.date())
    cohort = cohort_outcomes(db, actor, start=first, end=last, today=now.date())
    demo = has_demo(db)  # a clinic report is marked synthetic when any patient is
    with unit_of_work(db) as uow:
        sessions, events = session_events_in(uow, first, last, site_scope(actor))  # the cohort's sites (issue 17)
        snapshot = OutcomeReportSnapshot(issue=_issue(uow, actor, now, UTC, demo=demo), start=first, end=last,
                                         cohort=cohort, sessions_started=sessions, events=tuple(events),
                                         proms=questionnaire_outcomes.report_outcomes(uow, actor, first, last).model_dump())
        audit(uow, actor, "report.outcomes", "cohort", None,
              {"start": first.isoformat(), "end": last.isoformat(), "patients": cohort["patients_with_a_course"],
               "assessable": cohort["assessable"], "sessions": sessions})
    return build_outcome_report(snapshot)

