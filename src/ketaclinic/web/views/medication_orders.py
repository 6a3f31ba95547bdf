"""PRN orders and doses in the browser (issue 14).

- ``/plans/{id}/prn-orders``: the plan's PRN orders; a physician adds one (on a draft it is signed with
  the plan, on a signed plan it is a signed amendment) or stops one.
- ``/sessions/{id}/prn/{order_id}``: the nurse's second action. The console lists the active orders
  (and each open alert offers the matching one); picking one opens this confirmation, with the dose,
  route, how many were given and the limits checked; confirming records the dose. A dose the order or
  the library refuses is shown with the reason and no confirm button.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.drug_library import ADJUNCTS, INDICATION_LABELS, ROUTE_LABELS, get_adjunct
from ketaclinic.services import medication_orders as service
from ketaclinic.services import patients as patient_service
from ketaclinic.services import plans as plan_service
from ketaclinic.services import sessions as session_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import CLINICAL, check_csrf, db_of, errors_of, need, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
ORDER_FIELDS = ("drug", "dose_mg", "route", "indication", "max_doses_per_session", "min_interval_min", "instructions",
                "override_reason")


def _orders_page(request: Request, actor: Actor, plan_id: int, values: dict | None = None, errors: dict | None = None,
                 status: int = 200) -> Response:
    db = db_of(request)
    plan = plan_service.get_plan(db, actor, plan_id)
    patient = patient_service.get_patient(db, actor, plan.patient_id)
    return render(request, "plans/prn_orders.html", {
        "plan": plan, "patient": patient, "orders": service.list_orders(db, actor, plan_id),
        "drugs": [(d.id, f"{d.name} — {d.drug_class}") for d in ADJUNCTS], "library": ADJUNCTS,
        "routes": list(ROUTE_LABELS.items()), "indications": list(INDICATION_LABELS.items()),
        "values": values or {"drug": "ondansetron", "dose_mg": "4", "route": "iv", "indication": "nausea_vomiting",
                             "max_doses_per_session": "1"},
        "errors": errors or {}, "prn_manage": True}, status=status)


@router.get("/plans/{plan_id}/prn-orders")
def orders(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    return _orders_page(request, actor, plan_id)


@router.post("/plans/{plan_id}/prn-orders")
async def add_order(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ORDER_FIELDS}
    body: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
    try:
        order = service.add_order(db_of(request), actor, plan_id, service.OrderIn.model_validate(body))
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        if isinstance(exc, ServiceError) and exc.code in ("hard_limit", "soft_limit"):
            errors = {"__all__": exc.message, **({exc.field: exc.message} if exc.field else {})}
        return _orders_page(request, actor, plan_id, values, errors, getattr(exc, "status", 422))
    how = "a signed amendment of the plan" if order.amendment else "signed with the plan"
    return redirect(request, f"/plans/{plan_id}/prn-orders", f"PRN order added ({how}): {order.label}.")


@router.post("/prn-orders/{order_id}/stop")
async def stop_order(request: Request, order_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    form = await request.form()
    plan_id = int(str(form.get("plan_id") or "0") or 0)
    try:
        order = service.stop_order(db_of(request), actor, order_id,
                                   service.StopIn(reason=str(form.get("reason") or "").strip()))
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        if "reason" in errors:
            errors = {f"stop-{order_id}": "Say why the order is stopped."}
        return _orders_page(request, actor, plan_id, None, errors, getattr(exc, "status", 422))
    return redirect(request, f"/plans/{order.plan_id}/prn-orders", f"PRN order stopped: {order.label}.")


def _confirm_page(request: Request, actor: Actor, session_id: int, order_id: int, alert_id: int | None,
                  errors: dict | None = None, values: dict | None = None, status: int = 200) -> Response:
    db = db_of(request)
    session = session_service.get_session(db, actor, session_id)
    patient = patient_service.get_patient(db, actor, session.patient_id)
    bedside = service.session_prn(db, actor, session_id)
    row = next((r for r in bedside.orders if r.order.id == order_id), None)
    alert = None
    if alert_id is not None:
        alert = next((e for e in session_service.list_events(db, actor, session_id, kind="alert", limit=200).items
                      if e.id == alert_id), None)
    drug = get_adjunct(row.order.drug) if row else None
    return render(request, "sessions/prn_confirm.html", {
        "session": session, "patient": patient, "row": row, "drug": drug, "alert": alert,
        "doses": [d for d in bedside.doses if row and d.drug == row.order.drug],
        "errors": errors or {}, "values": values or {}}, status=status)


def _alert_id(text: Any) -> int | None:
    return int(text) if str(text or "").isdigit() else None


@router.get("/sessions/{session_id}/prn/{order_id}")
def confirm(request: Request, session_id: int, order_id: int,
            actor: Annotated[Actor, Depends(need(*service.GIVE_ROLES))]) -> Response:
    return _confirm_page(request, actor, session_id, order_id, _alert_id(request.query_params.get("alert")))


@router.post("/sessions/{session_id}/prn/{order_id}")
async def give(request: Request, session_id: int, order_id: int,
               actor: Annotated[Actor, Depends(need(*service.GIVE_ROLES))]) -> Response:
    form = await request.form()
    alert_id = _alert_id(form.get("alert_event_id"))
    lot = str(form.get("lot_number") or "").strip() or None
    try:
        dose = service.give_dose(db_of(request), actor, session_id,
                                 service.DoseIn(order_id=order_id, alert_event_id=alert_id, lot_number=lot))
    except (ValidationError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else "; ".join(errors_of(exc).values())
        return _confirm_page(request, actor, session_id, order_id, alert_id, {"__all__": f"Not given: {message}"},
                             {"lot_number": lot or ""}, getattr(exc, "status", 422))
    check = dose.dose_check
    answered = " The alert is answered." if dose.alert_event_id else ""
    return redirect(request, f"/sessions/{session_id}",
                    f"Given: {dose.label} (dose {check['number']} of {check['of_max']} this session).{answered}")


def bedside_prn(db: Any, actor: Actor, session: Any) -> service.SessionPrn | None:
    """What the console shows of the PRN record: while the patient is in the chair, or once doses were given."""
    if session.state not in service.GIVE_STATES and session.state != "discharged":
        return None
    prn = service.session_prn(db, actor, session.id)
    return prn if session.state in service.GIVE_STATES or prn.doses else None
