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
- **Follow-up summaries.** Every bulk patient gets a stale row
  (:func:`ketaclinic.services.follow_up_summaries.add_missing`, one statement at the end): the worker
  (``ketaclinic worker --once``, or the one in ``ketaclinic serve``) computes them with the services' rules,
  and until it has, the follow-up pages compute the rows they show.
- **Appointments.** Every bulk session is on the schedule (design 4.9): its infusion appointment (linked
  1:1, ``kind = 'infusion'``) at a treatment chair of its site, as long as the services compute it
  (:func:`ketaclinic.services.appointments._minutes`: infusion + observation + turnover), inside the
  staff's hours (Monday to Friday 07:00-19:00, Saturday 08:00-14:00, site time: what the schedule demo
  gives every site) and never over another booked appointment of the chair (a cancelled session's
  appointment is cancelled and, like the services, holds nothing). The bulk sites get their chairs and
  hours from :func:`ketaclinic.services.schedule_demo.seed_demo_schedule`; when a day is full a site
  gets one more chair through :func:`ketaclinic.services.chairs.create_chair`.
- **Register** (design 4.8). The bulk sites get the small demo's safe, cabinet, working stock and
  opening stock (:func:`ketaclinic.services.register._seed_site`). Each discharged bulk session has the
  entries the demo's discharged sessions have: the draw from a ketamine lot in the site's safe (one
  vial), the administration derived from its record (:func:`ketaclinic.clinical.register.drug_given_mg`)
  and the remainder wasted with the physician as witness. A lot is received per site, batch and 30 days
  (enough whole vials for its sessions) and what it has left after them goes back to the supplier, so
  every lot ends at zero; the stored running balances are the ones ``ketaclinic register verify``
  replays, and the batch's audit entry names the range of register entries it wrote.
- **Ids** are given explicitly (the next free id of each table at the start); on PostgreSQL the
  sequences are moved past them at the end, and ``ANALYZE`` gives the planner its statistics.

Run it on a database nobody else writes to while it loads (a new clinic, a benchmark). It refuses a
database that already holds bulk patients (seeding is idempotent, like the small demo).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from ketaclinic.records.audit import append as audit_append
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.register import RegisterLocation, RegisterProduct
from ketaclinic.records.schedule import Appointment, Chair
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.records.users import User
from ketaclinic.services import follow_up_summaries
from ketaclinic.services import register as register_service
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
# A site of the synthetic group holds about this many patients (the sites beyond the named three are
# "Synthetic site NN"): at 100,000 patients four sites would each book some 250 infusions a day (256 chairs
# a site), which no clinic does; a few thousand patients a site gives a busy clinic's 10-20 chairs.
PATIENTS_PER_SITE = 2_500
SPAN_DAYS = 540  # 18 months of clinic, as the small demo
BATCH_PATIENTS = 1000
ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|\+00:00)?$")
RESPONSES = ("responder", "responder", "responder", "partial", "partial", "non_responder", "non_responder", "fading")
SIDE_EFFECTS = ("dizziness", "dissociation", "blurred_vision", "vivid_dreams")
NOTE = "Synthetic demo record: not a real person."
# the staff hours the schedule demo gives every site (services/schedule_demo.py WEEK), local minutes by weekday
OPEN_HOURS = {0: (420, 1140), 1: (420, 1140), 2: (420, 1140), 3: (420, 1140), 4: (420, 1140), 5: (480, 840)}
SLOT = 15  # the schedule's step (SchedulePolicy.slot_step_min)
LOT_DAYS = 30  # a ketamine lot is received per site, batch and 30 days
CANCEL_REASON = "Synthetic demo: patient unwell, rebooked."

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
    "appointments": ("id", "version", "created_at", "created_by", "site_id", "patient_id", "kind", "start_at", "end_at",
                     "chair_id", "nurse_id", "physician_id", "plan_id", "session_id", "series_id", "series_index",
                     "booster", "status", "status_reason", "status_at", "note"),
    "register_lots": ("id", "site_id", "product_id", "lot_number", "expiry_date", "created_at", "created_by"),
    "register_entries": ("id", "site_id", "kind", "product_id", "lot_id", "location_id", "to_location_id", "session_id",
                         "amount_mg", "vials", "balance_after_mg", "location_balance_after_mg", "recorded_at",
                         "recorded_by", "witness_id", "corrects_id", "resolves_id", "reason", "details", "created_at"),
    "course_summaries": ("patient_id", "site_id", "reason", "condition", "baseline_nrs", "course_start", "course_end",
                         "sessions_in_course", "first_booster_day", "boosters", "followup_nrs", "followup_days",
                         "reduction_pct", "responder_30", "responder_50", "two_point", "relief_days", "relief_lost",
                         "last_diary_day", "updated_at"),
}
ID_TABLES = ("patients", "patient_versions", "patient_weights", "evaluations", "plans", "sessions", "session_events",
             "diary_entries", "risk_checks", "appointments", "register_lots", "register_entries")
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
    appointment_min: int = 0  # how long the services book the chair for (infusion + observation + turnover)
    given_tenths: int = 0  # ketamine the session's record says it gave (0.1 mg)
    drawn_tenths: int = 0  # what the syringe is filled with (the small demo's rule)


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
    from ketaclinic.clinical.register import drug_given_mg, tenths
    from ketaclinic.services.appointments import _minutes
    from ketaclinic.services.clinic_settings import current_schedule_policy

    out: list[Template] = []
    with db.reading() as uow:
        policy = current_schedule_policy(uow)
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
            t = out[-1]
            # the chair's time as the services book it, and the ketamine a bulk copy of the session gives (its
            # record has the pump program as it ran and no rate change or extra dose: drug_given_mg of that)
            t.appointment_min = _minutes(uow, "infusion", plan, policy)
            pump = json.loads(t.pump_program.render(0, plan_id=plan.id, plan_signed_at=None, ketamine_lot_number=None,
                                                    double_checked_by=None))
            given = drug_given_mg("ketamine", pump, [], clock.epoch, clock.epoch + timedelta(minutes=t.duration_min))
            t.given_tenths = tenths(given)
            t.drawn_tenths = tenths(min(500.0, (int(given // 10) + 2) * 10)) if given > 0 else 0
    if not out:
        raise BulkRefused("the service-made demo has no signed plan with a discharged session to copy")
    return out


# --- the chairs of one site ---------------------------------------------------------------------------------


class Chairs:
    """One site's treatment chairs over time: for every 15-minute slot (UTC minute // 15) a bit mask of the
    chairs booked then. ``book`` finds the first start from the asked one, in the staff's hours of that local
    day, with a chair free for the whole appointment; when the day is full, the next open days (``SPILL``:
    the coordinator offers the next days before the clinic buys a chair); then the site gets one more chair
    (``count`` grows) on the day asked."""

    SPILL = 2

    def __init__(self, site_id: int, code: str, chair_ids: list[int], zone: Any, clock: Clock):
        self.site_id, self.code, self.ids, self.count = site_id, code, chair_ids, len(chair_ids)
        self.busy: dict[int, int] = {}
        self.full: dict[int, int] = {}  # local day -> the chair count at which it was found full
        self.epoch_weekday = clock.epoch.weekday()
        self.zone, self.clock, self.offsets = zone, clock, {}

    def offset(self, day: int) -> int:
        """Minutes the site's clock is ahead of UTC on a day (at noon: a daylight-saving change is at night)."""
        found = self.offsets.get(day)
        if found is None:
            at = self.clock.epoch + timedelta(days=day, hours=12)
            delta = self.zone.utcoffset(at.astimezone(self.zone).replace(tzinfo=None))
            found = self.offsets[day] = int(delta.total_seconds() // 60) if delta is not None else 0
        return found

    def _mask(self, start: int, length: int) -> int:
        mask, busy = 0, self.busy
        for slot in range(start // SLOT, (start + length - 1) // SLOT + 1):
            mask |= busy.get(slot, 0)
        return mask

    def take(self, start: int, length: int, chair: int) -> None:
        bit, busy = 1 << chair, self.busy
        for slot in range(start // SLOT, (start + length - 1) // SLOT + 1):
            busy[slot] = busy.get(slot, 0) | bit

    def book(self, minute: int, length: int, *, hold: bool) -> tuple[int, int]:
        """(start minute UTC, chair index) for an appointment asked for at ``minute``; ``hold`` False (a
        cancelled one) books nothing: it keeps a chair and a time in the hours, like a cancelled booking."""
        local_day, tod = divmod(minute + self.offset(minute // 1440), 1440)
        if (self.epoch_weekday + local_day) % 7 == 6:  # closed on Sunday: Monday or Tuesday, not all on Monday
            local_day += 1 + (minute // SLOT) % 2
        first: tuple[int, int] | None = None  # the first open day's base and start: where a new chair goes
        spilled = 0
        for _ in range(14):
            hours = OPEN_HOURS.get((self.epoch_weekday + local_day) % 7)
            if hours is None or hours[1] - hours[0] < length:
                local_day += 1
                continue
            opens, closes = hours
            last = opens + (closes - length - opens) // SLOT * SLOT  # the latest start that ends in the hours
            asked = min(last, opens + max(0, tod - opens) // SLOT * SLOT)
            off = self.offset(local_day)
            base = local_day * 1440 - off
            if first is None:
                first = (base, asked)
            if not hold:
                mask = self._mask(base + asked, length)
                return base + asked, min(self.count - 1, ((~mask) & (mask + 1)).bit_length() - 1)
            if self.full.get(local_day) != self.count:
                for wall in (*range(asked, last + 1, SLOT), *range(opens, asked, SLOT)):
                    mask = self._mask(base + wall, length)
                    chair = ((~mask) & (mask + 1)).bit_length() - 1
                    if chair < self.count:
                        self.take(base + wall, length, chair)
                        return base + wall, chair
                self.full[local_day] = self.count
            if spilled < self.SPILL:
                spilled += 1
                local_day += 1
                continue
            base, asked = first
            chair = self.count  # every chair is booked all day, and the next days too: the site adds one
            self.count += 1
            self.take(base + asked, length, chair)
            return base + asked, chair
        raise AssertionError("no open day in a fortnight")  # the hours open six days a week


# --- one patient's records ----------------------------------------------------------------------------------


class Batch:
    """The rows of one batch of patients, table by table (values in the engine's stored form)."""

    def __init__(self, dialect: str):
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        self.given: list[tuple[int, int, int, int, int, Template]] = []  # site, start, end, session, patient, template
        self.true: Any = True if dialect == "postgresql" else 1
        self.false: Any = False if dialect == "postgresql" else 0


class Generator:
    def __init__(self, clock: Clock, now_minute: int, templates: list[Template], sites: list[int], staff: Staff,
                 counters: Counters, seed: int, dialect: str, chairs: dict[int, Chairs] | None = None):
        self.clock, self.now, self.templates, self.sites, self.staff = clock, now_minute, templates, sites, staff
        self.ids, self.rng, self.dialect = counters, random.Random(seed), dialect
        self.chairs = chairs or {}
        self.batch_number = 1

    def lot_number(self, site: int, minute: int) -> str:
        """The ketamine lot a session at ``site`` starting at ``minute`` draws from (see :func:`_register_rows`)."""
        return f"SYN-{self.chairs[site].code}-KET-B{self.batch_number:04d}-P{minute // (LOT_DAYS * 1440):03d}"

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
        # on the schedule: each session at a free chair of its site in the staff's hours, one a day at most
        chairs = self.chairs[site]
        series_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if len(days) > 1 else None
        placed: list[int] = []
        for n, minute in enumerate(days + boosters):
            if placed and minute // 1440 <= placed[-1] // 1440:
                minute = (placed[-1] // 1440 + 1) * 1440 + minute % 1440
            cancel = n > 0 and rng.random() < 0.03 and minute - 1440 <= self.now
            minute, chair = chairs.book(minute, t.appointment_min, hold=not cancel)
            placed.append(minute)
            state, sid = self._session(batch, t, pid, plan_id, planned + 60, site, minute, weight,
                                       self.lot_number(site, minute), cancel=cancel)
            booked = c.db(minute - 3 * 1440)
            in_series = series_id is not None and n < len(days)
            rows["appointments"].append((
                ids.take("appointments"), 2 if cancel else 1, booked, staff.coordinator, site, pid, "infusion",
                c.db(minute), c.db(minute + t.appointment_min), chair, None, None, plan_id, sid,
                series_id if in_series else None, n + 1 if in_series else None,
                batch.false if n < len(days) else batch.true, "cancelled" if cancel else "booked",
                CANCEL_REASON if cancel else None, c.db(minute - 1440) if cancel else None, "Synthetic demo booking."))
            if state == "discharged":
                facts.discharged_days.append(c.date(minute + t.duration_min + 65))
                if t.drawn_tenths and t.given_tenths <= t.drawn_tenths:
                    batch.given.append((site, minute, minute + t.duration_min, sid, pid, t))
        days, boosters = placed[:len(days)], placed[len(days):]
        course_end = days[-1]
        session_times = placed
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
                 weight: float, lot: str, *, cancel: bool) -> tuple[str, int]:
        rng, c, ids, staff, rows = self.rng, self.clock, self.ids, self.staff, batch.rows
        sid = ids.take("sessions")
        scheduled = c.db(minute)
        booked = c.db(minute - 3 * 1440)
        ends = minute + t.duration_min
        out = minute + t.duration_min + 65
        if cancel:  # called off the day before
            rows["sessions"].append((sid, 2, booked, staff.coordinator, pid, plan_id, site, scheduled, "cancelled",
                                     "{}", None, None, None, None, None, None))
            self._event(rows, sid, "state_change",
                        '{"from": "scheduled", "to": "cancelled", "reason": "Synthetic demo: patient unwell, rebooked."}',
                        None, minute - 1440, staff.coordinator)
            return "cancelled", sid
        if minute - 20 > self.now:  # still to come
            rows["sessions"].append((sid, 1, booked, staff.coordinator, pid, plan_id, site, scheduled, "scheduled",
                                     "{}", None, None, None, None, None, None))
            return "scheduled", sid
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
        return state, sid

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


# --- the register and the chairs of a batch -----------------------------------------------------------------


@dataclass
class Stock:
    """Where a site keeps its ketamine (the safe the small demo's register made) and the product's vial."""

    safe: int
    product_id: int
    vial_tenths: int
    supplier: tuple[str, str]


def _register_rows(gen: Generator, batch: Batch, stock: dict[int, Stock]) -> None:
    """The register entries of the batch's discharged sessions, lot by lot in book order (ids ascending):
    the receipt, then per session (by time) the draw, the administration and the witnessed waste of the
    remainder, then the lot's leftover back to the supplier. Running balances in tenths of a mg."""
    c, ids, staff, rows = gen.clock, gen.ids, gen.staff, batch.rows
    lots: dict[tuple[int, int], list[tuple[int, int, int, int, int, Template]]] = {}
    for given in batch.given:
        lots.setdefault((given[0], given[1] // (LOT_DAYS * 1440)), []).append(given)
    nurse, physician = staff.nurse, staff.physician

    def entry(site: int, kind: str, lot: int, place: int | None, session: int | None, amount: int, vials: int | None,
              total: int, at_place: int | None, at: int, by: int, witness: int | None, reason: str | None,
              details: str) -> None:
        stamp = c.db(at)
        rows["register_entries"].append((
            ids.take("register_entries"), site, kind, stock[site].product_id, lot, place, None, session, amount / 10, vials,
            total / 10, None if at_place is None else at_place / 10, stamp, by, witness, None, None, reason, details,
            stamp))

    for (site, _period), sessions in sorted(lots.items()):
        here = stock[site]
        sessions.sort(key=lambda g: g[1])
        drawn = sum(g[5].drawn_tenths for g in sessions)
        vials = math.ceil(drawn / here.vial_tenths)
        lot_number = gen.lot_number(site, sessions[0][1])
        received = (sessions[0][1] // 1440 - 2) * 1440 + 10 * 60
        expiry = c.date(received) + timedelta(days=420)
        lot = ids.take("register_lots")
        rows["register_lots"].append((lot, site, here.product_id, lot_number, expiry.isoformat(), c.db(received), physician))
        total = place = vials * here.vial_tenths
        entry(site, "receipt", lot, here.safe, None, total, vials, total, place, received, physician, None, None, json.dumps({
            "supplier": here.supplier[0], "supplier_dea_number": here.supplier[1],
            "invoice": f"SYN-INV-{c.day(received)[2:].replace('-', '')}-B{gen.batch_number}-{site}",
            "expiry_date": expiry.isoformat()}))
        last = received
        for _site, start, end, sid, pid, t in sessions:
            place -= t.drawn_tenths
            entry(site, "dispense", lot, here.safe, sid, t.drawn_tenths, 1, total, place, start - 15, nurse, None, None,
                  f'{{"patient_id": {pid}, "volume_ml": {round(t.drawn_tenths / 10 / 50.0, 2)}}}')
            total -= t.given_tenths
            entry(site, "administer", lot, None, sid, t.given_tenths, None, total, None, end, nurse, None, None,
                  f'{{"derived_from": "session record", "session_given_mg": {t.given_tenths / 10}, "patient_id": {pid}}}')
            remainder = t.drawn_tenths - t.given_tenths
            if remainder > 0:
                total -= remainder
                entry(site, "waste", lot, None, sid, remainder, None, total, None, end + 5, nurse, physician, None,
                      '{"manner": "into the pharmaceutical waste container, witnessed", "witness_username": '
                      f'"physician", "patient_id": {pid}}}')
            last = max(last, end + 5)
        if place > 0:  # the opened lot's leftover goes back to the supplier (a reverse distributor) at the month's end
            entry(site, "return", lot, here.safe, None, place, None, total - place, 0, last + 1440, physician, None,
                  "Synthetic demo: the lot's leftover returned to the supplier for destruction", json.dumps({
                      "to": "supplier", "recipient": here.supplier[0], "recipient_dea_number": here.supplier[1]}))


def _new_chairs(db: Database, chairs: dict[int, Chairs]) -> None:
    """The chairs a batch needed beyond the site's, made through the chairs service (audited, like an admin)."""
    from ketaclinic.services.chairs import ChairIn, create_chair

    system = Actor.system("demo-bulk")
    for site in chairs.values():
        while len(site.ids) < site.count:
            number = len(site.ids) + 1
            site.ids.append(create_chair(db, system, ChairIn(site_id=site.site_id, name=f"Chair {number}",
                                                             position=min(999, number))).id)


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


def extra_sites(patients: int) -> list[tuple[str, str]]:
    """The sites added to the default one for ``patients`` bulk patients: the three named ones, and one more
    for each further ``PATIENTS_PER_SITE``."""
    count = max(len(EXTRA_SITES), -(-patients // PATIENTS_PER_SITE) - 1)
    more = [(f"Synthetic site {n:02d} (demo)", f"SITE-{n:02d}") for n in range(len(EXTRA_SITES) + 2, count + 2)]
    return [*EXTRA_SITES, *more]


def _sites_and_staff(db: Database, patients: int) -> tuple[list[int], Staff]:
    from ketaclinic.services.sites import MemberIn, SiteIn, create_site, set_member

    system = Actor.system("demo-bulk")
    with db.reading() as uow:
        existing = {code: sid for sid, code in uow.execute(select(Site.id, Site.code))}
        users = {name: uid for uid, name in uow.execute(select(User.id, User.username))}
    for name, code in extra_sites(patients):
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


def _register_sites(db: Database, sites: list[int], now: datetime) -> dict[int, Stock]:
    """Every site's register as the small demo makes it (the sites added here have none yet: its safe,
    cabinet and working stock, opening lots, a resolved discrepancy, yesterday's count), and the stock the
    bulk sessions draw from."""
    from ketaclinic.clinical.register import tenths
    from ketaclinic.services import register as rs
    from ketaclinic.services.auth import actor_for
    from ketaclinic.services.common import unit_of_work

    with unit_of_work(db) as uow:
        equipped = set(uow.execute(select(RegisterLocation.site_id)).scalars())
        users = {u.username: u for u in uow.execute(select(User).where(
            User.username.in_(("admin", "physician", "nurse")))).scalars()}
        products = {(p.drug, p.strength_mg_per_ml): p for p in uow.execute(select(RegisterProduct)).scalars()}
        for site in uow.execute(select(Site).where(Site.id.in_(sites)).order_by(Site.id)).scalars().all():
            if site.id not in equipped:
                nurse, physician, admin = (Actor(**{**actor_for(users[name], "local").__dict__, "site_ids": (site.id,)})
                                           for name in ("nurse", "physician", "admin"))
                rs._seed_site(uow, site, nurse, physician, admin, products, now)
    with db.reading() as uow:
        safes = dict(uow.execute(select(RegisterLocation.site_id, RegisterLocation.id).where(
            RegisterLocation.kind == "safe", RegisterLocation.site_id.in_(sites)).order_by(RegisterLocation.id.desc())).all())
    ketamine = products[("ketamine", 50.0)]
    vial = tenths(ketamine.strength_mg_per_ml * ketamine.vial_volume_ml)
    return {site: Stock(safes[site], ketamine.id, vial, rs.DEMO_SUPPLIER) for site in sites}


def _site_chairs(db: Database, sites: list[int], clock: Clock, settings: Settings) -> dict[int, Chairs]:
    """Every site's treatment chairs (the schedule demo gives a new site four and the staff's hours), with
    what is booked on them already."""
    out: dict[int, Chairs] = {}
    with db.reading() as uow:
        for site in uow.execute(select(Site).where(Site.id.in_(sites)).order_by(Site.id)).scalars().all():
            ids = list(uow.execute(select(Chair.id).where(Chair.site_id == site.id, Chair.kind == "chair",
                                                          Chair.active.is_(True))
                                   .order_by(Chair.position, Chair.name)).scalars())
            out[site.id] = Chairs(site.id, site.code, ids, ZoneInfo(site.timezone or settings.clinic_timezone), clock)
        index = {chair: (site, n) for site, c in out.items() for n, chair in enumerate(c.ids)}
        for chair_id, start, end in uow.execute(select(Appointment.chair_id, Appointment.start_at, Appointment.end_at)
                                                .where(Appointment.status == "booked",
                                                       Appointment.chair_id.in_(list(index)))):
            site, n = index[chair_id]
            first = clock.minute_of(start.replace(tzinfo=start.tzinfo or UTC))
            last = -(-int((end.replace(tzinfo=end.tzinfo or UTC) - clock.epoch).total_seconds()) // 60)
            out[site].take(first, max(1, last - first), n)
    return out


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
    sites, staff = _sites_and_staff(db, patients)
    from ketaclinic.services.schedule_demo import seed_demo_schedule

    seed_demo_schedule(db, now=now, clinic_timezone=settings.clinic_timezone)  # chairs and hours at the new sites
    stock = _register_sites(db, sites, now)
    chairs = _site_chairs(db, sites, clock, settings)
    counters = Counters(_next_ids(db))
    bulk_began = time.perf_counter()
    generator = Generator(clock, clock.minute_of(now), templates, sites, staff, counters, seed, db.dialect, chairs)
    write: Callable[[Any, Batch], None] = _write_postgresql if db.dialect == "postgresql" else _write_sqlite
    totals: dict[str, int] = {t: 0 for t in TABLES}
    bulk = patients - small_patients
    batches = 0
    for first in range(0, bulk, batch_patients):
        batch = Batch(db.dialect)
        start_ids = dict(counters.next_id)
        generator.batch_number = batches + 1
        for index in range(first, min(bulk, first + batch_patients)):
            generator.patient(index, batch)
        _register_rows(generator, batch, stock)
        _new_chairs(db, chairs)
        batch.rows["appointments"] = [(*row[:9], chairs[row[4]].ids[row[9]], *row[10:])
                                      for row in batch.rows["appointments"]]
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
    with db.transaction() as uow:  # computed by the worker (`ketaclinic worker --once`, or in `serve`)
        follow_up_summaries.add_missing(uow)
        register_service.add_missing_stock(uow)  # each bulk lot's balance now (every one ends at zero)
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
            "chairs": {c.code: len(c.ids) for c in chairs.values()},
            "small_demo": small.as_dict()["counts"], "rows": totals,
            "seconds": round(time.perf_counter() - began, 1),
            "bulk_seconds": round(time.perf_counter() - bulk_began, 1), "engine": db.dialect}
