"""Risk checks due and boosters due, from the patient's records (the core's rules, bulk-loaded)."""

from datetime import timedelta

import pytest

from ketaclinic.services import follow_up as fu
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Forbidden, ValidationFailed
from tests.interop.flows import T0, completed, signed_plan
from tests.services.test_outcomes import _diary

AT = T0 + timedelta(days=7)


def _codes(result, attr="overdue"):
    return {c.code for c in result.checks if getattr(c, attr)}


def test_checks_come_due_and_are_cleared_by_recording_them(db, clinic):
    nurse, pid = clinic.actors["nurse"], clinic.own_patient_id
    completed(db, clinic, signed_plan(db, clinic, pid), AT)
    today = (AT + timedelta(days=10)).date()
    first = fu.patient_follow_up(db, nurse, pid, today=today)
    assert _codes(first) == {"cognition_check", "misuse_check"}  # never recorded
    assert "urinary_symptoms" in _codes(first, "due")  # asked at every visit
    for code in ("cognition_check", "misuse_check"):
        fu.record_risk_check(db, nurse, fu.RiskCheckIn(patient_id=pid, code=code, done_on=today), now=AT + timedelta(days=10))
    cleared = fu.patient_follow_up(db, nurse, pid, today=today)
    assert _codes(cleared) == set()
    later = fu.patient_follow_up(db, nurse, pid, today=today + timedelta(days=91))
    assert _codes(later) == {"cognition_check", "misuse_check"}  # every 3 months
    with pytest.raises(ValidationFailed):
        fu.record_risk_check(db, nurse, fu.RiskCheckIn(patient_id=pid, code="misuse_check", done_on=today + timedelta(days=5)),
                             now=AT + timedelta(days=10))
    with pytest.raises(Forbidden):
        fu.patient_follow_up(db, clinic.actors["coordinator"], pid)


def test_liver_tests_before_a_close_repeat_course_and_urinary_symptoms_reported(db, clinic):
    nurse, pid = clinic.actors["nurse"], clinic.own_patient_id
    completed(db, clinic, signed_plan(db, clinic, pid), AT)
    second = signed_plan(db, clinic, pid, now=AT + timedelta(days=2))
    ss.schedule_session(db, nurse, ss.SessionIn(patient_id=pid, plan_id=second.id, scheduled_at=AT + timedelta(days=20)),
                        now=AT + timedelta(days=3))
    today = (AT + timedelta(days=5)).date()
    liver = next(c for c in fu.patient_follow_up(db, nurse, pid, today=today).checks if c.code == "liver_tests")
    assert liver.due and liver.overdue and liver.due_on == (AT + timedelta(days=20)).date()
    fu.record_risk_check(db, nurse, fu.RiskCheckIn(patient_id=pid, code="liver_tests", done_on=today), now=AT + timedelta(days=5))
    assert "liver_tests" not in _codes(fu.patient_follow_up(db, nurse, pid, today=today), "due")
    from ketaclinic.services import diary as dy
    dy.add_entry(db, clinic.actors["patient"], dy.DiaryIn(pain_nrs=4, day=today, urinary_symptoms={"urgency": True}),
                 now=AT + timedelta(days=5))
    urinary = next(c for c in fu.patient_follow_up(db, nurse, pid, today=today).checks if c.code == "urinary_symptoms")
    assert urinary.overdue and "reported on" in urinary.message


def test_the_dashboard_lists_boosters_due_and_overdue_checks(db, clinic):
    nurse, pid = clinic.actors["nurse"], clinic.own_patient_id
    completed(db, clinic, signed_plan(db, clinic, pid), AT)
    # baseline 8: relief (3) for 10 days, then back to 8 for 7 days -> faded, 17 days after the session
    _diary(db, nurse, pid, [3] * 10 + [8] * 7, AT + timedelta(days=1))
    today = (AT + timedelta(days=17)).date()
    due = fu.follow_up_due(db, clinic.actors["physician"], today=today)
    assert [b["patient_id"] for b in due["boosters_due"]] == [pid]
    assert {c["code"] for c in due["overdue_risk_checks"] if c["patient_id"] == pid} == {"cognition_check", "misuse_check"}
    assert due["overdue_risk_checks"][0]["name"] == "Synthetic Own"
    assert fu.patient_follow_up(db, nurse, pid, today=today).booster_due
