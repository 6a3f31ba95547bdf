"""The nurse's session console: check-in, checklist, start, pump program and current step, timer,
quick vitals (type the values, press Enter), alerts with the action to take and their
acknowledgement, rate changes with a reason, a live chart, observation, discharge and the
printable record. Every decision (alerts, limits, checklist, discharge) comes from the services.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from ketaclinic.charts import session_vitals_chart, to_svg
from ketaclinic.clinical.discharge import PADSS_ANCHORS, PADSS_ITEMS
from ketaclinic.clinical.dosing import dosing_weight
from ketaclinic.clinical.monitoring import SIDE_EFFECT_CODES, SIDE_EFFECT_SEVERITIES, vitals_due
from ketaclinic.clinical.record import rate_changes_given
from ketaclinic.clinical.scales import CADSS6_ITEMS, RASS_LEVELS
from ketaclinic.clock import utcnow
from ketaclinic.pharmacology.regimen import doses_as_given, rate_now_mg_per_h
from ketaclinic.services import clinic_settings as settings_service
from ketaclinic.services import consent as consent_service
from ketaclinic.services import patients as patient_service
from ketaclinic.services import sessions as session_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.services.pk_preview import doses_preview
from ketaclinic.web.deps import CLINICAL, check_csrf, db_of, errors_of, need, redirect, render, settings_of
from ketaclinic.web.views.medication_orders import bedside_prn

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
EVENT = TypeAdapter(session_service.EventIn)
VITAL_FIELDS = ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct", "respiratory_rate_per_min", "moaas")
SIDE_EFFECTS = SIDE_EFFECT_CODES
# The discharge questions (contract 4.7): each asked with no answer chosen beforehand.
DISCHARGE_QUESTIONS = (("dissociation_resolved", "Has the dissociation resolved (the patient feels back to normal)?"),
                       ("oriented", "Is the patient oriented to person, place and time?"),
                       ("steady_gait", "Does the patient walk steadily, without dizziness?"),
                       ("escort_present", "Is an adult escort here to take the patient home?"))
ACTIONS = {"continue": "Continue and observe", "reduce_rate": "Reduce the infusion rate",
           "pause_infusion": "Pause the infusion", "stop_infusion": "Stop the infusion",
           "give_medication": "Give medication (per plan)", "call_physician": "Call the physician"}


def _num(text: Any) -> float | str | None:
    text = str(text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _flat_errors(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        out: dict[str, str] = {}
        for err in exc.errors():
            names = [str(p) for p in err["loc"] if not isinstance(p, int) and p not in ("vitals", "rate_change")]
            key = names[-1] if names else "__all__"
            if err["type"] == "missing":
                out.setdefault(key, "Required.")
            else:
                out.setdefault(key, err["msg"].removeprefix("Value error, "))
        return out
    return errors_of(exc)


def _events(request: Request, actor: Actor, session_id: int) -> list[Any]:
    return session_service.list_events(db_of(request), actor, session_id, limit=200).items


def current_step(program: dict[str, Any] | None, minutes: float | None) -> int | None:
    """Which program step runs now, from the minutes since the start (steps run one after the other)."""
    if not program or minutes is None:
        return None
    clock = 0.0
    steps = program.get("program", [])
    for step in steps:
        clock += float(step.get("duration_min") or 0)
        if minutes < clock:
            return step["step"]
    return None


def console_context(request: Request, actor: Actor, session_id: int) -> dict[str, Any]:
    db = db_of(request)
    session = session_service.get_session(db, actor, session_id)
    patient = patient_service.get_patient(db, actor, session.patient_id)
    events = _events(request, actor, session_id)
    now = utcnow()
    minutes = (now - session.started_at).total_seconds() / 60 if session.started_at and not session.ended_at else None
    open_ids = set(session.open_alerts or [])
    alerts = [e for e in events if e.kind == "alert"]
    acks = {e.payload.get("alert_event_id"): e for e in events if e.kind == "alert_ack"}
    vitals = [e for e in events if e.kind == "vitals"]
    rate_changes = [e for e in events if e.kind == "rate_change"]
    return {
        "session": session, "patient": patient, "events": events, "alerts": alerts, "open_ids": open_ids, "acks": acks,
        "open_alerts": [a for a in alerts if a.id in open_ids], "vitals_events": vitals, "rate_changes": rate_changes,
        "minutes": minutes, "current_step": current_step(session.pump_program, minutes), "actions": ACTIONS,
        "side_effects": SIDE_EFFECTS, "severities": SIDE_EFFECT_SEVERITIES, "tz": settings_of(request).timezone,
        "chart_version": len(events), "values": {"moaas": "5"}, "errors": {},
        "padss_items": [(k, *PADSS_ANCHORS[k]) for k in PADSS_ITEMS], "discharge_questions": DISCHARGE_QUESTIONS,
        "rass_levels": sorted(RASS_LEVELS.items(), reverse=True), "cadss6_items": CADSS6_ITEMS,
        "open_critical": [a for a in alerts if a.id in open_ids and a.payload.get("severity") == "critical"],
        "baseline": (session.checklist or {}).get("facts", {}).get("baseline_vitals"),
        "bedside_dosing": _bedside_dosing(session, patient),
        "med_units": MED_UNITS, "med_routes": MED_ROUTES,
        **pump_now(session, events, minutes),
        "vitals_timer": vitals_timer(request, session, events, open_ids),
        "double_check_required": session.state == "checked_in" and settings_service.pump_double_check(db),
        "prn": bedside_prn(db, actor, session),  # PRN orders and doses (issue 14, web/views/medication_orders.py)
        # issue 13: the consent the checklist reads from the signatures (services/consent.py)
        "consent": consent_service.for_session(db, actor, session_id) if session.state == "checked_in" else None,
    }


def vitals_timer(request: Request, session: Any, events: list[Any], open_ids: set[int]) -> dict[str, Any] | None:
    """When the next vital signs are due, from the last set, the last bolus or rate increase and the
    open alerts (clinical.monitoring.vitals_due); None before the start and after discharge."""
    if session.state not in ("running", "observing") or session.started_at is None:
        return None
    minute_now = (utcnow() - session.started_at).total_seconds() / 60
    vitals = [e.minute for e in events if e.kind == "vitals" and e.minute is not None]
    changes, previous = [], None
    for e in events:
        if e.kind == "rate_change" and e.minute is not None:
            rate = (e.payload or {}).get("rate_mg_per_h")
            if previous is None or (rate is not None and rate > previous):
                changes.append(e.minute)
            previous = rate
        elif e.kind == "medication" and (e.payload or {}).get("dose_check") is not None and e.minute is not None:
            changes.append(e.minute)  # an extra IV ketamine dose (only those carry a dose check)
    due = vitals_due(minute_now, max(vitals) if vitals else None, max(changes) if changes else None, len(open_ids),
                     settings_service.vitals_interval_min(db_of(request)))
    return due.as_dict()


def pump_now(session: Any, events: list[Any], minutes: float | None) -> dict[str, Any]:
    """What the pump runs now (design 4.4 v2: ``data-pump-now-ml-per-h``): the program with every
    rate change applied (as corrected), 0 unless the infusion is running, with the planned rate of
    the same moment and the minutes since the last change beside it."""
    program = session.pump_program or {}
    concentration = float(program.get("concentration_mg_per_ml") or 0)
    if session.state != "running" or minutes is None or not concentration:
        return {"pump_now_ml_per_h": 0.0, "pump_now_mg_per_h": 0.0, "pump_planned_ml_per_h": None,
                "pump_changed_min_ago": None}
    steps = program.get("program", [])
    changes = rate_changes_given(events)
    # an event's minute is stored to 0.01 min, so a change made a moment ago can sit a fraction of a
    # second "in the future": it is what the pump runs now all the same
    last = max((m for m, _ in changes if m <= minutes + 0.01), default=None)
    at = minutes if last is None else max(minutes, last)
    now_mg = rate_now_mg_per_h(steps, changes, at)
    planned_mg = rate_now_mg_per_h(steps, [], at)
    return {"pump_now_ml_per_h": round(now_mg / concentration, 1), "pump_now_mg_per_h": round(now_mg, 1),
            "pump_planned_ml_per_h": round(planned_mg / concentration, 1),
            "pump_changed_min_ago": None if last is None else round(minutes - last)}


MED_UNITS = [(u, u) for u in ("mg", "mcg", "g", "mL", "units")]
MED_ROUTES = [(r, r.upper() if r in ("iv", "im", "sc") else r) for r in
              ("iv", "oral", "im", "sc", "sublingual", "intranasal", "inhaled", "topical")]


def _bedside_dosing(session: Any, patient: Any) -> dict[str, Any] | None:
    """The dosing weight a rate change or an extra bolus is judged on: today's weight, the patient's
    height and sex (design 4.3 v2), as services.sessions computes it."""
    program = session.pump_program or {}
    weight = session.weight_kg or program.get("weight_kg")
    if not weight:
        return None
    basis = dosing_weight(weight, patient.height_cm, patient.sex if patient.sex in ("female", "male") else None)
    return {"kg": float(basis.kg), "text": basis.describe(), "profile": program.get("profile", "low_dose")}


def _dose_errors(exc: Exception, field: str, override_field: str, what: str, prefix: str = "") -> dict[str, str]:
    """A refusal of a rate change or an extra bolus, next to the field and in the banner: the
    service's message (a soft session total: a physician must give a reason; a hard limit: never)."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", "")
    if code == "soft_limit":
        text = f"{what} not given — soft limit: {message} A physician must give a reason to go ahead."
        return {"__all__": text, field: text, override_field: "A physician's reason is needed to accept this soft limit."}
    if code == "hard_limit":
        text = f"{what} not given — blocked by a hard limit (no override): {message}"
        return {"__all__": text, field: text}
    if code == "override_needs_physician":
        text = f"{what} not given: only a physician may accept a soft limit. Call the physician."
        return {"__all__": text, field: text}
    if code == "bedside_bolus_needs_physician":
        return {"__all__": f"{what} not given: {message}.", f"{prefix}drug": message}
    errors = _flat_errors(exc)
    out = {(k if k == "__all__" or k.startswith(prefix) else prefix + k): v for k, v in errors.items()}
    if prefix and f"{prefix}medication" in out:
        out.setdefault("__all__", out.pop(f"{prefix}medication"))
    return out


def _console(request: Request, actor: Actor, session_id: int, errors: dict | None = None, values: dict | None = None,
             status: int = 200, extra: dict | None = None) -> Response:
    ctx = console_context(request, actor, session_id)
    if errors:
        ctx["errors"] = errors
    if values:
        ctx["values"] = {**ctx["values"], **values}
    ctx.update(extra or {})
    return render(request, "sessions/console.html", ctx, status=status)


@router.get("/sessions/{session_id}")
def console(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    return _console(request, actor, session_id)


@router.get("/sessions/{session_id}/live")
def live(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    """The polled part of the console: open alerts and the chart (a background request)."""
    return render(request, "sessions/_live.html", console_context(request, actor, session_id))


@router.get("/sessions/{session_id}/chart.svg")
def chart(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    db = db_of(request)
    session = session_service.get_session(db, actor, session_id)
    events = _events(request, actor, session_id)
    rows = [{"minute": e.minute or 0, **{k: e.payload["observation"].get(k) for k in VITAL_FIELDS[:4]}}
            for e in events if e.kind == "vitals"]
    predicted = None
    if session.pump_program:
        # what the pump actually delivered: the program with the recorded rate changes and the stop
        changes = rate_changes_given(events)  # as corrected by any amendment
        stopped = ((session.ended_at - session.started_at).total_seconds() / 60
                   if session.started_at and session.ended_at else None)
        given, end = doses_as_given(session.pump_program.get("program", []), changes, stopped)
        try:
            predicted = doses_preview(given, end, session.weight_kg or session.pump_program["weight_kg"], after_end_min=60)
        except ServiceError:
            predicted = None
    if not rows and predicted is None:
        return Response(status_code=204)
    svg = to_svg(session_vitals_chart(rows, predicted, width=620, height=180))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    data: dict[str, Any] = {k: v for k, v in form.items() if k != "csrf_token"}
    data["_side_effects"] = form.getlist("side_effect")
    return data


def _version(values: dict[str, Any]) -> int | None:
    try:
        return int(values.get("version") or "")
    except ValueError:
        return None


def _move(request: Request, actor: Actor, session_id: int, fn, *args, flash: str) -> Response:
    try:
        fn(db_of(request), actor, session_id, *args)
    except (ValidationError, ServiceError) as exc:
        return _console(request, actor, session_id, errors_of(exc), None, 409 if getattr(exc, "status", 0) == 409 else 422)
    return redirect(request, f"/sessions/{session_id}", flash)


@router.post("/sessions/{session_id}/check-in")
async def check_in(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    weight = _num(values.get("weight_kg"))
    try:
        data = session_service.CheckInIn(weight_kg=weight, weight_change_acknowledged=values.get("weight_ack") == "yes")
        session_service.check_in(db_of(request), actor, session_id, _version(values), data)
    except (ValidationError, ServiceError) as exc:
        return _console(request, actor, session_id, _flat_errors(exc), values, 422)
    return redirect(request, f"/sessions/{session_id}", "Checked in.")


def _at_today(request: Request, text: Any) -> datetime | None:
    """``HH:MM`` typed by the nurse, today in the clinic's time zone."""
    text = str(text or "").strip()
    if not text:
        return None
    tz = settings_of(request).timezone
    hour, _, minute = text.partition(":")
    today = utcnow().astimezone(tz)
    return today.replace(hour=int(hour), minute=int(minute or 0), second=0, microsecond=0)


@router.post("/sessions/{session_id}/checklist")
async def checklist(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    now = utcnow()
    try:
        baseline = {k: _num(values.get(k)) for k in VITAL_FIELDS[:4]}
        has_baseline = all(v is not None for v in baseline.values())
        data = session_service.ChecklistIn.model_validate({
            "fasting": {"asked": values.get("fasting_asked") == "yes",
                        "last_clear_liquid_at": _at_today(request, values.get("last_clear_liquid")),
                        "last_light_meal_at": _at_today(request, values.get("last_light_meal"))},
            "escort_present": values.get("escort_present") == "yes",
            "baseline_vitals": baseline if has_baseline else None, "baseline_vitals_at": now if has_baseline else None,
            "can_become_pregnant": values.get("can_become_pregnant") == "yes",
            "pregnancy_test": values.get("pregnancy_test") or "not_done",
            "pregnancy_test_at": now if (values.get("pregnancy_test") or "not_done") != "not_done" else None,
            "urinary_symptoms": values.get("urinary_symptoms") or "not_asked",
            "liver_tests": values.get("liver_tests") or "not_done",
        })
        session_service.record_checklist(db_of(request), actor, session_id, _version(values), data)
    except (ValidationError, ServiceError, ValueError) as exc:
        errors = _flat_errors(exc) if not isinstance(exc, ValueError) or isinstance(exc, ValidationError) else {
            "__all__": "Times are written as HH:MM (for example 07:30)."}
        return _console(request, actor, session_id, errors, values, 422)
    return redirect(request, f"/sessions/{session_id}", "Checklist recorded.")


@router.post("/sessions/{session_id}/checklist/override")
async def checklist_override(request: Request, session_id: int,
                             actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    """The physician's reason to start despite baseline SpO2 < 92 % or heart rate > 110 (a nurse cannot)."""
    values = await _form(request)
    reason = (values.get("override_reason") or "").strip()
    if not reason:
        return _console(request, actor, session_id, {"override_reason": "Say why it is safe to start."}, values, 422)
    return _move(request, actor, session_id, session_service.override_checklist, _version(values),
                 session_service.ChecklistOverrideIn(reason=reason),
                 flash="Override recorded: the nurse may start the infusion.")


@router.post("/sessions/{session_id}/start")
async def start(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    try:
        who = (values.get("double_check_username") or "").strip()
        data = session_service.StartIn(
            ketamine_lot_number=(values.get("ketamine_lot_number") or "").strip() or None,
            double_check={"username": who, "password": values.get("double_check_password") or ""} if who else None)
    except ValidationError as exc:
        return _console(request, actor, session_id, _flat_errors(exc), values, 422)
    try:
        witness = session_service.double_checker(db_of(request), settings_of(request), actor, data)
    except ServiceError as exc:
        return _console(request, actor, session_id, {"double_check_username": exc.message},
                        {k: v for k, v in values.items() if k != "double_check_password"}, exc.status)
    return _move(request, actor, session_id, partial(session_service.start_session, double_check=witness),
                 _version(values), data, flash="Infusion started: program the pump as shown.")


@router.post("/sessions/{session_id}/stop")
async def stop(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    return _move(request, actor, session_id, session_service.stop_infusion, _version(values),
                 flash="Infusion stopped: observation has begun.")


@router.post("/sessions/{session_id}/vitals")
async def vitals(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    severity = values.get("side_effect_severity") or "mild"
    doc = {"kind": "vitals", **{k: _num(values.get(k)) for k in VITAL_FIELDS},
           "side_effects": [{"code": code, "severity": severity} for code in values["_side_effects"]]}
    if isinstance(doc["moaas"], float):
        doc["moaas"] = int(doc["moaas"])
    rass = _num(values.get("rass"))
    if rass is not None:
        doc["rass"] = int(rass) if isinstance(rass, float) and rass.is_integer() else rass
    cadss = {k: _num(values.get(k)) for k in CADSS6_ITEMS}
    if any(v is not None for v in cadss.values()):  # CADSS-6 is optional, but all six items or none
        doc["cadss6"] = {k: int(v) if isinstance(v, float) and v.is_integer() else v
                         for k, v in cadss.items() if v is not None}
    try:
        event = session_service.append_event(db_of(request), actor, session_id, EVENT.validate_python(doc))
    except (ValidationError, ServiceError) as exc:
        errors = _flat_errors(exc)
        if any(k in CADSS6_ITEMS for k in errors):
            errors.setdefault("__all__", "CADSS-6: rate all six items 0-4, or leave all six empty.")
        return _console(request, actor, session_id, errors, values, 422)
    if event.raised:  # the alerts panel (red for critical) says it: no green "recorded" banner over an alert
        return redirect(request, f"/sessions/{session_id}#alerts")
    return redirect(request, f"/sessions/{session_id}", "Vitals recorded: no alert.")


@router.post("/sessions/{session_id}/ack")
async def acknowledge(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    try:
        data = EVENT.validate_python({"kind": "alert_ack", "alert_event_id": int(values.get("alert_event_id") or 0),
                                      "action_taken": str(values.get("action_taken") or "").strip()})
        session_service.append_event(db_of(request), actor, session_id, data)
    except (ValidationError, ServiceError) as exc:
        errors = _flat_errors(exc)
        if "action_taken" in errors:
            errors["action_taken"] = "Say what was done."
        return _console(request, actor, session_id, errors, values, 422)
    return redirect(request, f"/sessions/{session_id}", "Alert acknowledged.")


@router.post("/sessions/{session_id}/rate")
async def rate_change(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    doc = {"kind": "rate_change", "rate_mg_per_kg_per_h": _num(values.get("rate_mg_per_kg_per_h")),
           "reason": str(values.get("reason") or "").strip()}
    if values.get("override_reason"):
        doc["override_reason"] = str(values["override_reason"]).strip()
    try:
        event = session_service.append_event(db_of(request), actor, session_id, EVENT.validate_python(doc))
    except (ValidationError, ServiceError) as exc:
        errors = _dose_errors(exc, "rate_mg_per_kg_per_h", "override_reason", "Rate change")
        if "reason" in errors:
            errors["reason"] = "Give the reason for the change."
        return _console(request, actor, session_id, errors, values, getattr(exc, "status", 422))
    accepted = " Soft limit accepted with the physician's reason." if event.payload.get("limits") else ""
    return redirect(request, f"/sessions/{session_id}",
                    f"Rate changed: set the pump to {event.payload['rate_ml_per_h']:g} mL/h.{accepted}")


@router.post("/sessions/{session_id}/medication")
async def medication(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    """An extra medication at the bedside; extra IV ketamine is judged per dose and against the session total."""
    values = await _form(request)
    doc: dict[str, Any] = {"kind": "medication", "drug": str(values.get("med_drug") or "").strip(),
                           "dose": _num(values.get("med_dose")), "unit": values.get("med_unit") or "mg",
                           "route": values.get("med_route") or "iv",
                           "lot_number": str(values.get("med_lot_number") or "").strip(),
                           "reason": str(values.get("med_reason") or "").strip() or None}
    if str(values.get("med_override_reason") or "").strip():
        doc["override_reason"] = str(values["med_override_reason"]).strip()
    try:
        event = session_service.append_event(db_of(request), actor, session_id, EVENT.validate_python(doc))
    except (ValidationError, ServiceError) as exc:
        errors = _dose_errors(exc, "med_dose", "med_override_reason", "Extra dose", prefix="med_")
        return _console(request, actor, session_id, errors, values, getattr(exc, "status", 422))
    check = event.payload.get("dose_check") or {}
    accepted = " Soft limit accepted with the physician's reason." if check.get("limits") else ""
    return redirect(request, f"/sessions/{session_id}",
                    f"Given: {event.payload['drug']} {event.payload['dose']:g} {event.payload['unit']} "
                    f"{event.payload['route']} recorded.{accepted}")


@router.post("/sessions/{session_id}/side-effect")
async def side_effect(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    try:
        data = EVENT.validate_python({"kind": "side_effect", "code": values.get("code"), "severity": values.get("severity"),
                                      "note": values.get("note") or None})
        session_service.append_event(db_of(request), actor, session_id, data)
    except (ValidationError, ServiceError) as exc:
        return _console(request, actor, session_id, _flat_errors(exc), values, 422)
    return redirect(request, f"/sessions/{session_id}", "Side effect recorded.")


@router.post("/sessions/{session_id}/note")
async def note(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    try:
        session_service.append_event(db_of(request), actor, session_id,
                                     EVENT.validate_python({"kind": "note", "text": str(values.get("text") or "").strip()}))
    except (ValidationError, ServiceError) as exc:
        return _console(request, actor, session_id, {"text": "Write the note."} if isinstance(exc, ValidationError)
                        else errors_of(exc), values, 422)
    return redirect(request, f"/sessions/{session_id}", "Note added.")


def _discharge_in(values: dict[str, Any]) -> session_service.DischargeIn:
    """The form as contract 4.7's answers. An unanswered question is left out, so it is refused as
    missing: nothing is filled in for the nurse."""
    observation = {k: v for k in VITAL_FIELDS if (v := _num(values.get(f"d_{k}"))) is not None}
    if isinstance(observation.get("moaas"), float) and observation["moaas"].is_integer():
        observation["moaas"] = int(observation["moaas"])
    padss = {k: int(v) for k in PADSS_ITEMS if (v := values.get(f"padss_{k}")) in ("0", "1", "2")}
    answers = {k: values[f"q_{k}"] == "yes" for k, _ in DISCHARGE_QUESTIONS if values.get(f"q_{k}") in ("yes", "no")}
    return session_service.DischargeIn.model_validate({"observation": observation, "padss": padss, **answers})


def _discharge_errors(exc: ValidationError) -> dict[str, str]:
    """Each problem next to its question; unanswered questions are named at the top as well."""
    errors: dict[str, str] = {}
    unanswered: list[str] = []
    labels = {**{f"padss_{k}": f"PADSS: {PADSS_ANCHORS[k][0].lower()}" for k in PADSS_ITEMS},
              **{f"q_{k}": text for k, text in DISCHARGE_QUESTIONS}}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if loc[:1] == ["padss"] and len(loc) > 1:
            key = f"padss_{loc[1]}"
        elif loc[:1] == ["observation"] and len(loc) > 1:
            key = f"d_{loc[1]}"
        elif loc and loc[0] in dict(DISCHARGE_QUESTIONS):
            key = f"q_{loc[0]}"
        else:
            key = "__all__"
        if err["type"] == "missing":
            errors.setdefault(key, "Not answered: choose an answer." if key in labels else "Required.")
            if key in labels:
                unanswered.append(labels[key])
        else:
            errors.setdefault(key, err["msg"].removeprefix("Value error, "))
    if unanswered:
        errors["__all__"] = ("Discharge not assessed: answer every question. Unanswered: " + "; ".join(unanswered)
                             + ".")
    return errors


@router.post("/sessions/{session_id}/discharge")
async def discharge(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    db = db_of(request)
    try:
        data = _discharge_in(values)
        if values.get("check_only"):
            assessment = session_service.assess_discharge_now(db, actor, session_id, data)
            return _console(request, actor, session_id, None, values, 200, {"assessment": assessment})
        session_service.discharge_session(db, actor, session_id, _version(values), data)
    except ValidationError as exc:
        return _console(request, actor, session_id, _discharge_errors(exc), values, 422)
    except ServiceError as exc:
        extra = {}
        try:
            extra["assessment"] = session_service.assess_discharge_now(db, actor, session_id, _discharge_in(values))
        except (ValidationError, ServiceError):
            pass
        return _console(request, actor, session_id, errors_of(exc), values, 409, extra)
    return redirect(request, f"/sessions/{session_id}", "Discharged. The session record is ready to print.")


@router.post("/sessions/{session_id}/cancel")
async def cancel(request: Request, session_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    values = await _form(request)
    try:
        session_service.cancel_session(db_of(request), actor, session_id, _version(values),
                                       session_service.CancelIn(reason=str(values.get("reason") or "").strip()))
    except (ValidationError, ServiceError) as exc:
        return _console(request, actor, session_id, {"reason": "Say why the session is cancelled."}
                        if isinstance(exc, ValidationError) else errors_of(exc), values, 422)
    return redirect(request, f"/sessions/{session_id}", "Session cancelled.")
