"""A synthetic clinic group at scale (issue 17): ``ketaclinic demo --patients N`` for N above 400, up to 200,000.

The 40-patient demo (:mod:`ketaclinic.demo`) is made through the services, which is what makes it
trustworthy and what makes it slow (about 0.4 s a patient). At scale the same kinds of record are
written in bulk: ``executemany`` on SQLite, ``COPY`` (psycopg 3 ``cursor.copy``) on PostgreSQL, in
batches of patients, one transaction per batch.

How the bulk rows keep the records' invariants:

- **Made from service-made templates.** The 40-patient demo is seeded first, through the services
  (its users, inquiries, today's running session with an open alert, the patient login). Every bulk
  patient copies one of its patients' signed evaluation (screening input and result as the core
  judged them), signed plan (pump program, series and booster rule, dose check) and a discharged
  session's checklist, pump program and discharge assessment, with the times moved to the bulk
  patient's own days. So every JSON document is one the core produced, not an invented shape.
- **Sites.** Three sites are added to the default one (four in all; ``sites``), through the site
  service, and the demo staff work at all of them (the nurse at two). Patients are spread over them
  and each session is at its patient's site.
- **Append-only and sealed records are inserted, never changed.** The triggers refuse UPDATE and
  DELETE only, so bulk inserts pass them; a discharged or cancelled session is inserted in its final
  (sealed) state with its events, a signed evaluation and plan signed.
- **Audit.** Each batch writes ONE system audit entry (``demo.bulk_load``, user ``system:demo-bulk``)
  in the batch's transaction, naming the id range of every table it filled and the row counts, and
  chained at the commit like every entry (records/audit.py), so ``ketaclinic audit verify`` holds
  afterwards. One entry per row would double the load for no reader: nobody made these records.
- **Outcome summaries.** Each patient's course summary (records/course_summaries.py) is computed
  while the rows are made, with the same function the services use
  (:func:`ketaclinic.services.course_summaries.summary_values` over
  :func:`ketaclinic.services.outcomes.course_of`).
- **Ids** are given explicitly (the next free id of each table at the start); on PostgreSQL the
  sequences are moved past them at the end, and ``ANALYZE`` gives the planner its statistics.

Run it on a database nobody else writes to while it loads (a new clinic, a benchmark). It refuses a
database that already holds bulk patients (seeding is idempotent, like the small demo).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, text

from ketaclinic.records.audit import append as audit_append
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.records.users import User
from ketaclinic.services.context import Actor
from ketaclinic.services.course_summaries import summary_values
from ketaclinic.services.errors import ServiceError
from ketaclinic.services.outcomes import course_of
from ketaclinic.services.patient_facts import PatientFacts
from ketaclinic.settings import Settings

MAX_PATIENTS = 200_000
SMALL_DEMO = 40
BULK_MARK = f"Bulk {{:06d}} {DEMO_MARK}"
EXTRA_SITES = (("Synthetic North clinic (demo)", "NORTH"), ("Synthetic South clinic (demo)", "SOUTH"),
               ("Synthetic East clinic (demo)", "EAST"))
SPAN_DAYS = 540  # 18 months of clinic, as the small demo
BATCH_PATIENTS = 1000
ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|\+00:00)?$")
RESPONSES = ("responder", "responder", "responder", "partial", "partial", "non_responder", "non_responder", "fading")
SIDE_EFFECTS = ("dizziness", "dissociation", "blurred_vision", "vivid_dreams")
NOTE = "Synthetic demo record: not a real person."

TABLES: dict[str, tuple[str, ...]] = {
    "patients": ("id", "version", "created_at", "created_by", "given_name", "family_name", "birth_date", "sex", "phone",
                 "email", "referring_physician", "referring_physician_contact", "height_cm", "site_id", "updated_at",
                 "updated_by"),
    "patient_versions": ("id", "patient_id", "version", "data", "recorded_at", "recorded_by"),
    "patient_weights": ("id", "patient_id", "weight_kg", "measured_at", "source", "created_at", "created_by"),
    "evaluations": ("id", "version", "created_at", "created_by", "patient_id", "screening_input", "screening_result",
                    "rule_version", "notes", "status", "signed_by", "signed_at", "amends_id"),
    "plans": ("id", "version", "created_at", "created_by", "patient_id", "evaluation_id", "protocol_id", "weight_kg",
              "concentration_mg_per_ml", "steps", "pump_program", "series_rule", "dose_check", "rule_version", "status",
              "signed_by", "signed_at", "supersedes_id"),
    "sessions": ("id", "version", "created_at", "created_by", "patient_id", "plan_id", "site_id", "scheduled_at", "state",
                 "checklist", "pump_program", "weight_kg", "started_at", "ended_at", "discharged_at", "discharge"),
    "session_events": ("id", "session_id", "kind", "payload", "minute", "recorded_at", "recorded_by", "amends_event_id",
                       "created_at"),
    "diary_entries": ("id", "version", "patient_id", "recorded_at", "pain_nrs", "mood", "sleep", "function",
                      "opioid_doses", "urinary_symptoms", "note", "amends_id", "created_at", "created_by"),
    "risk_checks": ("id", "patient_id", "code", "done_on", "result", "note", "created_at", "created_by"),
    "course_summaries": ("patient_id", "site_id", "reason", "condition", "baseline_nrs", "course_start", "course_end",
                         "sessions_in_course", "first_booster_day", "boosters", "followup_nrs", "followup_days",
                         "reduction_pct", "responder_30", "responder_50", "two_point", "relief_days", "relief_lost",
                         "last_diary_day", "updated_at"),
}
ID_TABLES = ("patients", "patient_versions", "patient_weights", "evaluations", "plans", "sessions", "session_events",
             "diary_entries", "risk_checks")
BOOLEAN_COLUMNS = {("course_summaries", c) for c in ("responder_30", "responder_50", "two_point", "relief_lost")}


class BulkRefused(ServiceError):
    """The bulk demo cannot run on this database (why, in words); ``ketaclinic demo`` exits 2 with it."""

    def __init__(self, message: str):
        super().__init__(message, code="demo_refused", field="patients")


# --- time as whole minutes since the clinic's first day ---------------------------------------------------


class Clock:
    """Minutes since ``epoch`` (a UTC midnight) → the text each engine stores, from cached pieces (the load
    formats tens of millions of times: strftime would be most of it)."""

    def __init__(self, epoch: datetime, days: int, dialect: str):
        self.epoch = epoch
        self.days = [(epoch + timedelta(days=d)).date().isoformat() for d in range(days + 2)]
        self.tod = [f"{m // 60:02d}:{m % 60:02d}:00.000000" for m in range(1440)]
        self.tz = "+00" if dialect == "postgresql" else ""

    def day(self, minute: int) -> str:
        """The day's text, from the cache inside the clinic's span; computed outside it (a template's time
        may fall before the first day or after the last: a negative index must never wrap round the list)."""
        index = minute // 1440
        if 0 <= index < len(self.days):
            return self.days[index]
        return (self.epoch + timedelta(days=index)).date().isoformat()

    def db(self, minute: int) -> str:
        return f"{self.day(minute)} {self.tod[minute % 1440]}{self.tz}"

    def iso(self, minute: int, suffix: str = "+00:00") -> str:
        return f"{self.day(minute)}T{self.tod[minute % 1440]}{suffix}"

    def date(self, minute: int) -> date:
        return (self.epoch + timedelta(minutes=minute)).date()

    def minute_of(self, at: datetime) -> int:
        return int((at - self.epoch).total_seconds() // 60)


class Filler:
    """A JSON document made once by the services, with holes: every timestamp (moved with the record's own
    time) and the named keys (``plan_id``...). ``render(anchor_minute, **values)`` gives its text."""

    def __init__(self, document: Any, anchor: datetime, clock: Clock, named: tuple[str, ...] = ()):
        self.clock, self.holes = clock, []
        marked = self._mark(document, anchor, named)
        self.parts = json.dumps(marked, ensure_ascii=False).split('"@@KC-HOLE@@"')

    def _mark(self, value: Any, anchor: datetime, named: tuple[str, ...], key: str | None = None) -> Any:
        if key in named:
            self.holes.append(("named", key))
            return "@@KC-HOLE@@"
        if isinstance(value, dict):
            return {k: self._mark(v, anchor, named, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mark(v, anchor, named) for v in value]
        if isinstance(value, str) and (found := ISO.match(value)):
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            self.holes.append(("time", (round((at - anchor).total_seconds() / 60), found.group(4) or "")))
            return "@@KC-HOLE@@"
        return value

    def render(self, minute: int, **values: Any) -> str:
        out = [self.parts[0]]
        for (kind, what), part in zip(self.holes, self.parts[1:], strict=True):
            if kind == "time":
                offset, suffix = what
                out.append('"' + self.clock.iso(minute + offset, suffix) + '"')
            else:
                out.append(json.dumps(values[what]))
            out.append(part)
        return "".join(out)


@dataclass
class Template:
    """One service-made patient whose records the bulk patients copy."""

    birth_date: str
    sex: str
    height_cm: float | None
    weight_kg: float
    condition: str
    baseline_nrs: float
    screening_input: dict[str, Any]
    evaluation: tuple[str, str, str | None]  # screening_input, screening_result, rule_version (JSON texts)
    plan: dict[str, Any]  # column -> stored value (JSON as text)
    course_sessions: int
    interval_days: tuple[int, int]
    duration_min: int
    checklist: Filler
    pump_program: Filler
    discharge: Filler


@dataclass
class Staff:
    physician: int
    nurse: int
    coordinator: int


@dataclass
class Counters:
    next_id: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value


# --- templates from the service-made demo ------------------------------------------------------------------


def _templates(db: Database, clock: Clock) -> list[Template]:
    out: list[Template] = []
    with db.reading() as uow:
        plans = uow.execute(select(Plan).where(Plan.status == "signed").order_by(Plan.id)).scalars().all()
        for plan in plans:
            patient = uow.get(Patient, plan.patient_id)
            evaluation = uow.get(Evaluation, plan.evaluation_id) if plan.evaluation_id else None
            session = uow.execute(select(InfusionSession).where(InfusionSession.plan_id == plan.id,
                                                                InfusionSession.state == "discharged")
                                  .order_by(InfusionSession.id).limit(1)).scalar_one_or_none()
            if patient is None or evaluation is None or evaluation.status != "signed" or session is None \
                    or session.started_at is None or session.ended_at is None:
                continue
            pain = evaluation.screening_input.get("pain") or {}
            if not pain.get("nrs_now"):
                continue
            series = plan.series_rule or {}
            low, high = series.get("interval_days_min") or 2, series.get("interval_days_max") or 5
            start = session.started_at
            out.append(Template(
                birth_date=patient.birth_date.isoformat(), sex=patient.sex, height_cm=patient.height_cm,
                weight_kg=plan.weight_kg, condition=(pain.get("conditions") or ["other_neuropathic"])[0],
                baseline_nrs=float(pain["nrs_now"]), screening_input=evaluation.screening_input,
                evaluation=(json.dumps(evaluation.screening_input), json.dumps(evaluation.screening_result),
                            evaluation.rule_version),
                plan={"protocol_id": plan.protocol_id, "weight_kg": plan.weight_kg,
                      "concentration_mg_per_ml": plan.concentration_mg_per_ml, "steps": json.dumps(plan.steps),
                      "pump_program": json.dumps(plan.pump_program), "series_rule": json.dumps(plan.series_rule),
                      "dose_check": json.dumps(plan.dose_check), "rule_version": plan.rule_version},
                course_sessions=max(1, min(int(series.get("sessions") or 1), 10)),
                interval_days=(max(1, int(low)), max(int(low), min(int(high), 7))),
                duration_min=max(30, round((session.ended_at - start).total_seconds() / 60)),
                checklist=Filler(session.checklist, start, clock),
                pump_program=Filler(session.pump_program, start, clock,
                                    ("plan_id", "plan_signed_at", "ketamine_lot_number", "double_checked_by")),
                discharge=Filler(session.discharge, start, clock)))
    if not out:
        raise BulkRefused("the service-made demo has no signed plan with a discharged session to copy")
    return out


# --- one patient's records ----------------------------------------------------------------------------------


class Batch:
    """The rows of one batch of patients, table by table (values in the engine's stored form)."""

    def __init__(self, dialect: str):
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        self.true: Any = True if dialect == "postgresql" else 1
        self.false: Any = False if dialect == "postgresql" else 0


class Generator:
    def __init__(self, clock: Clock, now_minute: int, templates: list[Template], sites: list[int], staff: Staff,
                 counters: Counters, seed: int, dialect: str):
        self.clock, self.now, self.templates, self.sites, self.staff = clock, now_minute, templates, sites, staff
        self.ids, self.rng, self.dialect = counters, random.Random(seed), dialect

    def patient(self, index: int, batch: Batch) -> None:
        rng, c, ids, staff = self.rng, self.clock, self.ids, self.staff
        rows = batch.rows
        t = self.templates[rng.randrange(len(self.templates))]
        site = self.sites[index % len(self.sites)]
        start = rng.randrange(0, (SPAN_DAYS - 20) * 1440)  # when the patient came to the clinic
        pid = ids.take("patients")
        weight = round(t.weight_kg + rng.uniform(-0.8, 0.8), 1)
        name = BULK_MARK.format(index)
        referrer = f"Dr Synthetic Referrer {index % 50 + 1} {DEMO_MARK}"
        contact = f"Synthetic Family Practice {index % 50 + 1}, 1 Example Street; referrals@example.invalid"
        email = f"bulk{index:06d}@example.invalid"
        phone = f"+1 555 9{index:06d}"
        at = c.db(start)
        rows["patients"].append((pid, 1, at, staff.coordinator, "Synthetic", name, t.birth_date, t.sex, phone, email,
                                 referrer, contact, t.height_cm, site, at, staff.coordinator))
        rows["patient_versions"].append((ids.take("patient_versions"), pid, 1, json.dumps({
            "given_name": "Synthetic", "family_name": name, "birth_date": t.birth_date, "sex": t.sex, "phone": phone,
            "email": email, "referring_physician": referrer, "referring_physician_contact": contact,
            "height_cm": t.height_cm, "weight_kg": weight}), at, staff.coordinator))
        rows["patient_weights"].append((ids.take("patient_weights"), pid, weight, at, "chart", at, staff.coordinator))
        evaluated = start + rng.randrange(3 * 1440, 10 * 1440)
        eid = ids.take("evaluations")
        screening_input, screening_result, rule_version = t.evaluation
        rows["patient_weights"].append((ids.take("patient_weights"), pid, weight, c.db(evaluated), "evaluation",
                                        c.db(evaluated), staff.nurse))
        signed = rng.random() >= 0.02  # a few still wait for the physician's sign-off
        rows["evaluations"].append((eid, 2 if signed else 1, c.db(evaluated), staff.nurse, pid, screening_input,
                                    screening_result, rule_version, NOTE, "signed" if signed else "draft",
                                    staff.physician if signed else None, c.db(evaluated + 180) if signed else None,
                                    None))
        facts = PatientFacts(pid, evaluation=SimpleNamespace(screening_input=t.screening_input) if signed else None)
        if not signed:
            self._summary(batch, pid, site, facts)
            return
        planned = evaluated + rng.randrange(1440, 5 * 1440)
        plan_id = ids.take("plans")
        p = t.plan
        rows["plans"].append((plan_id, 2, c.db(planned), staff.physician, pid, eid, p["protocol_id"], p["weight_kg"],
                              p["concentration_mg_per_ml"], p["steps"], p["pump_program"], p["series_rule"],
                              p["dose_check"], p["rule_version"], "signed", staff.physician, c.db(planned + 60), None))
        response = RESPONSES[rng.randrange(len(RESPONSES))]
        # the initial course, then boosters while relief keeps fading and coming back
        days: list[int] = []
        day = (planned // 1440 + rng.randint(3, 14)) * 1440 + rng.randrange(8 * 60, 15 * 60, 15)
        for _ in range(t.course_sessions):
            days.append(day)
            day += rng.randint(*t.interval_days) * 1440
        course_end = days[-1]
        if response in ("responder", "fading"):
            gap = rng.randint(42, 70)
        elif response == "partial" and rng.random() < 0.5:
            gap = rng.randint(60, 90)
        else:
            gap = 0
        boosters: list[int] = []
        if gap:
            booster = course_end + gap * 1440
            while booster < self.now + 14 * 1440:
                boosters.append(booster)
                booster += rng.randint(gap - 10, gap + 10) * 1440
        session_times = days + boosters
        lot = f"SYN-KET-{c.day(session_times[0])[2:4]}{c.day(session_times[0])[5:7]}-{rng.randint(100, 999)}"
        for n, minute in enumerate(session_times):
            state = self._session(batch, t, pid, plan_id, planned + 60, site, minute, weight, lot,
                                  cancel=n > 0 and rng.random() < 0.03)
            if state == "discharged":
                facts.discharged_days.append(c.date(minute + t.duration_min + 65))
        self._diary(batch, pid, t, response, days[0], course_end, boosters, facts)
        checks = [("cognition_check", course_end), ("misuse_check", course_end)]
        if len(session_times) > 6:
            checks.append(("liver_tests", session_times[6]))
        for code, minute in checks:
            if minute <= self.now:
                rows["risk_checks"].append((ids.take("risk_checks"), pid, code, c.day(minute + 1440),
                                            "normal" if rng.random() > 0.03 else "abnormal", NOTE,
                                            c.db(minute + 1440), staff.physician))
        self._summary(batch, pid, site, facts)

    def _summary(self, batch: Batch, pid: int, site: int, facts: PatientFacts) -> None:
        from ketaclinic.services.diary import effective_days

        days = effective_days(facts.diary)
        values = summary_values(pid, site, course_of(facts, None), facts.discharged_days, days[-1].day if days else None)
        row = []
        for column in TABLES["course_summaries"]:
            if column == "updated_at":
                row.append(self.clock.db(self.now))
                continue
            value = values[column]
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, bool):
                value = batch.true if value else batch.false
            row.append(value)
        batch.rows["course_summaries"].append(tuple(row))

    def _session(self, batch: Batch, t: Template, pid: int, plan_id: int, plan_signed: int, site: int, minute: int,
                 weight: float, lot: str, *, cancel: bool) -> str:
        rng, c, ids, staff, rows = self.rng, self.clock, self.ids, self.staff, batch.rows
        sid = ids.take("sessions")
        scheduled = c.db(minute)
        booked = c.db(minute - 3 * 1440)
        ends = minute + t.duration_min
        out = minute + t.duration_min + 65
        if cancel and minute - 1440 <= self.now:  # called off the day before
            rows["sessions"].append((sid, 2, booked, staff.coordinator, pid, plan_id, site, scheduled, "cancelled",
                                     "{}", None, None, None, None, None, None))
            self._event(rows, sid, "state_change",
                        '{"from": "scheduled", "to": "cancelled", "reason": "Synthetic demo: patient unwell, rebooked."}',
                        None, minute - 1440, staff.coordinator)
            return "cancelled"
        if minute - 20 > self.now:  # still to come
            rows["sessions"].append((sid, 1, booked, staff.coordinator, pid, plan_id, site, scheduled, "scheduled",
                                     "{}", None, None, None, None, None, None))
            return "scheduled"
        day_weight = round(weight + rng.uniform(-0.8, 0.8), 1)
        pump = t.pump_program.render(minute, plan_id=plan_id, plan_signed_at=c.iso(plan_signed),
                                     ketamine_lot_number=lot, double_checked_by="physician")
        state = "discharged" if out <= self.now else ("observing" if ends <= self.now else "running")
        rows["sessions"].append((
            sid, 6 if state == "discharged" else 4, booked, staff.coordinator, pid, plan_id, site, scheduled, state,
            t.checklist.render(minute), pump, day_weight, c.db(minute), c.db(ends) if ends <= self.now else None,
            c.db(out) if state == "discharged" else None,
            t.discharge.render(minute) if state == "discharged" else None))
        nurse = staff.nurse
        self._event(rows, sid, "state_change", f'{{"from": "scheduled", "to": "checked_in", "weight_kg": {day_weight}, '
                                               f'"weight_flag": null}}', None, minute - 20, nurse)
        self._event(rows, sid, "note", '{"text": "Synthetic demo session: not a real patient."}', None, minute - 19, nurse)
        self._event(rows, sid, "note", '{"text": "Pump program checked against the signed plan by physician (independent '
                                       f'double check) before the start", "double_check": {{"by": "physician", "user_id": '
                                       f'{staff.physician}}}}}', None, minute, nurse)
        self._event(rows, sid, "state_change", f'{{"from": "checked_in", "to": "running", "plan_id": {plan_id}}}', 0.0,
                    minute, nurse)
        alert_at = 45 if rng.random() < 0.08 else -1
        base_sys, base_dia, base_hr = rng.randint(112, 138), rng.randint(68, 86), rng.randint(60, 86)
        m = 15
        while m <= t.duration_min and minute + m <= self.now:
            effects = ""
            if rng.random() < 0.3:
                effects = f'{{"code": "{SIDE_EFFECTS[rng.randrange(4)]}", "severity": "mild"}}'
            spo2 = rng.randint(96, 99)
            alerts = ""
            if m == alert_at:
                spo2 = 92
                alerts = ('{"code": "spo2_low", "severity": "warning", "action": "reduce_rate", "message": "SpO2 92% '
                          '(< 94%): reduce the rate, ask the patient to breathe deeply, consider oxygen, re-check in 5 '
                          'minutes.", "source": "clinic_policy"')
            vitals_id = self._event(
                rows, sid, "vitals",
                f'{{"observation": {{"minute": {m}.0, "systolic_mmhg": {base_sys + rng.randint(0, 12)}.0, '
                f'"diastolic_mmhg": {base_dia + rng.randint(0, 8)}.0, "heart_rate_bpm": {base_hr + rng.randint(0, 10)}.0, '
                f'"spo2_pct": {spo2}.0, "respiratory_rate_per_min": {rng.randint(12, 16)}.0, "moaas": 5, '
                f'"side_effects": [{effects}]}}, "alerts": [{alerts + "}" if alerts else ""}]}}', float(m), minute + m, nurse)
            if alerts:
                alert_id = self._event(rows, sid, "alert", f'{alerts}, "vitals_event_id": {vitals_id}}}', float(m),
                                       minute + m, nurse)
                if minute + m + 3 <= self.now and (state != "running" or rng.random() < 0.5):  # some still open
                    self._event(rows, sid, "alert_ack", f'{{"alert_event_id": {alert_id}, "action_taken": "Synthetic '
                                f'demo: reduce rate; physician informed.", "alert_code": "spo2_low"}}', float(m + 3),
                                minute + m + 3, nurse)
            if effects and rng.random() < 0.3:
                self._event(rows, sid, "side_effect", f'{effects[:-1]}, "note": "Synthetic demo: settled with '
                            'reassurance."}', float(m + 1), minute + m + 1, nurse)
            m += 30
        if ends <= self.now:
            self._event(rows, sid, "state_change", '{"from": "running", "to": "observing"}', float(t.duration_min), ends,
                        nurse)
        if state == "discharged":
            self._event(rows, sid, "state_change", '{"from": "observing", "to": "discharged"}',
                        float(t.duration_min + 65), out, nurse)
        return state

    def _event(self, rows: dict[str, list[tuple[Any, ...]]], sid: int, kind: str, payload: str, minute: float | None,
               at: int, by: int) -> int:
        eid = self.ids.take("session_events")
        stamp = self.clock.db(at)
        rows["session_events"].append((eid, sid, kind, payload, minute, stamp, by, None, stamp))
        return eid

    def _diary(self, batch: Batch, pid: int, t: Template, response: str, first: int, course_end: int,
               boosters: list[int], facts: PatientFacts) -> None:
        rng, c, ids, rows = self.rng, self.clock, self.ids, batch.rows
        baseline = t.baseline_nrs
        last = min(self.now, max([course_end, *[b for b in boosters if b <= self.now]]) + 84 * 1440)
        day = (first // 1440 - 14) * 1440 + 12 * 60  # midday UTC, as the diary service stores a day
        resets = [course_end, *boosters]
        writer = self.staff.nurse
        opioid = '[{"opioid": "oxycodone", "daily_dose_mg": 5}]' if pid % 3 == 0 else "[]"
        urinary = '{"frequency": false, "urgency": false, "bladder_pain": false, "blood_in_urine": false}'
        while day <= last:
            since_reset = max((day - r for r in resets if r <= day), default=-1) // 1440
            level = baseline
            if since_reset >= 0:
                if response == "responder":
                    level = baseline * (0.4 if since_reset < 42 else min(0.95, 0.4 + (since_reset - 42) / 30))
                elif response == "partial":
                    level = baseline * 0.65
                elif response == "non_responder":
                    level = baseline * 0.9
                else:  # fading: relief for three weeks
                    level = baseline * (0.35 if since_reset < 21 else 0.9)
            pain = max(0, min(10, round(level + rng.uniform(-0.8, 0.8))))
            entry = ids.take("diary_entries")
            stamp = c.db(day)
            rows["diary_entries"].append((entry, 1, pid, stamp, pain, max(0, min(10, 10 - pain + rng.randint(-1, 1))),
                                          max(0, min(10, 9 - pain // 2)), max(0, min(10, 10 - pain)), opioid, urinary,
                                          "Synthetic demo entry.", None, c.db(day + 8 * 60), writer))
            facts.diary.append(SimpleNamespace(id=entry, recorded_at=datetime.fromisoformat(c.day(day)).replace(
                tzinfo=UTC), pain_nrs=pain, amends_id=None))
            near = any(0 <= day - r < 90 * 1440 for r in resets) or day < course_end
            day += (3 if near else 7) * 1440


# --- writing ------------------------------------------------------------------------------------------------


def _write_sqlite(connection: Any, batch: Batch) -> None:
    raw = connection.connection.dbapi_connection
    cursor = raw.cursor()
    for table, rows in batch.rows.items():
        if rows:
            columns = TABLES[table]
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               rows)
    cursor.close()


def _write_postgresql(connection: Any, batch: Batch) -> None:
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor:
        for table, rows in batch.rows.items():
            if rows:
                with cursor.copy(f"COPY {table} ({', '.join(TABLES[table])}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)


def _next_ids(db: Database) -> dict[str, int]:
    with db.reading() as uow:
        return {table: int(uow.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()) + 1
                for table in ID_TABLES}


def _sites_and_staff(db: Database) -> tuple[list[int], Staff]:
    from ketaclinic.services.sites import MemberIn, SiteIn, create_site, set_member

    system = Actor.system("demo-bulk")
    with db.reading() as uow:
        existing = {code: sid for sid, code in uow.execute(select(Site.id, Site.code))}
        users = {name: uid for uid, name in uow.execute(select(User.id, User.username))}
    for name, code in EXTRA_SITES:
        if code not in existing:
            existing[code] = create_site(db, system, SiteIn(name=name, code=code)).id
    sites = sorted(existing.values())
    with db.reading() as uow:
        members = {(u, s) for u, s in uow.execute(select(StaffSite.user_id, StaffSite.site_id))}
    for role in ("admin", "physician", "coordinator", "nurse"):
        for n, site in enumerate(sites):
            if role == "nurse" and n > 1:
                continue  # the nurse works at two sites: a site-bound view on the same data
            if (users[role], site) not in members:
                set_member(db, system, site, users[role], MemberIn(role=role))
    return sites, Staff(physician=users["physician"], nurse=users["nurse"], coordinator=users["coordinator"])


def has_bulk(db: Database) -> bool:
    with db.reading() as uow:
        return uow.execute(select(Patient.id).where(Patient.family_name.like(f"Bulk % {DEMO_MARK}"))).first() is not None


def seed_bulk(db: Database, settings: Settings, *, now: datetime, seed: int = 2026, patients: int,
              batch_patients: int = BATCH_PATIENTS, progress: Callable[[dict[str, Any]], None] | None = None,
              small_patients: int = SMALL_DEMO) -> dict[str, Any]:
    """The demo clinic group with ``patients`` patients (the ``small_patients`` service-made ones included;
    the tests use fewer than the usual 40 to keep the service-made part short)."""
    from ketaclinic.demo import seed_demo

    if not small_patients < patients <= MAX_PATIENTS:
        raise BulkRefused(f"the bulk demo makes {small_patients + 1} to {MAX_PATIENTS} patients (asked: {patients})")
    began = time.perf_counter()
    now = now.astimezone(UTC)
    small = seed_demo(db, settings, now=now, seed=seed, patients=small_patients)
    if has_bulk(db):
        return {"seeded": False, "reason": "the bulk demo is already there", "patients": patients}
    with db.reading() as uow:
        if uow.execute(select(func.count()).select_from(Patient)).scalar_one() > max(SMALL_DEMO, small_patients):
            raise BulkRefused("the database holds other patients than the demo's: load the bulk demo into a new one")
    epoch = datetime.combine((now - timedelta(days=SPAN_DAYS + 40)).date(), datetime.min.time(), tzinfo=UTC)
    clock = Clock(epoch, SPAN_DAYS + 80, db.dialect)
    templates = _templates(db, clock)
    sites, staff = _sites_and_staff(db)
    counters = Counters(_next_ids(db))
    bulk_began = time.perf_counter()
    generator = Generator(clock, clock.minute_of(now), templates, sites, staff, counters, seed, db.dialect)
    write: Callable[[Any, Batch], None] = _write_postgresql if db.dialect == "postgresql" else _write_sqlite
    totals: dict[str, int] = {t: 0 for t in TABLES}
    bulk = patients - small_patients
    batches = 0
    for first in range(0, bulk, batch_patients):
        batch = Batch(db.dialect)
        start_ids = dict(counters.next_id)
        for index in range(first, min(bulk, first + batch_patients)):
            generator.patient(index, batch)
        counts = {t: len(r) for t, r in batch.rows.items() if r}
        with db.transaction() as uow:
            write(uow.connection(), batch)
            audit_append(uow, action="demo.bulk_load", username="system:demo-bulk", role="system", ip="local",
                         record_type="demo", detail={
                             "batch": batches + 1, "synthetic": True, "rows": counts,
                             "ids": {t: [start_ids[t], counters.next_id[t] - 1] for t in ID_TABLES
                                     if counters.next_id[t] > start_ids[t]}})
        batches += 1
        for t, n in counts.items():
            totals[t] += n
        if progress is not None:
            progress({"patients": min(bulk, first + batch_patients) + small_patients, "seconds":
                      round(time.perf_counter() - began, 1)})
    if db.dialect == "postgresql":
        with db.transaction() as uow:
            for table in ID_TABLES:
                uow.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))"))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return {"seeded": True, "patients": patients, "sites": len(sites), "batches": batches,
            "small_demo": small.as_dict()["counts"], "rows": totals,
            "seconds": round(time.perf_counter() - began, 1),
            "bulk_seconds": round(time.perf_counter() - bulk_began, 1), "engine": db.dialect}
