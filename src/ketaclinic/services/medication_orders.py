"""The medication record (issue 14): PRN orders for adjuncts and rescue drugs on a plan, and each dose
given at the bedside under one.

- **Orders** are written by a physician (nurses give, they do not prescribe). On a draft plan an
  order is part of what the physician signs with the plan; on a signed plan, which never changes, an
  order is an *amendment* that the writing physician signs there and then. Each order is judged by
  :func:`ketaclinic.clinical.drug_library.check_order`: a hard limit refuses it (422 ``hard_limit``),
  a soft one needs the physician's reason (422 ``soft_limit`` without it). An order is stopped, never
  edited (a stop row; 409 ``already_stopped`` the second time).
- **Doses**: a nurse (or physician) picks an active order of the session's plan and confirms;
  :func:`~ketaclinic.clinical.drug_library.check_dose` refuses a dose past the order's maximum per
  session, before its interval, or past the drug's hard session maximum (422, with the reason). A dose
  given is a ``medication_administrations`` row plus a ``medication`` session event (the timeline,
  session record, letters and the FHIR export read it like any dose); given from an alert, it also
  answers the alert. The session row is locked for the check and the write (``FOR UPDATE`` on
  PostgreSQL; SQLite serialises writers), so two nurses cannot both give the last allowed dose.
- Midazolam (Schedule IV) goes through the controlled-substance register like ketamine: the register
  derives its ``administer`` entry from the session's ``medication`` events that name the drug
  (:func:`ketaclinic.clinical.register.drug_given_mg`), which is the event each dose writes here; what
  was drawn, wasted and returned is the register's (services/register.py).
- The free-form ``medication`` event stays readable; for a library drug that the session's plan
  orders PRN, a free-form dose is refused (409 ``use_prn_order``): the order's checks apply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.drug_library import (
    ADJUNCTS,
    ALERT_INDICATIONS,
    INDICATION_LABELS,
    ROUTE_LABELS,
    GivenDose,
    MarError,
    OrderTerms,
    adjunct_named,
    check_dose,
    check_order,
    fmt_mg,
    fmt_num,
    get_adjunct,
)
from ketaclinic.clinical.record import corrections_by_event
from ketaclinic.clock import utcnow
from ketaclinic.pharmacology.regimen import MG_PER_UNIT
from ketaclinic.records.db import Database
from ketaclinic.records.medication_orders import (
    MedicationAdministration,
    MedicationOrder,
    MedicationOrderStop,
)
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from ketaclinic.services.evaluations import RecordId
from ketaclinic.services.patients import load_patient
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import Text

ORDER_ROLES = ("physician",)
GIVE_ROLES = ("physician", "nurse")
READ_ROLES = ("physician", "nurse")
GIVE_STATES = ("checked_in", "running", "observing")

DrugId = Literal["ondansetron", "midazolam", "clonidine", "labetalol", "glycopyrrolate"]
Route = Literal["iv", "oral", "im", "sublingual"]
IndicationCode = Literal["nausea_vomiting", "hypertension", "psychomimetic_distress", "hypersalivation", "premedication"]


class OrderIn(BaseModel):
    """A PRN order. ``min_interval_min`` defaults to the library's for the drug."""

    model_config = ConfigDict(extra="forbid")
    drug: DrugId
    dose_mg: float = Field(gt=0, le=1000, allow_inf_nan=False)
    route: Route
    indication: IndicationCode
    max_doses_per_session: int = Field(default=1, ge=1, le=10)
    min_interval_min: float | None = Field(default=None, ge=0, le=24 * 60, allow_inf_nan=False)
    instructions: Text | None = Field(default=None, max_length=500)
    override_reason: Text | None = Field(default=None, min_length=1, max_length=2000,
                                         description="The physician's reason for a dose past a soft limit")


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=2000)


class DoseIn(BaseModel):
    """One PRN dose: the order is enough (its dose and route); sending either, it must match the order."""

    model_config = ConfigDict(extra="forbid")
    order_id: RecordId
    dose_mg: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    route: Route | None = None
    alert_event_id: RecordId | None = Field(default=None, description="The open alert this dose answers")
    lot_number: Text | None = Field(default=None, min_length=1, max_length=100)


class OrderView(BaseModel):
    id: int
    plan_id: int
    patient_id: int
    site_id: int
    drug: str
    drug_name: str
    dose_mg: float
    route: str
    indication: str
    indication_label: str
    max_doses_per_session: int
    min_interval_min: float
    instructions: str | None
    dose_check: dict[str, Any]
    amendment: bool
    status: Literal["draft", "active", "stopped"]
    signed_by: int | None
    signed_at: datetime | None
    signed_by_name: str | None = None
    created_at: datetime
    created_by: int | None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    label: str
    dose_label: str = ""  # "Ondansetron 4 mg IV": what the nurse gives, for buttons and headings
    controlled: bool = False


class DoseView(BaseModel):
    id: int
    session_id: int
    order_id: int
    event_id: int
    alert_event_id: int | None
    drug: str
    drug_name: str
    dose_mg: float
    route: str
    indication: str
    lot_number: str | None
    minute: float | None
    given_at: datetime
    given_by: int | None
    given_by_name: str | None = None
    dose_check: dict[str, Any]
    label: str


class OrderAtBedside(BaseModel):
    """An active order as the console shows it: can it be given now, and if not, why."""

    order: OrderView
    given: int
    can_give: bool
    refusal: str | None
    refusal_code: str | None
    next_allowed_at: datetime | None
    alert_event_ids: list[int] = []


class SessionPrn(BaseModel):
    session_id: int
    plan_id: int
    orders: list[OrderAtBedside]
    doses: list[DoseView]


# --- views -----------------------------------------------------------------------------------


def order_label(order: Any) -> str:
    """``Ondansetron 4 mg IV as needed for nausea or vomiting; up to 2 per session, at least 30 min apart``."""
    drug = get_adjunct(order.drug)
    n = order.max_doses_per_session
    return (f"{drug.name} {fmt_mg(order.dose_mg)} mg {ROUTE_LABELS.get(order.route, order.route)} as needed for "
            f"{INDICATION_LABELS[order.indication]}; up to {n} dose{'s' if n != 1 else ''} per session"
            + (f", at least {fmt_num(order.min_interval_min)} min apart" if n > 1 else ""))


def _order_view(order: MedicationOrder, plan: Plan, stop: MedicationOrderStop | None,
                names: dict[int | None, str]) -> OrderView:
    if order.amendment:
        signed_by, signed_at = order.signed_by, order.signed_at
    elif plan.status == "signed":
        signed_by, signed_at = plan.signed_by, plan.signed_at
    else:
        signed_by, signed_at = None, None
    status: Literal["draft", "active", "stopped"] = "stopped" if stop else ("active" if signed_at else "draft")
    drug = get_adjunct(order.drug)
    return OrderView(
        id=order.id, plan_id=order.plan_id, patient_id=order.patient_id, site_id=order.site_id, drug=order.drug,
        drug_name=drug.name, dose_mg=order.dose_mg, route=order.route, indication=order.indication,
        indication_label=INDICATION_LABELS[order.indication], max_doses_per_session=order.max_doses_per_session,
        min_interval_min=order.min_interval_min, instructions=order.instructions, dose_check=order.dose_check,
        amendment=order.amendment, status=status, signed_by=signed_by, signed_at=signed_at,
        signed_by_name=names.get(signed_by) if signed_by else None, created_at=order.created_at,
        created_by=order.created_by, stopped_at=stop.stopped_at if stop else None,
        stop_reason=stop.reason if stop else None, label=order_label(order),
        dose_label=dose_label(order.drug, order.dose_mg, order.route), controlled=drug.controlled)


def dose_label(drug: str, dose_mg: float, route: str) -> str:
    return f"{get_adjunct(drug).name} {fmt_mg(dose_mg)} mg {ROUTE_LABELS.get(route, route)}"


def _dose_view(row: MedicationAdministration, names: dict[int | None, str]) -> DoseView:
    return DoseView(
        id=row.id, session_id=row.session_id, order_id=row.order_id, event_id=row.event_id,
        alert_event_id=row.alert_event_id, drug=row.drug, drug_name=get_adjunct(row.drug).name, dose_mg=row.dose_mg,
        route=row.route, indication=row.indication, lot_number=row.lot_number,
        minute=row.minute, given_at=row.given_at, given_by=row.given_by, given_by_name=names.get(row.given_by),
        dose_check=row.dose_check, label=dose_label(row.drug, row.dose_mg, row.route))


def _stops(uow: Session, order_ids: list[int]) -> dict[int, MedicationOrderStop]:
    if not order_ids:
        return {}
    rows = uow.execute(select(MedicationOrderStop).where(MedicationOrderStop.order_id.in_(order_ids))).scalars()
    return {s.order_id: s for s in rows}


def _plan_orders(uow: Session, plan: Plan) -> list[OrderView]:
    orders = uow.execute(select(MedicationOrder).where(MedicationOrder.plan_id == plan.id)
                         .order_by(MedicationOrder.id)).scalars().all()
    stops = _stops(uow, [o.id for o in orders])
    names = staff_names(uow, [plan.signed_by, *(o.signed_by for o in orders)])
    return [_order_view(o, plan, stops.get(o.id), names) for o in orders]


def _load_plan(uow: Session, actor: Actor, plan_id: int) -> Plan:
    plan = get_or_404(uow, Plan, plan_id, "plan")
    load_patient(uow, actor, plan.patient_id)
    return plan


def _refusal(error: MarError) -> ServiceError:
    return ValidationFailed(error.message, code=error.code, field=error.field)


# --- orders ----------------------------------------------------------------------------------


def add_order(db: Database, actor: Actor, plan_id: int, data: OrderIn, *, now: datetime | None = None) -> OrderView:
    """Write a PRN order on a plan: part of a draft, or a signed amendment of a signed plan."""
    require_role(actor, *ORDER_ROLES)
    now = now or utcnow()
    drug = get_adjunct(data.drug)
    interval = data.min_interval_min if data.min_interval_min is not None else drug.min_interval_min.value
    terms = OrderTerms(data.drug, data.dose_mg, data.route, data.indication, data.max_doses_per_session, interval)
    try:
        soft = check_order(terms, data.override_reason)
    except MarError as error:
        raise _refusal(error) from None
    with unit_of_work(db) as uow:
        plan = _load_plan(uow, actor, plan_id)
        patient = load_patient(uow, actor, plan.patient_id)
        amendment = plan.status == "signed"
        if amendment and actor.role != "physician":
            raise Forbidden("an order on a signed plan is signed by a physician", code="order_needs_physician")
        order = MedicationOrder(
            site_id=patient.site_id, patient_id=plan.patient_id, plan_id=plan.id, drug=data.drug,
            dose_mg=float(terms.dose_mg), route=data.route, indication=data.indication,
            max_doses_per_session=data.max_doses_per_session, min_interval_min=float(interval),
            instructions=data.instructions,
            dose_check={"limits": [f.as_dict() for f in soft],
                        "override": {"reason": data.override_reason, "by": actor.username} if soft else None,
                        "dose_hard_max_mg": drug.dose_hard_max_mg.value,
                        "session_hard_max_mg": drug.session_hard_max_mg.value},
            amendment=amendment, signed_by=actor.user_id if amendment else None, signed_at=now if amendment else None,
            created_at=now, created_by=actor.user_id)
        uow.add(order)
        uow.flush()
        audit(uow, actor, "medication_order.create", "medication_order", order.id, {
            "plan_id": plan.id, "patient_id": plan.patient_id, "drug": order.drug, "dose_mg": order.dose_mg,
            "route": order.route, "indication": order.indication, "max_doses_per_session": order.max_doses_per_session,
            "amendment": amendment, "soft_limits_overridden": [f.code for f in soft],
            "override_reason": data.override_reason if soft else None})
        names = staff_names(uow, [plan.signed_by, order.signed_by])
        return _order_view(order, plan, None, names)


def stop_order(db: Database, actor: Actor, order_id: int, data: StopIn, *, now: datetime | None = None) -> OrderView:
    """Stop an order (or withdraw it from a draft plan): a stop row with the reason; once only."""
    require_role(actor, *ORDER_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        order = get_or_404(uow, MedicationOrder, order_id, "order")
        plan = _load_plan(uow, actor, order.plan_id)
        if _stops(uow, [order.id]):
            raise Conflict("this order is already stopped", code="already_stopped")
        stop = MedicationOrderStop(order_id=order.id, site_id=order.site_id, reason=data.reason, stopped_at=now,
                                   stopped_by=actor.user_id)
        uow.add(stop)
        uow.flush()
        audit(uow, actor, "medication_order.stop", "medication_order", order.id,
              {"plan_id": plan.id, "reason": data.reason})
        return _order_view(order, plan, stop, staff_names(uow, [plan.signed_by, order.signed_by]))


def list_orders(db: Database, actor: Actor, plan_id: int) -> list[OrderView]:
    """Every PRN order of a plan (drafts, active, stopped), oldest first."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        plan = _load_plan(uow, actor, plan_id)
        views = _plan_orders(uow, plan)
        audit(uow, actor, "medication_order.list", "plan", plan.id, {"patient_id": plan.patient_id,
                                                                      "ids": [v.id for v in views]})
        return views


# --- at the bedside ----------------------------------------------------------------------------


def _session(uow: Session, actor: Actor, session_id: int, *, lock: bool = False) -> InfusionSession:
    query = select(InfusionSession).where(InfusionSession.id == session_id)
    if lock:
        query = query.with_for_update()
    session = uow.execute(query).scalar_one_or_none()
    if session is None:
        raise NotFound("session not found")
    load_patient(uow, actor, session.patient_id)
    return session


def _given(uow: Session, session_id: int) -> list[MedicationAdministration]:
    return list(uow.execute(select(MedicationAdministration).where(MedicationAdministration.session_id == session_id)
                            .order_by(MedicationAdministration.id)).scalars())


def _open_alerts(uow: Session, session_id: int) -> list[SessionEvent]:
    events = uow.execute(select(SessionEvent).where(SessionEvent.session_id == session_id,
                                                    SessionEvent.kind.in_(("alert", "alert_ack")))
                         .order_by(SessionEvent.id)).scalars().all()
    answered = {(e.payload or {}).get("alert_event_id") for e in events if e.kind == "alert_ack"}
    return [e for e in events if e.kind == "alert" and e.id not in answered]


def _terms(order: MedicationOrder) -> OrderTerms:
    return OrderTerms(order.drug, order.dose_mg, order.route, order.indication, order.max_doses_per_session,
                      order.min_interval_min)


def _given_doses(uow: Session, session_id: int, rows: list[MedicationAdministration]) -> list[GivenDose]:
    """Every dose of a library drug in the session: the PRN doses, and any free-form dose recorded before an
    order existed (it counts towards the drug's session maximum and the interval like any other)."""
    out = [GivenDose(r.drug, r.order_id, r.given_at, r.dose_mg) for r in rows]
    events = uow.execute(select(SessionEvent).where(SessionEvent.session_id == session_id,
                                                    SessionEvent.kind.in_(("medication", "amendment")))
                         .order_by(SessionEvent.id)).scalars().all()
    fixes = corrections_by_event(events)
    for event in events:
        given = {**(event.payload or {}), **fixes.get(event.id, {})}
        if event.kind != "medication" or given.get("prn_order_id") is not None:
            continue
        drug = adjunct_named(str(given.get("drug", "")))
        factor = MG_PER_UNIT.get(str(given.get("unit", "")))
        if drug is not None and factor is not None and isinstance(given.get("dose"), int | float):
            out.append(GivenDose(drug.id, None, event.recorded_at, float(given["dose"]) * factor))
    return out


def _bedside(uow: Session, session: InfusionSession, now: datetime) -> SessionPrn:
    plan = uow.get(Plan, session.plan_id)
    assert plan is not None
    given = _given(uow, session.id)
    alerts = _open_alerts(uow, session.id)
    names = staff_names(uow, [r.given_by for r in given])
    every = _given_doses(uow, session.id, given)
    rows = []
    for view in _plan_orders(uow, plan):
        if view.status != "active":
            continue
        order = uow.get(MedicationOrder, view.id)
        assert order is not None
        count = sum(1 for g in given if g.order_id == order.id)
        can, refusal, code, next_at = True, None, None, None
        try:
            check_dose(order.id, _terms(order), every, now)
        except MarError as error:
            can, refusal, code = False, error.message, error.code
            same = [g.given_at for g in every if g.drug == order.drug]
            if error.code == "interval_not_elapsed" and same:
                next_at = max(same) + timedelta(minutes=order.min_interval_min)
        matching = [a.id for a in alerts if ALERT_INDICATIONS.get((a.payload or {}).get("code", "")) == order.indication]
        rows.append(OrderAtBedside(order=view, given=count, can_give=can, refusal=refusal, refusal_code=code,
                                   next_allowed_at=next_at, alert_event_ids=matching))
    return SessionPrn(session_id=session.id, plan_id=plan.id, orders=rows, doses=[_dose_view(r, names) for r in given])


def session_prn(db: Database, actor: Actor, session_id: int, *, now: datetime | None = None) -> SessionPrn:
    """The session's active PRN orders (each: may it be given now, and the alerts it answers) and the doses given."""
    require_role(actor, *READ_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = _session(uow, actor, session_id)
        out = _bedside(uow, session, now)
        audit(uow, actor, "medication_record.read", "session", session.id, {"patient_id": session.patient_id})
        return out


def _minute(session: InfusionSession, now: datetime) -> float | None:
    if session.started_at is None:
        return None
    return round(max(0.0, (now - session.started_at).total_seconds() / 60), 2)


def give_dose(db: Database, actor: Actor, session_id: int, data: DoseIn, *, now: datetime | None = None) -> DoseView:
    """Give one PRN dose under an active order of the session's plan (see the module docstring)."""
    require_role(actor, *GIVE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = _session(uow, actor, session_id, lock=True)
        if session.state not in GIVE_STATES:
            raise Conflict(f"a PRN dose cannot be given while the session is {session.state}", code="invalid_state")
        order = uow.get(MedicationOrder, data.order_id)
        if order is None or order.plan_id != session.plan_id:
            raise ValidationFailed("order_id names no PRN order of this session's plan", field="order_id")
        plan = uow.get(Plan, order.plan_id)
        assert plan is not None
        if not order.amendment and plan.status != "signed":
            raise Conflict("this order is not signed yet", code="order_not_signed", field="order_id")
        stop = _stops(uow, [order.id]).get(order.id)
        if stop is not None:
            raise Conflict(f"this order was stopped: {stop.reason}", code="order_stopped", field="order_id")
        given = _given(uow, session.id)
        try:
            check = check_dose(order.id, _terms(order), _given_doses(uow, session.id, given), now, dose_mg=data.dose_mg,
                               route=data.route)
        except MarError as error:
            raise _refusal(error) from None
        alert = None
        if data.alert_event_id is not None:
            alert = next((a for a in _open_alerts(uow, session.id) if a.id == data.alert_event_id), None)
            if alert is None:
                raise ValidationFailed("alert_event_id names no open alert of this session", field="alert_event_id")
        label = dose_label(order.drug, check.dose_mg, order.route)
        payload: dict[str, Any] = {
            "drug": order.drug, "dose": check.dose_mg, "unit": "mg", "route": order.route,
            "reason": f"PRN order #{order.id}: {INDICATION_LABELS[order.indication]}",
            "prn_order_id": order.id, "prn": {"number": check.number, "of_max": check.of_max,
                                              "session_total_mg": check.session_total_mg}}
        if data.lot_number:
            payload["lot_number"] = data.lot_number
        minute = _minute(session, now)
        event = SessionEvent(session_id=session.id, kind="medication", payload=payload, minute=minute, recorded_at=now,
                             recorded_by=actor.user_id, created_at=now)
        uow.add(event)
        uow.flush()
        if alert is not None:
            uow.add(SessionEvent(session_id=session.id, kind="alert_ack", minute=minute, recorded_at=now,
                                 recorded_by=actor.user_id, created_at=now,
                                 payload={"alert_event_id": alert.id, "alert_code": (alert.payload or {}).get("code"),
                                          "action_taken": f"{label} given (PRN order #{order.id})"}))
        row = MedicationAdministration(
            site_id=session.site_id, patient_id=session.patient_id, session_id=session.id, order_id=order.id,
            event_id=event.id, alert_event_id=alert.id if alert else None, drug=order.drug, dose_mg=check.dose_mg,
            route=order.route, indication=order.indication, lot_number=data.lot_number,
            dose_check=check.as_dict(), minute=minute, given_at=now, given_by=actor.user_id)
        uow.add(row)
        uow.flush()
        audit(uow, actor, "session.event.medication", "session", session.id, {
            "event_id": event.id, "drug": order.drug, "dose_mg": check.dose_mg, "route": order.route,
            "prn_order_id": order.id, "administration_id": row.id, "alert_event_id": alert.id if alert else None,
            "dose_number": check.number, "of_max": check.of_max})
        return _dose_view(row, staff_names(uow, [actor.user_id]))


# --- the free-form medication event --------------------------------------------------------------


def prn_order_required(uow: Session, session: InfusionSession, drug_text: str) -> ServiceError | None:
    """The refusal of a free-form dose of a library drug that the session's plan orders PRN (the order's
    checks must apply), else None (old records, drugs outside the library, plans without such an order)."""
    drug = adjunct_named(drug_text)
    if drug is None:
        return None
    orders = uow.execute(select(MedicationOrder.id).where(MedicationOrder.plan_id == session.plan_id,
                                                          MedicationOrder.drug == drug.id)).scalars().all()
    active = [o for o in orders if o not in _stops(uow, list(orders))]
    if not active:
        return None
    return Conflict(f"{drug.name} is ordered PRN on this plan (order #{active[0]}): give it through the order, "
                    "which checks the dose, the interval and the maximum per session", code="use_prn_order", field="drug")


def library() -> list[dict[str, Any]]:
    """The adjunct library as the admin's drug-library page shows it."""
    return [d.as_dict() | {"controlled": d.controlled} for d in ADJUNCTS]
