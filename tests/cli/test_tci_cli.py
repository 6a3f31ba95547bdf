"""`ketaclinic tci`: a schedule that reaches and holds the target within the pump's maximum rate."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from ketaclinic.cli import app

runner = CliRunner()


def run(document):
    result = runner.invoke(app, ["tci"], input=json.dumps(document))
    return result.exit_code, json.loads(result.stdout)


def test_domino_schedule_holds_the_target():
    code, answer = run({"model": "domino1984", "patient": {"weight_kg": 70, "age_years": 40},
                        "target_ng_per_ml": 150, "duration_min": 240, "max_rate_mg_per_h": 120})
    assert code == 0
    plasma = np.array(answer["predicted"]["plasma_ng_per_ml"])
    times = np.array(answer["predicted"]["times_min"])
    assert np.all(np.abs(plasma[times >= 10] - 150) < 3)
    assert max(s["rate_mg_per_h"] for s in answer["steps"]) <= 120
    assert answer["bolus_mg"] == round(150 / 1000 * 0.063 * 70, 1)


def test_custom_model_and_a_rate_limit_that_bites():
    code, answer = run({"model": {"v1_l": 20, "k10_per_min": 0.05, "k12_per_min": 0.05, "k21_per_min": 0.01},
                        "patient": {"weight_kg": 70}, "target_ng_per_ml": 500, "duration_min": 120,
                        "max_rate_mg_per_h": 20, "max_bolus_mg": 0})
    assert code == 0
    assert answer["bolus_mg"] == 0
    assert any("kept plasma below the target" in w for w in answer["warnings"])


def test_bad_input_is_a_json_error():
    result = runner.invoke(app, ["tci"], input=json.dumps({"model": "domino1984", "patient": {"weight_kg": 70},
                                                          "target_ng_per_ml": -1, "duration_min": 60,
                                                          "max_rate_mg_per_h": 50}))
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["field"] == "target_ng_per_ml"
