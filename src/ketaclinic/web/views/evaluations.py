"""The evaluation (contract 4.2): the form, a live screening result (HTMX), sign-off and amendments.

The live result calls the same core function the service and the CLI call
(``clinical.screening.screen``); the page never decides anything itself.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.screening import PriorTreatment, ScreeningRequest, screen
from ketaclinic.services import evaluations as evaluation_service
from ketaclinic.services import patients as patient_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import CLINICAL, check_csrf, db_of, errors_of, need, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

HISTORY = {
    "cardiovascular": ("Heart disease", [("none", "None"), ("controlled", "Controlled"), ("poorly_controlled", "Poorly controlled")]),
    "hypertension": ("High blood pressure", [("none", "None"), ("controlled", "Controlled"), ("poorly_controlled", "Poorly controlled")]),
    "intracranial_pressure": ("Intracranial pressure", [("normal", "Normal"), ("elevated", "Elevated")]),
    "intraocular_pressure": ("Intraocular pressure (glaucoma)", [("normal", "Normal"), ("elevated", "Elevated")]),
    "psychosis": ("Psychosis", [("none", "None"), ("history", "History of"), ("active", "Active")]),
    "hepatic_impairment": ("Liver impairment", [("none", "None"), ("mild", "Mild"), ("moderate", "Moderate"), ("severe", "Severe")]),
    "substance_use": ("Substance use disorder", [("none", "None"), ("history", "History of"), ("active", "Active")]),
}
# 4.2 v2: optional history items ("" = not recorded, which gives no finding either way)
_NOT_RECORDED = ("", "Not recorded")
HISTORY_V2 = {
    "cerebrovascular": ("Brain aneurysm / bleed", [_NOT_RECORDED, ("none", "None"), ("aneurysm_or_avm", "Aneurysm or AVM"),
                                                   ("intracerebral_hemorrhage_history", "Past intracerebral haemorrhage")]),
    "coronary": ("Coronary disease", [_NOT_RECORDED, ("none", "None"), ("stable", "Stable"),
                                      ("recent_event", "Heart attack / unstable angina < 3 months")]),
    "thyroid": ("Thyroid", [_NOT_RECORDED, ("normal", "Normal"), ("hyperthyroid_treated", "Overactive, treated"),
                            ("hyperthyroid_untreated", "Overactive, untreated")]),
    "seizures": ("Seizures", [_NOT_RECORDED, ("none", "None"), ("controlled", "Controlled"),
                              ("poorly_controlled", "Poorly controlled")]),
    "mania": ("Mania / hypomania (bipolar)", [_NOT_RECORDED, ("none", "None"), ("history", "History of"),
                                              ("active", "Active")]),
    "alcohol_use": ("Alcohol use", [_NOT_RECORDED, ("none", "None"), ("moderate", "Moderate"), ("heavy", "Heavy")]),
}
VITALS = (("systolic_mmhg", "Systolic (mmHg)"), ("diastolic_mmhg", "Diastolic (mmHg)"),
          ("heart_rate_bpm", "Heart rate (/min)"), ("spo2_pct", "SpO2 (%)"),
          ("respiratory_rate_per_min", "Respiratory rate (/min)"))
REQUIRED_VITALS = ("systolic_mmhg", "diastolic_mmhg")
CONDITION_CHOICES = [(c.id.value if hasattr(c.id, "value") else c.id, c.name) for c in CONDITIONS.values()]
TREATMENT_LABELS = {"nsaid": "NSAID (anti-inflammatory)", "other": "Other treatment"}
TREATMENTS = [(t.value, TREATMENT_LABELS.get(t.value, t.value.replace("_", " ").capitalize())) for t in PriorTreatment]


def _number(text: Any) -> float | int | str | None:
    if isinstance(text, int | float) and not isinstance(text, bool):
        return text
    text = str(text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text  # the core's validator says what is expected
    return int(value) if value.is_integer() else value


def _whole(value: Any) -> Any:
    """A stored 47.0 is shown as 47 (a person typed 47)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: The CRPS detail on the form (pain.crps: type, limb, side), asked when CRPS is ticked.
CRPS_FIELDS = ("crps_type", "crps_limb", "crps_side")
CRPS_CHOICES = {
    "crps_type": [("not_stated", "Type not stated"), ("I", "Type I (no confirmed nerve lesion)"),
                  ("II", "Type II (a confirmed nerve lesion)")],
    "crps_limb": [("not_stated", "Limb not stated"), ("upper", "Upper limb"), ("lower", "Lower limb"),
                  ("other", "Another site")],
    "crps_side": [("not_stated", "Side not stated"), ("right", "Right"), ("left", "Left"), ("bilateral", "Both sides")],
}


def _lines(text: str) -> list[str]:
    return [part.strip() for chunk in (text or "").splitlines() for part in chunk.split(",") if part.strip()]


def values_from_form(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: (form.get(k) or "") for k in (
        "age_years", "sex", "weight_kg", "pregnant", "height_cm", "breastfeeding", "duration_weeks", "nrs_now",
        "allergies", "medications", "notes", "reason", *HISTORY, *HISTORY_V2, *(k for k, _ in VITALS), *CRPS_FIELDS)}
    values["weight_change_acknowledged"] = form.get("weight_change_acknowledged") == "yes"
    values["conditions"] = form.getlist("conditions")
    values["prior_treatments"] = form.getlist("prior_treatments")
    return values


def request_from_values(values: dict[str, Any]) -> dict[str, Any]:
    """The 4.2 document from the form's values (numbers as numbers; the core validates them)."""
    pregnant = {"yes": True, "no": False}.get(values.get("pregnant") or "")
    breastfeeding = {"yes": True, "no": False}.get(values.get("breastfeeding") or "")
    vitals = {k: _number(values.get(k)) for k, _ in VITALS}
    doc: dict[str, Any] = {
        "patient": {"age_years": _number(values["age_years"]), "sex": values["sex"] or None,
                    "weight_kg": _number(values["weight_kg"])},
        "pain": {"conditions": values["conditions"], "duration_weeks": _number(values["duration_weeks"]),
                 "prior_treatments": values["prior_treatments"]},
        "vitals": {k: v for k, v in vitals.items() if v is not None or k in REQUIRED_VITALS},
        "history": {k: values[k] or None for k in HISTORY},
        "allergies": _lines(values["allergies"]),
        "medications": _lines(values["medications"]),
    }
    if pregnant is not None:
        doc["patient"]["pregnant"] = pregnant
    if breastfeeding is not None:
        doc["patient"]["breastfeeding"] = breastfeeding
    if _number(values.get("height_cm")) is not None:
        doc["patient"]["height_cm"] = _number(values["height_cm"])
    doc["history"].update({k: values[k] for k in HISTORY_V2 if values.get(k)})
    if _number(values["nrs_now"]) is not None:
        doc["pain"]["nrs_now"] = _number(values["nrs_now"])
    crps = {k.removeprefix("crps_"): values[k] for k in CRPS_FIELDS if values.get(k) and values[k] != "not_stated"}
    if "crps" in values["conditions"] and crps:  # what is documented about the CRPS gives its exact code
        doc["pain"]["crps"] = crps
    return doc


def values_from_request(doc: dict[str, Any], notes: str | None = None) -> dict[str, Any]:
    """The form's values from a stored document; a referral draft has no vitals or history yet (blank)."""
    patient, pain = doc.get("patient") or {}, doc.get("pain") or {}
    vitals, history = doc.get("vitals") or {}, doc.get("history") or {}
    pregnant = patient.get("pregnant")
    breastfeeding = patient.get("breastfeeding")
    nrs = pain.get("nrs_now")
    return {
        "height_cm": "" if patient.get("height_cm") is None else patient["height_cm"],
        "breastfeeding": "" if breastfeeding is None else ("yes" if breastfeeding else "no"),
        **{k: history.get(k) or "" for k in HISTORY_V2},
        "age_years": _whole(patient.get("age_years", "")), "sex": patient.get("sex", ""),
        "weight_kg": patient.get("weight_kg", ""),
        "pregnant": "" if pregnant is None else ("yes" if pregnant else "no"),
        "conditions": pain.get("conditions", []), "duration_weeks": pain.get("duration_weeks", ""),
        "nrs_now": "" if nrs is None else nrs,
        "prior_treatments": pain.get("prior_treatments", []),
        **{k: (pain.get("crps") or {}).get(k.removeprefix("crps_"), "not_stated") for k in CRPS_FIELDS},
        **{k: "" if vitals.get(k) is None else _whole(vitals[k]) for k, _ in VITALS},
        **{k: history.get(k, "") for k in HISTORY}, "allergies": ", ".join(doc.get("allergies") or []),
        "medications": "\n".join(doc.get("medications") or []), "notes": notes or "", "reason": "",
    }


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Errors keyed by the form's field names (``patient.age_years`` → ``age_years``)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        names = [str(p) for p in err["loc"] if not isinstance(p, int)]
        key = names[-1] if names else "__all__"
        if len(names) >= 2 and names[-2] in ("conditions", "prior_treatments"):
            key = names[-2]
        elif len(names) >= 2 and names[-2] == "crps":
            key = f"crps_{names[-1]}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("missing", "enum") or (err["type"] == "literal_error") or "none is not an allowed" in message:
            message = "Required." if err["type"] == "missing" else message
        if message.startswith("Input should be a valid") and err.get("input") in (None, ""):
            message = "Required."
        if key == "conditions" and "at least 1" in message:
            message = "Choose at least one condition."
        out.setdefault(key, message)
    return out


def service_errors(exc: ServiceError) -> dict[str, str]:
    """A service refusal next to its field; a weight more than 20 % from the last one asks for the tick."""
    errors = errors_of(exc)
    if exc.code == "weight_change_unacknowledged":
        errors = {"weight_kg": exc.message.replace(" Send weight_change_acknowledged: true once checked.", "")
                  + " Check the weight (kg, not lb?) and tick the box below to keep it.",
                  "weight_change": "unacknowledged"}
    return {k.removeprefix("screening.patient."): v for k, v in errors.items()}


def _screen(values: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    try:
        request = ScreeningRequest.model_validate(request_from_values(values))
    except ValidationError as exc:
        return None, field_errors(exc)
    return screen(request).as_json(), {}


def _defaults(patient: patient_service.PatientView) -> dict[str, Any]:
    today = date.today()
    born = patient.birth_date
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return {"age_years": age, "sex": patient.sex, "weight_kg": patient.weight_kg or "", "pregnant": "",
            "conditions": [], "prior_treatments": [], "duration_weeks": "", "nrs_now": "", "allergies": "",
            "medications": "", "notes": "", "reason": "", "height_cm": "", "breastfeeding": "",
            **{k: "" for k, _ in VITALS}, **{k: "" for k in HISTORY_V2}, **{k: "not_stated" for k in CRPS_FIELDS},
            **{k: options[0][0] for k, (_, options) in HISTORY.items()}}


def _form_context(values: dict[str, Any], errors: dict[str, str] | None = None) -> dict[str, Any]:
    result, live_errors = _screen(values)
    return {"values": values, "errors": errors or {}, "result": result, "missing": live_errors,
            "history": HISTORY, "history_v2": HISTORY_V2, "vitals": VITALS, "required_vitals": REQUIRED_VITALS,
            "condition_choices": CONDITION_CHOICES, "treatments": TREATMENTS, "crps_choices": CRPS_CHOICES}


@router.get("/patients/{patient_id}/evaluations/new")
def new_evaluation(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    patient = patient_service.get_patient(db_of(request), actor, patient_id)
    ctx = _form_context(_defaults(patient))
    return render(request, "evaluations/form.html", {**ctx, "patient": patient, "evaluation": None,
                                                     "action": f"/patients/{patient_id}/evaluations/new"})


@router.post("/evaluations/screen")
async def live_screen(request: Request, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    """The HTMX partial: the screening result of the form as it is now."""
    values = values_from_form(await request.form())
    result, missing = _screen(values)
    return render(request, "evaluations/_result.html", {"result": result, "missing": missing})


@router.post("/patients/{patient_id}/evaluations/new")
async def create_evaluation(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    db = db_of(request)
    patient = patient_service.get_patient(db, actor, patient_id)
    values = values_from_form(await request.form())
    try:
        screening = ScreeningRequest.model_validate(request_from_values(values))
        view = evaluation_service.create_evaluation(db, actor, evaluation_service.EvaluationIn(
            patient_id=patient_id, screening=screening, notes=values["notes"] or None,
            weight_change_acknowledged=values["weight_change_acknowledged"]))
    except ValidationError as exc:
        return render(request, "evaluations/form.html", {**_form_context(values, field_errors(exc)), "patient": patient,
                      "evaluation": None, "action": f"/patients/{patient_id}/evaluations/new"}, status=422)
    except ServiceError as exc:
        return render(request, "evaluations/form.html", {**_form_context(values, service_errors(exc)), "patient": patient,
                      "evaluation": None, "action": f"/patients/{patient_id}/evaluations/new"}, status=422)
    flash = "Evaluation saved as a draft."
    if view.weight_flag:
        flash += " " + str(view.weight_flag.get("message", "The weight changed by more than 20 %: check it."))
    return redirect(request, f"/evaluations/{view.id}", flash)


def _show(request: Request, actor: Actor, evaluation_id: int, errors: dict | None = None, values: dict | None = None,
          status: int = 200) -> Response:
    db = db_of(request)
    evaluation = evaluation_service.get_evaluation(db, actor, evaluation_id)
    patient = patient_service.get_patient(db, actor, evaluation.patient_id)
    original = None
    if evaluation.amends_id:
        original = evaluation_service.get_evaluation(db, actor, evaluation.amends_id)
    form_values = values or values_from_request(evaluation.screening_input, evaluation.notes)
    ctx = _form_context(form_values, errors)
    if values is None:
        ctx["result"] = evaluation.screening_result  # what was stored, as stored
    editable = evaluation.status == "draft"
    action = f"/evaluations/{evaluation.id}/edit" if editable else f"/evaluations/{evaluation.id}/amend"
    from ketaclinic.services.referrals import flags_for_evaluation

    flags = flags_for_evaluation(db, actor, evaluation.id) if editable else []
    return render(request, "evaluations/show.html", {**ctx, "evaluation": evaluation, "patient": patient,
                                                     "original": original, "action": action, "editable": editable,
                                                     "referral_flags": flags},
                  status=status)


@router.get("/evaluations/{evaluation_id}")
def show_evaluation(request: Request, evaluation_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    return _show(request, actor, evaluation_id)


@router.post("/evaluations/{evaluation_id}/edit")
async def edit_evaluation(request: Request, evaluation_id: int, actor: Annotated[Actor, Depends(need(*CLINICAL))]) -> Response:
    form = await request.form()
    values = values_from_form(form)
    try:
        screening = ScreeningRequest.model_validate(request_from_values(values))
        evaluation_service.update_evaluation(db_of(request), actor, evaluation_id, int(form.get("version") or 0),
                                             evaluation_service.EvaluationPatch(
                                                 screening=screening, notes=values["notes"] or None,
                                                 weight_change_acknowledged=values["weight_change_acknowledged"]))
    except ValidationError as exc:
        return _show(request, actor, evaluation_id, field_errors(exc), values, 422)
    except ServiceError as exc:
        return _show(request, actor, evaluation_id, service_errors(exc), values, 409 if exc.status == 409 else 422)
    return redirect(request, f"/evaluations/{evaluation_id}", "Draft saved.")


@router.post("/evaluations/{evaluation_id}/sign")
async def sign_evaluation(request: Request, evaluation_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    form = await request.form()
    try:
        view = evaluation_service.sign_evaluation(db_of(request), actor, evaluation_id, int(form.get("version") or 0))
    except ServiceError as exc:
        return _show(request, actor, evaluation_id, errors_of(exc), None, 409)
    return redirect(request, f"/evaluations/{evaluation_id}",
                    f"Evaluation signed: {view.decision.replace('_', ' ') if view.decision else ''}.")


@router.post("/evaluations/{evaluation_id}/amend")
async def amend_evaluation(request: Request, evaluation_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    values = values_from_form(await request.form())
    errors: dict[str, str] = {}
    if not values["reason"].strip():
        errors["reason"] = "Say what is corrected and why."
    try:
        screening = ScreeningRequest.model_validate(request_from_values(values))
    except ValidationError as exc:
        errors.update(field_errors(exc))
    if errors:
        return _show(request, actor, evaluation_id, errors, values, 422)
    try:
        view = evaluation_service.amend_evaluation(db_of(request), actor, evaluation_id, evaluation_service.AmendmentIn(
            screening=screening, reason=values["reason"].strip(), notes=values["notes"] or None,
            weight_change_acknowledged=values["weight_change_acknowledged"]))
    except ServiceError as exc:
        return _show(request, actor, evaluation_id, service_errors(exc), values, 422)
    return redirect(request, f"/evaluations/{view.id}", "Amendment saved as a draft: sign it to make it count.")
