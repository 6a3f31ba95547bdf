"""``/api/v1/evaluations``: drafts (physician, nurse), the screening inside, physician sign-off and amendments."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.services import evaluations as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/evaluations", tags=["evaluations"])
Clinician = Annotated[Actor, Depends(allow("physician", "nurse"))]
Physician = Annotated[Actor, Depends(allow("physician"))]
Expected = Annotated[int | None, Depends(if_match)]


@router.get("", response_model=Page[service.EvaluationView], summary="List evaluations (audited)")
def list_evaluations(
    request: Request, actor: Clinician,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[Literal["draft", "signed"] | None, Query()] = None,
    limit: Limit = None, cursor: Cursor = None,
) -> Page[service.EvaluationView]:
    return service.list_evaluations(db_of(request), actor, patient_id=patient_id, status=status, limit=limit, cursor=cursor)


@router.post("", response_model=service.EvaluationView, status_code=201,
             summary="Start an evaluation (the screening of contract 4.2 runs inside)")
def create_evaluation(request: Request, response: Response, actor: Clinician,
                      body: Annotated[service.EvaluationIn, Body()]) -> service.EvaluationView:
    view = service.create_evaluation(db_of(request), actor, body)
    set_etag(response, view.version)
    response.headers["Location"] = f"/api/v1/evaluations/{view.id}"
    return view


@router.get("/{evaluation_id}", response_model=service.EvaluationView, summary="Read an evaluation (audited)")
def get_evaluation(request: Request, response: Response, evaluation_id: PathId, actor: Clinician) -> service.EvaluationView:
    view = service.get_evaluation(db_of(request), actor, evaluation_id)
    set_etag(response, view.version)
    return view


@router.patch("/{evaluation_id}", response_model=service.EvaluationView,
              summary="Edit a draft (If-Match); the screening runs again")
def update_evaluation(request: Request, response: Response, evaluation_id: PathId, actor: Clinician,
                      body: Annotated[service.EvaluationPatch, Body()], expected: Expected) -> service.EvaluationView:
    view = service.update_evaluation(db_of(request), actor, evaluation_id, expected, body)
    set_etag(response, view.version)
    return view


@router.post("/{evaluation_id}/sign", response_model=service.EvaluationView,
             summary="Sign the evaluation (physician, If-Match); it never changes afterwards")
def sign_evaluation(request: Request, response: Response, evaluation_id: PathId, actor: Physician,
                    expected: Expected) -> service.EvaluationView:
    view = service.sign_evaluation(db_of(request), actor, evaluation_id, expected)
    set_etag(response, view.version)
    return view


@router.post("/{evaluation_id}/amend", response_model=service.EvaluationView, status_code=201,
             summary="Correct a signed evaluation: a new draft that points to it (the original stays)")
def amend_evaluation(request: Request, response: Response, evaluation_id: PathId, actor: Physician,
                     body: Annotated[service.AmendmentIn, Body()]) -> service.EvaluationView:
    view = service.amend_evaluation(db_of(request), actor, evaluation_id, body)
    set_etag(response, view.version)
    response.headers["Location"] = f"/api/v1/evaluations/{view.id}"
    return view
