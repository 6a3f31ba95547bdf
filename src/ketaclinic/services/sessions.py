"""Sessions: one monitored infusion visit, from scheduling to discharge, and its append-only events.

States (design.md 3, issue 5): ``scheduled → checked_in → running → observing → discharged``, and
``cancelled`` from scheduled or checked-in. Each move names the version it saw (If-Match) and is
also written as a ``state_change`` event, so the timeline of a session reads from its events alone.

- **Scheduling** needs a *signed* plan (a draft, or a plan a signed plan supersedes, is refused).
- **Check-in** records the weight of the day; more than 20 % from the last recorded weight is
  flagged (a lb-for-kg slip) and must be acknowledged.
- **Checklist** (:mod:`ketaclinic.clinical.checklist`) is stored with its items; **start** runs it
  again at the moment of starting and refuses while a blocking item is unmet. Start snapshots the
  pump program from the signed plan (never from anything the caller sends) and refuses when the
  weight of the day is more than 20 % from the plan's weight (the program would be wrong).
- **Events** are appended, never changed: ``vitals`` run the alert rules
  (:func:`~ketaclinic.clinical.monitoring.evaluate_observation`) and store the alerts in the event,
  each alert also becoming an ``alert`` event that an ``alert_ack`` answers; ``rate_change`` runs
  the dosing limits on the new rate (hard: refused; soft: a physician's override with a reason);
  ``medication`` records drug, dose, route and lot number (extra ketamine is checked against the
  bolus limits); ``amendment`` points to the event it corrects. Appends take no If-Match: two
  nurses recording at once both succeed and nothing is lost.
- **Discharge** runs :func:`~ketaclinic.clinical.discharge.assess_discharge` (contract 4.7, the rule
  ``ketaclinic discharge`` runs) on the bedside answers, the checklist's baseline and the minutes since
  the stop; while any criterion
  is unmet it refuses (409 ``discharge_criteria_unmet``, the unmet criteria named) and the refused
  assessment is kept as a ``note`` event.

Coordinators (scheduling) and patients (their own sessions) get the schedule view only: no pump
program, checklist or discharge detail (design.md 5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import FunctionElement, and_, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, load_only
from sqlalchemy.sql.sqltypes import NullType

from ketaclinic.clinical.checklist import (
    ChecklistFacts,
    FastingHistory,
    blocking_unmet,
    overridable_unmet,
    ready_to_start,
    run_checklist,
)
from ketaclinic.clinical.discharge import DischargeAnswers, DischargeRequest, assess_discharge
from ketaclinic.clinical.dosing import (
    Delivery,
    DoseRequest,
    DoseStep,
    DosingError,
    DrugLibrary,
    Override,
    PumpProgram,
    dec,
    dosing_weight,
    judge,
    program_pump,
    session_findings,
    weight_change_flag,
)
from ketaclinic.clinical.follow_up import PlannedCourse, liver_tests_needed
from ketaclinic.clinical.monitoring import (
    Observation,
    SideEffectCode,
    SideEffectSeverity,
    evaluate_observation,
)
from ketaclinic.clinical.protocols import get_protocol
from ketaclinic.clinical.record import corrections_by_event, rate_changes_given
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.clock import utcnow
from ketaclinic.pharmacology.regimen import KETAMINE_NAMES, MG_PER_UNIT, Infusion, doses_as_given
from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient, PatientWeight
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.services import course_summaries
from ketaclinic.services.auth import authenticate
from ketaclinic.services.clinic_settings import (
    current_bedside_bolus_rule,
    current_checklist_policy,
    current_libraries,
    current_minimum_observation_min,
    current_pump_double_check,
)
from ketaclinic.services.common import (
    Page,
    audit,
    check_version,
    clamp_limit,
    cursor_int,
    get_or_404,
    page_of,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unauthenticated,
    ValidationFailed,
)
from ketaclinic.services.evaluations import RecordId
from ketaclinic.services.patients import latest_weight, load_patient
from ketaclinic.services.plans import dosing_refusal
from ketaclinic.services.sites import in_sites
from ketaclinic.services.types import WEIGHT_MAX_KG, WEIGHT_MIN_KG, ScheduledAt, Text, explain
from ketaclinic.settings import Settings

CLINICAL_ROLES = ("physician", "nurse")
SCHEDULE_ROLES = ("physician", "nurse", "coordinator")
READ_ROLES = ("physician", "nurse", "coordinator", "patient")
OVERRIDE_ROLES = ("physician",)
ACTIVE_STATES = ("checked_in", "running", "observing")


class rare(FunctionElement):  # noqa: N801 - reads as SQL: WHERE rare(state IN (...))
    """A condition few rows meet, said to the planner: ``likelihood(..., 0.001)`` on SQLite, the bare condition
    elsewhere. SQLite keeps no histogram of ``sessions.state``, so it takes "under way" for 3/5 of the table and
    scans it whole when the actor works at every site (the dashboard's open alerts: 260 ms at 20,000 patients).
    ``unlikely()`` (a probability of 1/16) was not enough for an id-ordered page of whole rows: SQLite still
    walked the table by rowid expecting 51 hits in 816 rows (``GET /sessions?state=running``, 308 ms); a few
    visits under way among 160,000 is about 1 in 10,000, so one in a thousand is still generous."""

    type = NullType()  # not Boolean: SQLite would compare it "= 1", which hides the hint from the planner
    inherit_cache = True


@compiles(rare)
def _rare(element: rare, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(rare, "sqlite")
def _rare_sqlite(element: rare, compiler: Any, **kw: Any) -> str:
    return f"likelihood({compiler.process(element.clauses, **kw)}, 0.001)"


def under_way_condition() -> Any:
    return rare(InfusionSession.state.in_(ACTIVE_STATES))
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "check_in": (("scheduled",), "checked_in"),
    "start": (("checked_in",), "running"),
    "stop": (("running",), "observing"),
    "discharge": (("observing",), "discharged"),
    "cancel": (("scheduled", "checked_in"), "cancelled"),
}
# Which event kinds may be recorded in which states (notes and amendments: any time after scheduling).
EVENT_STATES: dict[str, tuple[str, ...]] = {
    "vitals": ACTIVE_STATES,
    "side_effect": ACTIVE_STATES,
    "medication": ACTIVE_STATES,
    "alert_ack": ACTIVE_STATES + ("discharged",),
    "rate_change": ("running",),
    "note": ("scheduled", "checked_in", "running", "observing", "discharged", "cancelled"),
    "amendment": ("checked_in", "running", "observing", "discharged", "cancelled"),
}


# --- input --------------------------------------------------------------------------------

_FORBID = ConfigDict(extra="forbid")


class SessionIn(BaseModel):
    """Schedule a session. Without ``plan_id`` the patient's current signed plan is used (coordinators)."""

    model_config = _FORBID
    patient_id: RecordId
    plan_id: RecordId | None = None
    scheduled_at: ScheduledAt


class CheckInIn(BaseModel):
    model_config = _FORBID
    weight_kg: float | None = Field(default=None, ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG, allow_inf_nan=False)
    weight_change_acknowledged: bool = False


class ChecklistIn(BaseModel):
    """The checklist facts (clinical.checklist.ChecklistFacts) without ``now`` (the server's clock)
    and without ``liver_tests_required`` (worked out from the patient's previous course)."""

    model_config = _FORBID
    fasting: FastingHistory
    escort_present: bool
    consent_signed: bool | None = Field(
        default=None, description="ignored (issue 13): the checklist reads consent from the patient's signatures")
    baseline_vitals: Vitals | None = None
    baseline_vitals_at: AwareDatetime | None = None
    can_become_pregnant: bool
    pregnancy_test: Literal["negative", "positive", "not_done"] = "not_done"
    pregnancy_test_at: AwareDatetime | None = None
    urinary_symptoms: Literal["none", "present", "not_asked"] = "not_asked"
    liver_tests: Literal["normal", "abnormal", "pending", "not_done"] = "not_done"


class ChecklistOverrideIn(BaseModel):
    """A physician's reason to start despite baseline SpO2 < 92 % or heart rate > 110/min (issue 11)."""

    model_config = _FORBID
    reason: Text = Field(min_length=1, max_length=2000)


class StartIn(BaseModel):
    """What the nurse reads off the prepared syringe or bag at the start: its lot number, so every
    ketamine administration can be traced to the batch (FHIR ``Medication.batch.lotNumber``)."""

    model_config = _FORBID
    ketamine_lot_number: Text | None = Field(default=None, min_length=1, max_length=100)
    double_check: DoubleCheckIn | None = Field(
        default=None, description="The second clinician who checked the pump program against the signed plan, with "
        "their password (required unless the clinic turned the double check off)")


class DoubleCheckIn(BaseModel):
    """A second clinician's own credentials: checked like a sign-in, never stored."""

    model_config = _FORBID
    username: Text = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200, repr=False)


class CancelIn(BaseModel):
    model_config = _FORBID
    reason: Text = Field(min_length=1, max_length=2000)


class DischargeIn(DischargeAnswers):
    """The bedside answers of contract 4.7 (the baseline and the minutes since the stop come from the
    session): ``observation``, every ``padss`` item, ``dissociation_resolved``, ``escort_present``,
    ``oriented``, ``steady_gait``. A missing PADSS item is refused (422), never defaulted."""


class VitalsEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["vitals"]
    systolic_mmhg: float
    diastolic_mmhg: float
    heart_rate_bpm: float
    spo2_pct: float
    respiratory_rate_per_min: float
    moaas: int
    side_effects: list[dict[str, str]] = Field(default_factory=list, max_length=12)
    rass: int | None = None  # optional scores with the vitals, checked by clinical.monitoring.Observation
    cadss6: dict[str, Any] | None = None


class RateChangeEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["rate_change"]
    rate_mg_per_kg_per_h: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    rate_mg_per_h: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    reason: Text = Field(min_length=1, max_length=2000)
    override_reason: Text | None = Field(default=None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_rate(self) -> RateChangeEvent:
        if (self.rate_mg_per_kg_per_h is None) == (self.rate_mg_per_h is None):
            raise ValueError("give exactly one of rate_mg_per_kg_per_h or rate_mg_per_h")
        return self


class SideEffectEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["side_effect"]
    code: SideEffectCode
    severity: SideEffectSeverity
    note: Text | None = Field(default=None, max_length=2000)


class MedicationEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["medication"]
    drug: Text = Field(min_length=1, max_length=200)
    dose: float = Field(gt=0, allow_inf_nan=False)
    unit: Literal["mg", "mcg", "g", "mL", "units"]
    route: Literal["iv", "oral", "im", "sc", "sublingual", "intranasal", "inhaled", "topical"]
    lot_number: Text = Field(min_length=1, max_length=100)
    reason: Text | None = Field(default=None, max_length=2000)
    override_reason: Text | None = Field(default=None, min_length=1, max_length=2000)


class AlertAckEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["alert_ack"]
    alert_event_id: RecordId
    action_taken: Text = Field(min_length=1, max_length=2000)


class NoteEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["note"]
    text: Text = Field(min_length=1, max_length=10000)


class AmendmentEvent(BaseModel):
    model_config = _FORBID
    kind: Literal["amendment"]
    amends_event_id: RecordId
    reason: Text = Field(min_length=1, max_length=2000)
    correction: dict[str, Any] = Field(default_factory=dict)


EventIn = Annotated[
    VitalsEvent | RateChangeEvent | SideEffectEvent | MedicationEvent | AlertAckEvent | NoteEvent | AmendmentEvent,
    Field(discriminator="kind"),
]


# --- output -------------------------------------------------------------------------------


class SessionView(BaseModel):
    """A session. Clinical fields are null in the schedule view (coordinators, patients)."""

    id: int
    version: int
    created_at: datetime
    created_by: int | None
    patient_id: int
    plan_id: int
    scheduled_at: datetime
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    discharged_at: datetime | None
    weight_kg: float | None = None
    checklist: dict[str, Any] | None = None
    pump_program: dict[str, Any] | None = None
    discharge: dict[str, Any] | None = None
    open_alerts: list[int] | None = None
    view: Literal["clinical", "schedule"] = "clinical"


class EventView(BaseModel):
    id: int
    version: int = 1
    session_id: int
    kind: str
    payload: dict[str, Any]
    minute: float | None
    recorded_at: datetime
    recorded_by: int | None
    created_by: int | None
    created_at: datetime
    amends_event_id: int | None
    raised: list[EventView] = []

    @classmethod
    def of(cls, event: SessionEvent, raised: list[SessionEvent] = ()) -> EventView:  # type: ignore[assignment]
        return cls(id=event.id, session_id=event.session_id, kind=event.kind, payload=event.payload, minute=event.minute,
                   recorded_at=event.recorded_at, recorded_by=event.recorded_by, created_by=event.recorded_by,
                   created_at=event.created_at, amends_event_id=event.amends_event_id,
                   raised=[cls.of(r) for r in raised])


class DischargeAssessmentView(BaseModel):
    """Contract 4.7's answer (``ready``, ``padss_total``, ``unmet``) plus every criterion met or not."""

    ready: bool
    padss_total: int
    unmet: list[dict[str, Any]]
    criteria: list[dict[str, Any]]
    padss: dict[str, Any]
    minutes_since_infusion_stopped: float
    minimum_observation_min: float


# --- helpers --------------------------------------------------------------------------------


def _clinical(actor: Actor) -> bool:
    return actor.role in CLINICAL_ROLES or actor.role == "system"


def open_alert_ids(uow: Session, session_id: int) -> list[int]:
    alerts = uow.execute(select(SessionEvent.id).where(SessionEvent.session_id == session_id,
                                                           SessionEvent.kind == "alert")).scalars().all()
    acks = uow.execute(select(SessionEvent.payload).where(SessionEvent.session_id == session_id,
                                                              SessionEvent.kind == "alert_ack")).scalars().all()
    answered = {p.get("alert_event_id") for p in acks}
    return [a for a in alerts if a not in answered]


def list_open_alerts(db: Database, actor: Actor) -> list[dict[str, Any]]:
    """Every unacknowledged alert of the sessions under way (checked in, running, observing), worst
    first: what every clinical dashboard shows, whatever else the page lists (issue 12: the
    dashboard read them from views built without detail and said "No open alerts")."""
    require_role(actor, *CLINICAL_ROLES)
    with db.reading() as uow:
        active = dict(uow.execute(in_sites(select(InfusionSession.id, InfusionSession.patient_id)
                                           .where(under_way_condition()),
                                           actor, InfusionSession.site_id)).all())
        if not active:
            return []
        events = uow.execute(select(SessionEvent).where(SessionEvent.session_id.in_(active),
                                                            SessionEvent.kind.in_(("alert", "alert_ack")))
                                 .order_by(SessionEvent.id)).scalars().all()
        answered = {(e.payload or {}).get("alert_event_id") for e in events if e.kind == "alert_ack"}
        out = [{"event_id": e.id, "session_id": e.session_id, "patient_id": active[e.session_id], "minute": e.minute,
                "recorded_at": e.recorded_at, **(e.payload or {})}
               for e in events if e.kind == "alert" and e.id not in answered]
    return sorted(out, key=lambda a: (a.get("severity") != "critical", -a["event_id"]))


def _visit_fields(session: InfusionSession) -> dict[str, Any]:
    """The visit itself (who, when, its state and times), without its clinical documents."""
    return dict(id=session.id, version=session.version, created_at=session.created_at, created_by=session.created_by,
                patient_id=session.patient_id, plan_id=session.plan_id, scheduled_at=session.scheduled_at,
                state=session.state, started_at=session.started_at, ended_at=session.ended_at,
                discharged_at=session.discharged_at)


def view_of(uow: Session, actor: Actor, session: InfusionSession, *, detail: bool = True) -> SessionView:
    if not _clinical(actor):
        return list_view(session)
    return SessionView(**_visit_fields(session), weight_kg=session.weight_kg, checklist=session.checklist or None,
                       pump_program=session.pump_program, discharge=session.discharge,
                       open_alerts=open_alert_ids(uow, session.id) if detail else None)


def load_session(uow: Session, actor: Actor, session_id: int) -> InfusionSession:
    session = get_or_404(uow, InfusionSession, session_id, "session")
    load_patient(uow, actor, session.patient_id)
    return session


def _minute(session: InfusionSession, now: datetime) -> float | None:
    if session.started_at is None:
        return None
    return round(max(0.0, (now - session.started_at).total_seconds() / 60), 2)


def _event(uow: Session, actor: Actor, session: InfusionSession, kind: str, payload: dict[str, Any], now: datetime,
           amends: int | None = None) -> SessionEvent:
    event = SessionEvent(session_id=session.id, kind=kind, payload=payload, minute=_minute(session, now), recorded_at=now,
                         recorded_by=actor.user_id, amends_event_id=amends, created_at=now)
    uow.add(event)
    uow.flush()
    return event


def _move(uow: Session, actor: Actor, session: InfusionSession, action: str, expected_version: int | None,
          now: datetime, detail: dict[str, Any] | None = None) -> None:
    check_version(session, expected_version)
    allowed, target = TRANSITIONS[action]
    if session.state not in allowed:
        raise Conflict(f"a session that is {session.state} cannot {action.replace('_', ' ')} "
                       f"(allowed from: {', '.join(allowed)})", code="invalid_transition")
    previous = session.state
    session.state = target
    _event(uow, actor, session, "state_change", {"from": previous, "to": target, **(detail or {})}, now)


def _current_plan(uow: Session, patient_id: int) -> Plan:
    plans = uow.execute(select(Plan).where(Plan.patient_id == patient_id, Plan.status == "signed")
                            .order_by(Plan.signed_at.desc(), Plan.id.desc())).scalars().all()
    superseded = {p.supersedes_id for p in plans if p.supersedes_id is not None}
    for plan in plans:
        if plan.id not in superseded:
            return plan
    raise Conflict("this patient has no signed plan: a physician signs a plan first", code="plan_not_signed",
                   field="plan_id")


def _signed_plan(uow: Session, plan_id: int, patient_id: int) -> Plan:
    """The plan a session may take its program from: signed, this patient's, not superseded."""
    plan = uow.get(Plan, plan_id)
    if plan is None or plan.patient_id != patient_id:
        raise NotFound("plan not found for this patient", field="plan_id")
    if plan.status != "signed":
        raise Conflict("a session's pump program comes from a signed plan only: sign the plan first",
                       code="plan_not_signed", field="plan_id")
    newer = uow.execute(select(Plan.id).where(Plan.supersedes_id == plan.id, Plan.status == "signed")).first()
    if newer is not None:
        raise Conflict(f"plan {plan.id} is superseded by signed plan {newer[0]}", code="plan_superseded", field="plan_id")
    return plan


def _baseline(session: InfusionSession) -> Vitals:
    facts = (session.checklist or {}).get("facts") or {}
    if not facts.get("baseline_vitals"):
        raise Conflict("no baseline vital signs: record the checklist (with baseline vitals) first",
                       code="no_baseline")
    return Vitals.model_validate(facts["baseline_vitals"])


def _previous_course_end(uow: Session, session: InfusionSession) -> datetime | None:
    """The end of the patient's last course under another plan (liver tests before a close repeat)."""
    return uow.execute(
        select(func.max(InfusionSession.discharged_at)).where(
            InfusionSession.patient_id == session.patient_id, InfusionSession.plan_id != session.plan_id,
            InfusionSession.state == "discharged")
    ).scalar_one_or_none()


def _run_checklist(uow: Session, session: InfusionSession, facts_in: dict[str, Any], now: datetime,
                   overrides: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    plan = uow.get(Plan, session.plan_id)
    assert plan is not None
    previous_end = _previous_course_end(uow, session)
    multi_day = get_protocol(plan.protocol_id).setting == "inpatient"
    liver_required = liver_tests_needed(PlannedCourse(now.date(), multi_day), previous_end.date() if previous_end else None) \
        if previous_end is None or previous_end.date() <= now.date() else False
    from ketaclinic.services.consent import checklist_facts  # issue 13: consent from the signed document

    consent = checklist_facts(uow, session)
    try:
        facts = ChecklistFacts.model_validate({**facts_in, "now": now, "liver_tests_required": liver_required,
                                               "overrides": overrides or [], "consent": consent})
    except ValidationError as error:  # the field and its range in words, not pydantic's URL
        message, field = explain(error.errors(include_url=False)[0], model=Observation)
        raise ValidationFailed(message, field=field) from None
    items = run_checklist(facts, current_checklist_policy(uow))
    return {"facts": facts_in, "checked_at": now.isoformat(), "liver_tests_required": liver_required, "consent": consent,
            "items": [i.as_dict() for i in items], "ready": ready_to_start(items), "overrides": overrides or [],
            "overridable": [i.code for i in overridable_unmet(items)],
            "blocking": [i.code for i in blocking_unmet(items)]}


def _judged_now(uow: Session, session: InfusionSession) -> dict[str, Any] | None:
    """A checked-in session's recorded checklist with its consent read from the signatures as they stand now
    (issue 13), every other item as judged when it was recorded (at ``checked_at``): a consent signed or
    withdrawn at the chair shows at once, without changing the record or its version (the start judges the
    whole list again). None when there is nothing to judge or the record no longer validates."""
    recorded = session.checklist or {}
    if session.state != "checked_in" or not recorded.get("facts") or not recorded.get("checked_at"):
        return None
    try:
        return _run_checklist(uow, session, recorded["facts"], datetime.fromisoformat(recorded["checked_at"]),
                              recorded.get("overrides"))
    except ServiceError:
        return None


# --- scheduling and moves -------------------------------------------------------------------


def schedule_session(db: Database, actor: Actor, data: SessionIn, *, now: datetime | None = None) -> SessionView:
    require_role(actor, *SCHEDULE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, data.patient_id)
        plan = _signed_plan(uow, data.plan_id, patient.id) if data.plan_id is not None else \
            _current_plan(uow, patient.id)
        session = InfusionSession(patient_id=patient.id, plan_id=plan.id, site_id=patient.site_id,
                                  scheduled_at=data.scheduled_at, state="scheduled",
                                  checklist={}, created_by=actor.user_id, created_at=now)
        uow.add(session)
        uow.flush()
        audit(uow, actor, "session.schedule", "session", session.id,
              {"patient_id": patient.id, "plan_id": plan.id, "scheduled_at": data.scheduled_at.isoformat()})
        return view_of(uow, actor, session)


def check_in(db: Database, actor: Actor, session_id: int, expected_version: int | None, data: CheckInIn,
             *, now: datetime | None = None) -> SessionView:
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        flag = None
        if data.weight_kg is not None:
            last = latest_weight(uow, session.patient_id)
            found = weight_change_flag(data.weight_kg, last.weight_kg) if last else None
            if found is not None and not data.weight_change_acknowledged:
                raise ValidationFailed(found.message + " Send weight_change_acknowledged: true once checked.",
                                       code="weight_change_unacknowledged", field="weight_kg")
            flag = found.as_dict() if found else None
            uow.add(PatientWeight(patient_id=session.patient_id, weight_kg=data.weight_kg, measured_at=now,
                                      source="session", created_by=actor.user_id, created_at=now))
            session.weight_kg = data.weight_kg
        _move(uow, actor, session, "check_in", expected_version, now,
              {"weight_kg": data.weight_kg, "weight_flag": flag})
        uow.flush()
        audit(uow, actor, "session.check_in", "session", session.id, {"weight_kg": data.weight_kg,
                                                                        "weight_flagged": flag is not None})
        return view_of(uow, actor, session)


def record_checklist(db: Database, actor: Actor, session_id: int, expected_version: int | None, data: ChecklistIn,
                     *, now: datetime | None = None) -> SessionView:
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        check_version(session, expected_version)
        if session.state != "checked_in":
            raise Conflict(f"the checklist is done after check-in and before the start (the session is {session.state})",
                           code="invalid_transition")
        session.checklist = _run_checklist(uow, session, data.model_dump(mode="json", exclude={"consent_signed"}), now)
        uow.flush()
        audit(uow, actor, "session.checklist", "session", session.id, {"ready": session.checklist["ready"]})
        return view_of(uow, actor, session)


def override_checklist(db: Database, actor: Actor, session_id: int, expected_version: int | None,
                       data: ChecklistOverrideIn, *, now: datetime | None = None) -> SessionView:
    """A physician starts despite baseline SpO2 < 92 % or heart rate > 110/min: the override (who, why)
    goes into the checklist's result and a ``note`` event. A nurse cannot (403 override_needs_physician);
    the blood-pressure hold and the other items cannot be overridden at all. A new checklist drops it."""
    require_role(actor, *CLINICAL_ROLES)
    if actor.role not in OVERRIDE_ROLES:
        raise Forbidden("only a physician may start despite a low SpO2 or a fast heart rate",
                        code="override_needs_physician")
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        check_version(session, expected_version)
        if session.state != "checked_in" or not session.checklist:
            raise Conflict("record the pre-infusion checklist after check-in first", code="checklist_missing")
        current = _run_checklist(uow, session, session.checklist["facts"], now, session.checklist.get("overrides"))
        codes = current["overridable"]
        if not codes:
            raise Conflict("nothing to override: no baseline SpO2 or heart-rate item is blocking the start",
                           code="nothing_to_override")
        who = actor.username or f"user {actor.user_id}"
        added = [{"code": code, "reason": data.reason.strip(), "by": who, "role": "physician",
                  "at": now.isoformat()} for code in codes]
        session.checklist = _run_checklist(uow, session, session.checklist["facts"], now,
                                         [*(session.checklist.get("overrides") or []), *added])
        _event(uow, actor, session, "note",
               {"text": f"Checklist override by {who} (physician) of {', '.join(codes)}: {data.reason.strip()}",
                "checklist_override": {"codes": codes, "reason": data.reason.strip(), "by": who,
                                       "by_user_id": actor.user_id, "role": "physician"}}, now)
        uow.flush()
        audit(uow, actor, "session.checklist_override", "session", session.id,
              {"codes": codes, "reason": data.reason.strip(), "ready": session.checklist["ready"]})
        return view_of(uow, actor, session)


def double_checker(db: Database, settings: Settings, actor: Actor, data: StartIn | None) -> Actor | None:
    """The second clinician of an independent double check, their password checked like a sign-in
    (same throttle and answers): a physician or nurse other than the one starting the infusion."""
    given = data.double_check if data is not None else None
    if given is None:
        return None
    try:
        witness = authenticate(db, settings, username=given.username, password=given.password, ip=actor.ip)
    except Unauthenticated:
        raise ValidationFailed("the second clinician's username or password is wrong", code="double_check_failed",
                               field="double_check") from None
    return witness


def start_session(db: Database, actor: Actor, session_id: int, expected_version: int | None,
                  data: StartIn | None = None, *, now: datetime | None = None,
                  double_check: Actor | None = None) -> SessionView:
    """Start the infusion: the checklist holds now, the pump program is the signed plan's, and (unless
    the clinic turned it off) a second clinician has checked the pump against the plan (``double_check``:
    the verified second clinician, from :func:`double_checker`)."""
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    if double_check is not None:
        if double_check.role not in CLINICAL_ROLES:
            raise ValidationFailed("the double check is done by a physician or a nurse", code="double_check_role",
                                   field="double_check")
        if double_check.user_id == actor.user_id:
            raise ValidationFailed("the double check is independent: a second clinician, not the one starting the "
                                   "infusion", code="double_check_same_user", field="double_check")
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        check_version(session, expected_version)
        if session.state == "checked_in":
            # issue 13: a signed consent before the course starts (before the checklist, so the code says why)
            from ketaclinic.services.consent import consent_refusal

            if (refusal := consent_refusal(uow, session)) is not None:
                raise refusal
            if not session.checklist:
                raise Conflict("record the pre-infusion checklist first", code="checklist_missing")
            session.checklist = _run_checklist(uow, session, session.checklist["facts"], now,  # still true at the start?
                                             session.checklist.get("overrides"))
            if not session.checklist["ready"]:
                unmet = [i for i in session.checklist["items"] if i["blocking"] and not i["met"] and not i.get("override")]
                raise Conflict("the checklist blocks the start: " + "; ".join(f"{i['code']}: {i['message']}" for i in unmet),
                               code="checklist_not_met")
        plan = _signed_plan(uow, session.plan_id, session.patient_id)
        if session.weight_kg is not None:
            mismatch = weight_change_flag(session.weight_kg, plan.weight_kg)
            if mismatch is not None:
                raise Conflict(f"the plan was computed for {plan.weight_kg:g} kg and the patient weighs "
                               f"{session.weight_kg:g} kg today (more than 20 %): a physician writes a new plan",
                               code="plan_weight_mismatch", field="weight_kg")
        session.pump_program = {**plan.pump_program, "plan_id": plan.id, "plan_version": plan.version,
                              "plan_signed_by": plan.signed_by, "plan_signed_at": plan.signed_at.isoformat()}
        if data is not None and data.ketamine_lot_number:
            session.pump_program["ketamine_lot_number"] = data.ketamine_lot_number
        if double_check is None and current_pump_double_check(uow):
            raise Conflict("a second clinician checks the pump program against the signed plan first (their username "
                           "and password)", code="double_check_required", field="double_check")
        if double_check is not None:
            session.pump_program["double_checked_by"] = double_check.username
            session.pump_program["double_checked_at"] = now.isoformat()
            _event(uow, actor, session, "note", {
                "text": f"Pump program checked against the signed plan by {double_check.username} (independent double "
                        f"check) before the start", "double_check": {"by": double_check.username,
                                                                     "user_id": double_check.user_id}}, now)
        session.started_at = now
        _move(uow, actor, session, "start", session.version, now, {"plan_id": plan.id})
        uow.flush()
        audit(uow, actor, "session.start", "session", session.id,
              {"plan_id": plan.id, "double_checked_by": double_check.username if double_check else None})
        return view_of(uow, actor, session)


def stop_infusion(db: Database, actor: Actor, session_id: int, expected_version: int | None,
                  *, now: datetime | None = None) -> SessionView:
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        _move(uow, actor, session, "stop", expected_version, now)
        session.ended_at = now
        uow.flush()
        audit(uow, actor, "session.stop", "session", session.id)
        return view_of(uow, actor, session)


def cancel_session(db: Database, actor: Actor, session_id: int, expected_version: int | None, data: CancelIn,
                   *, now: datetime | None = None) -> SessionView:
    require_role(actor, *SCHEDULE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        _move(uow, actor, session, "cancel", expected_version, now, {"reason": data.reason})
        uow.flush()
        audit(uow, actor, "session.cancel", "session", session.id, {"reason": data.reason})
        course_summaries.refresh(uow, session.patient_id)
        return view_of(uow, actor, session)


def _assess(uow: Session, session: InfusionSession, data: DischargeIn, now: datetime) -> DischargeAssessmentView:
    if session.state != "observing" or session.ended_at is None:
        raise Conflict(f"discharge follows the observation after the infusion (the session is {session.state})",
                       code="invalid_transition")
    minimum = max(float((session.pump_program or {}).get("min_observation_after_stop_min") or 60.0),
                  current_minimum_observation_min(uow))  # the longer of the protocol's and the clinic's
    since = min(24 * 60.0, max(0.0, (now - session.ended_at).total_seconds() / 60))
    request = DischargeRequest.model_validate({**data.model_dump(), "baseline": _baseline(session).model_dump(),
                                               "minutes_since_stop": round(since, 1)})
    assessment = assess_discharge(request, minimum)  # the same rule as ``ketaclinic discharge``
    return DischargeAssessmentView(
        **assessment.as_contract(), criteria=[c.as_dict() for c in assessment.criteria],
        padss={**data.padss.model_dump(), "total": assessment.padss_total},
        minutes_since_infusion_stopped=round(since, 1), minimum_observation_min=minimum)


def assess_discharge_now(db: Database, actor: Actor, session_id: int, data: DischargeIn,
                         *, now: datetime | None = None) -> DischargeAssessmentView:
    """The discharge criteria as they stand (nothing changes): what is still unmet."""
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        result = _assess(uow, session, data, now)
        audit(uow, actor, "session.discharge_check", "session", session.id, {"unmet": [u["code"] for u in result.unmet]})
        return result


def discharge_session(db: Database, actor: Actor, session_id: int, expected_version: int | None, data: DischargeIn,
                      *, now: datetime | None = None) -> SessionView:
    """Discharge when every criterion is met; otherwise refuse, naming the unmet criteria (and keep the attempt)."""
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    refusal: Conflict | None = None
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        check_version(session, expected_version)
        from ketaclinic.services.register import discharge_refusal  # issue 14: controlled drugs reconciled
        unreconciled = discharge_refusal(uow, session)
        if unreconciled is not None:
            raise unreconciled
        result = _assess(uow, session, data, now)
        record = {**result.model_dump(mode="json"), "input": data.model_dump(mode="json"), "assessed_at": now.isoformat()}
        if not result.ready:
            unmet = result.unmet
            _event(uow, actor, session, "note", {"text": "Discharge refused: criteria unmet.", "discharge_assessment": record}, now)
            audit(uow, actor, "session.discharge_refused", "session", session.id, {"unmet": [u["code"] for u in unmet]})
            refusal = Conflict("discharge refused, unmet criteria: " + "; ".join(f"{c['code']} ({c['message']})" for c in unmet),
                               code="discharge_criteria_unmet")
        else:
            session.discharge = record
            session.discharged_at = now
            _move(uow, actor, session, "discharge", session.version, now)
            uow.flush()
            audit(uow, actor, "session.discharge", "session", session.id)
            course_summaries.refresh(uow, session.patient_id)  # the outcome summary moves with it (issue 17)
            view = view_of(uow, actor, session)
    if refusal is not None:
        raise refusal
    return view


# --- events ---------------------------------------------------------------------------------


def _vitals(uow: Session, actor: Actor, session: InfusionSession, data: VitalsEvent, now: datetime) -> EventView:
    minute = _minute(session, now) or 0.0
    try:
        observation = Observation.model_validate({**data.model_dump(exclude={"kind"}), "minute": minute})
    except ValidationError as error:  # the field and its range in words, not pydantic's URL
        message, field = explain(error.errors(include_url=False)[0], model=Observation)
        raise ValidationFailed(message, field=field) from None
    alerts = evaluate_observation(_baseline(session), observation)
    # RASS and CADSS-6 are kept only when recorded (older vitals events have neither)
    payload = {"observation": observation.model_dump(mode="json", exclude_none=True), "alerts": [a.as_dict() for a in alerts]}
    event = _event(uow, actor, session, "vitals", payload, now)
    raised = [_event(uow, actor, session, "alert", {**a.as_dict(), "vitals_event_id": event.id}, now) for a in alerts]
    audit(uow, actor, "session.event.vitals", "session", session.id,
          {"event_id": event.id, "alerts": [a.code for a in alerts]})
    return EventView.of(event, raised)


def _override(actor: Actor, reason: str | None) -> Override | None:
    if reason is None:
        return None
    if actor.role not in OVERRIDE_ROLES:
        raise Forbidden("a soft-limit override needs a physician", code="override_needs_physician")
    return Override(reason=reason, by=actor.username)


@dataclass(frozen=True)
class _Dosing:
    """What the bedside judges a change with: the signed plan, the weight of the day, the
    patient's height and sex (the dosing weight), the plan's care profile and the clinic's library."""

    plan: Plan
    weight_kg: float
    height_cm: float | None
    sex: str | None
    profile: str
    library: DrugLibrary

    @property
    def dosing_weight_kg(self) -> float:
        return float(dosing_weight(self.weight_kg, self.height_cm, self.sex).kg)

    def request(self, protocol: str, step: DoseStep, override: Override | None) -> DoseRequest:
        return DoseRequest(protocol=protocol, weight_kg=self.weight_kg, height_cm=self.height_cm, sex=self.sex,
                           profile=self.profile, concentration_mg_per_ml=self.plan.concentration_mg_per_ml,
                           steps=[step], override=override)


def _dosing(uow: Session, session: InfusionSession) -> _Dosing:
    plan = uow.get(Plan, session.plan_id)
    assert plan is not None
    patient = uow.get(Patient, session.patient_id)
    assert patient is not None
    profile = (session.pump_program or plan.pump_program or {}).get("profile", "low_dose")
    return _Dosing(plan, session.weight_kg or plan.weight_kg, patient.height_cm,
                   patient.sex if patient.sex in ("female", "male") else None, profile,
                   current_libraries(uow)[profile])


def _ketamine_pushes(events: Iterable[Any]) -> list[tuple[float, float]]:
    """``(minute, mg)`` of every extra IV ketamine dose recorded at the bedside, as corrected."""
    events = list(events)
    fixes = corrections_by_event(events)
    out = []
    for event in events:
        if event.kind != "medication":
            continue
        given = {**(event.payload or {}), **fixes.get(event.id, {})}
        if str(given.get("drug", "")).strip().lower() in KETAMINE_NAMES and given.get("route") == "iv":
            factor = MG_PER_UNIT.get(given.get("unit", ""))
            if factor is not None:
                out.append((float(event.minute or 0.0), float(given["dose"]) * factor))
    return out


def _judge_at_the_bedside(uow: Session, session: InfusionSession, dosing: _Dosing, per_step: DoseRequest,
                          now: datetime, *, new_rate: float | None = None, push_mg: float | None = None
                          ) -> tuple[PumpProgram | None, tuple[Any, ...]]:
    """Judge one change the nurse is about to make, per step and for the whole session (design
    4.3 v2): what ran so far, the change, and the rest of the program as it would then run. Raises
    422 ``hard_limit`` / ``soft_limit`` like a plan; returns the step's program and the soft limits
    the override covers."""
    minute = _minute(session, now) or 0.0
    program: PumpProgram | None = None
    findings: list[Any] = []
    try:
        program = program_pump(per_step, dosing.library, session_limits=False)
        findings.extend(program.limits)
    except DosingError as error:
        if error.code not in ("hard_limit", "soft_limit"):
            raise dosing_refusal(error) from None
        findings.extend(error.limits)
    events = uow.execute(select(SessionEvent).where(SessionEvent.session_id == session.id)
                             .order_by(SessionEvent.id)).scalars().all()
    changes = rate_changes_given(events)
    steps = (session.pump_program or {}).get("program", [])
    if new_rate is not None:
        changes.append((minute, new_rate))
    given, _ = doses_as_given(steps, changes)
    deliveries = [Delivery(dec(d.start_min), dec(d.duration_min), dec(d.dose_mg)) if isinstance(d, Infusion)
                  else Delivery(dec(d.at_min), Decimal(0), dec(d.dose_mg)) for d in given]
    pushes = _ketamine_pushes(events) + ([(minute, push_mg)] if push_mg is not None else [])
    deliveries += [Delivery(dec(m), Decimal(0), dec(mg)) for m, mg in pushes]
    planned_min = sum(float(s.get("duration_min") or 0) for s in steps if s.get("kind") == "infusion")
    findings.extend(session_findings(deliveries, dec(planned_min), dec(dosing.dosing_weight_kg), dosing.library,
                                     "rate_mg_per_h" if new_rate is not None else "dose"))
    try:
        soft = judge(findings, per_step.override)
    except DosingError as error:
        raise dosing_refusal(error) from None
    return program, soft


def _rate_change(uow: Session, actor: Actor, session: InfusionSession, data: RateChangeEvent, now: datetime) -> EventView:
    dosing = _dosing(uow, session)
    per_kg = data.rate_mg_per_kg_per_h if data.rate_mg_per_kg_per_h is not None \
        else data.rate_mg_per_h / dosing.dosing_weight_kg  # type: ignore[operator]
    infusion = next((s for s in (session.pump_program or {}).get("program", []) if s["kind"] == "infusion"), None)
    duration = float(infusion["duration_min"]) if infusion else 60.0
    override = _override(actor, data.override_reason)
    request = dosing.request(dosing.plan.protocol_id, DoseStep(kind="infusion", rate_mg_per_kg_per_h=round(per_kg, 6),
                                                              duration_min=duration), override)
    # the rate the pump will run, to judge the whole session with (the program rounds it to 0.1 mL/h)
    try:
        preview = program_pump(request.model_copy(update={"override": Override(reason="preview")}), dosing.library,
                               session_limits=False).steps[0].rate_mg_per_h
    except DosingError:
        preview = None
    program, soft = _judge_at_the_bedside(uow, session, dosing, request, now,
                                          new_rate=float(preview) if preview is not None else per_kg * dosing.dosing_weight_kg)
    assert program is not None
    step = program.as_dict()["program"][0]
    limits = [f.as_dict() for f in soft]
    payload = {"rate_mg_per_kg_per_h": step.get("rate_mg_per_kg_per_h"), "rate_mg_per_h": step["rate_mg_per_h"],
               "rate_ml_per_h": step["rate_ml_per_h"], "concentration_mg_per_ml": dosing.plan.concentration_mg_per_ml,
               "dosing_weight_kg": dosing.dosing_weight_kg, "profile": dosing.profile,
               "reason": data.reason, "limits": limits, "override": _override_record(override, soft),
               "notes": program.as_dict()["notes"]}
    event = _event(uow, actor, session, "rate_change", payload, now)
    audit(uow, actor, "session.event.rate_change", "session", session.id,
          {"event_id": event.id, "rate_ml_per_h": step["rate_ml_per_h"],
           "overridden": [lim["code"] for lim in limits]})
    return EventView.of(event)


def _override_record(override: Override | None, soft: tuple[Any, ...]) -> dict[str, Any] | None:
    if override is None:
        return None
    return {"reason": override.reason, "by": override.by, "overridden": [f.code for f in soft]}


def _may_push(uow: Session, actor: Actor, dosing: _Dosing) -> None:
    """Who may give an extra IV ketamine bolus at the bedside: a clinic setting (design 4.3 v2;
    some state nursing boards restrict IV ketamine pushes by registered nurses). Default: a
    physician, or a nurse only when the signed plan orders a bolus."""
    rule = current_bedside_bolus_rule(uow)
    if actor.role == "physician" or rule == "physician_or_nurse":
        return
    ordered = any(s.get("kind") == "bolus" for s in (dosing.plan.pump_program or {}).get("program", []))
    if rule == "physician_or_plan_order" and ordered:
        return
    raise Forbidden("an extra IV ketamine bolus needs a physician here: the signed plan orders no bolus"
                    if rule == "physician_or_plan_order" else
                    "this clinic lets only a physician give an extra IV ketamine bolus",
                    code="bedside_bolus_needs_physician", field="drug")


def _medication(uow: Session, actor: Actor, session: InfusionSession, data: MedicationEvent, now: datetime) -> EventView:
    from ketaclinic.services.medication_orders import prn_order_required

    if (refusal := prn_order_required(uow, session, data.drug)) is not None:
        raise refusal  # a drug the plan orders PRN is given through its order (issue 14, services/medication_orders.py)
    payload = data.model_dump(exclude={"kind", "override_reason"})
    if data.drug.strip().lower() in KETAMINE_NAMES and data.route == "iv":
        if data.unit not in ("mg", "mcg", "g"):
            raise ValidationFailed("give an extra ketamine dose in mg", field="unit")
        dosing = _dosing(uow, session)
        _may_push(uow, actor, dosing)
        dose_mg = data.dose * MG_PER_UNIT[data.unit]
        override = _override(actor, data.override_reason)
        request = dosing.request("custom_iv", DoseStep(kind="bolus", dose_mg_per_kg=round(dose_mg / dosing.dosing_weight_kg, 6)),
                                 override)
        _, soft = _judge_at_the_bedside(uow, session, dosing, request, now, push_mg=dose_mg)
        payload["dose_check"] = {"limits": [f.as_dict() for f in soft], "override": _override_record(override, soft),
                                 "dosing_weight_kg": dosing.dosing_weight_kg, "profile": dosing.profile}
    event = _event(uow, actor, session, "medication", payload, now)
    audit(uow, actor, "session.event.medication", "session", session.id, {"event_id": event.id, "drug": data.drug})
    return EventView.of(event)


def _event_of_session(uow: Session, session: InfusionSession, event_id: int, what: str) -> SessionEvent:
    event = uow.get(SessionEvent, event_id)
    if event is None or event.session_id != session.id:
        raise ValidationFailed(f"{what} names no event of this session", field=what)
    return event


# What an amendment may correct, per kind of event: checked as the original event would be, so a
# correction can never store a value the record (and every export of it) cannot read.
CORRECTABLE: dict[str, type[BaseModel]] = {"vitals": Observation, "side_effect": SideEffectEvent,
                                           "medication": MedicationEvent, "note": NoteEvent}


def check_correction(kind: str, original: dict[str, Any], correction: dict[str, Any]) -> None:
    if not correction:
        return
    if kind == "rate_change":
        if set(correction) - {"rate_mg_per_h"} or not _positive_number(correction.get("rate_mg_per_h")):
            raise ValidationFailed("a rate change is corrected with rate_mg_per_h only, a number above 0",
                                   field="correction")
        return
    model = CORRECTABLE.get(kind)
    if model is None:
        raise ValidationFailed(f"a {kind} event has no values to correct; give only the reason", field="correction")
    fields = set(model.model_fields) - {"kind", "override_reason", "minute"}
    unknown = sorted(set(correction) - fields)
    if unknown:
        raise ValidationFailed(f"a {kind} correction may change only: {', '.join(sorted(fields))} "
                               f"(not {', '.join(unknown)})", field="correction")
    base = original.get("observation", original) if kind == "vitals" else original
    fixed = {"minute": base.get("minute", 0)} if kind == "vitals" else {"kind": kind}
    try:
        model.model_validate({**fixed, **{k: v for k, v in base.items() if k in fields}, **correction})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"the correction is not a valid {kind}: {where}: {first['msg']}",
                               field=f"correction.{where}") from None


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 5000


def append_event(db: Database, actor: Actor, session_id: int, data: EventIn, *, now: datetime | None = None) -> EventView:
    """Append one event (no If-Match: appends never conflict, so concurrent recording loses nothing)."""
    require_role(actor, *CLINICAL_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        if session.state not in EVENT_STATES[data.kind]:
            raise Conflict(f"a {data.kind} event cannot be recorded while the session is {session.state}",
                           code="invalid_state")
        if isinstance(data, VitalsEvent):
            return _vitals(uow, actor, session, data, now)
        if isinstance(data, RateChangeEvent):
            return _rate_change(uow, actor, session, data, now)
        if isinstance(data, MedicationEvent):
            return _medication(uow, actor, session, data, now)
        amends = None
        payload = data.model_dump(exclude={"kind"})
        if isinstance(data, AlertAckEvent):
            alert = _event_of_session(uow, session, data.alert_event_id, "alert_event_id")
            if alert.kind != "alert":
                raise ValidationFailed("alert_event_id must name an alert event", field="alert_event_id")
            if data.alert_event_id not in open_alert_ids(uow, session.id):
                raise Conflict("this alert is already acknowledged", code="already_acknowledged")
            payload["alert_code"] = alert.payload.get("code")
        elif isinstance(data, AmendmentEvent):
            target = _event_of_session(uow, session, data.amends_event_id, "amends_event_id")
            amends = target.id
            payload["amended_kind"] = target.kind
            check_correction(target.kind, target.payload or {}, data.correction)
        event = _event(uow, actor, session, data.kind, payload, now, amends)
        audit(uow, actor, f"session.event.{data.kind}", "session", session.id, {"event_id": event.id})
        return EventView.of(event)


def list_events(db: Database, actor: Actor, session_id: int, *, kind: str | None = None, limit: int | None = None,
                cursor: str | None = None) -> Page[EventView]:
    require_role(actor, *CLINICAL_ROLES)
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        query = (select(SessionEvent).where(SessionEvent.session_id == session.id, SessionEvent.id > after)
                 .order_by(SessionEvent.id).limit(limit + 1))
        if kind:
            query = query.where(SessionEvent.kind == kind)
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "session.events.read", "session", session.id, {"count": len(rows[:limit])})
        return page_of(rows, limit, EventView.of)


# --- reads ----------------------------------------------------------------------------------


def get_session(db: Database, actor: Actor, session_id: int) -> SessionView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        session = load_session(uow, actor, session_id)
        audit(uow, actor, "session.read", "session", session.id, {"patient_id": session.patient_id})
        view = view_of(uow, actor, session)
        if view.checklist is not None and (judged := _judged_now(uow, session)) is not None:
            view = view.model_copy(update={"checklist": judged})  # issue 13: consent as it stands now
        return view


# What a page's list of sessions shows (time, patient, state, the visit's times): a day's list at a group of
# clinics is 200 sessions, and loading each one's checklist, pump program and discharge (JSON documents) cost
# 60 of the physician dashboard's 140 ms at 100,000 patients (issue 17) for columns the list never shows.
LIST_COLUMNS = (InfusionSession.id, InfusionSession.version, InfusionSession.created_at, InfusionSession.created_by,
                InfusionSession.patient_id, InfusionSession.plan_id, InfusionSession.site_id,
                InfusionSession.scheduled_at, InfusionSession.state, InfusionSession.started_at,
                InfusionSession.ended_at, InfusionSession.discharged_at)


def list_view(session: InfusionSession) -> SessionView:
    """A line of a page's list of sessions, and what the schedule roles see: the visit without its clinical
    documents (see ``LIST_COLUMNS``)."""
    return SessionView(**_visit_fields(session), view="schedule")


def under_way(uow: Session, actor: Actor, *, limit: int = 200) -> list[InfusionSession]:
    """The sessions under way (checked in, running, observing) at the actor's sites, by time: a read of the
    ``(state, site_id)`` index alone. There are at most as many as the sites have chairs; ``limit`` is the
    guard. No ORDER BY in SQL on purpose: with one, SQLite (no histogram of ``state``) walks the whole table
    by id or time instead (the register page took 1.1 s at 20,000 patients). Only ``LIST_COLUMNS`` are
    loaded: the callers list them."""
    query = in_sites(select(InfusionSession).where(under_way_condition()), actor, InfusionSession.site_id)
    query = query.options(load_only(*LIST_COLUMNS))
    return sorted(uow.execute(query.limit(limit)).scalars(), key=lambda s: (s.scheduled_at, s.id))


def sessions_under_way(db: Database, actor: Actor, *, limit: int = 200) -> list[SessionView]:
    """:func:`under_way` for a page (the register's sessions to reconcile), audited as a session list."""
    require_role(actor, *CLINICAL_ROLES)
    with unit_of_work(db) as uow:
        rows = under_way(uow, actor, limit=limit)
        audit(uow, actor, "session.list", "session", None, {"ids": [s.id for s in rows], "under_way": True})
        return [list_view(s) for s in rows]


def day_sessions(db: Database, actor: Actor, *, start: datetime, end: datetime, limit: int = 200) -> list[SessionView]:
    """The dashboard's day (issue 17): the sessions booked for ``start`` ≤ time < ``end`` and, for the
    clinical roles, every session still under way from earlier, at the actor's sites, by time; one query
    (the ``(site_id, scheduled_at)`` and ``(state, site_id)`` indexes) and one audit entry."""
    require_role(actor, *READ_ROLES)
    if actor.is_patient:
        raise Forbidden("the day's sessions are the clinic's: see your own sessions")
    today = and_(InfusionSession.scheduled_at >= start, InfusionSession.scheduled_at < end)
    with unit_of_work(db) as uow:
        # two reads, each on its own index, merged here: one ``today OR under way`` query is planned by SQLite
        # as a walk of the whole scheduled_at index (it cannot tell that few sessions are under way)
        query = in_sites(select(InfusionSession).where(today), actor, InfusionSession.site_id)
        query = query.options(load_only(*LIST_COLUMNS))
        rows = list(uow.execute(query.order_by(InfusionSession.scheduled_at, InfusionSession.id).limit(limit)).scalars())
        if _clinical(actor):
            seen = {s.id for s in rows}
            rows += [s for s in under_way(uow, actor, limit=limit) if s.id not in seen]
            rows = sorted(rows, key=lambda s: (s.scheduled_at, s.id))[:limit]
        audit(uow, actor, "session.list", "session", None, {"ids": [s.id for s in rows], "day": start.isoformat()})
        return [list_view(s) for s in rows]


def list_sessions(db: Database, actor: Actor, *, patient_id: int | None = None, state: str | None = None,
                  scheduled_from: datetime | None = None, scheduled_to: datetime | None = None,
                  limit: int | None = None, cursor: str | None = None) -> Page[SessionView]:
    """Visits by id; a patient sees only their own (asking for someone else's: 404)."""
    require_role(actor, *READ_ROLES)
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        query = select(InfusionSession).where(InfusionSession.id > after).order_by(InfusionSession.id).limit(limit + 1)
        query = in_sites(query, actor, InfusionSession.site_id)  # issue 17: the actor's sites only
        if actor.is_patient:
            patient_id = patient_id if patient_id is not None else actor.patient_id
        if patient_id is not None:
            load_patient(uow, actor, patient_id)
            query = query.where(InfusionSession.patient_id == patient_id)
        if state:  # the states of a visit under way are few in a large clinic: tell SQLite (see ``rare``)
            by_state = InfusionSession.state == state
            query = query.where(rare(by_state) if state in ACTIVE_STATES else by_state)
        if scheduled_from:
            query = query.where(InfusionSession.scheduled_at >= scheduled_from)
        if scheduled_to:
            query = query.where(InfusionSession.scheduled_at < scheduled_to)
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "session.list", "session", None,
              {"patient_id": patient_id, "ids": [s.id for s in rows[:limit]]})
        return page_of(rows, limit, lambda s: view_of(uow, actor, s, detail=False))
