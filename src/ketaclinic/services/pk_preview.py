"""The PK preview: a pump program (or the doses as the pump gave them) → the predicted plasma
concentration of the clinic's default model, on one grid of times.

One function for every screen that draws it (the plan builder and plan page, the session
console's chart, ``GET /api/v1/plans/{id}/preview``), so they show the same curve on the same
times. It opens no transaction and reads no record: the callers have the program already (the
builder's is not saved yet); the plan service loads, role-checks and audits before calling it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ketaclinic.pharmacology.models import DEFAULT_MODEL_ID
from ketaclinic.pharmacology.regimen import Bolus, Infusion, doses_from_pump_program
from ketaclinic.pharmacology.simulate import SimulateRequest, SimulationError, simulate
from ketaclinic.services.errors import ValidationFailed

#: Points on the curve, from 0 to the horizon: 2 minutes apart for an hour's program and the two
#: hours after it (fine enough for the post-bolus peak; one number for every screen).
POINTS = 91
#: The curve runs this long past the program's end (and at least an hour of program is shown).
AFTER_END_MIN = 120.0
MIN_PROGRAM_MIN = 60.0
#: The population band of the plan builder: 500 simulated patients, a fixed seed so the same plan
#: always draws the same band, and the 5th-95th percentiles.
SUBJECTS = 500
SEED = 2024
PERCENTILES = (5, 50, 95)


def preview_times(end_min: float, *, after_end_min: float = AFTER_END_MIN) -> list[float]:
    """The preview's :data:`POINTS` times, from 0 to ``after_end_min`` past the program's end."""
    horizon = max(end_min, MIN_PROGRAM_MIN) + after_end_min
    return [round(horizon * i / (POINTS - 1), 2) for i in range(POINTS)]


def _answer(doses: Sequence[Bolus | Infusion], end_min: float, weight_kg: float, model: str, population: bool,
            after_end_min: float) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": model, "patient": {"weight_kg": weight_kg}, "doses": [d.model_dump() for d in doses],
        "times_min": preview_times(end_min, after_end_min=after_end_min)}
    if population:
        request["population"] = {"subjects": SUBJECTS, "seed": SEED, "percentiles": list(PERCENTILES)}
    return simulate(SimulateRequest.model_validate(request))


def _no_preview(what: str, error: Exception) -> ValidationFailed:
    return ValidationFailed(f"{what}: {getattr(error, 'message', error)}", code="no_preview")


def doses_preview(doses: Sequence[Bolus | Infusion], end_min: float, weight_kg: float, *,
                  model: str = DEFAULT_MODEL_ID, population: bool = False,
                  after_end_min: float = AFTER_END_MIN) -> dict[str, Any]:
    """The simulation answer (contract 4.1) for these doses: the typical subject and, if asked, the
    population band of :data:`SUBJECTS` patients. Doses or a model the engine cannot run are a 422
    ``no_preview``."""
    try:
        return _answer(doses, end_min, weight_kg, model, population, after_end_min)
    except (SimulationError, ValueError) as error:
        raise _no_preview("no preview", error) from None


def program_preview(program: dict[str, Any], weight_kg: float, *, model: str = DEFAULT_MODEL_ID,
                    population: bool = False) -> dict[str, Any]:
    """The preview of a pump program as planned (``plan.pump_program``, its ``program`` steps)."""
    try:
        doses, end = doses_from_pump_program(program.get("program", []))
        return _answer(doses, end, weight_kg, model, population, AFTER_END_MIN)
    except (SimulationError, ValueError) as error:
        raise _no_preview(f"no preview for this {program.get('route', 'iv')} plan", error) from None
