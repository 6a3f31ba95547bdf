"""``/api/v1/inquiries``: the public consultation form (rate-limited) and the coordinators' queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, check_rate, db_of, public, settings_of
from ketaclinic.http import Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.services import inquiries as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/inquiries", tags=["inquiries"])
Staff = Annotated[Actor, Depends(allow("coordinator", "physician"))]
Expected = Annotated[int | None, Depends(if_match)]


@router.post("", response_model=service.InquiryReceipt, status_code=201,
             summary="Ask for a consultation (public; stores the request and nothing else)")
def submit(
    request: Request,
    actor: Annotated[Actor, Depends(public())],
    body: Annotated[service.InquiryIn, Body()],
) -> service.InquiryReceipt:
    settings = settings_of(request)
    check_rate(request, "inquiry", settings.inquiry_rate_limit, settings.inquiry_rate_window_s)
    return service.submit_inquiry(db_of(request), settings, actor, body)


@router.get("/sites", response_model=list[service.PublicSite],
            summary="The clinic's open sites a consultation may be asked for (public; the form's site_id)")
def public_sites(request: Request, actor: Annotated[Actor, Depends(public())]) -> list[service.PublicSite]:
    return service.public_sites(db_of(request))


@router.get("", response_model=Page[service.InquiryView], summary="The inquiry queue")
def list_inquiries(
    request: Request,
    actor: Annotated[Actor, Depends(allow("coordinator", "physician", "admin"))],
    status: Annotated[service.Status | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="Only unanswered inquiries past their deadline")] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page[service.InquiryView]:
    return service.list_inquiries(db_of(request), actor, status=status, overdue=overdue, limit=limit, cursor=cursor)


@router.get("/{inquiry_id}", response_model=service.InquiryView, summary="One inquiry")
def get_inquiry(
    request: Request, response: Response, inquiry_id: PathId,
    actor: Annotated[Actor, Depends(allow("coordinator", "physician", "admin"))],
) -> service.InquiryView:
    view = service.get_inquiry(db_of(request), actor, inquiry_id)
    set_etag(response, view.version)
    return view


@router.post("/{inquiry_id}/answer", response_model=service.InquiryView, summary="Record the answer (If-Match)")
def answer(request: Request, response: Response, inquiry_id: PathId, actor: Staff,
           body: Annotated[service.AnswerIn, Body()], expected: Expected) -> service.InquiryView:
    view = service.answer_inquiry(db_of(request), actor, inquiry_id, expected, body)
    set_etag(response, view.version)
    return view


@router.post("/{inquiry_id}/schedule", response_model=service.InquiryView,
             summary="Schedule the consultation (If-Match)")
def schedule(request: Request, response: Response, inquiry_id: PathId, actor: Staff,
             body: Annotated[service.ScheduleIn, Body()], expected: Expected) -> service.InquiryView:
    view = service.schedule_inquiry(db_of(request), actor, inquiry_id, expected, body)
    set_etag(response, view.version)
    return view


@router.post("/{inquiry_id}/convert", response_model=service.ConvertResult, status_code=201,
             summary="Create the patient from this inquiry (If-Match)")
def convert(request: Request, inquiry_id: PathId, actor: Staff,
            body: Annotated[service.ConvertIn, Body()], expected: Expected) -> service.ConvertResult:
    return service.convert_inquiry(db_of(request), actor, inquiry_id, expected, body)


@router.post("/{inquiry_id}/close", response_model=service.InquiryView, summary="Close without a patient (If-Match)")
def close(request: Request, response: Response, inquiry_id: PathId, actor: Staff,
          body: Annotated[service.CloseIn, Body()], expected: Expected) -> service.InquiryView:
    view = service.close_inquiry(db_of(request), actor, inquiry_id, expected, body)
    set_etag(response, view.version)
    return view
