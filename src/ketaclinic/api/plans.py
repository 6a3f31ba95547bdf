"""``/api/v1/plans``: protocol + weight + concentration → pump program; soft-limit overrides; physician signature."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.pharmacology.models import DEFAULT_MODEL_ID
from ketaclinic.services import plans as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/plans", tags=["plans"])
Clinician = Annotated[Actor, Depends(allow("physician", "nurse"))]
Physician = Annotated[Actor, Depends(allow("physician"))]
Expected = Annotated[int | None, Depends(if_match)]


@router.get("", response_model=Page[service.PlanView], summary="List plans (audited)")
def list_plans(
    request: Request, actor: Clinician,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[Literal["draft", "signed"] | None, Query()] = None,
    limit: Limit = None, cursor: Cursor = None,
) -> Page[service.PlanView]:
    return service.list_plans(db_of(request), actor, patient_id=patient_id, status=status, limit=limit, cursor=cursor)


@router.post("", response_model=service.PlanView, status_code=201,
             summary="Draft a plan: the pump program is computed; hard limits refuse, soft limits need a physician's override")
def create_plan(request: Request, response: Response, actor: Clinician,
                body: Annotated[service.PlanIn, Body()]) -> service.PlanView:
    view = service.create_plan(db_of(request), actor, body)
    set_etag(response, view.version)
    response.headers["Location"] = f"/api/v1/plans/{view.id}"
    return view


@router.get("/{plan_id}", response_model=service.PlanView, summary="Read a plan (audited)")
def get_plan(request: Request, response: Response, plan_id: PathId, actor: Clinician) -> service.PlanView:
    view = service.get_plan(db_of(request), actor, plan_id)
    set_etag(response, view.version)
    return view


@router.patch("/{plan_id}", response_model=service.PlanView,
              summary="Edit a draft plan (If-Match: a stale version answers 409, none 428)")
def update_plan(request: Request, response: Response, plan_id: PathId, actor: Clinician,
                body: Annotated[service.PlanPatch, Body()], expected: Expected) -> service.PlanView:
    view = service.update_plan(db_of(request), actor, plan_id, expected, body)
    set_etag(response, view.version)
    return view


@router.post("/{plan_id}/sign", response_model=service.PlanView, summary="Sign the plan (physician, If-Match)")
def sign_plan(request: Request, response: Response, plan_id: PathId, actor: Physician, expected: Expected) -> service.PlanView:
    view = service.sign_plan(db_of(request), actor, plan_id, expected)
    set_etag(response, view.version)
    return view


@router.get("/{plan_id}/preview", summary="Predicted plasma concentration of the plan's program (typical subject)")
def preview_plan(request: Request, plan_id: PathId, actor: Clinician,
                 model: Annotated[str, Query(max_length=64, description="A PK model id")] = DEFAULT_MODEL_ID,
                 ) -> dict[str, Any]:
    return service.preview_plan(db_of(request), actor, plan_id, model=model)
