"""A course built once per test module for the letters and the session record.

The rows go through the services with fixed times (``tests/interop/flows.py``), so every number the
documents must print is known here: the doses, the rate change and its reason, the alert and what
the nurse did, the amended side effect, the discharge, and the diary before and after.

The story (all synthetic): Ada Synthetic-Lovell, CRPS, pain 8/10 at the evaluation, referred by
"Dr Jane Referrer (synthetic)". Two weeks of diary at pain 8 with oxycodone 20 mg/day (30 MME);
three sessions of the outpatient infusion (68 kg: 13.6 mg bolus, then 34 mg/h = 34 mL/h at 1 mg/mL);
in the first, moderate nausea raises an alert, ondansetron is given (lot SYN-OND-0426), the rate is
reduced to 0.4 mg/kg/h (27.2 mL/h) "for nausea", and a mild dissociation is amended to moderate.
After the course, twenty days of diary at pain 4 and 5 alternating (mean 4.5: 43.75 % less,
a responder at 30 % but not at 50 %) with oxycodone 10 mg/day (15 MME).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ketaclinic.records.db import Database
from ketaclinic.services import diary as dy
from ketaclinic.services import evaluations as ev
from ketaclinic.services import sessions as ss
from ketaclinic.settings import Settings
from tests.conftest import Clinic, build_clinic
from tests.conftest import module_database as shared_module_database
from tests.interop.flows import (
    DISCHARGE,
    NORMAL_VITALS,
    SCREENING,
    T0,
    completed,
    event,
    running,
    screening,
    signed_plan,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
REFERRER = "Dr Jane Referrer (synthetic)"
REFERRER_CONTACT = "Riverside Family Practice (synthetic)\n12 Example Road, Springfield\nTel 555-0100"
ONDANSETRON_LOT = "SYN-OND-0426"
RATE_REASON = "moderate nausea: rate reduced per protocol"
ALERT_ACTION = "Ondansetron 4 mg IV given; rate reduced"
AMEND_REASON = "re-assessed at the bedside: dissociation was moderate"
NOW = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)


def module_database(tmp_path: Path, sqlite_template: Path) -> tuple[Settings, Database]:
    return shared_module_database(tmp_path, sqlite_template, "letters.db")


def make_clinic(db: Database) -> Clinic:
    """One user per role; the patient user is Ada (with a referrer); Ben (no referrer) is someone else."""
    from ketaclinic.services.patients import PatientIn

    return build_clinic(db, PatientIn(given_name="Ada", family_name="Synthetic-Lovell", birth_date=date(1970, 1, 2), sex="female",
                                        weight_kg=68.0, referring_physician=REFERRER,
                                        referring_physician_contact=REFERRER_CONTACT),
                        PatientIn(given_name="Ben", family_name="Synthetic-Other", birth_date=date(1980, 3, 4),
                                        sex="male", weight_kg=80.0))


@dataclass(frozen=True)
class Story:
    clinic: Clinic
    evaluation_id: int
    plan_id: int
    session_ids: list[int]
    eventful_session_id: int
    draft_evaluation_id: int
    other_evaluation_id: int  # Ben: signed, not eligible (pregnancy), no referrer
    amended_event_id: int
    sparse_patient_id: int  # Cleo: one session, no diary at all (the letter must say what is missing)


def _diary(db, actor, patient_id: int, first: date, days: int, pains: list[int], **values) -> None:
    for offset in range(days):
        day = first + timedelta(days=offset)
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=20)
        dy.add_entry(db, actor, dy.DiaryIn(patient_id=patient_id, day=day, pain_nrs=pains[offset % len(pains)],
                                           **values), now=at)


def eventful_session(db, clinic: Clinic, plan, at: datetime) -> tuple[int, int]:
    """Nausea (alert, answered), ondansetron with its lot, a rate change, an amended side effect, a discharge."""
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, plan, at)
    event(db, nurse, visit.id, NORMAL_VITALS, at + timedelta(minutes=15))
    raised = event(db, nurse, visit.id, {**NORMAL_VITALS, "side_effects": [{"code": "nausea", "severity": "moderate"}]},
                   at + timedelta(minutes=30))
    alert_id = raised.raised[0].id
    event(db, nurse, visit.id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg", "route": "iv",
                                "lot_number": ONDANSETRON_LOT, "reason": "nausea"}, at + timedelta(minutes=32))
    event(db, nurse, visit.id, {"kind": "alert_ack", "alert_event_id": alert_id, "action_taken": ALERT_ACTION},
          at + timedelta(minutes=33))
    event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.4, "reason": RATE_REASON},
          at + timedelta(minutes=35))
    mild = event(db, nurse, visit.id, {"kind": "side_effect", "code": "dissociation", "severity": "mild"},
                 at + timedelta(minutes=50))
    event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": mild.id, "reason": AMEND_REASON,
                                "correction": {"severity": "moderate"}}, at + timedelta(minutes=55))
    event(db, nurse, visit.id, NORMAL_VITALS, at + timedelta(minutes=60))
    visit = ss.get_session(db, nurse, visit.id)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=at + timedelta(minutes=120))
    visit = ss.discharge_session(db, nurse, visit.id, visit.version, ss.DischargeIn.model_validate(DISCHARGE),
                                 now=at + timedelta(minutes=185))
    return visit.id, mild.id


def build_story(db: Database, clinic: Clinic) -> Story:
    pid = clinic.own_patient_id
    patient = clinic.actors["patient"]
    plan = signed_plan(db, clinic, pid, now=T0)  # evaluation at T0 (CRPS, NRS 8), plan for 68 kg
    _diary(db, patient, pid, (T0 - timedelta(days=14)).date(), 14, [8], function=3,
           opioid_doses=[{"opioid": "oxycodone", "daily_dose_mg": 20}])
    days = [T0 + timedelta(days=2), T0 + timedelta(days=4), T0 + timedelta(days=7)]
    eventful, amended = eventful_session(db, clinic, plan, days[0])
    second = completed(db, clinic, plan, days[1])
    third = completed(db, clinic, plan, days[2])
    _diary(db, patient, pid, days[2].date() + timedelta(days=1), 20, [4, 5], function=6,
           opioid_doses=[{"opioid": "oxycodone", "daily_dose_mg": 10}])
    draft = ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(
        patient_id=pid, screening=screening(pain={"nrs_now": 5})), now=NOW - timedelta(days=1))
    other = ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(
        patient_id=clinic.other_patient_id, screening={**SCREENING, "patient": {**SCREENING["patient"], "pregnant": True,
                                                                                 "weight_kg": 80}}), now=T0)
    other = ev.sign_evaluation(db, clinic.actors["physician"], other.id, other.version, now=T0 + timedelta(hours=1))
    from ketaclinic.services.patients import PatientIn, create_patient

    cleo = create_patient(db, clinic.actors["coordinator"], PatientIn(
        given_name="Cleo", family_name="Synthetic-Sparse", birth_date=date(1975, 5, 6), sex="female", weight_kg=68.0),
        now=T0)
    from tests.consent_support import sign_consent

    sign_consent(db, cleo.id, now=T0)  # issue 13: consent before the course's first infusion
    completed(db, clinic, signed_plan(db, clinic, cleo.id, now=T0), T0 + timedelta(days=20))
    return Story(clinic=clinic, evaluation_id=plan.evaluation_id, plan_id=plan.id,
                 session_ids=[eventful, second.id, third.id], eventful_session_id=eventful,
                 draft_evaluation_id=draft.id, other_evaluation_id=other.id, amended_event_id=amended,
                 sparse_patient_id=cleo.id)
