"""``/api/v1/sites``: the sites of a clinic group (any staff lists them; admins keep them and who works where)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import PathId, if_match, set_etag
from ketaclinic.services import sites as service
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/sites", tags=["sites"])
Admin = Annotated[Actor, Depends(allow("admin"))]
Staff = Annotated[Actor, Depends(allow("admin", "physician", "nurse", "coordinator"))]


class SiteSummary(BaseModel):
    id: int
    name: str
    code: str
    timezone: str | None  # IANA name; null: the clinic's time zone


class SiteList(BaseModel):
    items: list[SiteSummary]


@router.get("", response_model=SiteList, summary="List the sites of the group")
def list_sites(request: Request, actor: Staff) -> SiteList:
    return SiteList(items=[SiteSummary(id=s.id, name=s.name, code=s.code, timezone=s.timezone)
                           for s in service.list_sites(db_of(request), actor)])


@router.post("", response_model=service.SiteView, status_code=201, summary="Add a site")
def create_site(request: Request, response: Response, actor: Admin,
                body: Annotated[service.SiteIn, Body()]) -> service.SiteView:
    view = service.create_site(db_of(request), actor, body)
    set_etag(response, view.version)
    return view


@router.get("/{site_id}", response_model=service.SiteView, summary="One site with who works there")
def get_site(request: Request, response: Response, site_id: PathId, actor: Admin) -> service.SiteView:
    view = service.get_site(db_of(request), actor, site_id)
    set_etag(response, view.version)
    return view


@router.patch("/{site_id}", response_model=service.SiteView, summary="Change a site (If-Match)")
def update_site(request: Request, response: Response, site_id: PathId, actor: Admin,
                body: Annotated[service.SitePatch, Body()],
                expected: Annotated[int | None, Depends(if_match)]) -> service.SiteView:
    view = service.update_site(db_of(request), actor, site_id, expected, body)
    set_etag(response, view.version)
    return view


@router.put("/{site_id}/members/{user_id}", response_model=service.SiteView,
            summary="A staff member works at this site with this role (added, or the role changed)")
def set_member(request: Request, site_id: PathId, user_id: PathId, actor: Admin,
               body: Annotated[service.MemberIn, Body()]) -> service.SiteView:
    return service.set_member(db_of(request), actor, site_id, user_id, body)


@router.delete("/{site_id}/members/{user_id}", response_model=service.SiteView,
               summary="A staff member no longer works at this site (the last admin membership stays)")
def remove_member(request: Request, site_id: PathId, user_id: PathId, actor: Admin) -> service.SiteView:
    return service.remove_member(db_of(request), actor, site_id, user_id)
