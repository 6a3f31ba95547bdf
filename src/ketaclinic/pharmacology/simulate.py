"""The simulation request and answer of contract 4.1, shared by the CLI, the API and the web.

One function, :func:`simulate`, turns a validated :class:`SimulateRequest` into the answer
dictionary, so every shell shows the same numbers. Every answer's ``warnings`` ends with the
statement that metabolites (norketamine, noresketamine) are not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketaclinic import DISCLAIMER
from ketaclinic.evidence.sources import CLINIC_POLICY
from ketaclinic.pharmacology.disposition import Disposition
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.models import (
    DEFAULT_IIV_CV,
    DEFAULT_IIV_SOURCE,
    METABOLITES_NOT_MODELLED,
    MODELS,
    PKModel,
    route_absorption,
)
from ketaclinic.pharmacology.population import MAX_SUBJECTS, population_percentiles, sample_dispositions
from ketaclinic.pharmacology.regimen import Bolus, Dose, Infusion, to_inputs
from ketaclinic.pharmacology.targets import BANDS, peak, time_in_bands


class SimulationError(ValueError):
    """A request that is well-formed but cannot be simulated (unknown model, route without data)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weight_kg: float = Field(gt=0, le=400, description="body weight in kg (more than 0, at most 400)")
    age_years: float | None = Field(default=None, ge=0, le=120, description="age in years (0 to 120)")
    sex: Literal["female", "male"] | None = None
    height_cm: float | None = Field(default=None, ge=120, le=230, description="height in cm (120 to 230): gives the "
                                    "dosing weight the drug library judges a schedule on")


class PopulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    subjects: int = Field(ge=2, le=MAX_SUBJECTS, description=f"number of simulated subjects (2 to {MAX_SUBJECTS})")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    percentiles: list[float] = Field(default=[5.0, 50.0, 95.0], min_length=1, max_length=20)

    @model_validator(mode="after")
    def _percentiles_in_range(self) -> PopulationIn:
        for p in self.percentiles:
            if not 0 <= p <= 100:
                raise ValueError(f"percentiles must lie between 0 and 100 (got {p:g})")
        return self


class CustomRoute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bioavailability: float = Field(gt=0, le=1, description="fraction absorbed (more than 0, at most 1)")
    ka_per_min: float = Field(gt=0, le=100, description="first-order absorption rate constant, 1/min")


class CustomModel(BaseModel):
    """A three-compartment model given in full (contract 4.1), for researchers and engine checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "custom model"
    v1_l_per_kg: float | None = Field(default=None, gt=0, le=100)
    v1_l: float | None = Field(default=None, gt=0, le=10000)
    k10_per_min: float = Field(gt=0, le=100)
    k12_per_min: float = Field(default=0.0, ge=0, le=100)
    k13_per_min: float = Field(default=0.0, ge=0, le=100)
    k21_per_min: float = Field(default=0.0, ge=0, le=100)
    k31_per_min: float = Field(default=0.0, ge=0, le=100)
    ke0_per_min: float | None = Field(default=None, gt=0, le=100)
    routes: dict[Literal["oral", "sublingual", "intranasal", "im"], CustomRoute] = {}
    iiv_cv: dict[Literal["v1_l", "cl_l_per_min", "v2_l", "q2_l_per_min", "v3_l", "q3_l_per_min"], float] | None = Field(
        default=None, description="coefficient of variation per parameter (0 to 3); without it a 30 % default is assumed"
    )

    @model_validator(mode="after")
    def _complete(self) -> CustomModel:
        if (self.v1_l_per_kg is None) == (self.v1_l is None):
            raise ValueError("give exactly one of v1_l_per_kg or v1_l")
        if (self.k12_per_min > 0) != (self.k21_per_min > 0):
            raise ValueError("k12_per_min and k21_per_min must both be positive or both be 0")
        if (self.k13_per_min > 0) != (self.k31_per_min > 0):
            raise ValueError("k13_per_min and k31_per_min must both be positive or both be 0")
        for name, cv in (self.iiv_cv or {}).items():
            if not 0 <= cv <= 3:
                raise ValueError(f"iiv_cv.{name} must be a coefficient of variation between 0 and 3")
        return self

    def disposition(self, weight_kg: float) -> Disposition:
        v1 = self.v1_l if self.v1_l is not None else self.v1_l_per_kg * weight_kg
        return Disposition.from_micro_constants(
            v1, self.k10_per_min, self.k12_per_min, self.k21_per_min, self.k13_per_min, self.k31_per_min
        )


class ReliefIn(BaseModel):
    """Ask for the exploratory Dahan 2011 relief curve over a horizon (days)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    horizon_days: float = Field(default=90.0, gt=0, le=365, description="days to follow relief (up to 365)")
    step_min: float = Field(default=60.0, ge=5, le=1440, description="sampling step, minutes")


class SimulateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str | CustomModel
    patient: PatientIn
    doses: list[Dose] = Field(min_length=1, max_length=2000)
    times_min: list[float] = Field(min_length=1, max_length=200_000)
    population: PopulationIn | None = None
    relief: ReliefIn | None = None

    @model_validator(mode="after")
    def _times_valid(self) -> SimulateRequest:
        for i, t in enumerate(self.times_min):
            if not (0 <= t <= 60 * 24 * 60):
                raise ValueError(f"times_min[{i}] must be between 0 and 86400 minutes (60 days), got {t:g}")
        return self


def _fmt_pct(p: float) -> str:
    return f"{p:g}"


def _named_model(request: SimulateRequest) -> PKModel | None:
    if isinstance(request.model, str):
        if request.model not in MODELS:
            raise SimulationError(
                "unknown_model", f"unknown model {request.model!r}; known models: {', '.join(sorted(MODELS))}", "model"
            )
        return MODELS[request.model]
    return None


# --- 1. input validation: what the engine cannot run, and what it runs outside its fitted ranges --------------


def _check_request(request: SimulateRequest, model: PKModel | None) -> None:
    """Refuse a route the model has no absorption data for, and a relief curve for a custom model."""
    for index, dose in enumerate(request.doses):
        if dose.route == "iv":
            continue
        if model is not None and dose.route not in model.routes:
            raise SimulationError(
                "unsupported_route",
                f"route {dose.route!r} has no absorption data for {model.name}; "
                f"allowed routes: iv, {', '.join(sorted(model.routes))}",
                f"doses[{index}].route",
            )
        if model is None and dose.route not in request.model.routes:  # type: ignore[union-attr]
            raise SimulationError(
                "unsupported_route",
                f"route {dose.route!r} needs bioavailability and ka_per_min in the custom model's routes; "
                f"given: {', '.join(sorted(request.model.routes)) or 'none'}",  # type: ignore[union-attr]
                f"doses[{index}].route",
            )
    if request.relief is not None and model is None:
        raise SimulationError("invalid_input", "the relief curve needs a published model, not a custom one", "relief")


def _dose_warnings(request: SimulateRequest) -> list[str]:
    """Doses outside low-dose use, which the models were not fitted for."""
    warnings = []
    weight_kg = request.patient.weight_kg
    for index, dose in enumerate(request.doses):
        rate_per_kg = dose.rate_mg_per_h / weight_kg if isinstance(dose, Infusion) else None
        if rate_per_kg is not None and rate_per_kg > 2.0:
            warnings.append(
                f"doses[{index}]: {rate_per_kg:.2f} mg/kg/h is above the 0.5-2 mg/kg/h range of low-dose analgesic "
                "infusions (ASRA 2018): the models were not fitted for it"
            )
        if isinstance(dose, Bolus) and dose.route == "iv" and dose.dose_mg / weight_kg > 1.0:
            warnings.append(f"doses[{index}]: IV bolus above 1 mg/kg is an anaesthetic dose, outside low-dose use")
    return warnings


# --- 2. regimen building: the model resolved for this patient, and the doses as engine inputs -----------------


@dataclass(frozen=True)
class _Setup:
    """The model as resolved for this request: the typical subject, the routes' absorption, the
    effect site and the variability, with the warnings and route notes they bring."""

    model: PKModel | None
    model_id: str
    source: str
    disposition: Disposition
    absorption: dict[str, tuple[np.ndarray, np.ndarray]]
    route_notes: list[str]
    ke0_per_min: float | None
    cv: Mapping[str, float]
    variability_source: str
    variability_assumed: bool
    warnings: list[str]


def _routes_used(request: SimulateRequest) -> list[str]:
    return sorted({d.route for d in request.doses if d.route != "iv"})


def _published_setup(request: SimulateRequest, model: PKModel) -> _Setup:
    patient = request.patient
    warnings = [*model.range_warnings(patient.weight_kg, patient.age_years),
                *(model.notes if model.drug != "racemic ketamine" else ()), *model.cautions]
    absorption, route_notes = {}, []
    for route in _routes_used(request):
        f, ka, note = route_absorption(model, route)
        absorption[route] = (np.array([f]), np.array([ka]))
        route_notes.append(note)
        if model.routes[route].ka_source == CLINIC_POLICY:
            warnings.append(f"{route}: the absorption rate is an assumption (no published value found); see routes")
    return _Setup(
        model=model, model_id=model.id, source=model.source,
        disposition=model.disposition(patient.weight_kg, patient.age_years),
        absorption=absorption, route_notes=route_notes, ke0_per_min=model.ke0_per_min, cv=model.variability_cv(),
        variability_source=model.iiv_source or DEFAULT_IIV_SOURCE, variability_assumed=model.iiv_assumed,
        warnings=warnings,
    )


def _custom_setup(request: SimulateRequest, custom: CustomModel) -> _Setup:
    absorption, route_notes = {}, []
    for route in _routes_used(request):
        spec = custom.routes[route]
        absorption[route] = (np.array([spec.bioavailability]), np.array([spec.ka_per_min]))
        route_notes.append(f"{route}: F {spec.bioavailability:g}, ka {spec.ka_per_min:g} /min (given in the custom model)")
    return _Setup(
        model=None, model_id="custom", source="custom", disposition=custom.disposition(request.patient.weight_kg),
        absorption=absorption, route_notes=route_notes, ke0_per_min=custom.ke0_per_min,
        cv=custom.iiv_cv if custom.iiv_cv is not None else DEFAULT_IIV_CV,
        variability_source="custom" if custom.iiv_cv is not None else DEFAULT_IIV_SOURCE,
        variability_assumed=custom.iiv_cv is None,
        warnings=["custom model: no fitted population, so no range check is possible"],
    )


def _setup(request: SimulateRequest, model: PKModel | None) -> _Setup:
    if model is not None:
        return _published_setup(request, model)
    return _custom_setup(request, request.model)  # type: ignore[arg-type]


def _regimen(request: SimulateRequest, setup: _Setup) -> Inputs:
    return to_inputs(list(request.doses), setup.absorption)


# --- 3. running the engine -------------------------------------------------------------------------------------


def _typical_curves(setup: _Setup, inputs: Inputs, times: np.ndarray) -> dict[str, Any]:
    """The typical subject's plasma (and, with a ke0, effect-site) concentrations."""
    solution = Solution(setup.disposition, inputs, ke0_per_min=setup.ke0_per_min)
    answer: dict[str, Any] = {
        "model": setup.model_id,
        "source": setup.source,
        "times_min": times,
        "plasma_ng_per_ml": solution.concentration_ng_per_ml(times)[0],
    }
    if setup.ke0_per_min is not None:
        answer["effect_site_ng_per_ml"] = solution.concentration_ng_per_ml(times, effect_site=True)[0]
        answer["ke0"] = {
            "ke0_per_min": setup.ke0_per_min,
            "source": setup.model.ke0_source if setup.model else "custom",
            "note": setup.model.ke0_note if setup.model else "given in the custom model",
        }
    return answer


def _population(population: PopulationIn, setup: _Setup, inputs: Inputs, times: np.ndarray) -> dict[str, Any]:
    dispositions = sample_dispositions(setup.disposition.typical_parameters(), setup.cv, population.subjects,
                                       population.seed)
    values = population_percentiles(dispositions, inputs, times, population.percentiles)
    return {
        "subjects": population.subjects,
        "seed": population.seed,
        "percentiles": {_fmt_pct(p): values[i] for i, p in enumerate(population.percentiles)},
        "variability": {
            "cv": dict(setup.cv),
            "source": setup.variability_source,
            "assumed": setup.variability_assumed,
            "note": setup.model.iiv_note if setup.model else "",
        },
    }


def _population_warnings(request: SimulateRequest, setup: _Setup) -> list[str]:
    warnings = []
    if setup.variability_assumed:
        warnings.append(
            "population variability is an ASSUMED default (log-normal, 30 % CV on every parameter, clinic policy): "
            "the source publishes none"
        )
    if _routes_used(request):
        warnings.append("population: bioavailability and absorption rate are held at their typical values")
    return warnings


def _relief(relief: ReliefIn, model: PKModel, request: SimulateRequest, inputs: Inputs) -> dict[str, Any]:
    from ketaclinic.pharmacology.relief import predicted_relief

    curve = predicted_relief(
        model, request.patient.weight_kg, request.patient.age_years, inputs, relief.horizon_days,
        step_min=relief.step_min, racemic=model.drug == "racemic ketamine",
    )
    return {"label": curve.label, "source": curve.source, "times_day": curve.times_day,
            "relief_fraction": curve.relief_fraction}


# --- 4. summarising: peak and time in each band ----------------------------------------------------------------


def _summary(times: np.ndarray, plasma: np.ndarray) -> dict[str, Any]:
    order = np.argsort(times, kind="stable")
    sorted_times, sorted_plasma = times[order], plasma[order]
    peak_value, peak_time = peak(sorted_times, sorted_plasma)
    return {
        "peak_ng_per_ml": peak_value,
        "time_of_peak_min": peak_time,
        "time_in_band_min": time_in_bands(sorted_times, sorted_plasma),
        "bands": [
            {"id": b.id, "label": b.label, "low_ng_per_ml": b.low_ng_per_ml, "high_ng_per_ml": b.high_ng_per_ml,
             "sources": list(b.sources)}
            for b in BANDS
        ],
        "note": "Peak and time in band are read on the requested times; ask for a fine grid for exact figures.",
    }


def simulate(request: SimulateRequest) -> dict[str, Any]:
    """Answer a simulation request (contract 4.1) for the typical subject and, if asked, a population."""
    model = _named_model(request)
    _check_request(request, model)
    setup = _setup(request, model)
    warnings = [*setup.warnings, *_dose_warnings(request)]
    inputs = _regimen(request, setup)
    times = np.asarray(request.times_min, dtype=float)

    answer = _typical_curves(setup, inputs, times)
    if setup.route_notes:
        answer["routes"] = setup.route_notes
    answer["summary"] = _summary(times, answer["plasma_ng_per_ml"])
    if request.population is not None:
        answer["population"] = _population(request.population, setup, inputs, times)
        warnings.extend(_population_warnings(request, setup))
    if request.relief is not None and model is not None:
        answer["relief"] = _relief(request.relief, model, request, inputs)
    warnings.append(METABOLITES_NOT_MODELLED)
    answer["warnings"] = warnings
    answer["disclaimer"] = DISCLAIMER
    return answer


def list_models() -> dict[str, Any]:
    return {"models": [m.describe() for m in MODELS.values()]}
