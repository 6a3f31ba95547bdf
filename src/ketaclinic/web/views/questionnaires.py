"""Questionnaire pages (issue 15).

- Patients: ``/me/questionnaires`` lists what is due; ``/q/{id}`` asks one question a screen (one tap answers and
  moves on; every answer is saved at once, so a patient who stops can come back where they were).
- Staff: ``/patients/{id}/questionnaires`` shows what is due, the trends (SVG), every response and the self-harm
  alerts (a physician acknowledges them with what was done); "hand the tablet to the patient" opens the same
  one-question screens on a clinic tablet. ``/questionnaires/alerts-panel`` is the dashboard's partial.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.charts import questionnaire_trend_svg
from ketaclinic.clinical.questionnaires import SELF_HARM
from ketaclinic.services import questionnaires as service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, svg_img

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
Answerer = Annotated[Actor, Depends(need(*service.ANSWER_ROLES))]
Clinician = Annotated[Actor, Depends(need(*service.STAFF))]
Patient = Annotated[Actor, Depends(need("patient"))]


def _back(actor: Actor, patient_id: int) -> str:
    return "/me/questionnaires" if actor.is_patient else f"/patients/{patient_id}/questionnaires"


@router.get("/me/questionnaires")
def my_questionnaires(request: Request, actor: Patient) -> Response:
    assert actor.patient_id is not None
    chart = service.patient_questionnaires(db_of(request), actor, actor.patient_id)
    done = [r for r in chart.responses if r.status == "complete"][:10]
    return render(request, "questionnaires/mine.html", {"chart": chart, "done": done})


@router.post("/me/questionnaires/start")
@router.post("/patients/{patient_id}/questionnaires/start")
async def start(request: Request, actor: Answerer, patient_id: int | None = None) -> Response:
    form = await request.form()
    pid = actor.patient_id if actor.is_patient else patient_id
    assert pid is not None
    plan = str(form.get("plan_id") or "")
    try:
        view = service.start_response(db_of(request), actor, pid, service.ResponseStart(
            instrument=str(form.get("instrument") or ""), context=str(form.get("context") or "ad_hoc"),
            plan_id=int(plan) if plan.isdigit() else None,
            channel="tablet" if form.get("tablet") else ("portal" if actor.is_patient else "staff")))
    except (ValidationError, ServiceError) as exc:
        return redirect(request, _back(actor, pid), "Could not start it: " + "; ".join(errors_of(exc).values()))
    return redirect(request, f"/q/{view.id}")


def _question_page(request: Request, actor: Actor, response: service.ResponseView,
                   instrument: service.InstrumentView, number: int, error: str | None = None,
                   status: int = 200) -> Response:
    item = instrument.items[number - 1]
    return render(request, "questionnaires/question.html", {
        "response": response, "instrument": instrument, "item": item, "number": number,
        "current": response.answers[number - 1], "error": error, "tablet": response.channel == "tablet",
        "back_url": _back(actor, response.patient_id), "last": number == len(instrument.items)}, status=status)


@router.get("/q/{response_id}")
def question(request: Request, response_id: int, actor: Answerer, item: int | None = None) -> Response:
    response, instrument = service.get_response(db_of(request), actor, response_id)
    if response.status != "partial":
        return redirect(request, f"/q/{response.id}/done")
    number = item if item and 1 <= item <= len(instrument.items) else (response.next_item or len(instrument.items))
    return _question_page(request, actor, response, instrument, number)


@router.post("/q/{response_id}")
async def answer(request: Request, response_id: int, actor: Answerer) -> Response:
    form = await request.form()
    number_text, value_text = str(form.get("item") or ""), str(form.get("value") or "")
    response, instrument = service.get_response(db_of(request), actor, response_id)
    if not number_text.isdigit() or not 1 <= int(number_text) <= len(instrument.items):
        return redirect(request, f"/q/{response_id}")
    number = int(number_text)
    skip = value_text == "skip"
    if not skip and not value_text.lstrip("-").isdigit():
        return _question_page(request, actor, response, instrument, number, "Choose one answer.", 422)
    last = number == len(instrument.items)
    try:
        saved = service.answer_item(db_of(request), actor, response_id,
                                    service.AnswerIn(item=number, value=None if skip else int(value_text)),
                                    complete=last)
    except (ValidationError, ServiceError) as exc:
        message = "; ".join(errors_of(exc).values()) or "That answer could not be saved."
        if getattr(exc, "code", "") == "too_many_missing":
            first = next((n for n, a in enumerate(response.answers, start=1) if a is None and n != number), number)
            return redirect(request, f"/q/{response_id}?item={first}", message + " Please answer the questions left.")
        return _question_page(request, actor, response, instrument, number, message, 422)
    if saved.status == "complete":
        return redirect(request, f"/q/{saved.id}/done")
    following = number + 1 if number < len(instrument.items) else (saved.next_item or number)
    return redirect(request, f"/q/{saved.id}?item={following}")


@router.get("/q/{response_id}/done")
def done(request: Request, response_id: int, actor: Answerer) -> Response:
    response, instrument = service.get_response(db_of(request), actor, response_id)
    harm = any(f.get("code") == SELF_HARM for f in response.flags)
    return render(request, "questionnaires/done.html", {
        "response": response, "instrument": instrument, "self_harm": harm, "tablet": response.channel == "tablet",
        "back_url": _back(actor, response.patient_id)})


@router.get("/patients/{patient_id}/questionnaires")
def chart_page(request: Request, patient_id: int, actor: Clinician) -> Response:
    from ketaclinic.services.patients import get_patient

    chart = service.patient_questionnaires(db_of(request), actor, patient_id)
    patient = get_patient(db_of(request), actor, patient_id)
    charts = []
    for trend in chart.trends:
        if len(trend.points) >= 1 and trend.instrument != "pgic":
            svg = questionnaire_trend_svg([{"at": p.at, "total": p.total} for p in trend.points],
                                          trend.max_total, trend.name, trend.bands)
            charts.append((trend, svg_img(svg, f"{trend.name} totals over time (higher is worse)")))
    instruments = service.list_instruments(db_of(request), actor)
    return render(request, "questionnaires/chart.html", {
        "patient": patient, "chart": chart, "charts": charts, "instruments": instruments,
        "pgic": next((t for t in chart.trends if t.instrument == "pgic"), None)})


@router.post("/questionnaire-alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, alert_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    form = await request.form()
    back = str(form.get("back") or "/dashboard")
    back = back if back.startswith("/") and not back.startswith("//") else "/dashboard"
    try:
        service.acknowledge_alert(db_of(request), actor, alert_id, service.AcknowledgeIn(note=str(form.get("note") or "")))
    except (ValidationError, ServiceError) as exc:
        return redirect(request, back, "Not acknowledged: " + "; ".join(errors_of(exc).values()))
    return redirect(request, back, "Alert acknowledged; what you did is on the record.")


@router.get("/questionnaires/alerts-panel")
def alerts_panel(request: Request, actor: Clinician) -> Response:
    return render(request, "questionnaires/_dashboard_alerts_panel.html",
                  {"alerts": service.open_alerts(db_of(request), actor)})


@router.get("/outcomes/questionnaires")
def outcomes_panel(request: Request, actor: Clinician) -> Response:
    """The outcomes page's questionnaire section (loaded into it; also a page of its own without scripts)."""
    from ketaclinic.services.questionnaire_outcomes import prom_outcomes

    return render(request, "questionnaires/_outcomes_panel.html", {"proms": prom_outcomes(db_of(request), actor)})


# --- the admin page: licensed custom instruments ---------------------------------------------------------------


def _parse_custom(form: dict[str, str]) -> dict:
    """The admin form's plain lines as a custom instrument definition (the core validates it)."""
    options = []
    for line in form.get("options", "").splitlines():
        if line.strip():
            value, _, label = line.partition("=")
            options.append({"value": int(value.strip()) if value.strip().lstrip("-").isdigit() else value.strip(),
                            "label": label.strip()})
    bands = []
    for line in form.get("bands", "").splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and "-" in parts[1]:
            low, _, high = parts[1].partition("-")
            bands.append({"code": parts[0], "min": int(low) if low.isdigit() else low,
                          "max": int(high) if high.isdigit() else high, "label": parts[2]})
        elif line.strip():
            bands.append({"code": line.strip(), "min": "?", "max": "?", "label": line.strip()})
    missing = form.get("max_missing", "0").strip() or "0"
    mcid = form.get("mcid", "").strip()
    return {"id": form.get("id", "").strip(), "name": form.get("name", "").strip(),
            "licence": form.get("licence", "").strip(), "preamble": form.get("preamble", "").strip(),
            "items": [{"text": line.strip(), "options": options} for line in form.get("items", "").splitlines()
                      if line.strip()],
            "bands": bands, "max_missing": int(missing) if missing.isdigit() else missing,
            **({"mcid": float(mcid)} if mcid.replace(".", "", 1).isdigit() else {})}


def _admin_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                status: int = 200) -> Response:
    from ketaclinic.evidence.catalog.questionnaires import SOURCES

    not_shipped = [s for s in SOURCES if s.id in ("promis_terms", "pcs_licence", "dn4_licence", "paindetect_licence",
                                                  "cadss_licence")]
    return render(request, "questionnaires/admin.html", {
        "instruments": service.list_instruments(db_of(request), actor), "not_shipped": not_shipped,
        "sites": actor.sites, "values": values or {"options": "0 = Not at all\n1 = A little\n2 = Quite a lot\n3 = Very much",
                                                   "max_missing": "0"},
        "errors": errors or {}}, status=status)


@router.get("/admin/questionnaires")
def admin_page(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return _admin_page(request, actor)


@router.post("/admin/questionnaires")
async def add_custom(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    from ketaclinic.clinical.questionnaires import CustomInstrumentIn

    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("site_id", "id", "name", "licence", "preamble", "items", "options",
                                                  "bands", "max_missing", "mcid")}
    site = values["site_id"]
    site_id = int(site) if site.isdigit() else (actor.site_ids[0] if actor.site_ids else 0)
    try:
        definition = CustomInstrumentIn.model_validate(_parse_custom(values))
        view = service.add_custom_instrument(db_of(request), actor, site_id, definition)
    except (ValidationError, ServiceError) as exc:
        return _admin_page(request, actor, values, errors_of(exc) or {"id": "check the form"}, 422)
    return redirect(request, "/admin/questionnaires", f"{view.name} added: staff can ask it from the chart.")
