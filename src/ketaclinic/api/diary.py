"""``/api/v1/diary``: a patient's own entries (others' answer 404) and the booster suggestion."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import MAX_ID, Cursor, Limit
from ketaclinic.services import diary as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/diary", tags=["diary"])
Writer = Annotated[Actor, Depends(allow("patient", "physician", "nurse"))]
PatientId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Required for staff; a patient may omit it (their own diary)")]


@router.get("", response_model=Page[service.DiaryView], summary="Diary entries (a patient: their own only)")
def list_entries(request: Request, actor: Writer, patient_id: PatientId = None,
                 since: Annotated[date | None, Query()] = None,
                 limit: Limit = None, cursor: Cursor = None) -> Page[service.DiaryView]:
    return service.list_entries(db_of(request), actor, patient_id=patient_id, since=since, limit=limit, cursor=cursor)


@router.post("", response_model=service.DiaryView, status_code=201,
             summary="Add an entry (never edited: a correction names amends_id)")
def add_entry(request: Request, actor: Writer, body: Annotated[service.DiaryIn, Body()]) -> service.DiaryView:
    return service.add_entry(db_of(request), actor, body)


@router.get("/booster", response_model=service.BoosterView,
            summary="Whether relief has faded enough to suggest a booster (physician decides)")
def booster(request: Request, actor: Writer, patient_id: PatientId = None) -> service.BoosterView:
    return service.booster_suggestion(db_of(request), actor, patient_id)
