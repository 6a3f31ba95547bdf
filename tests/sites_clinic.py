"""A clinic of two sites with N patients in treatment each, written straight as records (fast, no demo).

Each patient has a signed evaluation and plan, three discharged sessions, a diary, a session booked
today; every fourth patient has a session under way with an open alert. Used by the site filter tests
and the dashboard statement-count test (tests/web/test_dashboard_cost.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ketaclinic.clinical.protocols import PROTOCOL_IDS
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.inquiries import Inquiry
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession, SessionEvent


@dataclass
class SiteRecords:
    site_id: int
    patient_ids: list[int] = field(default_factory=list)
    session_today_ids: list[int] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)
    inquiry_ids: list[int] = field(default_factory=list)


def add_patients(db, site_id: int, count: int, *, now: datetime, signer_id: int, tag: str) -> SiteRecords:
    """``count`` patients in treatment at ``site_id`` (family name ``<tag><n>``)."""
    out = SiteRecords(site_id)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.transaction() as uow:
        for n in range(count):
            patient = Patient(given_name="Synthetic", family_name=f"{tag}{n:04d}", birth_date=date(1970, 1, 1 + n % 28),
                              sex="female", site_id=site_id, created_by=signer_id)
            uow.add(patient)
            uow.flush()
            started = now - timedelta(days=120)
            evaluation = Evaluation(patient_id=patient.id, screening_input={"pain": {"nrs_now": 7}}, status="signed",
                                    signed_by=signer_id, signed_at=started, created_at=started)
            uow.add(evaluation)
            uow.flush()
            plan = Plan(patient_id=patient.id, evaluation_id=evaluation.id, protocol_id=PROTOCOL_IDS[0], weight_kg=70.0,
                        concentration_mg_per_ml=1.0, steps=[], pump_program={}, series_rule={"sessions": 3},
                        status="signed", signed_by=signer_id, signed_at=started, created_at=started)
            uow.add(plan)
            uow.flush()
            for k in range(3):
                at = started + timedelta(days=7 * k + 3)
                uow.add(InfusionSession(patient_id=patient.id, plan_id=plan.id, site_id=site_id, scheduled_at=at,
                                        state="discharged", checklist={}, started_at=at, ended_at=at + timedelta(hours=1),
                                        discharged_at=at + timedelta(hours=2)))
            for day in range(0, 100, 5):
                uow.add(DiaryEntry(patient_id=patient.id, recorded_at=started + timedelta(days=day + 1),
                                   pain_nrs=3 if day < 60 else 6, opioid_doses=[], urinary_symptoms={}))
            state = "running" if n % 4 == 0 else "scheduled"
            booked = InfusionSession(patient_id=patient.id, plan_id=plan.id, site_id=site_id, state=state, checklist={},
                                     scheduled_at=today + timedelta(hours=8, minutes=n % 50),
                                     started_at=now - timedelta(minutes=30) if state == "running" else None)
            uow.add(booked)
            uow.flush()
            out.patient_ids.append(patient.id)
            out.session_today_ids.append(booked.id)
            if state == "running":
                alert = SessionEvent(session_id=booked.id, kind="alert", minute=20.0, recorded_at=now - timedelta(minutes=10),
                                     payload={"code": "spo2_low", "severity": "critical",
                                              "message": f"SpO2 88% ({tag}{n:04d})", "action": "Stop the infusion"})
                uow.add(alert)
                uow.flush()
                out.alert_ids.append(alert.id)
            if n % 5 == 0:
                inquiry = Inquiry(name=f"Inquirer {tag}{n:04d}", phone="+34 600 000 000", preferred_contact="phone",
                                  message="", consent_to_contact=True, status="new", received_at=now,
                                  answer_by=now + timedelta(days=1), site_id=site_id)
                uow.add(inquiry)
                uow.flush()
                out.inquiry_ids.append(inquiry.id)
    return out


def utc_now() -> datetime:
    return datetime.now(UTC)
