"""The target-controlled-infusion request and answer, shared by the CLI and the web.

A clinician (or researcher) asks: which bolus and rate schedule brings plasma to a target and
holds it, without exceeding the pump's maximum rate? The schedule comes from
:func:`ketaclinic.pharmacology.targets.tci_schedule`; the answer also carries the predicted
curve of that schedule from the same engine, so what is shown is what the schedule does.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ketaclinic import DISCLAIMER
from ketaclinic.clinical.dosing import PROFILES, DrugLibrary, Override, check_schedule, dosing_weight, judge
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.simulate import CustomModel, PatientIn, SimulationError, _named_model
from ketaclinic.pharmacology.targets import tci_schedule


class TciRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str | CustomModel
    patient: PatientIn
    target_ng_per_ml: float = Field(gt=0, le=5000, description="plasma target, ng/mL (more than 0, at most 5000)")
    duration_min: float = Field(gt=0, le=7 * 24 * 60, description="how long to hold the target, minutes (up to 7 days)")
    max_rate_mg_per_h: float = Field(gt=0, le=2000, description="the pump's maximum rate, mg/h")
    max_bolus_mg: float | None = Field(default=None, ge=0, le=1000, description="cap on the loading bolus, mg (0 = no bolus)")
    step_min: float = Field(default=1.0, ge=0.25, le=60, description="how often the rate may change, minutes")
    profile: Literal["low_dose", "anesthesia_staffed"] = Field(
        default="low_dose", description="the drug library's care profile the schedule is judged against (design 4.3 v2)")
    override: Override | None = None


def library_check(request: TciRequest, bolus_mg: float, steps: list[dict[str, float]],
                  libraries: dict[str, DrugLibrary] = PROFILES) -> dict[str, Any]:
    """Judge the schedule against the drug library (design 4.3 v2): a rate or bolus over a hard
    limit refuses the plan (``hard_limit``), over a soft one it needs ``override`` with a reason.
    Raises :class:`~ketaclinic.clinical.dosing.DosingError`; returns what the answer records."""
    library = libraries[request.profile]
    weight = dosing_weight(request.patient.weight_kg, request.patient.height_cm, request.patient.sex)
    findings = check_schedule(
        weight.kg, library, boluses=[(0.0, bolus_mg)] if bolus_mg > 0 else [],
        infusions=[(s["start_min"], s["duration_min"], s["rate_mg_per_h"]) for s in steps],
    )
    soft = judge(findings, request.override)
    return {"profile": library.profile, "drug_library": library.name, "dosing_weight_kg": float(weight.kg),
            "dosing_weight_basis": weight.basis, "limits": [f.as_dict() for f in soft],
            "override": None if request.override is None else {
                "reason": request.override.reason, "by": request.override.by, "overridden": [f.code for f in soft]}}


def plan_tci(request: TciRequest) -> dict[str, Any]:
    model = _named_model(request)
    patient = request.patient
    if model is not None:
        disposition = model.disposition(patient.weight_kg, patient.age_years)
        warnings = model.range_warnings(patient.weight_kg, patient.age_years)
        source, model_id = model.source, model.id
    else:
        disposition = request.model.disposition(patient.weight_kg)
        warnings = ["custom model: no fitted population, so no range check is possible"]
        source, model_id = "custom", "custom"
    try:
        schedule = tci_schedule(
            disposition, request.target_ng_per_ml, request.duration_min, request.max_rate_mg_per_h,
            step_min=request.step_min, max_bolus_mg=request.max_bolus_mg,
        )
    except ValueError as exc:
        raise SimulationError("invalid_input", str(exc), None) from None
    # What a pump is programmed with: rates to 0.1 mg/h, a bolus to 0.1 mg, equal neighbours merged.
    # The predicted curve below is computed from these rounded numbers, not the exact ones.
    bolus_mg = round(schedule.bolus_mg, 1)
    rounded: list[dict[str, float]] = []
    for step in schedule.steps:
        rate = round(step.rate_mg_per_h, 1)
        if rounded and rounded[-1]["rate_mg_per_h"] == rate:
            rounded[-1]["duration_min"] += step.duration_min
        else:
            rounded.append({"start_min": step.start_min, "duration_min": step.duration_min, "rate_mg_per_h": rate})
    steps = [s for s in rounded if s["rate_mg_per_h"] > 0]
    checked = library_check(request, bolus_mg, steps)
    inputs = Inputs(
        bolus_time_min=np.array([0.0] if bolus_mg > 0 else []),
        bolus_mg=np.array([bolus_mg] if bolus_mg > 0 else []),
        infusion_start_min=np.array([s["start_min"] for s in steps]),
        infusion_end_min=np.array([s["start_min"] + s["duration_min"] for s in steps]),
        infusion_mg_per_min=np.array([s["rate_mg_per_h"] / 60.0 for s in steps]),
    )
    times = np.arange(0.0, request.duration_min + 1e-9, max(request.step_min, request.duration_min / 400))
    plasma = Solution(disposition, inputs).concentration_ng_per_ml(times)[0]
    if schedule.held_by_rate_limit:
        warnings.append(
            f"the maximum rate of {request.max_rate_mg_per_h:g} mg/h kept plasma below the target for "
            f"{schedule.rate_limited_steps * request.step_min:g} min"
        )
    total = bolus_mg + sum(s["rate_mg_per_h"] * s["duration_min"] / 60.0 for s in rounded)
    return {
        "model": model_id,
        "source": source,
        "method": "plasma-targeted TCI (STANPUMP scheme): bolus to fill V1, then each step the rate that reaches the "
        "target at the step's end, clipped to the maximum rate",
        "target_ng_per_ml": request.target_ng_per_ml,
        "bolus_mg": bolus_mg,
        "steps": rounded,
        "total_dose_mg": round(total, 1),
        **checked,
        "predicted": {"times_min": times, "plasma_ng_per_ml": plasma},
        "warnings": warnings,
        "disclaimer": DISCLAIMER,
    }
