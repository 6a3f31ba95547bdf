"""``/api/v1/appointments`` (design.md 4.9): book one or a whole series, list, read, reschedule, cancel,
no-show, the free starts for a request, and the waiting list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.services import appointments as service
from ketaclinic.services.context import Actor
from ketaclinic.services.types import MOMENT_WORDS, QueryMoment, bound

router = APIRouter(tags=["appointments"])
Booker = Annotated[Actor, Depends(allow(*service.BOOK_ROLES))]
Reader = Annotated[Actor, Depends(allow(*service.READ_ROLES, "patient"))]
Expected = Annotated[int | None, Depends(if_match)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _tz(request: Request) -> str:
    return settings_of(request).clinic_timezone


@router.post("/appointments", response_model=service.AppointmentView | service.AppointmentList, status_code=201,
             summary="Book an appointment, or a whole series in one request (all or nothing)",
             description="An infusion's appointment is its session (`session_id`). A clash is 409 with `error.code` "
             "`chair_busy`, `nurse_busy`, `nurse_off_shift`, `physician_not_on_site`, `patient_double_booked` or "
             "`site_closed`, the message naming the first free starts (`POST /appointments/proposals` lists them).")
def book(request: Request, response: Response, actor: Booker,
         body: Annotated[service.AppointmentIn, Body()]) -> service.AppointmentView | service.AppointmentList:
    booked = service.book(db_of(request), actor, body, clinic_timezone=_tz(request))
    if body.series is None:
        view = booked.items[0]
        response.headers["Location"] = f"/api/v1/appointments/{view.id}"
        set_etag(response, view.version)
        return view
    return booked


@router.post("/appointments/proposals", response_model=service.ProposalList,
             summary="Whether a booking request fits as sent, and the first free starts for the whole of it")
def proposals(request: Request, actor: Booker, body: Annotated[service.AppointmentIn, Body()]) -> service.ProposalList:
    return service.propose_slots(db_of(request), actor, body, clinic_timezone=_tz(request))


@router.get("/appointments", response_model=service.AppointmentList,
            summary="Appointments overlapping from..to, in start order (a patient: only their own)")
def list_appointments(
    request: Request, actor: Reader,
    start_from: Annotated[QueryMoment | None, Query(alias="from", description=f"From (inclusive): {MOMENT_WORDS}")] = None,
    start_to: Annotated[QueryMoment | None, Query(alias="to", description=f"Until (exclusive; a day: to its end): {MOMENT_WORDS}")] = None,
    chair_id: OptionalId = None, patient_id: OptionalId = None, site_id: OptionalId = None,
    status: Annotated[Literal["booked", "cancelled", "no_show"] | None, Query()] = None,
    limit: Limit = None, cursor: Cursor = None,
) -> service.AppointmentList:
    tz = settings_of(request).timezone
    return service.list_appointments(db_of(request), actor, start_from=bound(start_from, tz),
                                     start_to=bound(start_to, tz, upper=True), chair_id=chair_id, patient_id=patient_id,
                                     site_id=site_id, status=status, limit=limit, cursor=cursor)


@router.get("/appointments/{appointment_id}", response_model=service.AppointmentView, summary="Read an appointment")
def get_appointment(request: Request, response: Response, appointment_id: PathId, actor: Reader) -> service.AppointmentView:
    view = service.get_appointment(db_of(request), actor, appointment_id)
    set_etag(response, view.version)
    return view


@router.post("/appointments/{appointment_id}/reschedule", response_model=service.AppointmentView,
             summary="Move an appointment (and its session) with the booking checks (If-Match)")
def reschedule(request: Request, response: Response, appointment_id: PathId, actor: Booker, expected: Expected,
               body: Annotated[service.RescheduleIn, Body()]) -> service.AppointmentView:
    view = service.reschedule(db_of(request), actor, appointment_id, expected, body, clinic_timezone=_tz(request))
    set_etag(response, view.version)
    return view


@router.post("/appointments/{appointment_id}/cancel", response_model=service.AppointmentView,
             summary="Cancel with a reason; an infusion's session is cancelled with it (If-Match)")
def cancel(request: Request, response: Response, appointment_id: PathId, actor: Booker, expected: Expected,
           body: Annotated[service.CancelIn, Body()]) -> service.AppointmentView:
    view = service.cancel(db_of(request), actor, appointment_id, expected, body)
    set_etag(response, view.version)
    return view


@router.post("/appointments/{appointment_id}/no-show", response_model=service.AppointmentView,
             summary="The patient did not come (after the start; If-Match)")
def no_show(request: Request, response: Response, appointment_id: PathId,
            actor: Annotated[Actor, Depends(allow(*service.NO_SHOW_ROLES))], expected: Expected,
            body: Annotated[service.NoShowIn, Body()]) -> service.AppointmentView:
    view = service.mark_no_show(db_of(request), actor, appointment_id, expected, body)
    set_etag(response, view.version)
    return view


@router.get("/waiting-list", response_model=list[service.WaitingView], summary="Patients waiting for a slot")
def waiting(request: Request, actor: Annotated[Actor, Depends(allow(*service.READ_ROLES))],
            site_id: OptionalId = None) -> list[service.WaitingView]:
    return service.list_waiting(db_of(request), actor, site_id=site_id)


@router.post("/waiting-list", response_model=service.WaitingView, status_code=201, summary="Put a patient on the waiting list")
def add_waiting(request: Request, actor: Booker, body: Annotated[service.WaitingIn, Body()]) -> service.WaitingView:
    return service.add_to_waiting_list(db_of(request), actor, body)


@router.post("/waiting-list/{entry_id}/remove", response_model=service.WaitingView,
             summary="Take a patient off the waiting list (If-Match)")
def remove_waiting(request: Request, entry_id: PathId, actor: Booker, expected: Expected) -> service.WaitingView:
    return service.remove_from_waiting_list(db_of(request), actor, entry_id, expected)
