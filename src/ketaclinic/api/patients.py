"""``/api/v1/patients``: demographics, weights, history. A patient sees only their own chart (others: 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.services import patients as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor
from ketaclinic.services.types import WEIGHT_MAX_KG, WEIGHT_MIN_KG, Text

router = APIRouter(prefix="/patients", tags=["patients"])


class WeightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight_kg: float = Field(ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG)
    measured_at: AwareDatetime | None = None
    source: Text = Field(default="chart", max_length=32)


@router.get("", response_model=Page[service.PatientView], summary="List patients (a patient: only themself)")
def list_patients(
    request: Request,
    actor: Annotated[Actor, Depends(allow("physician", "nurse", "coordinator", "patient"))],
    limit: Limit = None,
    cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=100, description="Start of a given or family name")] = None,
    site_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this site (one you work at)")] = None,
) -> Page[service.PatientView]:
    return service.list_patients(db_of(request), actor, limit=limit, cursor=cursor, q=q, site_id=site_id)


@router.post("", response_model=service.PatientView, status_code=201, summary="Create a patient")
def create_patient(
    request: Request, response: Response,
    actor: Annotated[Actor, Depends(allow("physician", "coordinator"))],
    body: Annotated[service.PatientIn, Body()],
) -> service.PatientView:
    view = service.create_patient(db_of(request), actor, body)
    set_etag(response, view.version)
    response.headers["Location"] = f"/api/v1/patients/{view.id}"
    return view


@router.get("/{patient_id}", response_model=service.PatientView, summary="Read a patient's chart (audited)")
def get_patient(
    request: Request, response: Response, patient_id: PathId,
    actor: Annotated[Actor, Depends(allow("physician", "nurse", "coordinator", "patient"))],
) -> service.PatientView:
    view = service.get_patient(db_of(request), actor, patient_id)
    set_etag(response, view.version)
    return view


@router.patch("/{patient_id}", response_model=service.PatientView,
              summary="Change demographics or record a weight (If-Match required)")
def update_patient(
    request: Request, response: Response, patient_id: PathId,
    actor: Annotated[Actor, Depends(allow("physician", "nurse", "coordinator"))],
    body: Annotated[service.PatientPatch, Body()],
    expected_version: Annotated[int | None, Depends(if_match)],
) -> service.PatientView:
    view = service.update_patient(db_of(request), actor, patient_id, expected_version, body)
    set_etag(response, view.version)
    return view


@router.get("/{patient_id}/weights", response_model=list[service.WeightView], summary="Weights over time")
def list_weights(
    request: Request, patient_id: PathId,
    actor: Annotated[Actor, Depends(allow("physician", "nurse", "patient"))],
) -> list[service.WeightView]:
    return service.list_weights(db_of(request), actor, patient_id)


@router.post("/{patient_id}/weights", response_model=service.WeightView, status_code=201,
             summary="Record a weight (flagged when >20 % from the previous one)")
def record_weight(
    request: Request, patient_id: PathId,
    actor: Annotated[Actor, Depends(allow("physician", "nurse"))],
    body: Annotated[WeightIn, Body()],
) -> service.WeightView:
    return service.record_weight(db_of(request), actor, patient_id, body.weight_kg, measured_at=body.measured_at,
                                 source=body.source)


@router.get("/{patient_id}/versions", response_model=list[service.PatientVersionView],
            summary="Every saved version of the demographics")
def list_versions(
    request: Request, patient_id: PathId,
    actor: Annotated[Actor, Depends(allow("physician", "coordinator"))],
) -> list[service.PatientVersionView]:
    return service.list_patient_versions(db_of(request), actor, patient_id)
