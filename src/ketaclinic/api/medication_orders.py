"""The medication record (issue 14): PRN orders on a plan (physicians write and stop them) and PRN doses
at the bedside (nurses and physicians give them under an order).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import PathId
from ketaclinic.services import medication_orders as service
from ketaclinic.services.context import Actor

router = APIRouter(tags=["medication record"])
Clinician = Annotated[Actor, Depends(allow(*service.READ_ROLES))]
Prescriber = Annotated[Actor, Depends(allow(*service.ORDER_ROLES))]
Giver = Annotated[Actor, Depends(allow(*service.GIVE_ROLES))]


@router.get("/plans/{plan_id}/prn-orders", response_model=list[service.OrderView],
            summary="A plan's PRN orders (draft, active, stopped)")
def list_orders(request: Request, plan_id: PathId, actor: Clinician) -> list[service.OrderView]:
    return service.list_orders(db_of(request), actor, plan_id)


@router.post("/plans/{plan_id}/prn-orders", response_model=service.OrderView, status_code=201,
             summary="Write a PRN order: part of a draft plan, or a signed amendment of a signed plan")
def add_order(request: Request, plan_id: PathId, actor: Prescriber,
              body: Annotated[service.OrderIn, Body()]) -> service.OrderView:
    return service.add_order(db_of(request), actor, plan_id, body)


@router.post("/prn-orders/{order_id}/stop", response_model=service.OrderView, status_code=201,
             summary="Stop a PRN order (a stop record with the reason; the order is kept)")
def stop_order(request: Request, order_id: PathId, actor: Prescriber,
               body: Annotated[service.StopIn, Body()]) -> service.OrderView:
    return service.stop_order(db_of(request), actor, order_id, body)


@router.get("/sessions/{session_id}/prn", response_model=service.SessionPrn,
            summary="The session's active PRN orders (may each be given now?) and the PRN doses given")
def session_prn(request: Request, session_id: PathId, actor: Clinician) -> service.SessionPrn:
    return service.session_prn(db_of(request), actor, session_id)


@router.post("/sessions/{session_id}/prn-doses", response_model=service.DoseView, status_code=201,
             summary="Give one PRN dose under an active order (checked against the order and the drug library)")
def give_dose(request: Request, session_id: PathId, actor: Giver,
              body: Annotated[service.DoseIn, Body()]) -> service.DoseView:
    return service.give_dose(db_of(request), actor, session_id, body)
