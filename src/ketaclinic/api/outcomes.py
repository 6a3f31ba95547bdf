"""``/api/v1/outcomes``: the cohort (responders, durability, by condition, comparators) and a patient's own report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import PathId
from ketaclinic.services import outcomes as service
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/outcomes", tags=["outcomes"])


@router.get("", summary="Cohort outcomes: responders at 30 %/50 %, Kaplan-Meier durability, published comparators")
def cohort(request: Request, actor: Annotated[Actor, Depends(allow("physician", "nurse"))],
           condition: Annotated[str | None, Query(max_length=64)] = None,
           start: Annotated[date | None, Query(description="Courses that ended on or after this day (YYYY-MM-DD)")] = None,
           end: Annotated[date | None, Query(description="Courses that ended on or before this day (YYYY-MM-DD)")] = None,
           ) -> dict[str, Any]:
    return service.cohort_outcomes(db_of(request), actor, condition=condition, start=start, end=end)


@router.get("/patients/{patient_id}", response_model=service.PatientReport,
            summary="One patient's outcome (a patient: their own only)")
def patient_report(request: Request, patient_id: PathId,
                   actor: Annotated[Actor, Depends(allow("physician", "nurse", "patient"))]) -> service.PatientReport:
    return service.patient_report(db_of(request), actor, patient_id)
