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
    # 150 ng/mL needs about 60 mg/h at first (0.86 mg/kg/h): past the low-dose soft maximum, so it
    # needs a physician's reason (design 4.3 v2: tci answers the drug library)
    document = {"model": "domino1984", "patient": {"weight_kg": 70, "age_years": 40},
                "target_ng_per_ml": 150, "duration_min": 240, "max_rate_mg_per_h": 120}
    code, refused = run(document)
    assert code == 2 and refused["error"]["code"] == "soft_limit" and "infusion rate" in refused["error"]["message"]
    code, answer = run({**document, "override": {"reason": "anaesthetist present; agreed target", "by": "dr"}})
    assert code == 0
    assert [lim["code"] for lim in answer["limits"]] == ["infusion_rate"]
    assert answer["override"]["overridden"] == ["infusion_rate"] and answer["profile"] == "low_dose"
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


def test_a_target_that_needs_a_rate_past_the_hard_limit_is_refused_even_with_a_reason():
    code, answer = run({"model": "domino1984", "patient": {"weight_kg": 70}, "target_ng_per_ml": 2000,
                        "duration_min": 240, "max_rate_mg_per_h": 810,
                        "override": {"reason": "research", "by": "dr"}})
    assert code == 2 and answer["error"]["code"] == "hard_limit"
    assert "absolute infusion rate" in answer["error"]["message"] and "100 mg/h" in answer["error"]["message"]
    assert answer["error"]["field"].startswith("steps[")


def test_the_anesthesia_staffed_profile_allows_what_low_dose_refuses():
    document = {"model": "domino1984", "patient": {"weight_kg": 70}, "target_ng_per_ml": 400,
                "duration_min": 60, "max_rate_mg_per_h": 140}
    code, answer = run(document)
    assert code == 2 and answer["error"]["code"] == "hard_limit"
    code, answer = run({**document, "profile": "anesthesia_staffed", "override": {"reason": "ICU", "by": "dr"}})
    assert code == 0 and answer["profile"] == "anesthesia_staffed"


def test_a_modest_target_passes_without_an_override_and_names_the_dosing_weight():
    code, answer = run({"model": "domino1984", "patient": {"weight_kg": 140, "height_cm": 170, "sex": "male"},
                        "target_ng_per_ml": 80, "duration_min": 120, "max_rate_mg_per_h": 50})
    assert code == 0 and answer["limits"] == [] and answer["dosing_weight_basis"] == "adjusted"
