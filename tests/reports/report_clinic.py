"""A small clinic on SQLite, built once per test module, for the PDF documents' tests.

PDFs take about a second each to draw, so each module renders its documents once (module-scoped
fixtures) and asserts many things on them; the rows come through the services with fixed times
(``tests/interop/flows.py``), so the numbers the documents must print are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ketaclinic.records.db import Database
from ketaclinic.services import diary as dy
from ketaclinic.services import sessions as ss
from ketaclinic.settings import Settings
from tests.conftest import Clinic, build_clinic
from tests.conftest import module_database as shared_module_database
from tests.interop.flows import DISCHARGE, T0, completed, event, running, signed_plan

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def module_database(tmp_path: Path, sqlite_template: Path) -> tuple[Settings, Database]:
    return shared_module_database(tmp_path, sqlite_template, "reports.db")


def make_clinic(db: Database) -> Clinic:
    """One user per role; the patient user owns "Synthetic Own"; "Synthetic Other" is someone else."""
    from ketaclinic.services.patients import PatientIn

    return build_clinic(db, PatientIn(given_name="Synthetic", family_name="Own", birth_date=date(1970, 1, 2),
                                        sex="female", weight_kg=68.0, email="own@example.org"),
                        PatientIn(given_name="Synthetic", family_name="Other", birth_date=date(1980, 3, 4),
                                        sex="male", weight_kg=80.0))


@dataclass(frozen=True)
class SummaryStory:
    """What the own patient's records say, so the tests know what the summary must print."""

    now: datetime
    session_days: list[date]
    pain_before: float
    pain_after: float
    mme_before: float
    mme_after: float
    followup_nrs: float
    reduction_pct: float
    next_session: datetime


def _diary(db, actor, patient_id: int, first: date, days: int, **values) -> None:
    urinary_on = values.pop("urinary_on", None)
    for offset in range(days):
        day = first + timedelta(days=offset)
        at = datetime.combine(day, datetime.min.time()).replace(tzinfo=T0.tzinfo) + timedelta(hours=20)
        dy.add_entry(db, actor, dy.DiaryIn(patient_id=patient_id, day=day,
                                           urinary_symptoms={"frequency": day == urinary_on}, **values), now=at)


def session_with_side_effect(db, clinic: Clinic, plan, at: datetime) -> ss.SessionView:
    """A whole visit in which the nurse records mild dizziness and slows the drip once."""
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, plan, at)
    event(db, nurse, visit.id, {"kind": "vitals", "systolic_mmhg": 130, "diastolic_mmhg": 80, "heart_rate_bpm": 76,
                                "spo2_pct": 98, "respiratory_rate_per_min": 14, "moaas": 5,
                                "side_effects": [{"code": "dizziness", "severity": "mild"}]}, at + timedelta(minutes=15))
    event(db, nurse, visit.id, {"kind": "side_effect", "code": "dizziness", "severity": "mild"}, at + timedelta(minutes=16))
    event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.25, "reason": "dizzy"},
          at + timedelta(minutes=60))
    visit = ss.get_session(db, nurse, visit.id)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=at + timedelta(minutes=120))
    return ss.discharge_session(db, nurse, visit.id, visit.version, ss.DischargeIn.model_validate(DISCHARGE),
                                now=at + timedelta(minutes=185))


def build_summary_story(db: Database, clinic: Clinic) -> SummaryStory:
    """The own patient: CRPS, pain 8 at assessment; three weeks of diary at 8 with 20 mg oxycodone a day
    (30 mg morphine); three sessions two days apart; then pain 3 with 10 mg oxycodone (15 mg morphine)
    for 30 days, one day with urinary frequency; a fourth session booked."""
    pid = clinic.own_patient_id
    patient = clinic.actors["patient"]
    plan = signed_plan(db, clinic, pid, now=T0)  # evaluation: CRPS, NRS 8; outpatient infusion for 68 kg
    first = T0 + timedelta(days=7)
    _diary(db, patient, pid, (first - timedelta(days=21)).date(), 21, pain_nrs=8, mood=3, sleep=4, function=3,
           opioid_doses=[{"opioid": "oxycodone", "daily_dose_mg": 20}])
    days = [first, first + timedelta(days=2), first + timedelta(days=4)]
    session_with_side_effect(db, clinic, plan, days[0])
    completed(db, clinic, plan, days[1])
    completed(db, clinic, plan, days[2])
    after = days[2].date() + timedelta(days=1)
    _diary(db, patient, pid, after, 30, pain_nrs=3, mood=7, sleep=7, function=6,
           opioid_doses=[{"opioid": "oxycodone", "daily_dose_mg": 10}], urinary_on=after + timedelta(days=27))
    now = datetime.combine(after + timedelta(days=30), datetime.min.time()).replace(tzinfo=T0.tzinfo) + timedelta(hours=10)
    booked = (now + timedelta(days=6)).replace(hour=9, minute=30)
    ss.schedule_session(db, clinic.actors["nurse"], ss.SessionIn(patient_id=pid, plan_id=plan.id, scheduled_at=booked),
                        now=now - timedelta(days=1))
    return SummaryStory(now=now, session_days=[d.date() for d in days], pain_before=8.0, pain_after=3.0,
                        mme_before=30.0, mme_after=15.0, followup_nrs=3.0, reduction_pct=62.5, next_session=booked)
