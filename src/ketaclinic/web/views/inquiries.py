"""The coordinators' inquiry inbox: answer, schedule an evaluation, turn into a patient, close."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic import timefmt
from ketaclinic.clock import utcnow
from ketaclinic.services import inquiries as inquiry_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of
from ketaclinic.web.views.dashboard import time_left

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
WORKERS = inquiry_service.WORK_ROLES
STATUSES = ("new", "answered", "scheduled", "converted", "closed")


@router.get("/inquiries")
def inbox(request: Request, actor: Annotated[Actor, Depends(need(*WORKERS))], status: str | None = "open") -> Response:
    now = utcnow()
    items = inquiry_service.list_inquiries(db_of(request), actor, limit=200).items
    if status == "open":
        items = [i for i in items if i.status in ("new", "answered", "scheduled")]
    elif status in STATUSES:
        items = [i for i in items if i.status == status]
    items.sort(key=lambda i: (i.status != "new", i.answer_by))
    rows = [{"i": i, "left": time_left(now, i.answer_by) if i.status == "new" else None} for i in items]
    return render(request, "inquiries/inbox.html", {"rows": rows, "status": status, "statuses": STATUSES})


def _detail(request: Request, actor: Actor, inquiry_id: int, errors: dict | None = None, values: dict | None = None,
            status: int = 200, open_form: str | None = None) -> Response:
    inquiry = inquiry_service.get_inquiry(db_of(request), actor, inquiry_id)
    now = utcnow()
    given, _, family = inquiry.name.rpartition(" ")
    defaults = {"given_name": given or inquiry.name, "family_name": family if given else "", "phone": inquiry.phone or "",
                "email": inquiry.email or "", "sex": "unknown"}
    tz = settings_of(request).timezone
    return render(request, "inquiries/detail.html", {
        "i": inquiry, "left": time_left(now, inquiry.answer_by), "errors": errors or {},
        "values": {**defaults, **(values or {})}, "open_form": open_form,
        "next": inquiry_service.NEXT[inquiry.status], "tz": tz,
        "answer_by_local": inquiry.answer_by.astimezone(tz),
    }, status=status)


@router.get("/inquiries/{inquiry_id}")
def detail(request: Request, inquiry_id: int, actor: Annotated[Actor, Depends(need(*WORKERS))]) -> Response:
    return _detail(request, actor, inquiry_id)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items() if k != "csrf_token"}


def _version(values: dict[str, str]) -> int | None:
    try:
        return int(values.get("version", ""))
    except ValueError:
        return None


@router.post("/inquiries/{inquiry_id}/answer")
async def answer(request: Request, inquiry_id: int, actor: Annotated[Actor, Depends(need(*WORKERS))]) -> Response:
    values = await _form(request)
    try:
        data = inquiry_service.AnswerIn(note=values.get("note", "").strip())
        inquiry_service.answer_inquiry(db_of(request), actor, inquiry_id, _version(values), data)
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        if "note" in errors:
            errors["note"] = "Write what was said or agreed (for the next person who picks this up)."
        return _detail(request, actor, inquiry_id, errors, values, 422, "answer")
    return redirect(request, f"/inquiries/{inquiry_id}", "Answer recorded.")


@router.post("/inquiries/{inquiry_id}/schedule")
async def schedule(request: Request, inquiry_id: int, actor: Annotated[Actor, Depends(need(*WORKERS))]) -> Response:
    values = await _form(request)
    errors: dict[str, str] = {}
    when = None
    try:
        when = datetime.fromisoformat(values.get("scheduled_for", "")).replace(tzinfo=settings_of(request).timezone)
    except ValueError:
        errors["scheduled_for"] = "Choose the date and time of the evaluation."
    if when is not None and when < utcnow():
        errors["scheduled_for"] = "The evaluation must be in the future."
    if not errors:
        try:
            data = inquiry_service.ScheduleIn(scheduled_for=when, note=values.get("note") or None)
            inquiry_service.schedule_inquiry(db_of(request), actor, inquiry_id, _version(values), data)
        except (ValidationError, ServiceError) as exc:
            errors = errors_of(exc)
    if errors:
        return _detail(request, actor, inquiry_id, errors, values, 422, "schedule")
    return redirect(request, f"/inquiries/{inquiry_id}", "Evaluation scheduled for " + timefmt.appointment(when, settings_of(request).timezone) + ".")


@router.post("/inquiries/{inquiry_id}/convert")
async def convert(request: Request, inquiry_id: int, actor: Annotated[Actor, Depends(need(*WORKERS))]) -> Response:
    values = await _form(request)
    patient = {k: values.get(k, "").strip() or None for k in ("given_name", "family_name", "birth_date", "sex", "phone",
                                                               "email", "weight_kg")}
    try:
        data = inquiry_service.ConvertIn(patient={k: v for k, v in patient.items() if v is not None})
        result = inquiry_service.convert_inquiry(db_of(request), actor, inquiry_id, _version(values), data)
    except (ValidationError, ServiceError) as exc:
        errors = {k.removeprefix("patient."): v for k, v in errors_of(exc).items()}
        return _detail(request, actor, inquiry_id, errors, values, 422, "convert")
    return redirect(request, f"/patients/{result.patient.id}",
                    f"{result.patient.given_name} {result.patient.family_name} is now a patient of the clinic.")


@router.post("/inquiries/{inquiry_id}/close")
async def close(request: Request, inquiry_id: int, actor: Annotated[Actor, Depends(need(*WORKERS))]) -> Response:
    values = await _form(request)
    try:
        data = inquiry_service.CloseIn(reason=values.get("reason", "").strip())
        inquiry_service.close_inquiry(db_of(request), actor, inquiry_id, _version(values), data)
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        if "reason" in errors:
            errors["reason"] = "Say why the inquiry is closed."
        return _detail(request, actor, inquiry_id, errors, values, 422, "close")
    return redirect(request, "/inquiries", "Inquiry closed.")
