"""The synthetic demo clinic (contract 4.6): about 40 patients over 18 months, every feature on show.

Everything is made through the services, as the demo users, so every record passed the same
rules (screening, dosing limits, checklist, alert rules, discharge criteria) and left the same
audit entries as real work would. It is seeded (``random.Random(seed)``): the same seed and the
same ``now`` give the same clinic; dates are placed relative to ``now`` so the clinic always looks
current (a session is running *today*, some relief is fading *this week*).

Every name says it is synthetic ("Synthetic Patient 07 (demo)", ``@example.invalid``), and every
note, diary entry and inquiry says so again. Seeding is idempotent: a database that already has
the demo patients is left alone. The demo password comes from ``KETACLINIC_DEMO_PASSWORD``
(``demo-clinic`` by default, which production refuses; see ``Settings.demo_password_for_seeding``).

What is shown (issue 5): inquiries answered, scheduled, closed and pending (one overdue);
evaluations with every screening outcome (eligible, with precautions, not eligible for several
reasons, one draft awaiting sign-off, one amended); signed plans of several protocols (one with
a physician's soft-limit override); completed sessions with vitals, side effects, alerts and their
acknowledgements, rate changes and rescue medication with lot numbers; a session in progress
today with an open alert; a cancelled and an upcoming visit; diaries of responders,
non-responders and relief that fades (a booster suggested), and a booster given.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select

from ketaclinic import demo_prn
from ketaclinic.records.db import Database
from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.records.users import User
from ketaclinic.services import billing as billing_service
from ketaclinic.services import consent as consent_service
from ketaclinic.services import diary as diary_service
from ketaclinic.services import evaluations as evaluation_service
from ketaclinic.services import follow_up as follow_up_service
from ketaclinic.services import inquiries as inquiry_service
from ketaclinic.services import plans as plan_service
from ketaclinic.services import questionnaires as questionnaire_service
from ketaclinic.services import register as register_service
from ketaclinic.services import sessions as session_service
from ketaclinic.services.auth import actor_for
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import PatientIn, create_patient, has_demo
from ketaclinic.services.schedule_demo import seed_demo_schedule
from ketaclinic.services.users import UserCreate, create_user
from ketaclinic.settings import Settings

SYNTHETIC = "Synthetic demo record: not a real person."
DEMO_ROLES = ("admin", "physician", "nurse", "coordinator")
EVENT = TypeAdapter(session_service.EventIn)

CONDITIONS = ("crps", "fibromyalgia", "diabetic_neuropathy", "postherpetic_neuralgia", "phantom_limb",
              "chronic_low_back", "migraine", "spinal_cord_injury", "peripheral_neuropathy", "trigeminal_neuralgia",
              "cancer_pain", "sickle_cell", "ischemic_pain", "other_neuropathic")
# screening profiles: most eligible, some with precautions, one of each refusal
NOT_ELIGIBLE = ("hypertension_uncontrolled", "psychosis_active", "pain_not_chronic", "not_refractory",
                "substance_use_active", "pregnancy")
PRECAUTIONS = ("psychosis_history", "hypertension_borderline", "substance_use_history", "intraocular_pressure")
# plan protocols and their demo steps (shorter sessions keep the demo small; all within the protocol's limits)
PROTOCOL_STEPS: dict[str, list[dict[str, Any]] | None] = {
    "outpatient_infusion": [{"kind": "bolus", "dose_mg_per_kg": 0.2},
                            {"kind": "infusion", "rate_mg_per_kg_per_h": 0.5, "duration_min": 120}],
    "titrated_infusion": [{"kind": "infusion", "rate_mg_per_kg_per_h": 0.2, "duration_min": 120}],
    "single_infusion_40min": None,
    "intermittent_bolus": None,
    "schwartzman2009": None,
}
RESPONSES = ("responder", "fading", "partial", "non_responder", "responder_booster", "non_responder", "responder")
# The demo staff sign with synthetic names marked as demo data, like every demo patient (issue 12)
DEMO_STAFF_NAMES: dict[str, tuple[str, str | None]] = {
    "admin": (f"Alex Synthetic {DEMO_MARK}", None), "physician": (f"Dana Synthetic {DEMO_MARK}", "MD"),
    "nurse": (f"Robin Synthetic {DEMO_MARK}", "RN"), "coordinator": (f"Casey Synthetic {DEMO_MARK}", None),
}


@dataclass
class DemoSummary:
    seeded: bool
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    patient_user_patient_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"seeded": self.seeded, "reason": self.reason, "counts": self.counts, "users": self.users,
                "patient_user_patient_id": self.patient_user_patient_id}


def is_empty(db: Database) -> bool:
    with db.reading() as uow:
        return not uow.execute(select(func.count()).select_from(Patient)).scalar_one() and \
            not uow.execute(select(func.count()).select_from(User)).scalar_one()


class _Clinic:
    def __init__(self, db: Database, settings: Settings, now: datetime, seed: int, patients: int):
        self.db, self.settings, self.now, self.patients = db, settings, now, patients
        self.rng = random.Random(seed)
        self.counts: dict[str, int] = {}
        self.actors: dict[str, Actor] = {}

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    # -- users ------------------------------------------------------------------------------

    def user(self, username: str, role: str, patient_id: int | None = None) -> Actor:
        with self.db.reading() as uow:
            existing = uow.execute(select(User).where(User.username == username)).scalar_one_or_none()
            if existing is not None:
                return actor_for(existing, "127.0.0.1")
        full_name, credentials = DEMO_STAFF_NAMES.get(role, (None, None))  # patients: none
        view = create_user(self.db, Actor.system("demo"), UserCreate(
            username=username, role=role, password=self.settings.demo_password_for_seeding(), patient_id=patient_id,
            full_name=full_name, credentials=credentials))
        with self.db.reading() as uow:
            return actor_for(uow.get(User, view.id), "127.0.0.1")  # type: ignore[arg-type]

    # -- inquiries --------------------------------------------------------------------------

    def inquiries(self) -> None:
        coordinator = self.actors["coordinator"]
        public = Actor.public("127.0.0.1")
        plans = [("answered", 40), ("scheduled", 25), ("closed", 18), ("answered", 9), ("scheduled", 5),
                 ("new", 3), ("new", 0.2), ("new", 0.05)]
        for i, (status, days_ago) in enumerate(plans, start=1):
            at = self.now - timedelta(days=days_ago)
            receipt = inquiry_service.InquiryIn(
                name=f"Synthetic Inquirer {i:02d} {DEMO_MARK}", email=f"inquirer{i:02d}@example.invalid",
                preferred_contact="email", condition=self.rng.choice(["CRPS", "fibromyalgia", "nerve pain after shingles",
                                                                     "diabetic nerve pain", "phantom limb pain"]),
                message="Synthetic demo inquiry: I would like to know whether ketamine infusions could help my pain.",
                consent_to_contact=True)
            inquiry_service.submit_inquiry(self.db, self.settings, public, receipt, now=at)
            self.count("inquiries")
            inquiry_id = self._last_inquiry_id()
            later = at + timedelta(hours=self.rng.choice([2, 5, 20]))
            if status in ("answered", "scheduled", "closed"):
                inquiry_service.answer_inquiry(self.db, coordinator, inquiry_id, 1, inquiry_service.AnswerIn(
                    note="Synthetic demo: called back, explained the evaluation visit."), now=later)
            if status == "scheduled":
                inquiry_service.schedule_inquiry(self.db, coordinator, inquiry_id, 2, inquiry_service.ScheduleIn(
                    scheduled_for=later + timedelta(days=7), note="Synthetic demo: evaluation booked."), now=later)
            if status == "closed":
                inquiry_service.close_inquiry(self.db, coordinator, inquiry_id, 2, inquiry_service.CloseIn(
                    reason="Synthetic demo: chose treatment closer to home."), now=later)

    def _last_inquiry_id(self) -> int:
        from ketaclinic.records.inquiries import Inquiry

        with self.db.reading() as uow:
            return int(uow.execute(select(func.max(Inquiry.id))).scalar_one())

    # -- patients ---------------------------------------------------------------------------

    def screening(self, *, age: float, sex: str, weight: float, condition: str, nrs: int, refusal: str | None,
                  precaution: str | None) -> dict[str, Any]:
        rng = self.rng
        vitals = {"systolic_mmhg": rng.randint(112, 138), "diastolic_mmhg": rng.randint(68, 86),
                  "heart_rate_bpm": rng.randint(60, 86), "spo2_pct": rng.randint(96, 99)}
        history = {"cardiovascular": "none", "hypertension": "none", "intracranial_pressure": "normal",
                   "intraocular_pressure": "normal", "psychosis": "none", "hepatic_impairment": "none",
                   "substance_use": "none"}
        weeks = rng.randint(26, 400)
        prior = rng.sample(["antidepressant", "gabapentinoid", "anticonvulsant", "nsaid", "opioid", "nerve_block",
                            "physical_therapy", "psychotherapy", "topical"], k=rng.randint(2, 4))
        pregnant = False if sex == "female" and age < 50 else None
        if refusal == "hypertension_uncontrolled":
            vitals.update(systolic_mmhg=184, diastolic_mmhg=104)
        elif refusal == "psychosis_active":
            history["psychosis"] = "active"
        elif refusal == "pain_not_chronic":
            weeks = 8
        elif refusal == "not_refractory":
            prior = []
        elif refusal == "substance_use_active":
            history["substance_use"] = "active"
        elif refusal == "pregnancy":
            pregnant = True
        if precaution == "psychosis_history":
            history["psychosis"] = "history"
        elif precaution == "hypertension_borderline":
            vitals.update(systolic_mmhg=164, diastolic_mmhg=92)
        elif precaution == "substance_use_history":
            history["substance_use"] = "history"
        elif precaution == "intraocular_pressure":
            history["intraocular_pressure"] = "elevated"
        patient: dict[str, Any] = {"age_years": age, "sex": sex, "weight_kg": weight}
        if pregnant is not None:
            patient["pregnant"] = pregnant
        return {"patient": patient,
                "pain": {"conditions": [condition], "duration_weeks": weeks, "nrs_now": nrs, "prior_treatments": prior},
                "vitals": vitals, "history": history, "allergies": [],
                "medications": rng.sample(["duloxetine", "pregabalin", "ibuprofen", "oxycodone", "amitriptyline"], k=2)}

    @staticmethod
    def height_cm(index: int, sex: str) -> float | None:
        """A synthetic height (not drawn from the generator, so the rest of the demo stays as it was);
        every fourth chart has none recorded, so the 100 kg cap of design 4.3 v2 shows too."""
        if index % 4 == 3:
            return None
        return float((158 if sex == "female" else 170) + (index * 7) % 24)

    def patient(self, index: int) -> None:
        rng, now = self.rng, self.now
        nurse, physician, coordinator = self.actors["nurse"], self.actors["physician"], self.actors["coordinator"]
        condition = CONDITIONS[index % len(CONDITIONS)]
        sex = "female" if index % 5 in (0, 1, 3) else "male"
        age = rng.randint(24, 76)
        weight = round(rng.uniform(52, 104), 1)
        refusal = NOT_ELIGIBLE[index // 7 % len(NOT_ELIGIBLE)] if index % 7 == 6 else None
        if refusal == "pregnancy":
            sex, age = "female", rng.randint(24, 40)
        precaution = PRECAUTIONS[index % len(PRECAUTIONS)] if refusal is None and index % 5 == 4 else None
        # 18 months of clinic: the first patients started long ago, the last ones recently
        start = now - timedelta(days=int(540 - index * (500 / max(1, self.patients - 1))) + rng.randint(0, 6),
                                hours=rng.randint(0, 6))
        birth = date(now.year - age, rng.randint(1, 12), rng.randint(1, 28))
        view = create_patient(self.db, coordinator, PatientIn(
            given_name="Synthetic", family_name=f"Patient {index:02d} {DEMO_MARK}", birth_date=birth, sex=sex,  # type: ignore[arg-type]
            phone=f"+1 555 01{index:02d}", email=f"patient{index:02d}@example.invalid", weight_kg=weight,
            height_cm=self.height_cm(index, sex),
            referring_physician=f"Dr Synthetic Referrer {index % 5 + 1} {DEMO_MARK}",
            referring_physician_contact=f"Synthetic Family Practice {index % 5 + 1}, 1 Example Street; "
                                        f"referrals{index % 5 + 1}@example.invalid"), now=start)
        self.count("patients")
        consent_service.seed_demo_consent(self.db, view.id, now=start, contact=index % 6 != 5)  # issue 13
        if index == self.patient_user_index:  # the ``patient`` login belongs to this chart and writes its diary
            self.actors[f"patient:{view.id}"] = self.user("patient", "patient", view.id)
            self.patient_user_patient = view.id
        nrs = rng.randint(6, 9)
        document = self.screening(age=age, sex=sex, weight=weight, condition=condition, nrs=nrs, refusal=refusal,
                                  precaution=precaution)
        evaluated = start + timedelta(days=rng.randint(3, 10))
        evaluation = evaluation_service.create_evaluation(self.db, nurse, evaluation_service.EvaluationIn(
            patient_id=view.id, screening=document, notes=SYNTHETIC), now=evaluated)
        self.count("evaluations")
        if index == self.patients - 1:  # the newest patient: a draft waiting for the physician
            return
        evaluation = evaluation_service.sign_evaluation(self.db, physician, evaluation.id, evaluation.version,
                                                        now=evaluated + timedelta(hours=3))
        if refusal == "hypertension_uncontrolled":
            # a white-coat reading: the repeat was normal; the physician amends (the original stays)
            document["vitals"].update(systolic_mmhg=142, diastolic_mmhg=88)
            amended = evaluation_service.amend_evaluation(self.db, physician, evaluation.id, evaluation_service.AmendmentIn(
                screening=document, reason="Repeat blood pressure after 15 min rest was 142/88 (synthetic demo).",
                notes=SYNTHETIC), now=evaluated + timedelta(days=1))
            evaluation = evaluation_service.sign_evaluation(self.db, physician, amended.id, amended.version,
                                                            now=evaluated + timedelta(days=1, hours=1))
            self.count("amended_evaluations")
        if evaluation.decision == "not_eligible":
            return
        self.course(index, view.id, evaluation.id, weight, document, evaluated + timedelta(days=rng.randint(5, 12)), nrs)
        self.risk_checks(index, view.id)

    def risk_checks(self, index: int, patient_id: int) -> None:
        """Most patients are up to date with their 3-monthly cognition and misuse checks; every
        fourth is not, so the dashboards show overdue checks too."""
        if index % 4 == 0:
            return
        for code in ("cognition_check", "misuse_check"):
            done = (self.now - timedelta(days=self.rng.randint(3, 70))).date()
            follow_up_service.record_risk_check(self.db, self.actors["physician"], follow_up_service.RiskCheckIn(
                patient_id=patient_id, code=code, done_on=done, note=SYNTHETIC), now=self.now)
            self.count("risk_checks")

    def plan(self, index: int, patient_id: int, evaluation_id: int, at: datetime) -> plan_service.PlanView:
        physician = self.actors["physician"]
        protocols = list(PROTOCOL_STEPS)
        protocol = protocols[index % len(protocols)]
        if index == self.running_index:  # today's running visit is a continuous infusion, so the console shows a pump
            protocol = "titrated_infusion"
        body: dict[str, Any] = {"patient_id": patient_id, "evaluation_id": evaluation_id, "protocol": protocol}
        if PROTOCOL_STEPS[protocol]:
            body["steps"] = PROTOCOL_STEPS[protocol]
        if index % 11 == 6:  # a physician accepts a soft limit: a faster bolus push, with the reason recorded
            body.update(protocol="custom_iv", steps=[{"kind": "bolus", "dose_mg_per_kg": 0.4, "duration_min": 5},
                                                     {"kind": "infusion", "rate_mg_per_kg_per_h": 0.5,
                                                      "duration_min": 120}],
                        override={"reason": "Synthetic demo: 0.4 mg/kg tolerated well at a previous clinic."})
        draft = plan_service.create_plan(self.db, physician, plan_service.PlanIn.model_validate(body), now=at)
        self.count("plans")
        return plan_service.sign_plan(self.db, physician, draft.id, draft.version, now=at + timedelta(hours=1))

    def course(self, index: int, patient_id: int, evaluation_id: int, weight: float, document: dict[str, Any],
               first: datetime, nrs: int) -> None:
        now = self.now
        plan = self.plan(index, patient_id, evaluation_id, first - timedelta(days=2))
        demo_prn.add_orders(self, index, plan)  # PRN orders (issue 14)
        response = RESPONSES[index % len(RESPONSES)]
        if index == self.running_index:
            self.running_session(patient_id, plan, weight, document)
            return
        sessions = 1 if plan.protocol == "single_infusion_40min" else 3
        gap = 3 if plan.protocol == "intermittent_bolus" else 2
        if response == "fading":  # a course that ended ~5 weeks ago; relief is fading this week
            first = now - timedelta(days=38 + gap * sessions)
        days = [first + timedelta(days=gap * k) for k in range(sessions)]
        days = [d for d in days if d < now - timedelta(days=1)]
        if not days:
            return
        self.diary(patient_id, nrs, days[-1], response, start=days[0] - timedelta(days=8))
        for k, day in enumerate(days):
            self.session(patient_id, plan, weight, document, day.replace(hour=9, minute=0), with_alert=(index + k) % 4 == 0)
        if response == "responder_booster":
            booster_day = days[-1] + timedelta(days=70)
            if booster_day < now - timedelta(days=1):
                self.session(patient_id, plan, weight, document, booster_day.replace(hour=9, minute=0), with_alert=False)
                self.count("boosters")
        if index % 9 == 2:  # an upcoming visit and a cancelled one
            self.upcoming(patient_id, plan.id, index)

    # -- sessions ---------------------------------------------------------------------------

    @staticmethod
    def day_baseline(document: dict[str, Any]) -> dict[str, Any]:
        """The vitals on the day of a session (a borderline pressure at evaluation is treated by then)."""
        vitals = dict(document["vitals"])
        vitals["systolic_mmhg"] = min(vitals["systolic_mmhg"], 148)
        vitals["diastolic_mmhg"] = min(vitals["diastolic_mmhg"], 90)
        return vitals

    def checklist(self, document: dict[str, Any], at: datetime) -> session_service.ChecklistIn:
        sex, age = document["patient"]["sex"], document["patient"]["age_years"]
        may_be_pregnant = sex == "female" and age < 50
        facts: dict[str, Any] = {
            "fasting": {"asked": True, "last_light_meal_at": (at - timedelta(hours=9)).isoformat(),
                        "last_clear_liquid_at": (at - timedelta(hours=3)).isoformat()},
            "escort_present": True, "consent_signed": True, "baseline_vitals": self.day_baseline(document),
            "baseline_vitals_at": at.isoformat(), "can_become_pregnant": may_be_pregnant, "urinary_symptoms": "none",
        }
        if may_be_pregnant:
            facts.update(pregnancy_test="negative", pregnancy_test_at=(at - timedelta(minutes=30)).isoformat())
        return session_service.ChecklistIn.model_validate(facts)

    def vitals(self, base: dict[str, Any], *, kind: str = "normal", moaas: int = 5,
               side_effects: list[dict[str, str]] | None = None) -> dict[str, Any]:
        rng = self.rng
        out = {"kind": "vitals", "systolic_mmhg": base["systolic_mmhg"] + rng.randint(0, 12),
               "diastolic_mmhg": base["diastolic_mmhg"] + rng.randint(0, 8),
               "heart_rate_bpm": base["heart_rate_bpm"] + rng.randint(0, 10), "spo2_pct": rng.randint(96, 99),
               "respiratory_rate_per_min": rng.randint(12, 16), "moaas": moaas, "side_effects": side_effects or []}
        if kind == "spo2_low":
            out["spo2_pct"] = 92
        elif kind == "bp_high":
            out.update(systolic_mmhg=182, diastolic_mmhg=104)
        return out

    def start(self, patient_id: int, plan: plan_service.PlanView, weight: float, document: dict[str, Any],
              at: datetime, scheduled_by: Actor) -> session_service.SessionView:
        nurse = self.actors["nurse"]
        session = session_service.schedule_session(self.db, scheduled_by, session_service.SessionIn(
            patient_id=patient_id, plan_id=plan.id, scheduled_at=at), now=at - timedelta(days=3))
        session = session_service.check_in(self.db, nurse, session.id, session.version, session_service.CheckInIn(
            weight_kg=round(weight + self.rng.uniform(-0.8, 0.8), 1)), now=at - timedelta(minutes=20))
        session_service.append_event(self.db, nurse, session.id, EVENT.validate_python(
            {"kind": "note", "text": "Synthetic demo session: not a real patient."}), now=at - timedelta(minutes=19))
        session = session_service.record_checklist(self.db, nurse, session.id, session.version,
                                                 self.checklist(document, at - timedelta(minutes=15)),
                                                 now=at - timedelta(minutes=10))
        lot = session_service.StartIn(ketamine_lot_number=f"SYN-KET-{at:%y%m}-{self.rng.randint(100, 999)}")
        session = session_service.start_session(self.db, nurse, session.id, session.version, lot, now=at,
                                              double_check=self.actors["physician"])  # the independent check
        self.count("sessions")
        return session

    def event(self, session_id: int, body: dict[str, Any], at: datetime, actor: Actor | None = None) -> session_service.EventView:
        self.count("events")
        return session_service.append_event(self.db, actor or self.actors["nurse"], session_id, EVENT.validate_python(body),
                                            now=at)

    def session(self, patient_id: int, plan: plan_service.PlanView, weight: float, document: dict[str, Any],
                at: datetime, *, with_alert: bool) -> None:
        rng, nurse = self.rng, self.actors["nurse"]
        session = self.start(patient_id, plan, weight, document, at, self.actors["coordinator"])
        program = plan.pump_program["program"]
        minutes = sum(s["duration_min"] or 0 for s in program if s["kind"] != "oral") or 30
        base = self.day_baseline(document)
        has_infusion = any(s["kind"] == "infusion" for s in program)
        alert_at = 45 if minutes > 45 else 15
        t = 15
        while t <= minutes:
            kind = "normal"
            effects: list[dict[str, str]] = []
            if rng.random() < 0.35:
                effects.append({"code": rng.choice(["dizziness", "dissociation", "blurred_vision", "vivid_dreams"]),
                                "severity": "mild"})
            if with_alert and t == alert_at:
                kind = rng.choice(["spo2_low", "bp_high", "nausea"])
                if kind == "nausea":
                    effects = [{"code": "nausea", "severity": "moderate"}]
            result = self.event(session.id, self.vitals(base, kind=kind, side_effects=effects), at + timedelta(minutes=t))
            for alert in result.raised:
                self.count("alerts")
                action = alert.payload["action"]
                when = at + timedelta(minutes=t + 2)
                if action == "give_medication":
                    demo_prn.antiemetic(self, session.id, when)  # through the plan's PRN order (issue 14)
                elif action in ("reduce_rate", "pause_infusion") and has_infusion and session.state == "running":
                    current = next(s for s in program if s["kind"] == "infusion")
                    per_kg = current.get("rate_mg_per_kg_per_h") or current["rate_mg_per_h"] / plan.weight_kg
                    self.event(session.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": round(per_kg * 0.6, 3),
                                          "reason": f"Synthetic demo: {alert.payload['code']}"}, when)
                    self.count("rate_changes")
                self.event(session.id, {"kind": "alert_ack", "alert_event_id": alert.id,
                                      "action_taken": f"Synthetic demo: {action.replace('_', ' ')}; physician informed."},
                           when + timedelta(minutes=1))
            if effects and effects[0]["code"] != "nausea" and rng.random() < 0.3:
                self.event(session.id, {"kind": "side_effect", **effects[0], "note": "Synthetic demo: settled with reassurance."},
                           at + timedelta(minutes=t + 1))
            t += 30
        end = at + timedelta(minutes=minutes)
        session = session_service.get_session(self.db, nurse, session.id)
        session = session_service.stop_infusion(self.db, nurse, session.id, session.version, now=end)
        discharge = session_service.DischargeIn.model_validate({
            "observation": {"systolic_mmhg": base["systolic_mmhg"] + rng.randint(-4, 6),
                            "diastolic_mmhg": base["diastolic_mmhg"], "spo2_pct": base["spo2_pct"],
                            "heart_rate_bpm": base["heart_rate_bpm"] + rng.randint(-3, 5),
                            "respiratory_rate_per_min": 14, "moaas": 5},
            "padss": {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2, "bleeding": 2},
            "dissociation_resolved": True, "escort_present": True, "oriented": True, "steady_gait": True})
        session_service.discharge_session(self.db, nurse, session.id, session.version, discharge,
                                          now=end + timedelta(minutes=65))

    def running_session(self, patient_id: int, plan: plan_service.PlanView, weight: float, document: dict[str, Any]) -> None:
        """Today's visit, still running, with an alert the nurse has not yet acknowledged."""
        start = self.now - timedelta(minutes=40)
        session = self.start(patient_id, plan, weight, document, start, self.actors["coordinator"])
        base = self.day_baseline(document)
        self.event(session.id, self.vitals(base), start + timedelta(minutes=10))
        self.event(session.id, self.vitals(base, side_effects=[{"code": "dissociation", "severity": "mild"}]),
                   start + timedelta(minutes=25))
        self.event(session.id, self.vitals(base, kind="spo2_low", moaas=4), start + timedelta(minutes=38))
        self.count("running_sessions")

    def upcoming(self, patient_id: int, plan_id: int, index: int) -> None:
        coordinator = self.actors["coordinator"]
        soon = (self.now + timedelta(days=2 + index % 5)).replace(hour=9, minute=30, second=0, microsecond=0)
        session_service.schedule_session(self.db, coordinator, session_service.SessionIn(
            patient_id=patient_id, plan_id=plan_id, scheduled_at=soon), now=self.now - timedelta(hours=2))
        cancelled = session_service.schedule_session(self.db, coordinator, session_service.SessionIn(
            patient_id=patient_id, plan_id=plan_id, scheduled_at=soon - timedelta(days=1)), now=self.now - timedelta(days=3))
        session_service.cancel_session(self.db, coordinator, cancelled.id, cancelled.version, session_service.CancelIn(
            reason="Synthetic demo: patient unwell, rebooked."), now=self.now - timedelta(days=1))
        self.count("upcoming_sessions")
        self.count("cancelled_sessions")

    # -- diary ------------------------------------------------------------------------------

    def diary(self, patient_id: int, baseline: int, course_end: datetime, response: str, *, start: datetime) -> None:
        """Entries every third day (daily in the last week of a fading course): before the course at baseline,
        then after it as the response profile says, for up to 80 days."""
        rng, patient = self.rng, self.actors.get(f"patient:{patient_id}")
        writer = patient or self.actors["nurse"]
        today = self.now.date()
        last = min(today, (course_end + timedelta(days=80)).date())
        day = start.date()
        end_day = course_end.date()
        while day <= last:
            since = (day - end_day).days
            level = float(baseline)
            if since > 0:
                if response in ("responder", "responder_booster"):  # relief for ~6 weeks, then it wears off
                    level = baseline * (0.4 if since < 42 else min(0.95, 0.4 + (since - 42) / 30))
                elif response == "partial":
                    level = baseline * 0.65
                elif response == "non_responder":
                    level = baseline * 0.9
                elif response == "fading":
                    level = baseline * (0.35 if (today - day).days > 9 else 0.9)
            pain = max(0, min(10, round(level + rng.uniform(-0.8, 0.8))))
            step = 1 if response == "fading" and (today - day).days <= 10 else 3
            diary_service.add_entry(self.db, writer, diary_service.DiaryIn(
                patient_id=patient_id, day=day, pain_nrs=pain, mood=max(0, min(10, 10 - pain + rng.randint(-1, 1))),
                sleep=max(0, min(10, 9 - pain // 2 + rng.randint(-1, 1))),
                function=max(0, min(10, 10 - pain + rng.randint(-2, 1))),
                opioid_doses=[{"opioid": "oxycodone", "daily_dose_mg": 10 if pain > 5 else 5}] if patient_id % 3 == 0 else [],
                note="Synthetic demo entry."),
                now=self.now if day >= today else datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=20))
            self.count("diary_entries")
            day += timedelta(days=step)

    # -- the whole clinic -------------------------------------------------------------------

    def seed(self) -> DemoSummary:
        for role in DEMO_ROLES:
            self.actors[role] = self.user(role, role)
        self.inquiries()
        # the patient user belongs to a patient whose relief is fading (their booster suggestion shows)
        self.patient_user_index = next(i for i in range(1, self.patients) if RESPONSES[i % len(RESPONSES)] == "fading"
                                       and i % 7 != 6 and i % 5 != 4 and i % 11 != 6)
        self.running_index = next(i for i in range(self.patients - 2, 0, -1) if i % 7 != 6 and i != self.patient_user_index)
        self.patient_user_patient: int | None = None
        for index in range(1, self.patients + 1):
            self.patient(index)
        self.counts["questionnaire responses"] = questionnaire_service.seed_demo(  # issue 15
            self.db, now=self.now, due_for=self.patient_user_patient)
        self.counts["register entries"] = register_service.seed_demo(self.db, now=self.now)  # issue 14
        self.counts["invoices"] = billing_service.seed_demo(self.db, now=self.now, tz=self.settings.timezone)  # issue 15
        self.counts.update(seed_demo_schedule(self.db, now=self.now, clinic_timezone=self.settings.clinic_timezone))  # issue 13
        return DemoSummary(True, None, dict(sorted(self.counts.items())), [*DEMO_ROLES, "patient"],
                           self.patient_user_patient)


def seed_demo(db: Database, settings: Settings, *, now: datetime, seed: int = 2026, patients: int = 40,
              if_empty: bool = False) -> DemoSummary:
    """Seed the demo clinic; idempotent (a database that has it already is left as it is)."""
    password = settings.demo_password_for_seeding()  # refuses the default password in production
    assert password
    if if_empty and not is_empty(db):
        return DemoSummary(False, "the database is not empty")
    if has_demo(db):
        return DemoSummary(False, "the demo clinic is already there")
    return _Clinic(db, settings, now.astimezone(UTC), seed, max(8, patients)).seed()


def seed_demo_bulk(db: Database, settings: Settings, *, now: datetime, seed: int = 2026, patients: int,
                   progress: Any = None) -> dict[str, Any]:
    """The demo clinic group at scale (issue 17): ``ketaclinic.demo_bulk``, loaded in bulk."""
    from ketaclinic.demo_bulk import seed_bulk

    return seed_bulk(db, settings, now=now, seed=seed, patients=patients, progress=progress)
