"""One PK preview for every screen (issue 18): the plan builder, the plan page, the session chart and
the API draw the default model on the same grid of times."""

from __future__ import annotations

import pytest

from ketaclinic.pharmacology.models import DEFAULT_MODEL_ID
from ketaclinic.pharmacology.regimen import doses_from_pump_program
from ketaclinic.pharmacology.simulate import SimulateRequest, simulate
from ketaclinic.services import pk_preview
from ketaclinic.services.errors import ValidationFailed

PROGRAM = {"route": "iv", "program": [{"kind": "bolus", "dose_mg": 14.0, "duration_min": 5},
                                      {"kind": "infusion", "rate_mg_per_h": 35.0, "duration_min": 40}]}


def test_one_grid_of_points() -> None:
    times = pk_preview.preview_times(45.0)
    assert len(times) == pk_preview.POINTS
    assert times[0] == 0 and times[-1] == pytest.approx(60.0 + pk_preview.AFTER_END_MIN)
    assert pk_preview.preview_times(200.0, after_end_min=60)[-1] == pytest.approx(260.0)


def test_the_program_preview_is_the_default_models_simulation() -> None:
    answer = pk_preview.program_preview(PROGRAM, 70.0)
    assert answer["model"] == DEFAULT_MODEL_ID
    doses, end = doses_from_pump_program(PROGRAM["program"])
    direct = simulate(SimulateRequest.model_validate({
        "model": DEFAULT_MODEL_ID, "patient": {"weight_kg": 70.0}, "doses": [d.model_dump() for d in doses],
        "times_min": pk_preview.preview_times(end)}))
    assert list(answer["plasma_ng_per_ml"]) == pytest.approx(list(direct["plasma_ng_per_ml"]))
    assert "population" not in answer


def test_the_population_band_is_the_same_every_time() -> None:
    first = pk_preview.program_preview(PROGRAM, 70.0, population=True)
    second = pk_preview.program_preview(PROGRAM, 70.0, population=True)
    assert first["population"]["subjects"] == pk_preview.SUBJECTS
    assert list(first["population"]["percentiles"]["95"]) == list(second["population"]["percentiles"]["95"])


def test_the_doses_as_given_run_to_the_asked_horizon() -> None:
    doses, end = doses_from_pump_program(PROGRAM["program"])
    answer = pk_preview.doses_preview(doses, end, 70.0, after_end_min=60)
    assert len(answer["times_min"]) == pk_preview.POINTS and answer["times_min"][-1] == pytest.approx(120.0)


def test_a_program_the_engine_cannot_run_is_a_422_in_words() -> None:
    with pytest.raises(ValidationFailed) as refused:
        pk_preview.program_preview({"route": "iv", "program": [{"kind": "drip"}]}, 70.0)
    assert refused.value.code == "no_preview" and "no preview for this iv plan" in refused.value.message
    with pytest.raises(ValidationFailed) as refused:
        pk_preview.program_preview(PROGRAM, 70.0, model="no_such_model")
    assert refused.value.code == "no_preview" and "unknown model" in refused.value.message
    doses, end = doses_from_pump_program(PROGRAM["program"])
    with pytest.raises(ValidationFailed) as refused:
        pk_preview.doses_preview(doses, end, 0.0)
    assert refused.value.code == "no_preview"


def test_the_plan_preview_of_the_api_is_the_same_curve(db, clinic) -> None:
    from ketaclinic.services.plans import preview_plan
    from tests.interop.flows import signed_plan

    plan = signed_plan(db, clinic, clinic.own_patient_id, weight_kg=70.0)
    answer = preview_plan(db, clinic.actors["nurse"], plan.id)
    assert answer["model"] == DEFAULT_MODEL_ID and len(answer["times_min"]) == pk_preview.POINTS
    expected = pk_preview.program_preview(plan.pump_program, plan.weight_kg)
    assert answer["plasma_ng_per_ml"] == pytest.approx(list(expected["plasma_ng_per_ml"]))
