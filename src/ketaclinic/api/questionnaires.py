"""Questionnaires (issue 15): instruments, a chart's due list / responses / trends, answering (partial saves),
self-harm alerts and their acknowledgement, custom instruments (admin).

Append-only: every save is a new version of the response (``POST /questionnaire-responses/{id}/answers`` for one
answer, ``PUT``-like ``POST /questionnaire-responses/{id}`` for all of them); a stale version is 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel

from ketaclinic.api.auth import allow, db_of
from ketaclinic.clinical.questionnaires import CustomInstrumentIn
from ketaclinic.http import MAX_ID, PathId
from ketaclinic.services import questionnaires as service
from ketaclinic.services.context import Actor

router = APIRouter(tags=["questionnaires"])
Answerer = Annotated[Actor, Depends(allow(*service.ANSWER_ROLES))]
Clinician = Annotated[Actor, Depends(allow(*service.STAFF))]
Physician = Annotated[Actor, Depends(allow("physician"))]
Admin = Annotated[Actor, Depends(allow("admin"))]
Reader = Annotated[Actor, Depends(allow("admin", "physician", "nurse", "patient"))]


class InstrumentList(BaseModel):
    items: list[service.InstrumentView]


class AlertList(BaseModel):
    items: list[service.AlertView]


class ResponseWithInstrument(BaseModel):
    response: service.ResponseView
    instrument: service.InstrumentView


@router.get("/questionnaires/instruments", response_model=InstrumentList,
            summary="The shipped instruments (PHQ-9, GAD-7, PGIC) and the custom ones of your sites")
def list_instruments(request: Request, actor: Reader) -> InstrumentList:
    return InstrumentList(items=service.list_instruments(db_of(request), actor))


@router.post("/questionnaires/instruments", response_model=service.InstrumentView, status_code=201,
             summary="Add (or replace) a licensed custom instrument for a site")
def add_instrument(request: Request, actor: Admin, site_id: Annotated[int, Query(ge=1, le=MAX_ID)],
                   body: Annotated[CustomInstrumentIn, Body()]) -> service.InstrumentView:
    return service.add_custom_instrument(db_of(request), actor, site_id, body)


@router.get("/patients/{patient_id}/questionnaires", response_model=service.PatientQuestionnaires,
            summary="A patient's questionnaires: due now, every response, trends, alerts")
def patient_questionnaires(request: Request, patient_id: PathId, actor: Answerer) -> service.PatientQuestionnaires:
    return service.patient_questionnaires(db_of(request), actor, patient_id)


@router.post("/patients/{patient_id}/questionnaires", response_model=service.ResponseView, status_code=201,
             summary="Start a questionnaire (or continue the one in progress for that instrument)")
def start_response(request: Request, patient_id: PathId, actor: Answerer,
                   body: Annotated[service.ResponseStart, Body()]) -> service.ResponseView:
    return service.start_response(db_of(request), actor, patient_id, body)


@router.get("/questionnaire-responses/{response_id}", response_model=ResponseWithInstrument,
            summary="One response with its instrument")
def get_response(request: Request, response_id: PathId, actor: Answerer) -> ResponseWithInstrument:
    response, instrument = service.get_response(db_of(request), actor, response_id)
    return ResponseWithInstrument(response=response, instrument=instrument)


@router.post("/questionnaire-responses/{response_id}", response_model=service.ResponseView, status_code=201,
             summary="Save every answer (a new version); complete=true scores it")
def save_response(request: Request, response_id: PathId, actor: Answerer,
                  body: Annotated[service.ResponseSave, Body()]) -> service.ResponseView:
    return service.save_response(db_of(request), actor, response_id, body)


@router.post("/questionnaire-responses/{response_id}/answers", response_model=service.ResponseView, status_code=201,
             summary="Save one answer (a new version); complete=true also scores it")
def answer_item(request: Request, response_id: PathId, actor: Answerer, body: Annotated[service.AnswerIn, Body()],
                complete: bool = False) -> service.ResponseView:
    return service.answer_item(db_of(request), actor, response_id, body, complete=complete)


@router.get("/questionnaire-alerts", response_model=AlertList,
            summary="Open self-harm alerts (PHQ-9 item 9 above 0) at your sites")
def open_alerts(request: Request, actor: Clinician) -> AlertList:
    return AlertList(items=service.open_alerts(db_of(request), actor))


@router.post("/questionnaire-alerts/{alert_id}/acknowledge", response_model=service.AlertView, status_code=201,
             summary="Record what was done about an alert (physician; once)")
def acknowledge(request: Request, alert_id: PathId, actor: Physician,
                body: Annotated[service.AcknowledgeIn, Body()]) -> service.AlertView:
    return service.acknowledge_alert(db_of(request), actor, alert_id, body)
