"""``/api/v1/sessions``: scheduling, check-in, checklist, start, events, stop, discharge, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.services import sessions as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor
from ketaclinic.services.types import MOMENT_WORDS, QueryMoment, bound

router = APIRouter(prefix="/sessions", tags=["sessions"])
Clinician = Annotated[Actor, Depends(allow("physician", "nurse"))]
Scheduler = Annotated[Actor, Depends(allow("physician", "nurse", "coordinator"))]
Expected = Annotated[int | None, Depends(if_match)]
State = Annotated[str | None, Query(pattern="^(scheduled|checked_in|running|observing|discharged|cancelled)$")]


def _done(response: Response, view: service.SessionView) -> service.SessionView:
    set_etag(response, view.version)
    return view


@router.get("", response_model=Page[service.SessionView],
            summary="List sessions (a patient: only their own; coordinators and patients get the schedule view)")
def list_sessions(
    request: Request,
    actor: Annotated[Actor, Depends(allow("physician", "nurse", "coordinator", "patient"))],
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    state: State = None,
    scheduled_from: Annotated[QueryMoment | None, Query(description=f"From (inclusive): {MOMENT_WORDS}")] = None,
    scheduled_to: Annotated[QueryMoment | None, Query(description=f"Until (exclusive; a day: to its end): {MOMENT_WORDS}")] = None,
    limit: Limit = None, cursor: Cursor = None,
) -> Page[service.SessionView]:
    tz = settings_of(request).timezone
    return service.list_sessions(db_of(request), actor, patient_id=patient_id, state=state,
                                 scheduled_from=bound(scheduled_from, tz), scheduled_to=bound(scheduled_to, tz, upper=True),
                                 limit=limit, cursor=cursor)


@router.post("", response_model=service.SessionView, status_code=201, summary="Schedule a session from a signed plan")
def schedule(request: Request, response: Response, actor: Scheduler,
             body: Annotated[service.SessionIn, Body()]) -> service.SessionView:
    view = service.schedule_session(db_of(request), actor, body)
    response.headers["Location"] = f"/api/v1/sessions/{view.id}"
    return _done(response, view)


@router.get("/{session_id}", response_model=service.SessionView, summary="Read a session (audited)")
def get_session(request: Request, response: Response, session_id: PathId,
                actor: Annotated[Actor, Depends(allow("physician", "nurse", "coordinator", "patient"))]) -> service.SessionView:
    return _done(response, service.get_session(db_of(request), actor, session_id))


@router.post("/{session_id}/check-in", response_model=service.SessionView,
             summary="Check in, with the weight of the day (If-Match)")
def check_in(request: Request, response: Response, session_id: PathId, actor: Clinician,
             body: Annotated[service.CheckInIn, Body()], expected: Expected) -> service.SessionView:
    return _done(response, service.check_in(db_of(request), actor, session_id, expected, body))


@router.post("/{session_id}/checklist", response_model=service.SessionView,
             summary="Record the pre-infusion checklist (If-Match)")
def checklist(request: Request, response: Response, session_id: PathId, actor: Clinician,
              body: Annotated[service.ChecklistIn, Body()], expected: Expected) -> service.SessionView:
    return _done(response, service.record_checklist(db_of(request), actor, session_id, expected, body))


@router.post("/{session_id}/checklist/override", response_model=service.SessionView,
             summary="A physician starts despite baseline SpO2 < 92 % or heart rate > 110: records who and why (If-Match)")
def checklist_override(request: Request, response: Response, session_id: PathId,
                       actor: Annotated[Actor, Depends(allow("physician"))],
                       body: Annotated[service.ChecklistOverrideIn, Body()], expected: Expected) -> service.SessionView:
    return _done(response, service.override_checklist(db_of(request), actor, session_id, expected, body))


@router.post("/{session_id}/start", response_model=service.SessionView,
             summary="Start the infusion: the checklist must hold; the program comes from the signed plan (If-Match)")
def start(request: Request, response: Response, session_id: PathId, actor: Clinician,
          expected: Expected, body: Annotated[service.StartIn | None, Body()] = None) -> service.SessionView:
    db = db_of(request)
    witness = service.double_checker(db, settings_of(request), actor, body)
    return _done(response, service.start_session(db, actor, session_id, expected, body, double_check=witness))


@router.post("/{session_id}/stop", response_model=service.SessionView,
             summary="Stop the infusion; observation begins (If-Match)")
def stop(request: Request, response: Response, session_id: PathId, actor: Clinician,
         expected: Expected) -> service.SessionView:
    return _done(response, service.stop_infusion(db_of(request), actor, session_id, expected))


@router.post("/{session_id}/discharge-assessment", response_model=service.DischargeAssessmentView,
             summary="The discharge criteria as they stand (changes nothing)")
def discharge_assessment(request: Request, session_id: PathId, actor: Clinician,
                         body: Annotated[service.DischargeIn, Body()]) -> service.DischargeAssessmentView:
    return service.assess_discharge_now(db_of(request), actor, session_id, body)


@router.post("/{session_id}/discharge", response_model=service.SessionView,
             summary="Discharge (If-Match); refused with the unmet criteria while any is unmet")
def discharge(request: Request, response: Response, session_id: PathId, actor: Clinician,
              body: Annotated[service.DischargeIn, Body()], expected: Expected) -> service.SessionView:
    return _done(response, service.discharge_session(db_of(request), actor, session_id, expected, body))


@router.post("/{session_id}/cancel", response_model=service.SessionView, summary="Cancel a session not yet started (If-Match)")
def cancel(request: Request, response: Response, session_id: PathId, actor: Scheduler,
           body: Annotated[service.CancelIn, Body()], expected: Expected) -> service.SessionView:
    return _done(response, service.cancel_session(db_of(request), actor, session_id, expected, body))


@router.get("/{session_id}/events", response_model=Page[service.EventView], summary="The session's events, oldest first")
def list_events(request: Request, session_id: PathId, actor: Clinician,
                kind: Annotated[str | None, Query(max_length=16)] = None,
                limit: Limit = None, cursor: Cursor = None) -> Page[service.EventView]:
    return service.list_events(db_of(request), actor, session_id, kind=kind, limit=limit, cursor=cursor)


@router.post("/{session_id}/events", response_model=service.EventView, status_code=201,
             summary="Append an event (vitals run the alert rules; rate changes the dosing limits); never edited")
def append_event(request: Request, session_id: PathId, actor: Clinician,
                 body: Annotated[service.EventIn, Body()]) -> service.EventView:
    return service.append_event(db_of(request), actor, session_id, body)
