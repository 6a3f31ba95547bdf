"""The schedule pages (issue 13): a day view by chair and time, a week view, booking (a series in one go,
the first free starts offered on a clash), one appointment (move, cancel, no-show), the waiting list, and
the chairs and working hours. Server-rendered; HTMX moves between days without reloading the page; printable.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clock import utcnow
from ketaclinic.services import appointments as appointment_service
from ketaclinic.services import chairs as chair_service
from ketaclinic.services import clinic_settings as settings_service
from ketaclinic.services import patients as patient_service
from ketaclinic.services import sites as site_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
READERS = appointment_service.READ_ROLES
BOOKERS = appointment_service.BOOK_ROLES
EDITORS = chair_service.EDIT_ROLES
SLOT_MIN = 30
DAY_START, DAY_END = time(7, 0), time(20, 0)
WEEKDAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- helpers ------------------------------------------------------------------------------------------------


def _site_id(request: Request, actor: Actor, asked: str | None) -> int:
    """The site shown: the one asked for (if the actor works there), the picked one, else their first."""
    if asked and asked.isdigit() and len(asked) < 10 and (actor.role == "admin" or int(asked) in actor.site_ids):
        return int(asked)
    if getattr(actor, "site_id", None):
        return actor.site_id  # type: ignore[return-value]
    if actor.site_ids:
        return min(actor.site_ids)
    with db_of(request).reading() as uow:
        return site_service.default_site_id(uow)


def _day(value: str | None, zone: tzinfo) -> date:
    try:
        return date.fromisoformat(value) if value else datetime.now(zone).date()
    except ValueError:
        return datetime.now(zone).date()


def _sites(request: Request, actor: Actor) -> list[Any]:
    try:
        return site_service.list_sites(db_of(request), actor)
    except ServiceError:
        return []


def _zone(request: Request, site_id: int) -> tzinfo:
    return appointment_service.site_zone(db_of(request), site_id, settings_of(request).clinic_timezone)


def day_grid(rows: list[appointment_service.ScheduleRow], places: list[Any], day: date, zone: tzinfo) -> dict[str, Any]:
    """Columns (chairs, then rooms, then "no place") × half-hour rows; each appointment spans its rows."""
    columns = [{"id": p.id, "name": p.name, "kind": p.kind} for p in places]
    if any(r.chair_id is None or r.chair_id not in {p.id for p in places} for r in rows):
        columns.append({"id": None, "name": "No place", "kind": "none"})
    first = min([DAY_START] + [r.start.astimezone(zone).time() for r in rows if r.start.astimezone(zone).date() == day])
    last = max([DAY_END] + [r.end.astimezone(zone).time() for r in rows if r.end.astimezone(zone).date() == day])
    first_min = first.hour * 60 + (first.minute // SLOT_MIN) * SLOT_MIN
    last_min = min(24 * 60, last.hour * 60 + last.minute)
    slots = list(range(first_min, last_min, SLOT_MIN))
    known = {c["id"] for c in columns}
    cells: dict[tuple[int, Any], dict[str, Any]] = {}
    covered: set[tuple[int, Any]] = set()
    for r in rows:
        column = r.chair_id if r.chair_id in known else None
        local_start, local_end = r.start.astimezone(zone), r.end.astimezone(zone)
        start_min = 0 if local_start.date() < day else local_start.hour * 60 + local_start.minute
        end_min = 24 * 60 if local_end.date() > day else local_end.hour * 60 + local_end.minute
        slot = max(first_min, (start_min // SLOT_MIN) * SLOT_MIN)
        if slot >= last_min or (slot, column) in covered or (slot, column) in cells:
            continue
        span = max(1, math.ceil((min(end_min, last_min) - slot) / SLOT_MIN))
        cells[(slot, column)] = {"row": r, "span": span}
        for k in range(1, span):
            covered.add((slot + k * SLOT_MIN, column))
    grid = []
    for slot in slots:
        line = []
        for c in columns:
            key = (slot, c["id"])
            if key in covered:
                continue
            line.append({"column": c, **cells.get(key, {})})
        grid.append({"label": f"{slot // 60:02d}:{slot % 60:02d}", "cells": line})
    return {"columns": columns, "grid": grid}


def _day_context(request: Request, actor: Actor, day_text: str | None, site_text: str | None,
                 *, sites: bool = True) -> dict[str, Any]:
    site_id = _site_id(request, actor, site_text)
    asked = None
    if day_text:
        try:
            asked = date.fromisoformat(day_text)
        except ValueError:
            asked = None
    day, page = appointment_service.day_page(db_of(request), actor, site_id, asked, settings_of(request).clinic_timezone)
    zone, rows = page.zone, page.rows
    return {"day": day, "site_id": site_id, "zone": zone, "tz": zone, "rows": rows,
            **day_grid(rows, page.places, day, zone), "prev": day - timedelta(days=1), "next": day + timedelta(days=1),
            "today": datetime.now(zone).date(), "sites": _sites(request, actor) if sites and len(actor.site_ids) > 1 else [],
            "may_book": actor.role in BOOKERS, "clinical": actor.role in ("physician", "nurse")}


# --- day and week -------------------------------------------------------------------------------------------


@router.get("/schedule")
def schedule_home(request: Request, actor: Annotated[Actor, Depends(need(*READERS))]) -> Response:
    return redirect(request, "/schedule/day")


@router.get("/schedule/day")
def day_view(request: Request, actor: Annotated[Actor, Depends(need(*READERS))], date: str | None = None,
             site_id: str | None = None) -> Response:
    ctx = _day_context(request, actor, date, site_id)
    template = "schedule/_day_grid.html" if request.headers.get("HX-Request") == "true" and \
        request.headers.get("HX-Target") == "schedule-day" else "schedule/day.html"
    return render(request, template, ctx)


def today_by_chair(request: Request, actor: Actor) -> dict[str, Any] | None:
    """Today's appointments at the actor's site, by chair: the dashboard's section (None: not for this role)."""
    if actor.role not in READERS:
        return None
    try:
        ctx = _day_context(request, actor, None, None, sites=False)
    except ServiceError:
        return None
    by_place: dict[str, list[Any]] = {}
    for r in ctx["rows"]:
        by_place.setdefault(r.chair_name or "No place", []).append(r)
    return {"day": ctx["day"], "zone": ctx["zone"], "by_place": by_place, "count": len(ctx["rows"])}


@router.get("/schedule/week")
def week_view(request: Request, actor: Annotated[Actor, Depends(need(*READERS))], date: str | None = None,
              site_id: str | None = None) -> Response:
    db = db_of(request)
    site = _site_id(request, actor, site_id)
    zone = _zone(request, site)
    day = _day(date, zone)
    monday = day - timedelta(days=day.weekday())
    start, _ = appointment_service.local_day_bounds(monday, zone)
    _, end = appointment_service.local_day_bounds(monday + timedelta(days=6), zone)
    rows = appointment_service.schedule_rows(db, actor, site, start, end)
    days = []
    for offset in range(7):
        d = monday + timedelta(days=offset)
        days.append({"date": d, "label": f"{WEEKDAY_SHORT[d.weekday()]} {d.strftime('%d %b')}",
                     "rows": [r for r in rows if r.start.astimezone(zone).date() == d]})
    return render(request, "schedule/week.html", {
        "days": days, "monday": monday, "site_id": site, "tz": zone, "prev": monday - timedelta(days=7),
        "next": monday + timedelta(days=7), "sites": _sites(request, actor), "may_book": actor.role in BOOKERS,
        "count": len(rows)})


# --- booking ---------------------------------------------------------------------------------------------------


def _patients(request: Request, actor: Actor) -> list[tuple[int, str]]:
    """(id, "Family, Given (born ...)") of the actor's patients, for the booking and waiting-list forms."""
    try:
        items = patient_service.list_patients(db_of(request), actor, limit=200).items
    except ServiceError:
        return []
    items.sort(key=lambda p: (p.family_name.lower(), p.given_name.lower()))
    return [(p.id, f"{p.family_name}, {p.given_name} (born {p.birth_date.strftime('%d %b %Y')})") for p in items]


def _place_options(places: list[Any]) -> list[tuple[int, str]]:
    return [(p.id, f"{p.name} ({'chair' if p.kind == 'chair' else 'room'})") for p in places if p.active]


def _book_form(request: Request, actor: Actor, values: dict[str, str], errors: dict[str, str] | None = None,
               clash: str | None = None, proposals: list[Any] | None = None, status: int = 200) -> Response:
    db = db_of(request)
    site_id = _site_id(request, actor, values.get("site_id"))
    zone = _zone(request, site_id)
    places = chair_service.list_chairs(db, actor, site_id=site_id, kind=None).items
    staff = chair_service.list_hours(db, actor, site_id)
    return render(request, "schedule/book.html", {
        "values": values, "errors": errors or {}, "clash": clash, "proposals": proposals or [], "site_id": site_id,
        "tz": zone, "patient_options": _patients(request, actor), "place_options": _place_options(places),
        "nurse_options": [(s.user_id, s.name) for s in staff if s.role == "nurse"],
        "kinds": appointment_service.KIND_WORDS, "may_book": True, "sites": _sites(request, actor),
        "proposal_base": "/schedule/book?" + urlencode({k: v for k, v in values.items() if k not in ("date", "time")})},
        status=status)


@router.get("/schedule/book")
def book_form(request: Request, actor: Annotated[Actor, Depends(need(*BOOKERS))]) -> Response:
    values = {k: v for k, v in request.query_params.items() if k in (
        "patient_id", "kind", "date", "time", "chair_id", "site_id", "count", "interval_days", "nurse_id",
        "weekdays_only", "booster", "note")}
    values.setdefault("kind", "infusion")
    values.setdefault("count", "1")
    values.setdefault("interval_days", "1")
    values.setdefault("time", "09:00")
    return _book_form(request, actor, values)


def _local_start(values: dict[str, str], zone: tzinfo) -> datetime | str:
    try:
        day = date.fromisoformat(values.get("date", ""))
        at = time.fromisoformat(values.get("time", ""))
    except ValueError:
        return "Give the date and the time of the (first) appointment."
    return appointment_service.at_local(day, at, zone)


def _optional(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


@router.post("/schedule/book")
async def book(request: Request, actor: Annotated[Actor, Depends(need(*BOOKERS))]) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    site_id = _site_id(request, actor, values.get("site_id"))
    zone = _zone(request, site_id)
    start = _local_start(values, zone)
    if isinstance(start, str):
        return _book_form(request, actor, values, {"date": start}, status=422)
    count = _optional(values.get("count")) or 1
    body: dict[str, Any] = {
        "patient_id": _optional(values.get("patient_id")), "kind": values.get("kind"), "start": start.isoformat(),
        "chair_id": _optional(values.get("chair_id")), "nurse_id": _optional(values.get("nurse_id")),
        "physician_id": _optional(values.get("physician_id")), "booster": values.get("booster") == "on",
        "note": values.get("note") or None}
    if count > 1:
        body["series"] = {"count": count, "interval_days": _optional(values.get("interval_days")) or 1,
                          "weekdays_only": values.get("weekdays_only") == "on"}
    try:
        data = appointment_service.AppointmentIn.model_validate(body)
        booked = appointment_service.book(db_of(request), actor, data,
                                          clinic_timezone=settings_of(request).clinic_timezone)
    except appointment_service.SlotConflict as clash:
        return _book_form(request, actor, values, clash=clash.message, proposals=clash.proposals, status=409)
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        message = getattr(exc, "message", None)
        return _book_form(request, actor, values, errors or {"form": message or "Check the form."},
                          clash=message if isinstance(exc, ServiceError) and exc.status == 409 else None,
                          status=getattr(exc, "status", 422))
    first = booked.items[0].start.astimezone(zone)
    what = f"{len(booked.items)} appointments booked" if len(booked.items) > 1 else "Appointment booked"
    return redirect(request, f"/schedule/day?date={first.date().isoformat()}&site_id={site_id}",
                    f"{what}, the first on {first.strftime('%a %d %b %Y %H:%M')}.")


# --- one appointment --------------------------------------------------------------------------------------------


def _appointment_page(request: Request, actor: Actor, appointment_id: int, errors: dict[str, str] | None = None,
                      clash: str | None = None, proposals: list[Any] | None = None, values: dict[str, str] | None = None,
                      status: int = 200) -> Response:
    db = db_of(request)
    view = appointment_service.get_appointment(db, actor, appointment_id)
    zone = _zone(request, view.site_id)
    row = next((r for r in appointment_service.schedule_rows(db, actor, view.site_id, view.start, view.end,
                                                             include_cancelled=True) if r.id == view.id), None)
    places = chair_service.list_chairs(db, actor, site_id=view.site_id, kind=None).items
    local = view.start.astimezone(zone)
    return render(request, "schedule/appointment.html", {
        "a": view, "row": row, "tz": zone, "place_options": _place_options(places), "errors": errors or {}, "clash": clash,
        "proposal_base": f"/schedule/appointments/{view.id}?from_proposal=1",
        "proposals": proposals or [], "may_book": actor.role in BOOKERS,
        "may_no_show": actor.role in appointment_service.NO_SHOW_ROLES and view.status == "booked" and view.start <= utcnow(),
        "values": values or {"date": local.date().isoformat(), "time": local.strftime("%H:%M"),
                             "chair_id": str(view.chair_id or "")}}, status=status)


@router.get("/schedule/appointments/{appointment_id}")
def appointment_page(request: Request, appointment_id: int, actor: Annotated[Actor, Depends(need(*READERS))],
                     date: str | None = None, time: str | None = None) -> Response:
    values = {"date": date, "time": time, "chair_id": ""} if date and time else None  # a proposal chosen
    return _appointment_page(request, actor, appointment_id, values=values)


@router.post("/schedule/appointments/{appointment_id}/reschedule")
async def reschedule(request: Request, appointment_id: int, actor: Annotated[Actor, Depends(need(*BOOKERS))]) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    db = db_of(request)
    current = appointment_service.get_appointment(db, actor, appointment_id)
    zone = _zone(request, current.site_id)
    start = _local_start(values, zone)
    if isinstance(start, str):
        return _appointment_page(request, actor, appointment_id, {"date": start}, values=values, status=422)
    try:
        data = appointment_service.RescheduleIn(start=start, chair_id=_optional(values.get("chair_id")),
                                                reason=values.get("reason") or None)
        moved = appointment_service.reschedule(db, actor, appointment_id, _optional(values.get("version")), data,
                                               clinic_timezone=settings_of(request).clinic_timezone)
    except appointment_service.SlotConflict as clash:
        return _appointment_page(request, actor, appointment_id, clash=clash.message, proposals=clash.proposals,
                                 values=values, status=409)
    except (ValidationError, ServiceError) as exc:
        return _appointment_page(request, actor, appointment_id, errors_of(exc) or {"form": str(exc)},
                                 clash=getattr(exc, "message", None), values=values, status=getattr(exc, "status", 422))
    day = moved.start.astimezone(zone).date().isoformat()
    return redirect(request, f"/schedule/day?date={day}&site_id={moved.site_id}",
                    f"Appointment moved to {moved.start.astimezone(zone).strftime('%a %d %b %Y %H:%M')}.")


@router.post("/schedule/appointments/{appointment_id}/cancel")
async def cancel(request: Request, appointment_id: int, actor: Annotated[Actor, Depends(need(*BOOKERS))]) -> Response:
    form = await request.form()
    try:
        view = appointment_service.cancel(db_of(request), actor, appointment_id, _optional(str(form.get("version", ""))),
                                          appointment_service.CancelIn(reason=str(form.get("reason", "")).strip()))
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        if "reason" in errors or isinstance(exc, ValidationError):
            errors = {"reason": "Say why the appointment is cancelled."}
        return _appointment_page(request, actor, appointment_id, errors, status=getattr(exc, "status", 422))
    return redirect(request, f"/schedule/appointments/{view.id}", "Appointment cancelled.")


@router.post("/schedule/appointments/{appointment_id}/no-show")
async def no_show(request: Request, appointment_id: int,
                  actor: Annotated[Actor, Depends(need(*appointment_service.NO_SHOW_ROLES))]) -> Response:
    form = await request.form()
    try:
        view = appointment_service.mark_no_show(db_of(request), actor, appointment_id,
                                                _optional(str(form.get("version", ""))),
                                                appointment_service.NoShowIn(note=str(form.get("note", "")).strip() or None))
    except (ValidationError, ServiceError) as exc:
        return _appointment_page(request, actor, appointment_id, errors_of(exc) or {"form": str(exc)},
                                 status=getattr(exc, "status", 422))
    return redirect(request, f"/schedule/appointments/{view.id}", "Recorded as a no-show.")


# --- the waiting list ------------------------------------------------------------------------------------------


@router.get("/schedule/waiting")
def waiting(request: Request, actor: Annotated[Actor, Depends(need(*READERS))]) -> Response:
    return _waiting_page(request, actor)


def _waiting_page(request: Request, actor: Actor, errors: dict[str, str] | None = None,
                  values: dict[str, str] | None = None, status: int = 200) -> Response:
    entries = appointment_service.list_waiting(db_of(request), actor)
    return render(request, "schedule/waiting.html", {
        "entries": entries, "errors": errors or {}, "values": values or {}, "may_book": actor.role in BOOKERS,
        "patient_options": _patients(request, actor) if actor.role in BOOKERS else [], "site_id": "",
        "kinds": appointment_service.KIND_WORDS}, status=status)


@router.post("/schedule/waiting")
async def add_waiting(request: Request, actor: Annotated[Actor, Depends(need(*BOOKERS))]) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        appointment_service.add_to_waiting_list(db_of(request), actor, appointment_service.WaitingIn(
            patient_id=_optional(values.get("patient_id")), kind=values.get("kind"), note=values.get("note") or None))
    except (ValidationError, ServiceError) as exc:
        return _waiting_page(request, actor, errors_of(exc) or {"form": getattr(exc, "message", "Check the form.")},
                             values, status=getattr(exc, "status", 422))
    return redirect(request, "/schedule/waiting", "Added to the waiting list.")


@router.post("/schedule/waiting/{entry_id}/remove")
async def remove_waiting(request: Request, entry_id: int, actor: Annotated[Actor, Depends(need(*BOOKERS))]) -> Response:
    form = await request.form()
    try:
        appointment_service.remove_from_waiting_list(db_of(request), actor, entry_id, _optional(str(form.get("version", ""))))
    except ServiceError as exc:
        return _waiting_page(request, actor, {"form": exc.message}, status=exc.status)
    return redirect(request, "/schedule/waiting", "Taken off the waiting list.")


# --- chairs and working hours -----------------------------------------------------------------------------------


def _resources_page(request: Request, actor: Actor, site_text: str | None = None, errors: dict[str, str] | None = None,
                    status: int = 200) -> Response:
    db = db_of(request)
    site_id = _site_id(request, actor, site_text)
    zone = _zone(request, site_id)
    rules = settings_service.get_settings(db, actor) if actor.role == "admin" else None
    return render(request, "schedule/resources.html", {
        "rules": rules.data.schedule if rules else None, "rules_version": rules.version if rules else None,
        "site_id": site_id, "tz": zone, "sites": _sites(request, actor),
        "places": chair_service.list_chairs(db, actor, site_id=site_id, kind=None, include_retired=True).items,
        "staff": chair_service.list_hours(db, actor, site_id),
        "absences": chair_service.list_absences(db, actor, site_id=site_id, since=utcnow()),
        "weekdays": chair_service.WEEKDAYS, "errors": errors or {}}, status=status)


@router.get("/schedule/resources")
def resources(request: Request, actor: Annotated[Actor, Depends(need(*EDITORS))], site_id: str | None = None) -> Response:
    return _resources_page(request, actor, site_id)


@router.post("/schedule/resources/chairs")
async def add_chair(request: Request, actor: Annotated[Actor, Depends(need(*EDITORS))]) -> Response:
    form = await request.form()
    site = str(form.get("site_id", ""))
    try:
        chair_service.create_chair(db_of(request), actor, chair_service.ChairIn(
            site_id=_optional(site), name=str(form.get("name", "")), kind=str(form.get("kind", "chair")),
            position=_optional(str(form.get("position", ""))) or 0))
    except (ValidationError, ServiceError) as exc:
        errors = {f"chair_{k}": v for k, v in errors_of(exc).items()} or {"chair_name": getattr(exc, "message", "")}
        return _resources_page(request, actor, site, errors, status=getattr(exc, "status", 422))
    return redirect(request, f"/schedule/resources?site_id={site}", "Place added.")


@router.post("/schedule/resources/chairs/{chair_id}")
async def update_chair(request: Request, chair_id: int, actor: Annotated[Actor, Depends(need(*EDITORS))]) -> Response:
    form = await request.form()
    site = str(form.get("site_id", ""))
    try:
        chair_service.update_chair(db_of(request), actor, chair_id, _optional(str(form.get("version", ""))),
                                   chair_service.ChairPatch(active=form.get("active") == "on"))
    except (ValidationError, ServiceError) as exc:
        return _resources_page(request, actor, site, {"places": getattr(exc, "message", str(exc))},
                               status=getattr(exc, "status", 422))
    return redirect(request, f"/schedule/resources?site_id={site}", "Place updated.")


def _stretches(form: Any) -> list[chair_service.Stretch]:
    out = []
    for day in range(7):
        start, end = str(form.get(f"start_{day}", "")).strip(), str(form.get(f"end_{day}", "")).strip()
        if start or end:
            out.append(chair_service.Stretch(weekday=day, start=time.fromisoformat(start), end=time.fromisoformat(end)))
    return out


@router.post("/schedule/resources/hours/{user_id}")
async def set_hours(request: Request, user_id: int, actor: Annotated[Actor, Depends(need(*EDITORS))]) -> Response:
    form = await request.form()
    site = str(form.get("site_id", ""))
    try:
        chair_service.set_hours(db_of(request), actor, user_id, chair_service.HoursIn(
            site_id=_optional(site), stretches=_stretches(form)))
    except (ValueError, ValidationError, ServiceError) as exc:
        message = getattr(exc, "message", None) or "Give both times of a working day as HH:MM, the end after the start."
        return _resources_page(request, actor, site, {f"hours_{user_id}": message}, status=getattr(exc, "status", 422))
    return redirect(request, f"/schedule/resources?site_id={site}", "Working hours saved.")


@router.post("/schedule/resources/absences")
async def add_absence(request: Request, actor: Annotated[Actor, Depends(need(*EDITORS))]) -> Response:
    form = await request.form()
    site = str(form.get("site_id", ""))
    try:
        zone = _zone(request, _optional(site) or 0)
        starts = appointment_service.at_local(date.fromisoformat(str(form.get("from_date", ""))), time.min, zone)
        ends = appointment_service.at_local(date.fromisoformat(str(form.get("to_date", ""))) + timedelta(days=1),
                                            time.min, zone)
        chair_service.add_absence(db_of(request), actor, chair_service.AbsenceIn(
            user_id=_optional(str(form.get("user_id", ""))), starts_at=starts, ends_at=ends,
            reason=str(form.get("reason", "")).strip()))
    except (ValueError, ValidationError, ServiceError) as exc:
        message = getattr(exc, "message", None) or "Choose who, the first and last day away, and the reason."
        return _resources_page(request, actor, site, {"absence": message}, status=getattr(exc, "status", 422))
    return redirect(request, f"/schedule/resources?site_id={site}", "Absence recorded.")


@router.post("/schedule/resources/absences/{absence_id}/remove")
async def remove_absence(request: Request, absence_id: int, actor: Annotated[Actor, Depends(need(*EDITORS))]) -> Response:
    form = await request.form()
    site = str(form.get("site_id", ""))
    try:
        chair_service.remove_absence(db_of(request), actor, absence_id)
    except ServiceError as exc:
        return _resources_page(request, actor, site, {"absence": exc.message}, status=exc.status)
    return redirect(request, f"/schedule/resources?site_id={site}", "Absence withdrawn.")


@router.post("/schedule/resources/rules")
async def save_rules(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    """The schedule's clinic settings (a new settings version, like every clinic setting)."""
    form = await request.form()
    site = str(form.get("site_id", ""))
    try:
        rules = settings_service.SchedulePolicySettings(
            evaluation_min=str(form.get("evaluation_min", "")), follow_up_min=str(form.get("follow_up_min", "")),
            turnover_min=str(form.get("turnover_min", "")), infusions_per_nurse=str(form.get("infusions_per_nurse", "")),
            physician_on_site=form.get("physician_on_site") == "on")
        view = settings_service.update_settings(db_of(request), actor, _optional(str(form.get("version", ""))),
                                                settings_service.ClinicSettingsPatch(schedule=rules))
    except ValidationError as exc:
        first = exc.errors()[0]
        return _resources_page(request, actor, site, {"rules": f"{first['loc'][-1]}: {first['msg']}"}, status=422)
    except ServiceError as exc:
        return _resources_page(request, actor, site, {"rules": exc.message}, status=exc.status)
    return redirect(request, f"/schedule/resources?site_id={site}", f"Schedule rules saved (clinic settings version {view.version}).")
