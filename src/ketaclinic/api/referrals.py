"""``/api/v1/referrals``: a referral from another system (FHIR R4 Bundle) becomes a new chart.

POST the Bundle (``application/fhir+json`` or ``application/json``): the answer is 201 with the
new patient, the draft evaluation started from it, and the report of what was taken and what was
ignored. A bundle that cannot be imported is 422 with what is wrong (413 above 5 MB), and nothing
is stored; the same bundle or person again is 409 ``duplicate_referral`` unless ``confirm_new_chart``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import PathId
from ketaclinic.services import referrals as service
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/referrals", tags=["fhir"])


@router.post("", status_code=201, response_model=service.ReferralImportView,
             summary="Import a referral FHIR Bundle: new patient, weights and a draft evaluation (all or nothing)",
             openapi_extra={"requestBody": {"content": {"application/fhir+json": {"schema": {"type": "object"}}}}})
def import_referral(request: Request, response: Response,
                    bundle: Annotated[dict[str, Any], Body(description="A FHIR R4 Bundle (Patient, Condition, "
                                                                       "MedicationStatement, Observation)")],
                    actor: Annotated[Actor, Depends(allow(*service.IMPORT_ROLES))],
                    confirm_new_chart: Annotated[bool, Query(description="Start a new chart even though this bundle "
                                                                         "or this person seems to be here already")] = False,
                    ) -> service.ReferralImportView:
    view = service.import_referral(db_of(request), actor, bundle, confirm_new_chart=confirm_new_chart)
    response.headers["Location"] = f"/api/v1/patients/{view.patient_id}"
    return view


@router.get("/{import_id}", response_model=service.ReferralImportView,
            summary="What a referral import took and ignored")
def get_referral(request: Request, import_id: PathId,
                 actor: Annotated[Actor, Depends(allow(*service.READ_ROLES))]) -> service.ReferralImportView:
    return service.get_referral_import(db_of(request), actor, import_id)


patient_router = APIRouter(prefix="/patients", tags=["fhir"])


@patient_router.post("/{patient_id}/referrals", status_code=201, response_model=service.ReferralImportView,
                     summary="Attach a later referral Bundle to this patient's chart (weights and facts; no new chart)",
                     openapi_extra={"requestBody": {"content": {"application/fhir+json": {"schema": {"type": "object"}}}}})
def attach_referral(request: Request, patient_id: PathId,
                    bundle: Annotated[dict[str, Any], Body(description="A FHIR R4 Bundle about this patient")],
                    actor: Annotated[Actor, Depends(allow(*service.ATTACH_ROLES))]) -> service.ReferralImportView:
    return service.attach_referral(db_of(request), actor, patient_id, bundle)
