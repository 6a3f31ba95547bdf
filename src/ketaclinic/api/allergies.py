"""Allergies on the chart (issue 12): list, record, correct or mark entered in error (physicians and nurses).

Append-only: an amendment is a new version naming the one it replaces (``POST /allergies/{id}/amend``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import PathId
from ketaclinic.services import allergies as service
from ketaclinic.services.context import Actor

router = APIRouter(tags=["allergies"])
Clinician = Annotated[Actor, Depends(allow(*service.ROLES))]


@router.get("/patients/{patient_id}/allergies", response_model=service.AllergyList,
            summary="A patient's allergies: current (ketamine first) and every version")
def list_allergies(request: Request, patient_id: PathId, actor: Clinician) -> service.AllergyList:
    return service.list_allergies(db_of(request), actor, patient_id)


@router.post("/patients/{patient_id}/allergies", response_model=service.AllergyView, status_code=201,
             summary="Record an allergy, or 'no known allergies'")
def record_allergy(request: Request, patient_id: PathId, actor: Clinician,
                   body: Annotated[service.AllergyIn, Body()]) -> service.AllergyView:
    return service.record_allergy(db_of(request), actor, patient_id, body)


@router.post("/allergies/{allergy_id}/amend", response_model=service.AllergyView, status_code=201,
             summary="Correct an allergy entry or mark it entered in error (a new version; the original is kept)")
def amend_allergy(request: Request, allergy_id: PathId, actor: Clinician,
                  body: Annotated[service.AllergyAmend, Body()]) -> service.AllergyView:
    return service.amend_allergy(db_of(request), actor, allergy_id, body)
