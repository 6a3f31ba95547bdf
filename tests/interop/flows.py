"""Clinical flows built through the services, shared by the services, API and interop tests.

Times are fixed in the past (the services take ``now``), so checklists, observation times and
diaries are exact; the audit log still records the real clock.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from ketaclinic.services import evaluations as ev
from ketaclinic.services import plans as pl
from ketaclinic.services import sessions as ss

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVENT = TypeAdapter(ss.EventIn)
KETAMINE_LOT = "SYN-KET-2603-001"  # a synthetic lot number on the prepared syringe

SCREENING: dict[str, Any] = {
    "patient": {"age_years": 56, "sex": "female", "weight_kg": 68, "pregnant": False},
    "pain": {"conditions": ["crps"], "duration_weeks": 40, "nrs_now": 8,
             "prior_treatments": ["gabapentinoid", "antidepressant", "physical_therapy"]},
    "vitals": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98},
    "history": {"cardiovascular": "none", "hypertension": "none", "intracranial_pressure": "normal",
                "intraocular_pressure": "normal", "psychosis": "none", "hepatic_impairment": "none",
                "substance_use": "none"},
    "allergies": [],
    "medications": ["duloxetine"],
}
NORMAL_VITALS = {"kind": "vitals", "systolic_mmhg": 132, "diastolic_mmhg": 84, "heart_rate_bpm": 78, "spo2_pct": 98,
                 "respiratory_rate_per_min": 14, "moaas": 5}
DISCHARGE = {"observation": {**{k: SCREENING["vitals"][k] for k in ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm",
                                                                     "spo2_pct")},
                             "respiratory_rate_per_min": 14, "moaas": 5},
             "padss": {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2, "bleeding": 2},
             "dissociation_resolved": True, "escort_present": True, "oriented": True, "steady_gait": True}


def screening(**changes: dict[str, Any]) -> dict[str, Any]:
    """The standard screening document with some sections changed (``pain={"nrs_now": 6}``)."""
    document = copy.deepcopy(SCREENING)
    for section, values in changes.items():
        document[section].update(values)
    return document


def signed_evaluation(db, clinic, patient_id: int, document: dict[str, Any] | None = None,
                      now: datetime = T0) -> ev.EvaluationView:
    draft = ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(patient_id=patient_id,
                                                                             screening=document or SCREENING), now=now)
    return ev.sign_evaluation(db, clinic.actors["physician"], draft.id, draft.version, now=now + timedelta(hours=1))


def signed_plan(db, clinic, patient_id: int, now: datetime = T0, **body: Any) -> pl.PlanView:
    evaluation = signed_evaluation(db, clinic, patient_id, now=now)
    draft = pl.create_plan(db, clinic.actors["physician"], pl.PlanIn.model_validate(
        {"patient_id": patient_id, "evaluation_id": evaluation.id, "protocol": "outpatient_infusion", **body}),
        now=now + timedelta(hours=2))
    return pl.sign_plan(db, clinic.actors["physician"], draft.id, draft.version, now=now + timedelta(hours=3))


def checklist(at: datetime, **changes: Any) -> ss.ChecklistIn:
    facts: dict[str, Any] = {
        "fasting": {"asked": True, "last_light_meal_at": (at - timedelta(hours=8)).isoformat()},
        "escort_present": True, "consent_signed": True, "baseline_vitals": SCREENING["vitals"],
        "baseline_vitals_at": at.isoformat(), "can_become_pregnant": False, "urinary_symptoms": "none",
    }
    facts.update(changes)
    return ss.ChecklistIn.model_validate(facts)


def checked_in(db, clinic, plan: pl.PlanView, at: datetime, weight_kg: float | None = None) -> ss.SessionView:
    nurse = clinic.actors["nurse"]
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id, scheduled_at=at),
                                now=at - timedelta(days=2))
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(weight_kg=weight_kg), now=at - timedelta(minutes=20))
    return ss.record_checklist(db, nurse, visit.id, visit.version, checklist(at - timedelta(minutes=15)),
                               now=at - timedelta(minutes=10))


def consented(db, patient_id: int, at: datetime) -> None:
    """The patient has signed the current consent document before ``at`` (issue 13: a course's first infusion
    needs it), signing on the clinic's tablet when they have not."""
    from ketaclinic.services.consent import status_in
    from tests.consent_support import sign_consent

    with db.reading() as uow:
        state = status_in(uow, patient_id).state
    if state != "valid":
        sign_consent(db, patient_id, now=at - timedelta(hours=1))


def running(db, clinic, plan: pl.PlanView, at: datetime) -> ss.SessionView:
    visit = checked_in(db, clinic, plan, at)
    consented(db, plan.patient_id, at)
    return ss.start_session(db, clinic.actors["nurse"], visit.id, visit.version,
                            ss.StartIn(ketamine_lot_number=KETAMINE_LOT), now=at, double_check=clinic.actors["physician"])


def event(db, actor, session_id: int, body: dict[str, Any], at: datetime) -> ss.EventView:
    return ss.append_event(db, actor, session_id, EVENT.validate_python(body), now=at)


def completed(db, clinic, plan: pl.PlanView, at: datetime) -> ss.SessionView:
    """A whole visit: started at ``at``, two sets of vitals, stopped after 2 h, discharged 65 min later."""
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, plan, at)
    event(db, nurse, visit.id, NORMAL_VITALS, at + timedelta(minutes=15))
    event(db, nurse, visit.id, NORMAL_VITALS, at + timedelta(minutes=45))
    visit = ss.get_session(db, nurse, visit.id)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=at + timedelta(minutes=120))
    return ss.discharge_session(db, nurse, visit.id, visit.version, ss.DischargeIn.model_validate(DISCHARGE),
                                now=at + timedelta(minutes=185))
