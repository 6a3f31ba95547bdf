"""Sessions: signed-plan-only, the state machine, checklist, program snapshot, events, alerts, discharge, concurrency."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.records.sessions import SessionEvent
from ketaclinic.records.users import User
from ketaclinic.services import plans as pl
from ketaclinic.services import sessions as ss
from ketaclinic.services.auth import actor_for
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from ketaclinic.services.users import UserCreate, create_user
from tests.conftest import PASSWORD
from tests.interop.flows import (
    DISCHARGE,
    NORMAL_VITALS,
    T0,
    checked_in,
    checklist,
    event,
    running,
    signed_evaluation,
    signed_plan,
)

AT = T0 + timedelta(days=7)


def _events(db, session_id, kind=None):
    with db.reading() as session:
        query = select(SessionEvent).where(SessionEvent.session_id == session_id).order_by(SessionEvent.id)
        if kind:
            query = query.where(SessionEvent.kind == kind)
        return list(session.execute(query).scalars())


def test_only_a_signed_plan_can_be_scheduled(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    draft = pl.create_plan(db, physician, pl.PlanIn(patient_id=clinic.own_patient_id, evaluation_id=evaluation.id,
                                                    protocol="outpatient_infusion"))
    with pytest.raises(Conflict) as refused:
        ss.schedule_session(db, nurse, ss.SessionIn(patient_id=clinic.own_patient_id, plan_id=draft.id, scheduled_at=AT))
    assert refused.value.code == "plan_not_signed"
    with pytest.raises(Conflict):  # no signed plan to fall back on either
        ss.schedule_session(db, clinic.actors["coordinator"], ss.SessionIn(patient_id=clinic.own_patient_id, scheduled_at=AT))
    signed = pl.sign_plan(db, physician, draft.id, draft.version)
    visit = ss.schedule_session(db, clinic.actors["coordinator"], ss.SessionIn(patient_id=clinic.own_patient_id,
                                                                               scheduled_at=AT))
    assert visit.plan_id == signed.id and visit.view == "schedule" and visit.pump_program is None


def test_a_visit_from_check_in_to_discharge(db, clinic):
    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = checked_in(db, clinic, plan, AT, weight_kg=68.5)
    assert visit.state == "checked_in" and visit.checklist["ready"] and visit.pump_program is None
    with pytest.raises(Conflict) as wrong:
        ss.stop_infusion(db, nurse, visit.id, visit.version, now=AT)
    assert wrong.value.code == "invalid_transition"
    visit = ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=clinic.actors["physician"])
    assert visit.state == "running" and visit.started_at == AT
    assert visit.pump_program["program"] == plan.pump_program["program"] and visit.pump_program["plan_id"] == plan.id
    event(db, nurse, visit.id, NORMAL_VITALS, AT + timedelta(minutes=15))
    visit = ss.get_session(db, nurse, visit.id)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=AT + timedelta(minutes=120))
    discharge = ss.DischargeIn.model_validate(DISCHARGE)
    with pytest.raises(Conflict) as early:
        ss.discharge_session(db, nurse, visit.id, visit.version, discharge, now=AT + timedelta(minutes=140))
    assert early.value.code == "discharge_criteria_unmet" and "observation_time" in early.value.message
    refusal = _events(db, visit.id, "note")[-1]
    assert [u["code"] for u in refusal.payload["discharge_assessment"]["unmet"]] == ["observation_time"]
    dizzy = ss.DischargeIn.model_validate({**DISCHARGE, "dissociation_resolved": False, "escort_present": False})
    check = ss.assess_discharge_now(db, nurse, visit.id, dizzy, now=AT + timedelta(minutes=190))
    assert not check.ready and {u["code"] for u in check.unmet} == {"dissociation_unresolved", "escort_missing"}
    done = ss.discharge_session(db, nurse, visit.id, visit.version, discharge, now=AT + timedelta(minutes=185))
    assert done.state == "discharged" and done.discharge["ready"] and done.discharged_at is not None
    assert [e.payload["to"] for e in _events(db, visit.id, "state_change")] == [
        "checked_in", "running", "observing", "discharged"]
    with pytest.raises(Conflict):
        ss.cancel_session(db, nurse, visit.id, done.version, ss.CancelIn(reason="too late"))
    late_note = event(db, nurse, visit.id, {"kind": "note", "text": "Called the next day: well."}, AT + timedelta(days=1))
    assert late_note.kind == "note"


def test_the_checklist_blocks_the_start(db, clinic):
    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=clinic.own_patient_id, plan_id=plan.id, scheduled_at=AT))
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(), now=AT - timedelta(minutes=30))
    with pytest.raises(Conflict) as missing:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT)
    assert missing.value.code == "checklist_missing"
    visit = ss.record_checklist(db, nurse, visit.id, visit.version, checklist(AT - timedelta(minutes=20), escort_present=False),
                                now=AT - timedelta(minutes=20))
    assert not visit.checklist["ready"]
    with pytest.raises(Conflict) as blocked:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT)
    assert blocked.value.code == "checklist_not_met" and "escort_present" in blocked.value.message
    # a baseline taken 90 minutes before the start is too old by then, though fine when recorded
    visit = ss.record_checklist(db, nurse, visit.id, visit.version, checklist(AT - timedelta(minutes=90)),
                                now=AT - timedelta(minutes=85))
    assert visit.checklist["ready"]
    with pytest.raises(Conflict) as stale:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT)
    assert stale.value.code == "checklist_not_met"


def test_weight_of_the_day_is_checked(db, clinic):
    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=clinic.own_patient_id, plan_id=plan.id, scheduled_at=AT))
    with pytest.raises(ValidationFailed) as flagged:
        ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(weight_kg=90), now=AT - timedelta(minutes=20))
    assert flagged.value.code == "weight_change_unacknowledged"
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(weight_kg=90, weight_change_acknowledged=True),
                        now=AT - timedelta(minutes=20))
    visit = ss.record_checklist(db, nurse, visit.id, visit.version, checklist(AT - timedelta(minutes=15)),
                                now=AT - timedelta(minutes=10))
    with pytest.raises(Conflict) as mismatch:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT)
    assert mismatch.value.code == "plan_weight_mismatch"


def test_vitals_run_the_alert_rules_and_alerts_are_stored_and_acknowledged(db, clinic):
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    normal = event(db, nurse, visit.id, NORMAL_VITALS, AT + timedelta(minutes=15))
    assert normal.payload["alerts"] == [] and normal.raised == [] and normal.minute == 15
    low = event(db, nurse, visit.id, {**NORMAL_VITALS, "spo2_pct": 88}, AT + timedelta(minutes=30))
    codes = [a["code"] for a in low.payload["alerts"]]
    assert low.payload["alerts"][0]["severity"] == "critical" and low.payload["alerts"][0]["action"] == "stop_infusion"
    assert [r.payload["code"] for r in low.raised] == codes and all(r.kind == "alert" for r in low.raised)
    assert ss.get_session(db, nurse, visit.id).open_alerts == [r.id for r in low.raised]
    for alert in low.raised:
        event(db, nurse, visit.id, {"kind": "alert_ack", "alert_event_id": alert.id, "action_taken": "stopped"},
              AT + timedelta(minutes=31))
    assert ss.get_session(db, nurse, visit.id).open_alerts == []
    with pytest.raises(Conflict):
        event(db, nurse, visit.id, {"kind": "alert_ack", "alert_event_id": low.raised[0].id, "action_taken": "again"},
              AT + timedelta(minutes=32))
    with pytest.raises(ValidationFailed):
        event(db, nurse, visit.id, {"kind": "alert_ack", "alert_event_id": low.id, "action_taken": "not an alert"},
              AT + timedelta(minutes=32))


def test_rate_changes_run_the_dosing_limits(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    lower = event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.3, "reason": "dizzy"},
                  AT + timedelta(minutes=20))
    assert lower.payload["rate_mg_per_h"] == pytest.approx(20.4) and lower.payload["reason"] == "dizzy"
    with pytest.raises(ValidationFailed) as hard:
        event(db, physician, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 2.5, "reason": "x",
                                        "override_reason": "no"}, AT + timedelta(minutes=25))
    assert hard.value.code == "hard_limit"
    with pytest.raises(ValidationFailed) as soft:
        event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.9, "reason": "pain"},
              AT + timedelta(minutes=25))
    assert soft.value.code == "soft_limit"
    with pytest.raises(Forbidden):
        event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.9, "reason": "pain",
                                    "override_reason": "me"}, AT + timedelta(minutes=25))
    higher = event(db, physician, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.9, "reason": "pain",
                                             "override_reason": "tolerated 0.9 before"}, AT + timedelta(minutes=26))
    assert higher.payload["override"]["by"] == "physician" and higher.payload["limits"][0]["level"] == "soft"
    assert len(_events(db, visit.id, "rate_change")) == 2


def test_medication_side_effect_and_amendment_events(db, clinic):
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    given = event(db, nurse, visit.id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg",
                                        "route": "iv", "lot_number": "LOT-42"}, AT + timedelta(minutes=10))
    assert given.payload["lot_number"] == "LOT-42"
    with pytest.raises(ValidationFailed) as extra:
        event(db, nurse, visit.id, {"kind": "medication", "drug": "ketamine", "dose": 30, "unit": "mg", "route": "iv",
                                    "lot_number": "K-1"}, AT + timedelta(minutes=11))  # 0.44 mg/kg: over the soft bolus limit
    assert extra.value.code == "soft_limit"
    effect = event(db, nurse, visit.id, {"kind": "side_effect", "code": "nausea", "severity": "mild"},
                   AT + timedelta(minutes=12))
    fix = event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": given.id, "reason": "lot typo",
                                      "correction": {"lot_number": "LOT-24"}}, AT + timedelta(minutes=13))
    assert fix.amends_event_id == given.id and fix.payload["amended_kind"] == "medication"
    assert _events(db, visit.id, "medication")[0].payload["lot_number"] == "LOT-42"  # the original stays
    other = running(db, clinic, signed_plan(db, clinic, clinic.other_patient_id), AT)
    with pytest.raises(ValidationFailed):
        event(db, nurse, other.id, {"kind": "amendment", "amends_event_id": effect.id, "reason": "wrong chart"},
              AT + timedelta(minutes=14))
    with pytest.raises(Conflict) as state:  # no rate change before the infusion runs
        scheduled = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=clinic.own_patient_id, scheduled_at=AT))
        event(db, nurse, scheduled.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.3, "reason": "x"}, AT)
    assert state.value.code == "invalid_state"


def test_two_nurses_recording_at_once_lose_nothing(db, clinic):
    view = create_user(db, Actor.system("tests"), UserCreate(username="nurse2", role="nurse", password=PASSWORD))
    with db.reading() as session:
        nurses = {0: clinic.actors["nurse"], 100: actor_for(session.get(User, view.id), "127.0.0.1")}
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def record(offset):
        barrier.wait()
        for i in range(15):
            try:
                event(db, nurses[offset], visit.id, {"kind": "note", "text": f"nurse {offset} note {i}"},
                      AT + timedelta(minutes=offset + i))
            except ServiceError as error:  # pragma: no cover - the assertion below names it
                errors.append(error)

    threads = [threading.Thread(target=record, args=(k,)) for k in (0, 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    notes = [e for e in _events(db, visit.id, "note") if "double_check" not in e.payload]  # not the start's check
    assert {e.payload["text"] for e in notes} == {f"nurse {k} note {i}" for k in (0, 100) for i in range(15)}
    assert {e.recorded_by for e in notes} == {nurses[0].user_id, nurses[100].user_id}


def test_roles_and_patient_isolation(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    own = ss.schedule_session(db, clinic.actors["nurse"], ss.SessionIn(patient_id=clinic.own_patient_id, plan_id=plan.id,
                                                                       scheduled_at=AT))
    other = ss.schedule_session(db, clinic.actors["nurse"], ss.SessionIn(
        patient_id=clinic.other_patient_id, plan_id=signed_plan(db, clinic, clinic.other_patient_id).id, scheduled_at=AT))
    me = clinic.actors["patient"]
    mine = ss.get_session(db, me, own.id)
    assert mine.view == "schedule" and mine.pump_program is None and mine.checklist is None
    with pytest.raises(NotFound):
        ss.get_session(db, me, other.id)
    assert [s.id for s in ss.list_sessions(db, me).items] == [own.id]
    with pytest.raises(NotFound):
        ss.list_sessions(db, me, patient_id=clinic.other_patient_id)
    with pytest.raises(Forbidden):
        ss.check_in(db, clinic.actors["coordinator"], own.id, own.version, ss.CheckInIn())
    with pytest.raises(Forbidden):
        ss.list_events(db, clinic.actors["admin"], own.id)


def test_a_correction_is_checked_like_the_event_it_corrects(db, clinic):
    """An amendment cannot store a value the record cannot read (the FHIR export once failed on '88 bpm')."""
    from tests.interop.flows import NORMAL_VITALS, T0, event, running, signed_plan

    at = T0 + timedelta(days=7)
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), at)
    vitals = event(db, nurse, visit.id, NORMAL_VITALS, at + timedelta(minutes=10))
    for correction, words in (({"heart_rate_bpm": "88 bpm"}, "heart_rate_bpm"), ({"heart_rate_bpm": 900}, "250"),
                              ({"pulse": 88}, "may change only")):
        with pytest.raises(ServiceError) as refused:
            event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": vitals.id, "reason": "typo",
                                        "correction": correction}, at + timedelta(minutes=12))
        assert refused.value.status == 422 and words in refused.value.message, refused.value.message
    fixed = event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": vitals.id, "reason": "misread",
                                        "correction": {"heart_rate_bpm": 88}}, at + timedelta(minutes=12))
    assert fixed.payload["correction"] == {"heart_rate_bpm": 88}
