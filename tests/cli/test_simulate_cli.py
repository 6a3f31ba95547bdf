"""`ketaclinic simulate` as contract 4.1: JSON in, JSON out, exit 2 with a JSON error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.pharmacology.models import MODELS

EXAMPLE = {
    "model": "domino1984",
    "patient": {"weight_kg": 70, "age_years": 45, "sex": "female"},
    "doses": [
        {"kind": "bolus", "route": "iv", "at_min": 0, "dose_mg": 20},
        {"kind": "infusion", "route": "iv", "start_min": 0, "duration_min": 40, "rate_mg_per_h": 52.5},
        {"kind": "bolus", "route": "oral", "at_min": 600, "dose_mg": 35},
    ],
    "times_min": [10, 20, 40, 60],
    "population": {"subjects": 1000, "seed": 7, "percentiles": [5, 50, 95]},
}
runner = CliRunner()


def run(document, *args):
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["simulate", *args], input=text)
    return result.exit_code, result.stdout


def test_contract_example_end_to_end_through_the_installed_command():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ketaclinic")), "simulate"],
        input=json.dumps(EXAMPLE), capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer["model"] == "domino1984" and answer["source"] == "domino1984"
    assert answer["times_min"] == [10, 20, 40, 60]
    assert len(answer["plasma_ng_per_ml"]) == 4
    assert set(answer["population"]["percentiles"]) == {"5", "50", "95"}
    assert answer["population"]["subjects"] == 1000
    p = answer["population"]["percentiles"]
    assert all(p["5"][i] <= p["50"][i] <= p["95"][i] for i in range(4))
    assert isinstance(answer["warnings"], list)
    assert any("oral" in r and "chong2006" in r for r in answer["routes"])


def test_same_seed_same_answer():
    assert run(EXAMPLE)[1] == run(EXAMPLE)[1]


def test_population_only_when_asked():
    document = {k: v for k, v in EXAMPLE.items() if k != "population"}
    code, out = run(document)
    assert code == 0 and "population" not in json.loads(out)


@pytest.mark.parametrize("model_id", sorted(MODELS))
@pytest.mark.parametrize("route", ["iv", "oral", "sublingual", "intranasal", "im"])
def test_every_model_and_route_answers(model_id, route):
    document = {
        "model": model_id,
        "patient": {"weight_kg": 30, "age_years": 10},
        "doses": [{"kind": "bolus", "route": route, "at_min": 0, "dose_mg": 10}],
        "times_min": [0, 5, 30, 120],
    }
    code, out = run(document)
    if route != "iv" and route not in MODELS[model_id].routes:
        assert code == 2
        error = json.loads(out)["error"]
        assert error["code"] == "unsupported_route" and error["field"] == "doses[0].route"
        return
    assert code == 0, out
    answer = json.loads(out)
    assert answer["plasma_ng_per_ml"][2] > 0
    assert any("metabolites are not modelled" in w for w in answer["warnings"])
    if route != "iv":
        assert answer["plasma_ng_per_ml"][0] == pytest.approx(0.0, abs=1e-9) and answer["routes"]


def test_custom_model_with_fixed_volume_and_oral_route():
    document = {
        "model": {"v1_l": 10.0, "k10_per_min": 0.1, "k12_per_min": 0.05, "k21_per_min": 0.02,
                  "routes": {"oral": {"bioavailability": 0.2, "ka_per_min": 0.03}}},
        "patient": {"weight_kg": 70},
        "doses": [{"kind": "bolus", "route": "iv", "at_min": 0, "dose_mg": 10},
                  {"kind": "bolus", "route": "oral", "at_min": 60, "dose_mg": 50}],
        "times_min": [0, 60, 90],
    }
    code, out = run(document)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == "custom"
    assert answer["plasma_ng_per_ml"][0] == pytest.approx(1000.0)
    assert any("norketamine" in w and "not modelled" in w for w in answer["warnings"])


def test_patient_outside_the_range_gets_a_warning():
    document = dict(EXAMPLE, model="herd2007")
    answer = json.loads(run(document)[1])
    assert any("outside" in w for w in answer["warnings"])


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (lambda d: d["patient"].update(weight_kg=-70), "invalid_input", "patient.weight_kg"),
        (lambda d: d.update(model="propofol_marsh"), "unknown_model", "model"),
        (lambda d: d["doses"][1].update(duration_min=-40), "invalid_input", "doses[1].duration_min"),
        (lambda d: d["patient"].update(wieght_kg=70), "unknown_field", "patient.wieght_kg"),
        (lambda d: d["doses"][0].update(route="rectal"), "invalid_input", "doses[0].route"),
        (lambda d: d.update(times_min=[-1]), "invalid_input", None),
        (lambda d: d["population"].update(subjects=10**7), "invalid_input", "population.subjects"),
    ],
)
def test_bad_input_exits_2_with_a_json_error(change, code, field):
    document = json.loads(json.dumps(EXAMPLE))
    change(document)
    exit_code, out = run(document)
    assert exit_code == 2
    error = json.loads(out)["error"]
    assert error["code"] == code
    assert error["message"]
    if field:
        assert error["field"] == field


def test_not_json_and_empty_input():
    for text, code in (("{nope", "invalid_json"), ("", "empty_input"), ('{"model": NaN}', "invalid_json")):
        exit_code, out = run(text)
        assert exit_code == 2 and json.loads(out)["error"]["code"] == code


def test_list_models():
    code, out = run("", "--list-models")
    models = json.loads(out)["models"]
    assert code == 0
    assert {m["id"] for m in models} >= {"domino1984", "clements1981", "hijazi2003", "herd2007", "hornik2018"}
    for m in models:
        assert {"id", "name", "source", "structure", "population", "ranges"} <= set(m)


def test_table_and_plot(tmp_path):
    svg = tmp_path / "curve.svg"
    code, out = run(EXAMPLE, "--table", "--plot", str(svg))
    assert code == 0
    assert "Peak" in out and "P95" in out
    text = svg.read_text()
    assert text.startswith("<svg") and "plasma ketamine" in text


def test_exploratory_relief_curve_over_a_series():
    document = {
        "model": "domino1984",
        "patient": {"weight_kg": 70, "age_years": 45},
        "doses": [{"kind": "infusion", "start_min": day * 1440, "duration_min": 240, "rate_mg_per_h": 24.5}
                  for day in range(5)],
        "times_min": [0, 60],
        "relief": {"horizon_days": 60},
    }
    code, out = run(document)
    relief = json.loads(out)["relief"]
    assert code == 0 and relief["label"].startswith("EXPLORATORY") and relief["source"] == "dahan2011"
    fraction = relief["relief_fraction"]
    peak_index = max(range(len(fraction)), key=fraction.__getitem__)
    assert 0 < fraction[peak_index] < 1 and fraction[-1] < fraction[peak_index]


def test_list_models_says_hornik_clearance_is_half_the_meta_analysis_and_metabolites_are_absent():
    models = {m["id"]: m for m in json.loads(run("", "--list-models")[1])["models"]}
    hornik = models["hornik2018"]
    assert any("about half" in n and "Kamp 2020" in n for n in hornik["notes"])
    assert hornik["clearance"]["ratio"] == pytest.approx(0.49, abs=0.005)
    assert all("not modelled" in m["metabolites"] for m in models.values())


def test_hornik_answers_carry_the_clearance_caution():
    document = {"model": "hornik2018", "patient": {"weight_kg": 20, "age_years": 6},
                "doses": [{"kind": "bolus", "route": "iv", "at_min": 0, "dose_mg": 10}], "times_min": [5]}
    answer = json.loads(run(document)[1])
    assert any("about half" in w for w in answer["warnings"])


@pytest.mark.parametrize(("model_id", "f", "source"), [("domino1984", 0.45, "yanagihara2003"),
                                                       ("perezruixo2021", 0.48, "spravato_pi_pk")])
def test_intranasal_answer_names_the_corrected_bioavailability(model_id, f, source):
    document = {"model": model_id, "patient": {"weight_kg": 70, "age_years": 45},
                "doses": [{"kind": "bolus", "route": "intranasal", "at_min": 0, "dose_mg": 28}], "times_min": [0, 30, 60]}
    answer = json.loads(run(document)[1])
    (note,) = answer["routes"]
    assert f"F {f:g} ({source})" in note
