"""The patient portal: a diary entry in under a minute on a phone, own upcoming sessions, own pain trend."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.charts import pain_trend_chart, to_svg
from ketaclinic.clinical.follow_up import MME_FACTORS
from ketaclinic.clock import utcnow
from ketaclinic.services import appointments as appointment_service
from ketaclinic.services import diary as diary_service
from ketaclinic.services import sessions as session_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
URINARY = (("frequency", "Passing urine more often"), ("urgency", "Sudden urges to pass urine"),
           ("bladder_pain", "Pain in the bladder"), ("blood_in_urine", "Blood in the urine"))
OPIOIDS = sorted(k for k in MME_FACTORS if k != "fentanyl_transdermal")


def _int(text: Any) -> int | str | None:
    text = str(text or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def pain_svg(entries: list[Any], session_days: list[str]) -> str | None:
    points = [{"day": e.day.isoformat(), "pain_nrs": e.pain_nrs} for e in entries]
    if not points:
        return None
    return to_svg(pain_trend_chart(points, session_days, width=560, height=200))


def _page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None, status: int = 200) -> Response:
    entries = diary_service.list_entries(db_of(request), actor, limit=200).items
    entries = sorted(entries, key=lambda e: (e.day, e.id), reverse=True)
    return render(request, "portal/diary.html", {
        "entries": entries[:14], "values": values or {"pain_nrs": ""}, "errors": errors or {}, "urinary": URINARY,
        "opioid_options": [("", "None")] + [(o, o.replace("_", " ")) for o in OPIOIDS], "count": len(entries)}, status=status)


@router.get("/me")
def diary(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    return _page(request, actor)


@router.post("/me/diary")
async def add_entry(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("pain_nrs", "mood", "sleep", "function", "opioid", "opioid_mg", "note")}
    values["urinary"] = form.getlist("urinary")
    errors: dict[str, str] = {}
    if not values["pain_nrs"]:
        errors["pain_nrs"] = "Choose how bad your pain was today, from 0 to 10."
    doses = []
    if values["opioid"]:
        try:
            doses.append({"opioid": values["opioid"], "daily_dose_mg": float(values["opioid_mg"])})
        except ValueError:
            errors["opioid_mg"] = "Write the total milligrams you took today (a number)."
    if not errors:
        try:
            data = diary_service.DiaryIn(
                pain_nrs=_int(values["pain_nrs"]), mood=_int(values["mood"]), sleep=_int(values["sleep"]),
                function=_int(values["function"]), opioid_doses=doses,
                urinary_symptoms={k: k in values["urinary"] for k, _ in URINARY}, note=values["note"] or None)
            diary_service.add_entry(db_of(request), actor, data)
        except (ValidationError, ServiceError) as exc:
            errors = {k.split(".")[0]: v for k, v in errors_of(exc).items()}
    if errors:
        return _page(request, actor, values, errors, 422)
    warn = " You reported bladder symptoms: please tell the clinic at your next contact." if values["urinary"] else ""
    return redirect(request, "/me", "Thank you — today's diary is saved." + warn)


@router.get("/me/pain.svg")
def pain_chart(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    db = db_of(request)
    entries = diary_service.list_entries(db, actor, limit=200).items
    sessions = session_service.list_sessions(db, actor, limit=200).items
    svg = pain_svg(entries, [s.scheduled_at.date().isoformat() for s in sessions if s.state == "discharged"])
    if svg is None:
        return Response(status_code=204)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


@router.get("/me/sessions")
def my_sessions(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    sessions = session_service.list_sessions(db_of(request), actor, limit=200).items
    now = utcnow()
    upcoming = sorted([s for s in sessions if s.scheduled_at >= now and s.state == "scheduled"], key=lambda s: s.scheduled_at)
    past = sorted([s for s in sessions if s not in upcoming], key=lambda s: s.scheduled_at, reverse=True)
    booster = None
    try:
        booster = diary_service.booster_suggestion(db_of(request), actor)
    except ServiceError:
        booster = None
    appointments = appointment_service.upcoming_for_patient(db_of(request), actor)  # issue 13: with the instructions
    return render(request, "portal/sessions.html", {"upcoming": upcoming, "past": past, "tz": settings_of(request).timezone,
                                                    "booster": booster, "appointments": appointments})
