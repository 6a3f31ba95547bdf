"""``/api/v1/patients/{id}/fhir``: the patient's record as a FHIR R4 (R4B models) Bundle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.http import PathId
from ketaclinic.services import fhir as fhir_export
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/patients", tags=["fhir"])


@router.get("/{patient_id}/fhir", summary="Export the chart as a FHIR Bundle (collection; audited)",
            response_class=JSONResponse, responses={200: {"content": {"application/fhir+json": {}}}})
def export(request: Request, patient_id: PathId,
           actor: Annotated[Actor, Depends(allow("physician", "patient"))]) -> JSONResponse:
    bundle: dict[str, Any] = fhir_export.export_patient(db_of(request), actor, patient_id,
                                                        clinic_timezone=settings_of(request).clinic_timezone)
    return JSONResponse(bundle, media_type="application/fhir+json")
