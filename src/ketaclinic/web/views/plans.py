"""The plan builder: protocol with its evidence, weight-based steps, concentration, the pump program
in mL/h from ``clinical.dosing.program_pump``, soft limits needing a physician's reason, hard limits
blocking, and a PK preview (typical curve, population 5-95 % band, concentration bands) that is
redrawn as the dose changes. The chart is a separate SVG request so the page itself stays fast.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic import timefmt
from ketaclinic.charts import pk_chart, to_svg
from ketaclinic.clinical.dosing import (
    PROFILES,
    Delivery,
    DoseRequest,
    DoseStep,
    DosingError,
    DrugLibrary,
    Override,
    dec,
    dosing_weight,
    most_in_any_window,
    program_pump,
)
from ketaclinic.clinical.protocols import PROTOCOLS, get_protocol
from ketaclinic.pharmacology.targets import band_flags
from ketaclinic.services import appointments as appointment_service
from ketaclinic.services import clinic_settings as settings_service
from ketaclinic.services import evaluations as evaluation_service
from ketaclinic.services import medication_orders as prn_service
from ketaclinic.services import patients as patient_service
from ketaclinic.services import pk_preview as preview_service
from ketaclinic.services import plans as plan_service
from ketaclinic.services import sessions as session_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import (
    CLINICAL,
    check_csrf,
    db_of,
    env,
    errors_of,
    need,
    redirect,
    render,
    settings_of,
)

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
MAX_STEPS = 6
STEP_FIELDS = ("kind", "dose_mg_per_kg", "rate_mg_per_kg_per_h", "duration_min", "times_per_day")
PROFILE_NAMES = {"low_dose": "low-dose (nurse-run outpatient chair)",
                 "anesthesia_staffed": "anesthesia-staffed (an anaesthesia clinician present)"}
DAY_MIN = 24 * 60


# --- what every screen shows beside a mg/kg figure (design 4.3 v2) ---------------------------


def _why(basis: str, bmi: float | None) -> str:
    if basis == "adjusted":
        return f"adjusted for BMI {bmi:.1f}" if bmi is not None else "adjusted for BMI"
    if basis == "capped":
        return "capped at 100 kg: no height recorded"
    return "actual weight"


def describe_dosing(program: dict[str, Any] | None) -> str:
    """``dosing weight 82.3 kg (adjusted for BMI 47.8)`` from a stored pump program (plans made before
    4.3 v2 carry no dosing weight: they were dosed on the actual weight)."""
    program = program or {}
    detail = program.get("dosing_weight") or {}
    kg = program.get("dosing_weight_kg", program.get("weight_kg"))
    basis = program.get("dosing_weight_basis", "actual")
    return f"dosing weight {float(kg):.1f} kg ({_why(basis, detail.get('bmi_kg_per_m2'))})" if kg is not None else ""


def session_total(program: dict[str, Any] | None) -> dict[str, Any] | None:
    """What one session (or, for an infusion longer than a day, the worst 24 h of it) gives, in mg and
    in mg/kg of the dosing weight: the figure the session limits judge."""
    program = program or {}
    steps = program.get("program") or []
    if not steps:
        return None
    deliveries = []
    end = Decimal(0)
    for s in steps:
        start = dec(s.get("start_min") or 0)
        minutes = dec(s.get("duration_min") or 0) if s.get("kind") != "oral" else Decimal(0)
        deliveries.append(Delivery(start, minutes, dec(s.get("dose_mg") or 0)))
        end = max(end, start + minutes)
    most = most_in_any_window(deliveries)
    weight = float(program.get("dosing_weight_kg") or program.get("weight_kg") or 0)
    longer = end > DAY_MIN and program.get("route", "iv") != "oral"
    return {"mg": float(most), "mg_per_kg": float(most) / weight if weight else None, "per_24h": longer,
            "total_mg": float(program.get("total_dose_mg") or most), "dosing_weight_kg": weight}


def profile_name(profile: str | None) -> str:
    return PROFILE_NAMES.get(profile or "low_dose", (profile or "").replace("_", " "))


env.globals["describe_dosing"] = describe_dosing
env.globals["session_total"] = session_total
env.globals["profile_name"] = profile_name


def dosing_of(weight: float | None, height_cm: float | None, sex: str | None) -> dict[str, Any] | None:
    """The dosing weight for the builder before anything is programmed (also when a limit stops it)."""
    if weight is None or weight <= 0 or weight >= 700:
        return None
    basis = dosing_weight(weight, height_cm, sex)
    bmi = float(basis.bmi_kg_per_m2) if basis.bmi_kg_per_m2 is not None else None
    return {"kg": float(basis.kg), "basis": basis.basis, "why": _why(basis.basis, bmi), "bmi": bmi,
            "ideal_kg": float(basis.ideal_kg) if basis.ideal_kg is not None else None, "actual_kg": weight,
            "height_cm": height_cm, "sex_assumed": basis.sex_assumed and basis.basis == "adjusted",
            "text": f"dosing weight {float(basis.kg):.1f} kg ({_why(basis.basis, bmi)})"}


def _body(patient: Any) -> tuple[float | None, str | None]:
    """The patient's height and sex as the dosing weight reads them (any other sex: unknown)."""
    if patient is None:
        return None, None
    return patient.height_cm, (patient.sex if patient.sex in ("female", "male") else None)


def profile_limits(library: DrugLibrary) -> dict[str, Any]:
    """The numbers of the profile in force a physician weighs a choice of profile with."""
    def pair(limit: Any) -> tuple[float | None, float | None]:
        return (limit.soft_max.value if limit.soft_max else None, limit.hard_max.value if limit.hard_max else None)

    return {"infusion": pair(library.infusion_rate_mg_per_kg_per_h), "bolus": pair(library.bolus_dose_mg_per_kg),
            "session_per_kg": pair(library.session_total_mg_per_kg), "session_mg": pair(library.session_total_mg),
            "absolute_rate": pair(library.infusion_rate_mg_per_h)}


def _float(text: Any) -> float | None:
    text = str(text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def steps_from(source: Any) -> tuple[list[dict[str, Any]], list[DoseStep], dict[str, str]]:
    """Rows as typed (to re-show), the DoseSteps they make, and per-field errors."""
    rows: list[dict[str, Any]] = []
    steps: list[DoseStep] = []
    errors: dict[str, str] = {}
    for i in range(MAX_STEPS):
        row = {f: str(source.get(f"steps-{i}-{f}") or "").strip() for f in STEP_FIELDS}
        if not row["kind"]:
            continue
        rows.append(row)
        data: dict[str, Any] = {"kind": row["kind"]}
        for f in STEP_FIELDS[1:]:
            if row[f]:
                value = _float(row[f])
                if value is None:
                    errors[f"steps-{i}-{f}"] = "Must be a number."
                    continue
                data[f] = int(value) if f == "times_per_day" else value
        try:
            steps.append(DoseStep.model_validate(data))
        except ValidationError as exc:
            errors[f"steps-{i}"] = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
    return rows, steps, errors


def default_rows(protocol_id: str) -> list[dict[str, Any]]:
    rows = []
    for step in get_protocol(protocol_id).steps:
        d = step.as_dict()
        rows.append({f: ("" if d.get(f) is None else d.get(f)) for f in STEP_FIELDS})
    return rows


def _profile_of(protocol: str, profile: str | None) -> str:
    if profile in PROFILES:
        return profile  # type: ignore[return-value]
    try:
        return get_protocol(protocol).profile
    except KeyError:
        return "low_dose"


def compute(protocol: str, weight: float | None, concentration: float | None, steps: list[DoseStep],
            override_reason: str | None, by: str,
            libraries: DrugLibrary | dict[str, DrugLibrary] = PROFILES, *, height_cm: float | None = None,
            sex: str | None = None, profile: str | None = None) -> dict[str, Any]:
    """The core's answer for the builder: the program, or the limits that stop it, with the dosing
    weight (from the patient's height and sex) and the care profile it was judged under."""
    chosen = _profile_of(protocol, profile)
    library = libraries if isinstance(libraries, DrugLibrary) else libraries.get(chosen, PROFILES[chosen])
    base = {"dosing": dosing_of(weight, height_cm, sex), "profile": chosen, "profile_limits": profile_limits(library)}
    if weight is None:
        return {**base, "error": "Enter the weight in kg.", "code": "weight_missing", "limits": []}
    try:
        request = DoseRequest(protocol=protocol, weight_kg=weight, concentration_mg_per_ml=concentration,
                              steps=steps or None, height_cm=height_cm, sex=sex, profile=chosen,  # type: ignore[arg-type]
                              override=Override(reason=override_reason, by=by) if override_reason else None)
        program = program_pump(request, libraries)
    except DosingError as error:
        refused = {**base, "error": error.message, "code": error.code, "limits": [f.as_dict() for f in error.limits]}
        if error.code == "soft_limit":
            # the physician decides the override with the program and its curve in view (issue 12): the
            # program as it would run, marked as not accepted; saving still needs the reason
            pending = program_pump(request.model_copy(update={"override": Override(reason="(not accepted yet)")}),
                                   libraries).as_dict()
            refused.update(pending_program=pending, pk_flags=pk_flags(pending))
        return refused
    except ValidationError as exc:
        return {**base, "error": "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()),
                "code": "invalid_input", "limits": []}
    data = program.as_dict()
    return {**base, "program": data, "limits": data["limits"], "pk_flags": pk_flags(data)}


def pk_flags(program: dict[str, Any]) -> list[dict[str, Any]]:
    """The unwanted concentration bands a population percentile of the preview reaches (the same
    simulation as the chart: same subjects, same seed)."""
    try:
        answer = preview_service.program_preview(program, program["weight_kg"], population=True)
    except (ServiceError, KeyError):
        return []
    population = answer.get("population") or {}
    return [f.as_dict() for f in band_flags(answer["times_min"], population.get("percentiles", {}))]


def _builder_context(request: Request, actor: Actor, patient: Any, evaluation_id: int | None, values: dict[str, Any],
                     rows: list[dict[str, Any]], errors: dict[str, str]) -> dict[str, Any]:
    protocol = get_protocol(values["protocol"])
    _, steps, _ = steps_from(_flat(rows))
    libraries = settings_service.drug_libraries(db_of(request))
    profile = _profile_of(values["protocol"], values.get("profile"))
    values = {**values, "profile": profile}
    library = libraries[profile]
    chosen = _float(values["concentration_mg_per_ml"])
    if chosen is None or not library.allows_concentration(chosen):  # the clinic may have removed the protocol's
        values = {**values, "concentration_mg_per_ml": library.concentrations_mg_per_ml[0]}
    height, sex = _body(patient)
    result = compute(values["protocol"], _float(values["weight_kg"]), _float(values["concentration_mg_per_ml"]), steps,
                     values.get("override_reason") or None, actor.username or "", libraries,
                     height_cm=height, sex=sex, profile=profile)
    return {"patient": patient, "evaluation_id": evaluation_id, "values": values, "rows": rows + [{}], "plan": None,
            "form_action": f"/patients/{patient.id}/plans/new", "protocol_action": f"/patients/{patient.id}/plans/new",
            "errors": errors, "protocol": protocol.as_dict(), "protocols": PROTOCOLS, "result": result,
            "chart_url": _chart_url(values, rows, result, patient.id), "concentrations": library.concentrations_mg_per_ml,
            "max_steps": MAX_STEPS, "profiles": [(p, profile_name(p)) for p in PROFILES],
            "protocol_profile": protocol.profile, "can_choose_profile": actor.role in plan_service.PROFILE_ROLES}


def _flat(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"steps-{i}-{f}": row.get(f, "") for i, row in enumerate(rows) for f in STEP_FIELDS}


def _chart_url(values: dict[str, Any], rows: list[dict[str, Any]], result: dict[str, Any],
               patient_id: int | None = None) -> str | None:
    if "program" not in result and "pending_program" not in result:
        return None
    query = {"protocol": values["protocol"], "weight_kg": values["weight_kg"],
             "concentration_mg_per_ml": values["concentration_mg_per_ml"], "patient_id": patient_id or "",
             "profile": values.get("profile") or "",
             "override_reason": values.get("override_reason") or "", **_flat(rows)}
    return "/plans/preview.svg?" + urlencode({k: v for k, v in query.items() if v not in ("", None)})


def _values(source: Any, patient: Any, protocol_id: str) -> dict[str, Any]:
    protocol = get_protocol(protocol_id)
    return {
        "protocol": protocol_id,
        "weight_kg": source.get("weight_kg") if source.get("weight_kg") is not None else (patient.weight_kg or ""),
        "concentration_mg_per_ml": source.get("concentration_mg_per_ml") or protocol.default_concentration_mg_per_ml,
        "override_reason": source.get("override_reason") or "",
        "weight_change_acknowledged": source.get("weight_change_acknowledged") == "yes",
        "sessions": source.get("sessions") or "",
        "profile": source.get("profile") if source.get("profile") in PROFILES else protocol.profile,
        "profile_reason": (source.get("profile_reason") or "").strip(),
    }


def _signed_evaluation(request: Request, actor: Actor, patient_id: int, evaluation_id: int | None) -> int | None:
    if evaluation_id:
        return evaluation_id
    page = evaluation_service.list_evaluations(db_of(request), actor, patient_id=patient_id, status="signed", limit=200)
    replaced = {e.amends_id for e in page.items if e.amends_id}
    current = [e for e in page.items if e.id not in replaced]
    return current[-1].id if current else None


@router.get("/patients/{patient_id}/plans/new")
def builder(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))],
            protocol: str = "outpatient_infusion", evaluation_id: int | None = None) -> Response:
    patient = patient_service.get_patient(db_of(request), actor, patient_id)
    if protocol not in {p.id for p in PROTOCOLS}:
        protocol = "outpatient_infusion"
    evaluation_id = _signed_evaluation(request, actor, patient_id, evaluation_id)
    values = _values(request.query_params, patient, protocol)
    ctx = _builder_context(request, actor, patient, evaluation_id, values, default_rows(protocol), {})
    return render(request, "plans/builder.html", ctx)


@router.post("/plans/preview")
async def preview(request: Request, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    """HTMX partial: the program and its limits for the form as it is, with the chart's address."""
    form = await request.form()
    values = {"protocol": form.get("protocol") or "outpatient_infusion", "weight_kg": form.get("weight_kg") or "",
              "concentration_mg_per_ml": form.get("concentration_mg_per_ml") or "",
              "override_reason": (form.get("override_reason") or "").strip(),
              "profile": form.get("profile") or ""}
    rows, steps, errors = steps_from(form)
    patient = _patient_of(request, actor, form.get("patient_id"))
    height, sex = _body(patient)
    result = compute(values["protocol"], _float(values["weight_kg"]), _float(values["concentration_mg_per_ml"]), steps,
                     values["override_reason"] or None, actor.username or "",
                     settings_service.drug_libraries(db_of(request)), height_cm=height, sex=sex,
                     profile=values["profile"] or None)
    return render(request, "plans/_preview.html", {
        "result": result, "chart_url": _chart_url(values, rows, result, patient.id if patient else None),
        "step_errors": errors, "patient": patient, "oob": True})


def _patient_of(request: Request, actor: Actor, patient_id: Any) -> Any:
    """The patient whose height and sex give the dosing weight (access-checked by the service)."""
    text = str(patient_id or "").strip()
    if not text.isdigit():
        return None
    return patient_service.get_patient(db_of(request), actor, int(text))


@router.get("/plans/preview.svg")
def preview_svg(request: Request, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    q = request.query_params
    rows, steps, _ = steps_from(q)
    height, sex = _body(_patient_of(request, actor, q.get("patient_id")))
    result = compute(q.get("protocol") or "outpatient_infusion", _float(q.get("weight_kg")),
                     _float(q.get("concentration_mg_per_ml")), steps, q.get("override_reason") or None,
                     actor.username or "", settings_service.drug_libraries(db_of(request)), height_cm=height, sex=sex,
                     profile=q.get("profile") or None)
    program = result.get("program") or result.get("pending_program")
    if program is None:
        return Response(status_code=422)
    return _svg_response(program, program["weight_kg"])


def _svg_response(program: dict[str, Any], weight_kg: float) -> Response:
    try:
        answer = preview_service.program_preview(program, weight_kg, population=True)
    except ServiceError:
        return Response(status_code=422)
    title = f"Predicted plasma ketamine (typical, 5–95 % of {preview_service.SUBJECTS} simulated patients)"
    svg = to_svg(pk_chart(answer, title=title))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})


@router.post("/patients/{patient_id}/plans/new")
async def create_plan(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    form = await request.form()
    db = db_of(request)
    patient = patient_service.get_patient(db, actor, patient_id)
    protocol = form.get("protocol") or "outpatient_infusion"
    values = _values(form, patient, protocol)
    rows, steps, errors = steps_from(form)
    evaluation_id = int(form.get("evaluation_id") or 0) or None
    status = 422
    weight = _float(values["weight_kg"])
    if weight is None:
        errors["weight_kg"] = "Enter the weight in kg."
    if not evaluation_id:
        errors["__all__"] = "A plan needs a signed evaluation: sign the patient's evaluation first."
    view = None
    if not errors:
        try:
            series = plan_service.SeriesIn(sessions=int(values["sessions"])) if str(values["sessions"]).isdigit() else None
            data = plan_service.PlanIn(
                patient_id=patient_id, evaluation_id=evaluation_id, protocol=protocol, weight_kg=weight,
                concentration_mg_per_ml=_float(values["concentration_mg_per_ml"]), steps=steps or None, series=series,
                override=plan_service.OverrideIn(reason=values["override_reason"]) if values["override_reason"] else None,
                weight_change_acknowledged=values["weight_change_acknowledged"], **_profile_fields(form, values))
            view = plan_service.create_plan(db, actor, data)
        except (ValidationError, ServiceError) as exc:
            errors = _plan_errors(exc)
            status = 403 if isinstance(exc, ServiceError) and exc.status == 403 else 422
    if view is None:
        ctx = _builder_context(request, actor, patient, evaluation_id, values, rows, errors)
        return render(request, "plans/builder.html", ctx, status=status)
    return redirect(request, f"/plans/{view.id}", "Plan saved as a draft." + (" Soft-limit override recorded." if view.overrides else ""))


STALE_PLAN = ("Someone else changed this plan while you were editing it (it is now at version {version}). "
              "Your values are kept below: compare them with the current plan, then save again.")


def _rows_of(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f: ("" if step.get(f) is None else step.get(f)) for f in STEP_FIELDS} for step in steps]


def _edit_context(request: Request, actor: Actor, plan: Any, values: dict[str, Any], rows: list[dict[str, Any]],
                  errors: dict[str, str], version: int) -> dict[str, Any]:
    patient = patient_service.get_patient(db_of(request), actor, plan.patient_id)
    ctx = _builder_context(request, actor, patient, plan.evaluation_id, values, rows, errors)
    ctx.update(plan=plan, version=version, form_action=f"/plans/{plan.id}/edit", protocol_action=f"/plans/{plan.id}/edit")
    return ctx


@router.get("/plans/{plan_id}/edit")
def edit_plan(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))],
              protocol: str | None = None) -> Response:
    plan = plan_service.get_plan(db_of(request), actor, plan_id)
    if plan.status != "draft":
        return redirect(request, f"/plans/{plan_id}", "A signed plan is never changed: write a new plan instead.")
    chosen = protocol if protocol in {p.id for p in PROTOCOLS} else plan.protocol
    values = {"protocol": chosen, "weight_kg": plan.weight_kg, "concentration_mg_per_ml": plan.concentration_mg_per_ml,
              "override_reason": "", "weight_change_acknowledged": False,
              "sessions": plan.series_rule.get("sessions") or "",
              "profile": plan.profile if chosen == plan.protocol else get_protocol(chosen).profile,
              "profile_reason": (plan.profile_reason or "") if chosen == plan.protocol else ""}
    rows = _rows_of(plan.steps) if chosen == plan.protocol else default_rows(chosen)
    return render(request, "plans/builder.html", _edit_context(request, actor, plan, values, rows, {}, plan.version))


@router.post("/plans/{plan_id}/edit")
async def save_plan(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    form = await request.form()
    db = db_of(request)
    plan = plan_service.get_plan(db, actor, plan_id)
    version = int(form.get("version") or 0) if str(form.get("version") or "").isdigit() else 0
    protocol = form.get("protocol") or plan.protocol
    patient = patient_service.get_patient(db, actor, plan.patient_id)
    values = _values(form, patient, protocol)
    rows, steps, errors = steps_from(form)
    weight = _float(values["weight_kg"])
    if weight is None:
        errors["weight_kg"] = "Enter the weight in kg."
    status = 422
    if not errors:
        try:
            series = plan_service.SeriesIn(sessions=int(values["sessions"])) if str(values["sessions"]).isdigit() else None
            patch = plan_service.PlanPatch(
                protocol=protocol, weight_kg=weight if weight != plan.weight_kg else None,
                concentration_mg_per_ml=_float(values["concentration_mg_per_ml"]), steps=steps or None, series=series,
                override=plan_service.OverrideIn(reason=values["override_reason"]) if values["override_reason"] else None,
                weight_change_acknowledged=values["weight_change_acknowledged"], **_profile_fields(form, values))
            plan_service.update_plan(db, actor, plan_id, version, patch)
            return redirect(request, f"/plans/{plan_id}", "Draft plan saved.")
        except (ValidationError, ServiceError) as exc:
            errors = _plan_errors(exc)
            if isinstance(exc, ServiceError) and exc.status == 403:
                status = 403
            if isinstance(exc, ServiceError) and exc.status == 409 and exc.code == "stale_version":
                current = plan_service.get_plan(db, actor, plan_id).version
                errors = {"__all__": STALE_PLAN.format(version=current)}
                status = 409
    ctx = _edit_context(request, actor, plan, values, rows, errors, version)
    return render(request, "plans/builder.html", ctx, status=status)


def _profile_fields(form: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The care profile as the form sent it: the service decides who may choose which (a nurse's
    form carries the protocol's or the draft's profile; anesthesia-staffed needs a physician and a reason)."""
    if not form.get("profile"):
        return {}
    profile = values["profile"]
    reason = values["profile_reason"] if profile == "anesthesia_staffed" else ""
    return {"profile": profile, "profile_reason": reason or None}


PROFILE_NEEDS_PHYSICIAN = ("Only a physician may choose the anesthesia-staffed profile (it allows up to 2 mg/kg/h and needs "
                           "an anaesthesia clinician present). Nothing was saved: ask a physician, or plan under the "
                           "low-dose profile.")
PROFILE_REASON_REQUIRED = ("Give the reason for the anesthesia-staffed profile: why this patient is treated with an "
                           "anaesthesia clinician present (it allows up to 2 mg/kg/h). Nothing was saved.")


def _plan_errors(exc: Exception) -> dict[str, str]:
    errors = errors_of(exc)
    code = exc.code if isinstance(exc, ServiceError) else None
    if code == "soft_limit":
        errors = {"override_reason": exc.message + " A physician must give a reason to go ahead."}  # type: ignore[attr-defined]
    elif code == "hard_limit":
        errors = {"__all__": "Blocked by a hard limit: " + exc.message}  # type: ignore[attr-defined]
    elif code == "override_needs_physician":
        errors = {"override_reason": "Only a physician may accept a soft limit."}
    elif code == "profile_needs_physician":
        errors = {"profile": PROFILE_NEEDS_PHYSICIAN, "__all__": PROFILE_NEEDS_PHYSICIAN}
    elif code == "profile_reason_required":
        errors = {"profile_reason": PROFILE_REASON_REQUIRED}
    return errors


@router.get("/plans/{plan_id}")
def show_plan(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    return _show(request, actor, plan_id)


def _show(request: Request, actor: Actor, plan_id: int, errors: dict | None = None, status: int = 200) -> Response:
    db = db_of(request)
    plan = plan_service.get_plan(db, actor, plan_id)
    patient = patient_service.get_patient(db, actor, plan.patient_id)
    sessions = [s for s in session_service.list_sessions(db, actor, patient_id=plan.patient_id, limit=200).items
                if s.plan_id == plan.id]
    return render(request, "plans/show.html", {"plan": plan, "patient": patient, "protocol": get_protocol(plan.protocol).as_dict(),
                                               "errors": errors or {}, "sessions": sessions,
                                               "orders": prn_service.list_orders(db, actor, plan.id),  # issue 14
                                               "chart_url": f"/plans/{plan.id}/preview.svg"}, status=status)


@router.get("/plans/{plan_id}/preview.svg")
def plan_svg(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    plan = plan_service.get_plan(db_of(request), actor, plan_id)
    return _svg_response(plan.pump_program, plan.weight_kg)


@router.post("/plans/{plan_id}/sign")
async def sign_plan(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    form = await request.form()
    try:
        plan_service.sign_plan(db_of(request), actor, plan_id, int(form.get("version") or 0))
    except ServiceError as exc:
        return _show(request, actor, plan_id, errors_of(exc), 409)
    return redirect(request, f"/plans/{plan_id}", "Plan signed: sessions can now be scheduled and the pump programmed.")


@router.post("/plans/{plan_id}/schedule")
async def schedule(request: Request, plan_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    """Book one infusion under this plan: the schedule's booking (issue 13), with its clash checks."""
    form = await request.form()
    db = db_of(request)
    plan = plan_service.get_plan(db, actor, plan_id)
    try:
        when = datetime.fromisoformat(str(form.get("scheduled_at") or "")).replace(tzinfo=settings_of(request).timezone)
    except ValueError:
        return _show(request, actor, plan_id, {"scheduled_at": "Choose the date and time of the session."}, 422)
    try:
        booked = appointment_service.book(db, actor, appointment_service.AppointmentIn(
            patient_id=plan.patient_id, kind="infusion", plan_id=plan.id, start=when),
            clinic_timezone=settings_of(request).clinic_timezone)
    except (ValidationError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else next(iter(errors_of(exc).values()), str(exc))
        return _show(request, actor, plan_id, {"scheduled_at": message}, getattr(exc, "status", 422))
    return redirect(request, f"/sessions/{booked.items[0].session_id}",
                    "Session booked for " + timefmt.appointment(when, settings_of(request).timezone) + ".")
