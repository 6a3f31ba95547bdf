"""The pure builders: each document drawn from a hand-made snapshot, with no database, no service and no
clock (the snapshot says who asked, when, in which zone and for which clinic)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ketaclinic.clinical.record import EventRow
from ketaclinic.reports.letters import build_course_letter, build_evaluation_letter, course_letter_document
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
from tests.reports.pdfcheck import read_pdf

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 10:00 in Chicago (CDT)
ISSUE = Issue(clinic_name="Hand-made Pain Clinic", now=NOW, tz=CHICAGO, generated_by="dr_hand", demo=False)
PATIENT = PatientIdentity(id=42, given_name="Hana", family_name="Snapshot", birth_date=date(1980, 5, 6), sex="female",
                          referring_physician="Dr Rhea Ferrer", referring_physician_contact="Bridge Practice\nTel 555-0199")
PROGRAM = {"protocol": "outpatient_infusion", "route": "iv", "weight_kg": 70.0, "concentration_mg_per_ml": 1.0,
           "total_dose_mg": 154.0, "ketamine_lot_number": "HAND-LOT-1", "program": [
               {"step": 1, "kind": "bolus", "label": "loading bolus", "dose_mg": 14.0, "dose_mg_per_kg": 0.2,
                "rate_mg_per_h": 168.0, "rate_ml_per_h": 168.0, "duration_min": 5.0, "volume_ml": 14.0, "start_min": 0},
               {"step": 2, "kind": "infusion", "label": "maintenance infusion", "dose_mg": 140.0,
                "rate_mg_per_kg_per_h": 0.5, "rate_mg_per_h": 35.0, "rate_ml_per_h": 35.0, "duration_min": 240.0,
                "volume_ml": 140.0, "start_min": 5}]}
PLAN = PlanSnapshot(id=7, protocol_id="outpatient_infusion", pump_program=PROGRAM, weight_kg=70.0,
                    concentration_mg_per_ml=1.0,
                    series_rule={"sessions": 4, "interval_days_min": 2, "interval_days_max": 7, "source": "asra2018"},
                    signed_by="Dr Sign Hand", signed_at=datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
                    overrides=(PlanOverrideLine(code="rate_soft_max", message="above the soft limit",
                                                reason="tolerated before", by="Dr Sign Hand"),))
NURSE, PHYSICIAN = 5, 6
NAMES = {None: "—", NURSE: "Nurse Hand", PHYSICIAN: "Dr Sign Hand"}
VITALS = {"systolic_mmhg": 128, "diastolic_mmhg": 80, "heart_rate_bpm": 72, "spo2_pct": 98,
          "respiratory_rate_per_min": 14, "moaas": 5}


def squash(text: str) -> str:
    return " ".join(text.split())


def session(visit_id: int, day: datetime, *, state: str = "discharged", minutes: float = 120) -> SessionSnapshot:
    done = state == "discharged"
    return SessionSnapshot(id=visit_id, plan_id=PLAN.id, state=state, scheduled_at=day,
                         started_at=day if done else None, ended_at=day + timedelta(minutes=minutes) if done else None,
                         discharged_at=day + timedelta(minutes=minutes + 65) if done else None, weight_kg=70.0,
                         pump_program=PROGRAM if done else None, created_by=NURSE, protocol_id=PLAN.protocol_id)


def event(event_id: int, session_id: int, start: datetime, minute: float, kind: str, payload: dict,
          amends: int | None = None, by: int = NURSE) -> EventRow:
    return EventRow(id=event_id, session_id=session_id, kind=kind, payload=payload, minute=minute,
                    recorded_at=start + timedelta(minutes=minute), recorded_by=by, amends_event_id=amends)


FIRST = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SECOND = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


def eventful_events(session_id: int = 11, start: datetime = FIRST) -> tuple[EventRow, ...]:
    """A rate change for nausea, an alert the nurse answered, a mild dissociation amended to moderate."""
    return (
        event(101, session_id, start, 0, "state_change", {"to": "running", "weight_kg": 70.0}),
        event(102, session_id, start, 30, "vitals", {"observation": {**VITALS, "side_effects": [
            {"code": "nausea", "severity": "moderate"}]}}),
        event(103, session_id, start, 30, "alert", {"code": "nausea_vomiting", "severity": "warning",
                                                    "action": "give_medication", "message": "Moderate nausea.",
                                                    "source": "clinic_policy"}),
        event(104, session_id, start, 33, "alert_ack", {"alert_event_id": 103, "alert_code": "nausea_vomiting",
                                                        "action_taken": "ondansetron given"}),
        event(105, session_id, start, 35, "rate_change", {"rate_mg_per_h": 17.5, "rate_ml_per_h": 17.5,
                                                          "rate_mg_per_kg_per_h": 0.25, "reason": "nausea"}),
        event(106, session_id, start, 50, "side_effect", {"code": "dissociation", "severity": "mild"}),
        event(107, session_id, start, 55, "amendment", {"amended_kind": "side_effect", "reason": "was moderate",
                                                        "correction": {"severity": "moderate"}}, amends=106,
              by=PHYSICIAN),
        event(108, session_id, start, 120, "state_change", {"to": "observing"}),
    )


def diary(first: date, days: int, pain: int, **values) -> tuple[DiaryDay, ...]:
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        out.append(DiaryDay(day=day, recorded_at=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=20),
                            pain_nrs=pain, **values))
    return tuple(out)


CHECKS = (CheckDue(code="misuse_check", name="Misuse check", due=True, due_on=None, overdue=True,
                   message="Misuse check (PDMP review): never recorded - due now", source="cdc2022_opioids"),
          CheckDue(code="liver_tests", name="Liver tests", due=False, due_on=None, overdue=False,
                   message="Liver tests not required", source="noppers2011"))
FOLLOW_UP = FollowUpFacts(booster_due=False, booster_message="Relief holds: no booster now.",
                          earliest_booster_day=date(2026, 3, 20), checks=CHECKS)


# --- the evaluation letter ---------------------------------------------------------------------------


def evaluation_snapshot(**changes) -> EvaluationLetterSnapshot:
    evaluation = EvaluationSnapshot(
        id=3, status="signed", created_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        signed_at=datetime(2026, 3, 2, 16, 0, tzinfo=UTC), signed_by="Dr Sign Hand", drafted_by="Nurse Hand",
        rule_version="screen-v2", amends_id=None, replaced_by=None,
        screening_input={"patient": {"weight_kg": 70}, "pain": {"conditions": ["crps"], "nrs_now": 8,
                                                                "duration_weeks": 30,
                                                                "prior_treatments": ["physical_therapy"]},
                         "medications": ["gabapentin 300 mg"], "allergies": [], "vitals": VITALS},
        screening_result={"decision": "eligible_with_precautions", "findings": [
            {"code": "psychosis_history", "kind": "precaution", "message": "A history of psychosis: watch closely.",
             "source": "asra2018"}]})
    snapshot = EvaluationLetterSnapshot(issue=ISSUE, patient=PATIENT, evaluation=evaluation, plan=PLAN,
                                        first_session=datetime(2026, 4, 2, 14, 30, tzinfo=UTC))
    return replace(snapshot, **changes)


def test_the_evaluation_letter_is_drawn_from_the_snapshot_alone():
    back = read_pdf(build_evaluation_letter(evaluation_snapshot()))
    text = squash(back.text)
    assert back.title == "Letter to the referrer" and back.pages == 1
    assert "Hand-made Pain Clinic" in text and "by dr_hand" in text  # the frame: the clinic and who asked
    assert "Produced 31 Mar 2026 10:00 CDT" in text  # "now" in the snapshot's zone
    assert "SYNTHETIC" not in text
    assert "Dear Dr Rhea Ferrer," in text and "Bridge Practice" in text
    assert "Re: Hana Snapshot, born 06 May 1980 (45 years, female), clinic no. 42" in text
    assert "Screening result: Eligible with precautions" in text
    assert "A history of psychosis: watch closely." in text and "Cohen et al. 2018" in text
    assert "Complex regional pain syndrome (CRPS)" in text
    assert "Treatment plan (signed 02 Mar 2026 by Dr Sign Hand)" in text
    assert "maintenance infusion: 0.5 mg/kg/h (35 mg/h) for 240 min" in text
    assert "above the soft limit — accepted by Dr Sign Hand: tolerated before" in text
    assert "The patient starts a series of 4 sessions" in text
    assert "The first session is booked for 02 Apr 2026 at 09:30." in text  # 14:30 UTC in Chicago
    assert "Dr Sign Hand" in text.split("Yours sincerely,")[1]


def test_a_draft_in_the_snapshot_gives_a_letter_marked_draft_on_a_demo_frame():
    draft = evaluation_snapshot(issue=replace(ISSUE, demo=True), plan=None, first_session=None)
    draft = replace(draft, evaluation=replace(draft.evaluation, status="draft", signed_at=None, signed_by=None))
    text = squash(read_pdf(build_evaluation_letter(draft)).text)
    assert "DRAFT — NOT SIGNED" in text and "SYNTHETIC DEMO DATA" in text
    assert "Yours sincerely, NOT SIGNED Draft prepared by Nurse Hand on 02 Mar 2026 09:00 CST" in text
    assert "Treatment plan" not in text and "Dr Sign Hand" not in text


# --- the course letter -------------------------------------------------------------------------------


def course_snapshot(**changes) -> CourseLetterSnapshot:
    snapshot = CourseLetterSnapshot(
        issue=ISSUE, patient=PATIENT, sessions=(session(11, FIRST), session(12, SECOND)),
        events=eventful_events(),
        names=NAMES, plan=PLAN,
        course=CourseFacts(baseline_nrs=8.0, course_end=SECOND.date(), followup_nrs=4.0, followup_days=20),
        diary=diary(FIRST.date() - timedelta(days=14), 14, 8, function=3.0,
                    opioid_doses=({"opioid": "oxycodone", "daily_dose_mg": 20},))
        + diary(SECOND.date() + timedelta(days=1), 20, 4, function=6.0),
        follow_up=FOLLOW_UP, window=FollowUpWindow(days=28, min_entries=3))
    return replace(snapshot, **changes)


def test_the_course_letter_is_drawn_from_the_snapshot_alone():
    back = read_pdf(build_course_letter(course_snapshot()))
    text = squash(back.text)
    assert back.title == "Letter to the referrer" and 1 <= back.pages <= 2
    assert "Dear Dr Rhea Ferrer," in text and "Hand-made Pain Clinic" in text
    assert "2 sessions of Outpatient infusion series, 04 Mar – 06 Mar 2026" in text
    assert "Outcome Pain 8 → 4/10 (-50 %): responder at 50 %." in text
    assert "Opioids 30 → 0 MME/day." in text
    assert "35→17.5 mg/h (nausea)" in text  # the rate change, named with its reason
    assert "dissociation (moderate)" in text and "dissociation (mild)" not in text  # the amendment counts
    assert "→ ondansetron given" in text
    assert "Relief holds: no booster now." in text and "Misuse check" in text and "Liver tests not required" in text
    assert "Responsible physician (signed the treatment plan on 02 Mar 2026)" in text and "Dr Sign Hand" in text


def test_a_course_the_snapshot_cannot_judge_says_why():
    snapshot = course_snapshot(course="no signed evaluation", diary=())
    _, context = course_letter_document(snapshot)
    assert context["outcome"]["missing"][0] == "Pain outcome not judged: no signed evaluation."
    assert any(m.startswith("No diary before the course (the 28 days") for m in context["outcome"]["missing"])
    assert context["course_days"] == (FIRST.date(), (SECOND + timedelta(minutes=185)).astimezone(CHICAGO).date())
    short = course_snapshot(course=CourseFacts(baseline_nrs=8.0, course_end=SECOND.date(), followup_nrs=None,
                                               followup_days=1), window=FollowUpWindow(days=14, min_entries=5))
    _, context = course_letter_document(short)
    assert ("Follow-up diary too short to judge: 1 of the 5 diary days needed in the 14 days after the course"
            in context["outcome"]["missing"][0])  # the service's rule comes in the snapshot


# --- the session record ------------------------------------------------------------------------------


def record_snapshot(**changes) -> SessionRecordSnapshot:
    checklist = {"ready": True, "checked_at": "2026-03-04T14:50:00+00:00",
                 "items": [{"code": "consent", "met": True, "blocking": True, "message": "Informed consent signed.", "source": "clinic_policy"}]}
    discharge = {"ready": True, "assessed_at": "2026-03-04T18:05:00+00:00", "minutes_since_infusion_stopped": 65,
                 "minimum_observation_min": 60, "criteria": [],
                 "padss": {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2, "bleeding": 2, "total": 10}}
    snapshot = SessionRecordSnapshot(issue=ISSUE, patient=PATIENT,
                                     session=replace(session(11, FIRST), checklist=checklist, discharge=discharge),
                                     plan=PLAN, events=eventful_events(), names=NAMES)
    return replace(snapshot, **changes)


def test_the_session_record_is_drawn_from_the_snapshot_alone():
    html = build_session_record_html(record_snapshot())
    text = squash(re.sub(r"<[^>]+>", " ", html))
    assert re.search(r'<span class="amended">\s*dissociation \(mild\)\s*</span>', html)  # struck through, not hidden
    assert "Corrected by Dr Sign Hand at 09:55" in text  # 14:55 UTC in Chicago
    assert "Answered by Nurse Hand at 09:33: ondansetron given" in text
    assert "35 → 17.5 mL/h · 35 → 17.5 mg/h (0.5 → 0.25 mg/kg/h) · reason: nausea" in text
    assert "lot HAND-LOT-1" in text and "Informed consent signed." in text
    assert f"Ketamine given: {round(14 + 35 * 30 / 60 + 17.5 * 85 / 60, 1)} mg" in text
    assert "record as of 31 Mar 2026 10:00" in text and "America/Chicago" in text
    back = read_pdf(build_session_record(record_snapshot()))
    assert back.title == "Session record #11" and "Hand-made Pain Clinic" in back.text


def test_a_record_before_the_start_prints_the_plans_program():
    waiting = record_snapshot(session=session(13, NOW + timedelta(days=1), state="scheduled"), events=())
    text = squash(re.sub(r"<[^>]+>", " ", build_session_record_html(waiting)))
    assert "Scheduled" in text and "maintenance infusion" in text  # the plan's program, not yet snapshotted
    assert "Ketamine given: 0 mg" in text


# --- the patient summary -----------------------------------------------------------------------------


def summary_snapshot(**changes) -> PatientSummarySnapshot:
    before = diary(FIRST.date() - timedelta(days=21), 21, 8, mood=3.0, sleep=4.0, function=3.0,
                   opioid_doses=({"opioid": "oxycodone", "daily_dose_mg": 20},))
    after = diary(SECOND.date() + timedelta(days=1), 20, 3, mood=7.0, sleep=7.0, function=6.0)
    booked = session(13, NOW + timedelta(days=3), state="scheduled")
    snapshot = PatientSummarySnapshot(
        issue=ISSUE, patient=PATIENT, screening_input={"pain": {"conditions": ["crps"], "nrs_now": 8}},
        sessions=(session(11, FIRST), session(12, SECOND), booked),
        events=tuple(e for e in eventful_events() if e.kind in ("rate_change", "side_effect", "vitals", "amendment")),
        diary=before + after,
        course=CourseFacts(baseline_nrs=8.0, course_end=SECOND.date(), followup_nrs=3.0, followup_days=20),
        follow_up=FOLLOW_UP, follow_up_days=28)
    return replace(snapshot, **changes)


def test_the_patient_summary_is_drawn_from_the_snapshot_alone():
    back = read_pdf(build_patient_summary(summary_snapshot()))
    text = squash(back.text)
    assert back.title == "Treatment summary" and "Your treatment summary" in text
    assert "Hana Snapshot" in text and "born 06 May 1980" in text
    assert "You had 2 sessions of ketamine" in text
    assert "moderate feeling sick (1 session)" in text and "moderate feeling detached" in text
    assert re.search(r"Pain score \(0 = no pain, 10 = worst pain imaginable\) 8 3 5 points lower: better\.", text)
    assert re.search(r"Opioid painkillers \(as mg of morphine a day\) 30 0 30 mg a day lower: better\.", text)
    assert "Your pain fell by half or more (63 %)" in text
    assert "Your next session is booked for Friday 03 April 2026 at 10:00" in text  # in the clinic's zone
    assert "A routine review of your pain medicines is due" in text
    assert summary_counts(summary_snapshot()) == (2, 20)


def test_a_summary_before_any_session_says_so():
    snapshot = summary_snapshot(sessions=(), events=(), diary=(), course="no completed session", screening_input=None)
    assert summary_counts(snapshot) == (0, 0)
    text = squash(read_pdf(build_patient_summary(snapshot)).text)
    assert "You have not had a treatment session yet." in text
    assert "No session has been booked yet." in text


# --- the outcome report ------------------------------------------------------------------------------


def test_the_outcome_report_is_drawn_from_the_snapshot_alone():
    group = {"n": 6, "responders_30": 4, "responders_50": 2, "two_point": 4}
    cohort = {"patients_with_a_course": 7, "assessable": 6, "not_assessable": {"follow-up diary too short": 1},
              "overall": group, "by_condition": {"crps": group}, "durability": None, "caveats": ["An uncontrolled cohort."],
              "definitions": {"responder": "30 %/50 %"}}
    events = (EventRow(id=1, session_id=11, kind="side_effect", payload={"code": "nausea", "severity": "mild"}),
              EventRow(id=2, session_id=12, kind="alert", payload={"code": "spo2_low", "severity": "critical"}))
    snapshot = OutcomeReportSnapshot(issue=replace(ISSUE, demo=True), start=date(2025, 4, 1), end=date(2026, 3, 31),
                                     cohort=cohort, sessions_started=9, events=events)
    back = read_pdf(build_outcome_report(snapshot))
    text = squash(back.text)
    assert back.title == "Clinic outcome report" and "SYNTHETIC DEMO DATA" in text
    assert "Courses that ended from 01 Apr 2025 to 31 Mar 2026 (both days included)" in text
    assert "7 patients whose course ended in the range" in text
    assert "4 (67 %) 95 % CI 30–90 %" in text  # Wilson 4/6
    assert "9 sessions started; 1 with at least one side effect recorded; 1 with at least one monitoring alert" in text
    assert "An uncontrolled cohort." in text


@pytest.mark.parametrize("module", ["frame", "letters", "lookup", "outcome_report", "patient_summary", "pdf",
                                    "session_facts", "session_record", "snapshots"])
def test_the_builders_import_no_database_service_or_clock(module):
    """The builders are pure (tests/test_layers.py checks every layer; this names the documents' modules)."""
    import ast
    from pathlib import Path

    import ketaclinic.reports as reports

    source = (Path(reports.__file__).parent / f"{module}.py").read_text()
    names = {n.module or "" for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
    forbidden = [n for n in names if n.startswith(("ketaclinic.records", "ketaclinic.services", "ketaclinic.clock",
                                                   "sqlalchemy"))]
    assert forbidden == []
