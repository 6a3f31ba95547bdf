"""``/api/v1/chairs`` (design.md 4.9), staff working hours and absences."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of
from ketaclinic.clock import utcnow
from ketaclinic.http import MAX_ID, PathId, if_match, set_etag
from ketaclinic.services import chairs as service
from ketaclinic.services.context import Actor

router = APIRouter(tags=["chairs"])
Reader = Annotated[Actor, Depends(allow(*service.READ_ROLES))]
Editor = Annotated[Actor, Depends(allow(*service.EDIT_ROLES))]
Expected = Annotated[int | None, Depends(if_match)]


@router.get("/chairs", response_model=service.ChairList,
            summary="The treatment chairs (or rooms) of your sites: {items: [{id, name, site_id, ...}]}")
def list_chairs(request: Request, actor: Reader, site_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                kind: Annotated[Literal["chair", "room"], Query()] = "chair") -> service.ChairList:
    return service.list_chairs(db_of(request), actor, site_id=site_id, kind=kind)


@router.post("/chairs", response_model=service.ChairView, status_code=201, summary="Add a chair or a room to a site")
def create_chair(request: Request, response: Response, actor: Editor,
                 body: Annotated[service.ChairIn, Body()]) -> service.ChairView:
    view = service.create_chair(db_of(request), actor, body)
    set_etag(response, view.version)
    return view


@router.patch("/chairs/{chair_id}", response_model=service.ChairView, summary="Rename, reorder or retire a chair (If-Match)")
def update_chair(request: Request, response: Response, chair_id: PathId, actor: Editor, expected: Expected,
                 body: Annotated[service.ChairPatch, Body()]) -> service.ChairView:
    view = service.update_chair(db_of(request), actor, chair_id, expected, body)
    set_etag(response, view.version)
    return view


@router.get("/sites/{site_id}/hours", response_model=list[service.HoursView],
            summary="The weekly working hours of a site's physicians and nurses")
def list_hours(request: Request, site_id: PathId, actor: Reader) -> list[service.HoursView]:
    return service.list_hours(db_of(request), actor, site_id)


@router.put("/staff/{user_id}/hours", response_model=service.HoursView,
            summary="Set a person's whole week at one site (local clock times)")
def set_hours(request: Request, user_id: PathId, actor: Editor,
              body: Annotated[service.HoursIn, Body()]) -> service.HoursView:
    return service.set_hours(db_of(request), actor, user_id, body)


@router.get("/staff-absences", response_model=list[service.AbsenceView],
            summary="Absences of a site's staff that have not ended")
def list_absences(request: Request, actor: Reader, site_id: Annotated[int, Query(ge=1, le=MAX_ID)]) -> list[service.AbsenceView]:
    return service.list_absences(db_of(request), actor, site_id=site_id, since=utcnow())


@router.post("/staff-absences", response_model=service.AbsenceView, status_code=201, summary="Record an absence")
def add_absence(request: Request, actor: Editor, body: Annotated[service.AbsenceIn, Body()]) -> service.AbsenceView:
    return service.add_absence(db_of(request), actor, body)


@router.delete("/staff-absences/{absence_id}", status_code=204, summary="Withdraw an absence")
def remove_absence(request: Request, absence_id: PathId, actor: Editor) -> Response:
    service.remove_absence(db_of(request), actor, absence_id)
    return Response(status_code=204)
