"""The dashboard: what needs doing now, for the role that is signed in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.clock import utcnow
from ketaclinic.services import audit_log as audit_log_service
from ketaclinic.services import evaluations as evaluation_service
from ketaclinic.services import follow_up as follow_up_service
from ketaclinic.services import inquiries as inquiry_service
from ketaclinic.services import plans as plan_service
from ketaclinic.services import users as user_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import NAV, STAFF, check_csrf, db_of, need, redirect, render, web_session
from ketaclinic.web.views import schedule as schedule_views

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
DRAFTS = 20  # drafts waiting for the physician's signature shown on the dashboard
FOLLOW_UP_PATIENTS = 25  # the dashboard's follow-up panels: the patients seen most recently who need something
FOLLOW_UP_PAGE = 30  # patients per page of the follow-up list (read from their summaries; stale ones recomputed)
PANEL_ROWS = 10  # lines per follow-up panel; "N more" links to the list


def time_left(now, due) -> str:
    seconds = (due - now).total_seconds()
    late = seconds < 0
    seconds = abs(seconds)
    hours, minutes = int(seconds // 3600), int(seconds % 3600 // 60)
    text = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    return f"overdue by {text}" if late else f"{text} left"


def waiting_inquiries(request: Request, actor: Actor) -> tuple[list[dict], int]:
    """The first few new inquiries of the actor's sites by deadline, and how many are waiting."""
    if actor.role not in inquiry_service.READ_ROLES:
        return [], 0
    now = utcnow()
    waiting = inquiry_service.waiting_inquiries(db_of(request), actor, limit=8, now=now)
    return [{"inquiry": i, "left": time_left(now, i.answer_by), "overdue": i.overdue} for i in waiting.items], waiting.total


def sessions_today(request: Request, actor: Actor) -> list:
    """Today's visits (clinic time), plus any still running from earlier."""
    from datetime import datetime, timedelta

    from ketaclinic.services import sessions as session_service

    tz = request.app.state.settings.timezone
    start = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return session_service.day_sessions(db_of(request), actor, start=start, end=start + timedelta(days=1))


def evaluations_booked(request: Request, actor: Actor) -> list:
    """Evaluations booked from inquiries for today and the next six days (clinic time)."""
    from datetime import datetime, timedelta

    from ketaclinic.services import inquiries as inquiry_service

    tz = request.app.state.settings.timezone
    start = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return inquiry_service.booked_evaluations(db_of(request), actor, start=start, end=start + timedelta(days=7))


def open_alerts(request: Request, actor: Actor) -> list:
    """Unacknowledged alerts of every session under way, with the action to take (from the alert itself)."""
    from ketaclinic.services import sessions as session_service

    return session_service.list_open_alerts(db_of(request), actor)


def overdue_by_patient(items: list[dict]) -> list[dict]:
    """One line per patient: the overdue checks named, with the reasons on hover."""
    grouped: dict[int, dict] = {}
    for item in items:
        row = grouped.setdefault(item["patient_id"], {"patient_id": item["patient_id"], "name": item["name"], "checks": []})
        row["checks"].append(item)
    return list(grouped.values())


def _safe(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ServiceError:
        return None


@router.post("/site")
async def pick_site(request: Request, actor: Annotated[Actor, Depends(need(*STAFF))]) -> Response:
    """The header's site picker (issue 17): work at one of your sites, or at all of them. The choice lives in
    the signed web session; every later request is narrowed to it (web/deps.current_actor)."""
    form = await request.form()
    raw = str(form.get("site_id") or "").strip()
    target = str(form.get("next") or "")
    chosen = next((s for s in actor.sites if raw.isdigit() and len(raw) < 10 and s.id == int(raw)), None)
    if raw and chosen is None:
        return redirect(request, "/dashboard", "You do not work at that site: pick one of your own.")
    web_session(request).pick_site(chosen.id if chosen else None)
    allowed = {href for role in {s.role for s in actor.sites} | {actor.role} for href, _ in NAV.get(role, [])}
    where = chosen.name if chosen else "all your sites"
    return redirect(request, target if target in allowed else "/dashboard", f"Working at {where}.")


@router.get("/alerts/badge")
def alerts_badge(request: Request, actor: Annotated[Actor, Depends(need("physician", "nurse"))]) -> Response:
    """The header's open-alert count on every page for nurses and physicians, polled in the background
    (issue 12: an alert must never sit unseen while the nurse is on another page)."""
    return render(request, "dashboard/_alert_badge.html", {"open_alerts": open_alerts(request, actor)})


@router.get("/dashboard")
def dashboard(request: Request, actor: Annotated[Actor, Depends(need(*STAFF, "patient"))]) -> Response:
    if actor.role == "patient":
        return redirect(request, "/me")
    db = db_of(request)
    ctx: dict = {"sections": [], "staff_name": actor.name or actor.username}  # "Ana Ruiz, MD", not the username
    ctx["inquiries"], ctx["inquiries_waiting"] = waiting_inquiries(request, actor)
    if actor.role == "physician":  # the first screenful; the rest are a click away on the patient's chart
        ctx["draft_evaluations"] = evaluation_service.list_evaluations(db, actor, status="draft", limit=DRAFTS).items
        ctx["draft_plans"] = plan_service.list_plans(db, actor, status="draft", limit=DRAFTS).items
    if actor.role in ("physician", "nurse", "coordinator"):
        ctx["sessions_today"] = sessions_today(request, actor)
        ctx["evaluations_booked"] = evaluations_booked(request, actor)
        ctx["schedule_today"] = schedule_views.today_by_chair(request, actor)  # issue 13: today by chair
    if actor.role in ("physician", "nurse"):
        ctx["open_alerts"] = open_alerts(request, actor)
        # a screenful (issue 17): the most recently seen patients who need something, from their follow-up
        # summaries, at most PANEL_ROWS lines a panel; the rest on the paged follow-up list
        due = _safe(follow_up_service.follow_up_due, db, actor, limit=FOLLOW_UP_PATIENTS) or {
            "boosters_due": [], "overdue_risk_checks": [], "patients": 0}
        overdue = overdue_by_patient(due["overdue_risk_checks"])
        ctx["boosters_due"], ctx["boosters_total"] = due["boosters_due"][:PANEL_ROWS], len(due["boosters_due"])
        ctx["overdue_checks"], ctx["overdue_total"] = overdue[:PANEL_ROWS], len(overdue)
        ctx["follow_up_more"], ctx["follow_up_patients"] = due.get("more", False), due.get("patients", 0)
    if actor.role == "admin":
        users = user_service.list_users(db, actor, limit=200).items
        ctx["users"] = users
        ctx["locked"] = [u for u in users if u.locked_until and u.locked_until > utcnow()]
        ctx["recent_audit"] = audit_log_service.read_audit_log(db, actor, audit_log_service.AuditQuery(), limit=10).items
    ctx["names"] = patient_names(request, actor, ctx)
    return render(request, "dashboard/index.html", ctx)


@router.get("/follow-up")
def follow_up_list(request: Request, actor: Annotated[Actor, Depends(need("physician", "nurse"))],
                   cursor: str = "") -> Response:
    """Boosters due and overdue risk checks of every patient in treatment, a page of patients at a time (the
    most recently seen first): where the dashboard's follow-up panels send "N more" (issue 17)."""
    try:
        due = follow_up_service.follow_up_due(db_of(request), actor, limit=FOLLOW_UP_PAGE, cursor=cursor or None)
    except ServiceError:
        return redirect(request, "/follow-up", "That page of the follow-up list does not exist: here is the first.")
    return render(request, "dashboard/follow_up.html", {
        "boosters_due": due["boosters_due"], "overdue_checks": overdue_by_patient(due["overdue_risk_checks"]),
        "patients": due["patients"], "next_cursor": due["next_cursor"], "first_page": not cursor,
        "days": follow_up_service.IN_TREATMENT_DAYS})


def patient_names(request: Request, actor: Actor, ctx: dict) -> dict[int, str]:
    """Display names of the patients the dashboard mentions, and only those (one query)."""
    from ketaclinic.services.patients import READ_ROLES, names_of

    if actor.role not in READ_ROLES:
        return {}
    mentioned = {row.patient_id for key in ("sessions_today", "draft_evaluations", "draft_plans")
                 for row in ctx.get(key) or []}
    mentioned |= {alert["patient_id"] for alert in ctx.get("open_alerts") or []}
    return names_of(db_of(request), actor, mentioned)
