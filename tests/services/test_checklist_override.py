"""Issue 11: baseline SpO2 < 92 % or heart rate > 110/min block the start until a physician records
why (who and why kept in the checklist result, a note event and the audit log); a nurse cannot."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.records.sessions import SessionEvent
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict, Forbidden
from tests.interop.flows import T0, checklist, signed_plan

AT = T0 + timedelta(days=7)
LOW_SPO2 = {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 90}
REASON = "Known COPD, SpO2 90 % is her usual; supplemental oxygen on and anaesthetist in the unit"


def _checked_in_with(db, clinic, baseline: dict):
    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id, scheduled_at=AT),
                                now=AT - timedelta(days=2))
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(), now=AT - timedelta(minutes=20))
    return ss.record_checklist(db, nurse, visit.id, visit.version,
                               checklist(AT - timedelta(minutes=15), baseline_vitals=baseline),
                               now=AT - timedelta(minutes=10))


def test_a_nurse_checklist_with_spo2_90_blocks_the_start(db, clinic):
    visit = _checked_in_with(db, clinic, LOW_SPO2)
    assert not visit.checklist["ready"]
    assert visit.checklist["blocking"] == ["baseline_spo2_low"]
    assert visit.checklist["overridable"] == ["baseline_spo2_low"]
    with pytest.raises(Conflict) as refused:
        ss.start_session(db, clinic.actors["nurse"], visit.id, visit.version, now=AT)
    assert refused.value.code == "checklist_not_met" and "baseline_spo2_low" in refused.value.message


def test_a_nurse_cannot_override(db, clinic):
    visit = _checked_in_with(db, clinic, LOW_SPO2)
    with pytest.raises(Forbidden) as refused:
        ss.override_checklist(db, clinic.actors["nurse"], visit.id, visit.version,
                              ss.ChecklistOverrideIn(reason=REASON), now=AT - timedelta(minutes=5))
    assert refused.value.code == "override_needs_physician"
    assert not ss.get_session(db, clinic.actors["nurse"], visit.id).checklist["ready"]


def test_the_physician_records_a_reason_and_then_the_nurse_may_start(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = _checked_in_with(db, clinic, LOW_SPO2)
    visit = ss.override_checklist(db, physician, visit.id, visit.version, ss.ChecklistOverrideIn(reason=REASON),
                                  now=AT - timedelta(minutes=5))
    assert visit.checklist["ready"]
    (override,) = visit.checklist["overrides"]
    assert override["code"] == "baseline_spo2_low" and override["reason"] == REASON
    assert override["by"] == physician.username and override["role"] == "physician"
    spo2_item = next(i for i in visit.checklist["items"] if i["code"] == "baseline_spo2_low")
    assert spo2_item["met"] is False and spo2_item["override"]["by"] == physician.username
    with db.reading() as session:
        notes = session.execute(select(SessionEvent).where(SessionEvent.session_id == visit.id,
                                                           SessionEvent.kind == "note")).scalars().all()
    (note,) = [n for n in notes if "checklist_override" in n.payload]
    assert note.payload["checklist_override"]["reason"] == REASON and note.recorded_by == physician.user_id
    started = ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=clinic.actors["physician"])  # the override holds at the start
    assert started.state == "running"
    assert started.checklist["overrides"][0]["by"] == physician.username


def test_a_new_checklist_drops_the_override(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = _checked_in_with(db, clinic, LOW_SPO2)
    visit = ss.override_checklist(db, physician, visit.id, visit.version, ss.ChecklistOverrideIn(reason=REASON),
                                  now=AT - timedelta(minutes=5))
    visit = ss.record_checklist(db, nurse, visit.id, visit.version,
                                checklist(AT - timedelta(minutes=4), baseline_vitals={**LOW_SPO2, "spo2_pct": 89}),
                                now=AT - timedelta(minutes=3))
    assert not visit.checklist["ready"] and visit.checklist["overrides"] == []


def test_heart_rate_150_blocks_and_the_blood_pressure_hold_cannot_be_overridden(db, clinic):
    physician = clinic.actors["physician"]
    visit = _checked_in_with(db, clinic, {**LOW_SPO2, "spo2_pct": 97, "heart_rate_bpm": 150, "systolic_mmhg": 170})
    assert set(visit.checklist["blocking"]) == {"baseline_tachycardia", "baseline_bp_hold"}
    visit = ss.override_checklist(db, physician, visit.id, visit.version, ss.ChecklistOverrideIn(reason=REASON),
                                  now=AT - timedelta(minutes=5))
    assert not visit.checklist["ready"] and visit.checklist["blocking"] == ["baseline_bp_hold"]
    with pytest.raises(Conflict) as nothing:
        ss.override_checklist(db, physician, visit.id, visit.version, ss.ChecklistOverrideIn(reason=REASON),
                              now=AT - timedelta(minutes=4))
    assert nothing.value.code == "nothing_to_override"
