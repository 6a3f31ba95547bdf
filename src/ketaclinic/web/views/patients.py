"""Patients: the list, a new patient, demographics, and the chart (clinical roles only)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.charts import pain_trend_chart, to_svg
from ketaclinic.clinical.dosing import HEIGHT_MAX_CM, HEIGHT_MIN_CM, bmi_kg_per_m2, dosing_weight
from ketaclinic.clock import utcnow
from ketaclinic.services import allergies as allergy_service
from ketaclinic.services import diary as diary_service
from ketaclinic.services import evaluations as evaluations_service
from ketaclinic.services import follow_up as follow_up_service
from ketaclinic.services import inquiries as inquiry_service
from ketaclinic.services import patients as patient_service
from ketaclinic.services import plans as plans_service
from ketaclinic.services import referrals as referral_service
from ketaclinic.services import sessions as sessions_service
from ketaclinic.services import sites as site_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Forbidden, ServiceError
from ketaclinic.services.follow_up import CHECK_NAMES
from ketaclinic.web.deps import CLINICAL, check_csrf, db_of, errors_of, need, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
STAFF_READERS = ("physician", "nurse", "coordinator")
SEXES = [("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Not recorded")]
DEMOGRAPHICS = ("given_name", "family_name", "birth_date", "sex", "phone", "email", "referring_physician",
                "referring_physician_contact", "weight_kg", "height_cm")
NUMBERS = ("weight_kg", "height_cm")
PAGE = 50  # patients a page of the list (issue 17: a screenful, paged by keyset)
HEIGHT_HELP = (f"In centimetres, {HEIGHT_MIN_CM:g}–{HEIGHT_MAX_CM:g} cm (5 ft 5 in is 165 cm). With the weight and sex it gives "
               "the dosing weight: BMI 35 or more doses on the adjusted weight; with no height the weight is capped at 100 kg.")


@router.get("/patients")
def patient_list(request: Request, actor: Annotated[Actor, Depends(need(*STAFF_READERS))], q: str | None = None,
                 site_id: str | None = None, cursor: str | None = None) -> Response:
    """The patients of the actor's sites; ``site_id`` narrows to one of them (issue 17); a screenful a page,
    by keyset (``cursor``: where the previous page ended)."""
    db = db_of(request)
    my_sites = [s for s in site_service.list_sites(db, actor) if s.id in actor.site_ids]
    chosen = int(site_id) if site_id and site_id.isdigit() and len(site_id) < 10 else None
    errors: dict[str, str] = {}
    try:
        page = patient_service.list_patients(db, actor, q=q or None, limit=PAGE, site_id=chosen, cursor=cursor or None)
    except ServiceError as exc:  # a site the actor does not work at (or a cursor not ours): say so, list from the start
        errors["site_id" if exc.field == "site_id" else "__all__"] = exc.message[:1].upper() + exc.message[1:] + "."
        chosen = None if exc.field == "site_id" else chosen
        page = patient_service.list_patients(db, actor, q=q or None, limit=PAGE, site_id=chosen)
    site_names = {s.id: s.name for s in my_sites}
    more = urlencode({k: v for k, v in (("q", q or ""), ("site_id", chosen or ""), ("cursor", page.next_cursor)) if v}) \
        if page.next_cursor else None
    return render(request, "patients/list.html", {"patients": page.items, "q": q or "", "next_page": more,
                                                  "sites": my_sites, "site_id": chosen, "site_names": site_names,
                                                  "errors": errors,
                                                  "can_create": actor.role in patient_service.CREATE_ROLES,
                                                  "can_import": actor.role in referral_service.IMPORT_ROLES})


@router.get("/patients/new")
def new_patient(request: Request, actor: Annotated[Actor, Depends(need(*patient_service.CREATE_ROLES))]) -> Response:
    return _form(request, {"sex": "unknown"}, {}, None)


def _patient_values(form: Any) -> dict[str, Any]:
    values = {k: (form.get(k) or "").strip() for k in DEMOGRAPHICS}
    # "165 cm" or "165,5" is read as 165 / 165.5 (the unit is in the label)
    height = values["height_cm"].lower().removesuffix("cm").strip().replace(",", ".")
    values["height_cm"] = height
    return values


def _height_problem(text: str) -> str | None:
    """What is wrong with a typed height, in words a nurse can act on (nothing is saved)."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return (f"Height must be a number of centimetres, {HEIGHT_MIN_CM:g}–{HEIGHT_MAX_CM:g} cm (for example 165); "
                f"“{text}” is not a number.")
    if not HEIGHT_MIN_CM <= value <= HEIGHT_MAX_CM:
        hint = " Was it typed in inches or metres?" if value < HEIGHT_MIN_CM else " Was it typed in millimetres?"
        return (f"Height {value:g} cm is outside the allowed {HEIGHT_MIN_CM:g}–{HEIGHT_MAX_CM:g} cm.{hint} "
                f"Enter the height in centimetres (5 ft 5 in is 165 cm).")
    return None


def _form_errors(exc: Exception, values: dict[str, Any]) -> dict[str, str]:
    errors = errors_of(exc)
    problem = _height_problem(values.get("height_cm", ""))
    if "height_cm" in errors:
        errors["height_cm"] = problem or errors["height_cm"]
    return errors


def _form(request: Request, values: dict[str, Any], errors: dict[str, str], patient: Any, status: int = 200) -> Response:
    return render(request, "patients/form.html", {"values": values, "errors": errors, "sexes": SEXES, "patient": patient,
                                                  "height_help": HEIGHT_HELP}, status=status)


def body_size(patient: Any) -> dict[str, Any] | None:
    """Height, BMI and the dosing weight (design 4.3 v2) for the chart, from the recorded weight."""
    if patient.weight_kg is None:
        return None
    sex = patient.sex if patient.sex in ("female", "male") else None
    weight = dosing_weight(patient.weight_kg, patient.height_cm, sex)
    bmi = None if patient.height_cm is None else float(bmi_kg_per_m2(patient.weight_kg, patient.height_cm))
    return {"bmi": bmi, "describe": weight.describe(), "basis": weight.basis,
            "sex_assumed": weight.sex_assumed and weight.basis == "adjusted"}


@router.post("/patients/new")
async def create_patient(request: Request, actor: Annotated[Actor, Depends(need(*patient_service.CREATE_ROLES))]) -> Response:
    values = _patient_values(await request.form())
    problem = _height_problem(values["height_cm"])
    if problem:  # said in words before anything is saved
        return _form(request, values, {"height_cm": problem}, None, 422)
    try:
        data = patient_service.PatientIn(**{k: v for k, v in values.items() if v != ""})
        patient = patient_service.create_patient(db_of(request), actor, data)
    except (ValidationError, ServiceError) as exc:
        return _form(request, values, _form_errors(exc, values), None, 422)
    return redirect(request, f"/patients/{patient.id}", "Patient created.")


@router.get("/patients/{patient_id}/edit")
def edit_patient(request: Request, patient_id: int,
                 actor: Annotated[Actor, Depends(need(*patient_service.WRITE_ROLES))]) -> Response:
    patient = patient_service.get_patient(db_of(request), actor, patient_id)
    values = {k: getattr(patient, k) for k in DEMOGRAPHICS}
    if values["height_cm"] is not None:
        values["height_cm"] = f"{values['height_cm']:g}"
    return _form(request, values, {}, patient)


@router.post("/patients/{patient_id}/edit")
async def update_patient(request: Request, patient_id: int,
                         actor: Annotated[Actor, Depends(need(*patient_service.WRITE_ROLES))]) -> Response:
    form = await request.form()
    values = _patient_values(form)
    db = db_of(request)
    current = patient_service.get_patient(db, actor, patient_id)
    problem = _height_problem(values["height_cm"])
    if problem:
        return _form(request, values, {"height_cm": problem}, current, 422)
    changes: dict[str, Any] = {}
    for key in DEMOGRAPHICS:
        old = getattr(current, key)
        old_text = "" if old is None else str(old)
        if key in NUMBERS and old is not None and values[key]:
            try:
                if float(values[key]) == float(old):
                    continue
            except ValueError:
                pass
        if values[key] != old_text:
            changes[key] = values[key] or None
    try:
        patch = patient_service.PatientPatch(**changes)
        patient_service.update_patient(db, actor, patient_id, int(form.get("version") or 0), patch)
    except (ValidationError, ServiceError) as exc:
        return _form(request, values, _form_errors(exc, values), current, 422)
    return redirect(request, f"/patients/{patient_id}", "Details saved.")


def _if_allowed(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The section's data, or None when the reader's role may not see it (only a refusal is quiet:
    any other error, a missing record or a broken rule, surfaces as an error page)."""
    try:
        return fn(*args, **kwargs)
    except Forbidden:
        return None


def _items(page: Any) -> list[Any]:
    if page is None:
        return []
    return list(getattr(page, "items", page))


@router.get("/patients/{patient_id}")
def chart(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*STAFF_READERS))]) -> Response:
    db = db_of(request)
    patient = patient_service.get_patient(db, actor, patient_id)
    ctx: dict[str, Any] = {"patient": patient, "clinical": actor.role in CLINICAL,
                           "referrals": referral_service.list_patient_referrals(db, actor, patient_id),
                           "can_export_fhir": actor.role == "physician", "body": body_size(patient)}
    sessions = _items(_if_allowed(sessions_service.list_sessions, db, actor, patient_id=patient_id, limit=200))
    ctx["sessions"] = sessions
    ctx["evaluations_booked"] = inquiry_service.booked_evaluations(
        db, actor, start=utcnow() - timedelta(hours=12), end=utcnow() + timedelta(days=366), patient_id=patient_id)
    if actor.role not in CLINICAL:  # the coordinator: demographics and scheduling only
        ctx["upcoming"] = [s for s in sessions if getattr(s, "state", None) == "scheduled"]
        return render(request, "patients/chart.html", ctx)
    evaluations = _items(_if_allowed(evaluations_service.list_evaluations, db, actor, patient_id=patient_id, limit=200))
    plans = _items(_if_allowed(plans_service.list_plans, db, actor, patient_id=patient_id, limit=200))
    diary = _items(_if_allowed(diary_service.list_entries, db, actor, patient_id=patient_id, limit=200))
    ctx.update(evaluations=evaluations, plans=plans, diary=diary)
    ctx["allergies"] = allergy_service.list_allergies(db, actor, patient_id)
    ctx["severities"] = list(allergy_service.SEVERITY_WORDS.items())
    ctx["timeline"] = timeline(evaluations, plans, sessions, diary)
    ctx["amendments"] = {e.amends_id: e for e in evaluations if e.amends_id}
    signed = [e for e in evaluations if e.status == "signed" and not any(
        a.amends_id == e.id and a.status == "signed" for a in evaluations)]
    ctx["current_evaluation"] = signed[-1] if signed else None
    ctx["medications"] = ctx["current_evaluation"].screening_input.get("medications", []) if signed else []
    ctx["booster"] = _if_allowed(diary_service.booster_suggestion, db, actor, patient_id)
    ctx["follow_up"] = _if_allowed(follow_up_service.patient_follow_up, db, actor, patient_id)
    ctx["check_codes"] = [(code, name) for code, name in CHECK_NAMES.items()]
    ctx["today"] = date.today().isoformat()
    with_mme = [d for d in diary if d.mme_per_day is not None]
    ctx["mme"] = max(with_mme, key=lambda d: (d.day, d.id)) if with_mme else None
    ctx["pain_chart_url"] = f"/patients/{patient_id}/pain.svg?v={len(diary)}" if diary else None
    return render(request, "patients/chart.html", ctx)


def _allergy_problem(exc: Exception) -> str:
    """A refusal in words (no field paths): the first message, with a capital and a full stop."""
    if isinstance(exc, ValidationError):
        message = "; ".join(dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
    else:
        message = getattr(exc, "message", str(exc))
    return message[:1].upper() + message[1:].rstrip(".") + "."


@router.post("/patients/{patient_id}/allergies")
async def record_allergy(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    """An allergy, or "no known allergies", on the chart (issue 12: structured, append-only)."""
    form = await request.form()
    kind = "no_known_allergies" if form.get("kind") == "no_known_allergies" else "allergy"
    try:
        data = allergy_service.AllergyIn(kind=kind, substance=str(form.get("substance") or "").strip() or None,
                                         reaction=str(form.get("reaction") or "").strip() or None,
                                         severity=str(form.get("severity") or "") or None) if kind == "allergy" \
            else allergy_service.AllergyIn(kind=kind)
        entry = allergy_service.record_allergy(db_of(request), actor, patient_id, data)
    except (ValidationError, ServiceError) as exc:
        return redirect(request, f"/patients/{patient_id}#h-allergies", f"Nothing was recorded: {_allergy_problem(exc)}")
    done = "No known allergies recorded." if kind == "no_known_allergies" else f"Allergy recorded: {entry.label}."
    return redirect(request, f"/patients/{patient_id}#h-allergies", done)


@router.post("/patients/{patient_id}/allergies/{allergy_id}/amend")
async def amend_allergy(request: Request, patient_id: int, allergy_id: int,
                        actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    """Correct an allergy entry or mark it entered in error: a new version, the original kept."""
    form = await request.form()
    action = "entered_in_error" if form.get("action") == "entered_in_error" else "correct"
    fields = {k: str(form.get(k) or "").strip() or None for k in ("substance", "reaction", "severity")} \
        if action == "correct" else {}
    try:
        data = allergy_service.AllergyAmend(action=action, note=str(form.get("note") or "").strip(), **fields)
        entry = allergy_service.amend_allergy(db_of(request), actor, allergy_id, data)
    except (ValidationError, ServiceError) as exc:
        return redirect(request, f"/patients/{patient_id}#h-allergies", f"Nothing was changed: {_allergy_problem(exc)}")
    done = (f"Marked entered in error: {entry.label} (kept in the history)." if action == "entered_in_error"
            else f"Allergy corrected: {entry.label} (the earlier version is kept).")
    return redirect(request, f"/patients/{entry.patient_id}#h-allergies", done)


@router.post("/patients/{patient_id}/risk-checks")
async def record_risk_check(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    form = await request.form()
    try:
        data = follow_up_service.RiskCheckIn(patient_id=patient_id, code=str(form.get("code") or ""),
                                             done_on=str(form.get("done_on") or "") or None,
                                             result=str(form.get("result") or "normal"),
                                             note=str(form.get("note") or "").strip() or None)
        follow_up_service.record_risk_check(db_of(request), actor, data)
    except (ValidationError, ServiceError) as exc:
        message = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in errors_of(exc).items())
        return redirect(request, f"/patients/{patient_id}#h-risk", f"The check was not recorded: {message}")
    return redirect(request, f"/patients/{patient_id}#h-risk", f"{CHECK_NAMES[data.code]} recorded.")


@router.get("/patients/{patient_id}/pain.svg")
def pain_svg(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    db = db_of(request)
    diary = _items(_if_allowed(diary_service.list_entries, db, actor, patient_id=patient_id, limit=200))
    sessions = _items(_if_allowed(sessions_service.list_sessions, db, actor, patient_id=patient_id, limit=200))
    points = [{"day": _day(e), "pain_nrs": e.pain_nrs} for e in diary]
    if not points:
        return Response(status_code=204)
    session_days = [s.scheduled_at.date().isoformat() for s in sessions if s.state == "discharged"]
    return Response(to_svg(pain_trend_chart(points, session_days)), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, no-store"})


def _day(entry: Any) -> str:
    value = getattr(entry, "day", None) or getattr(entry, "recorded_at", None) or entry.created_at
    return value.isoformat()[:10]


def timeline(evaluations: list, plans: list, sessions: list, diary: list) -> list[dict[str, Any]]:
    """One list, newest first: what happened, when, and where to open it."""
    items: list[dict[str, Any]] = []
    for e in evaluations:
        items.append({"at": e.created_at, "kind": "evaluation", "href": f"/evaluations/{e.id}", "record": e,
                      "title": ("Amendment of evaluation " + str(e.amends_id)) if e.amends_id else "Evaluation",
                      "status": e.status, "amends": e.amends_id})
    for p in plans:
        items.append({"at": p.created_at, "kind": "plan", "href": f"/plans/{p.id}", "record": p,
                      "title": f"Plan: {p.protocol.replace('_', ' ')}", "status": p.status, "amends": p.supersedes_id})
    for s in sessions:
        items.append({"at": s.scheduled_at, "kind": "session", "href": f"/sessions/{s.id}", "record": s,
                      "title": "Infusion session", "status": s.state, "amends": None})
    for d in diary:
        items.append({"at": getattr(d, "recorded_at", None) or d.created_at, "kind": "diary", "href": None, "record": d,
                      "title": f"Diary: pain {d.pain_nrs}/10", "status": None, "amends": None})
    items.sort(key=lambda i: i["at"], reverse=True)
    return items
