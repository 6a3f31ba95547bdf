"""``ketaclinic screen`` (contract 4.2): a few cases through the installed command, the rest in-process."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.evidence.sources import get_source

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
EXAMPLE: dict[str, Any] = {
    "patient": {"age_years": 52, "sex": "female", "weight_kg": 68, "pregnant": False},
    "pain": {"conditions": ["crps"], "duration_weeks": 40, "nrs_now": 8,
             "prior_treatments": ["gabapentinoid", "antidepressant", "physical_therapy"]},
    "vitals": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98},
    "history": {"cardiovascular": "none", "hypertension": "none",
                "intracranial_pressure": "normal", "intraocular_pressure": "normal",
                "psychosis": "none", "hepatic_impairment": "none", "substance_use": "none"},
    "allergies": [],
}
runner = CliRunner()


def doc(section: str | None = None, **fields: Any) -> dict[str, Any]:
    d = copy.deepcopy(EXAMPLE)
    if section is None:
        d.update(fields)
    else:
        d[section].update(fields)
    return d


def run(document: object) -> tuple[int, dict[str, Any]]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["screen"], input=text)
    return result.exit_code, json.loads(result.stdout)


def run_installed(document: object, *args: str) -> subprocess.CompletedProcess[str]:
    text = document if isinstance(document, str) else json.dumps(document)
    return subprocess.run(
        [str(KETACLINIC), "screen", *args], input=text, capture_output=True, text=True, timeout=60
    )


# --------------------------------------------------------------------------- through the installed command


def test_installed_command_answers_the_contract_example():
    proc = run_installed(EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decision"] == "eligible"
    assert {f["kind"] for f in out["findings"]} == {"note"}
    assert out["evidence"][0]["condition"] == "crps" and out["evidence"][0]["level"] == "moderate"
    for finding in out["findings"]:
        assert set(finding) == {"code", "kind", "message", "source"}
        get_source(finding["source"])


def test_installed_command_reads_input_file(tmp_path):
    path = tmp_path / "screen.json"
    path.write_text(json.dumps(doc("patient", pregnant=True)), encoding="utf-8")
    proc = run_installed("", "--input", str(path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decision"] == "not_eligible"
    assert [f["code"] for f in out["findings"] if f["kind"] == "contraindication"] == ["pregnancy"]


def test_installed_command_rejects_an_unknown_field_without_a_traceback():
    proc = run_installed(doc("history", kidney_disease="none"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == "unknown_field"
    assert err["field"] == "history.kidney_disease"


def test_installed_command_rejects_spo2_over_100():
    proc = run_installed(doc("vitals", spo2_pct=101))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["field"] == "vitals.spo2_pct" and "100" in err["message"]


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (doc(notes="x"), "notes"),
        (doc("patient", weight_lb=150), "patient.weight_lb"),
        (doc("pain", nrs_max=9), "pain.nrs_max"),
        (doc("vitals", temp_c=37), "vitals.temp_c"),
    ],
)
def test_unknown_fields_exit_2_with_the_field_path(document, field):
    code, out = run(document)
    assert code == 2
    assert out["error"]["code"] == "unknown_field"
    assert out["error"]["field"] == field
    assert field in out["error"]["message"]


@pytest.mark.parametrize(
    ("document", "field", "allowed"),
    [
        (doc("history", psychosis="yes"), "history.psychosis", ["'none'", "'history'", "'active'"]),
        (doc("history", hepatic_impairment="bad"), "history.hepatic_impairment", ["'mild'", "'severe'"]),
        (doc("history", cardiovascular="stable"), "history.cardiovascular", ["'controlled'", "'poorly_controlled'"]),
        (doc("history", intraocular_pressure="high"), "history.intraocular_pressure", ["'normal'", "'elevated'"]),
        (doc("patient", sex="f"), "patient.sex", ["'female'", "'male'"]),
        (doc("pain", conditions=["crps", "gout"]), "pain.conditions[1]", ["'crps'", "'other_neuropathic'"]),
        (doc("pain", prior_treatments=["surgery"]), "pain.prior_treatments[0]", ["'nerve_block'", "'other'"]),
    ],
)
def test_bad_enum_values_exit_2_naming_the_field_and_the_allowed_values(document, field, allowed):
    code, out = run(document)
    assert code == 2
    err = out["error"]
    assert err["code"] == "invalid_input" and err["field"] == field
    assert err["message"].startswith(field)
    for value in allowed:
        assert value in err["message"]


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        (doc("patient", weight_kg=-68), "patient.weight_kg", ["2 to 400 kg", "-68"]),
        (doc("patient", weight_kg=0), "patient.weight_kg", ["2 to 400 kg"]),
        (doc("patient", age_years=130), "patient.age_years", ["0 to 120"]),
        (doc("pain", nrs_now=7.5), "pain.nrs_now", ["whole number", "0 to 10"]),
        (doc("pain", duration_weeks=-4), "pain.duration_weeks", ["0 to 5200 weeks"]),
        (doc("vitals", spo2_pct=101), "vitals.spo2_pct", ["100"]),
        (doc("vitals", systolic_mmhg=120, diastolic_mmhg=130), "vitals", ["diastolic_mmhg", "lower than"]),
    ],
)
def test_impossible_numbers_exit_2_naming_the_field_and_what_is_allowed(document, field, words):
    code, out = run(document)
    assert code == 2
    assert out["error"]["field"] == field
    for word in words:
        assert word in out["error"]["message"]


def test_missing_section_exits_2_as_missing_field():
    document = doc()
    del document["history"]
    code, out = run(document)
    assert code == 2 and out["error"] == {
        "code": "missing_field", "message": "field 'history' is required", "field": "history"
    }


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", '{"patient": NaN}'])
def test_unreadable_documents_exit_2(text):
    code, out = run(text)
    assert code == 2
    assert out["error"]["code"] in {"empty_input", "invalid_json", "invalid_input"}


@pytest.mark.parametrize(
    ("document", "decision", "code"),
    [
        (doc("patient", age_years=17), "not_eligible", "age_under_18"),
        (doc(allergies=["Esketamine"]), "not_eligible", "ketamine_allergy"),
        (doc("vitals", systolic_mmhg=180), "not_eligible", "hypertension_uncontrolled"),
        (doc("vitals", systolic_mmhg=179), "eligible_with_precautions", "hypertension_borderline"),
        (doc("pain", duration_weeks=11.9, conditions=["fibromyalgia"]), "not_eligible", "pain_not_chronic"),
        (doc("pain", duration_weeks=6), "eligible", "pain_not_chronic"),  # CRPS: a note (4.2 v2)
        (doc("pain", prior_treatments=[]), "not_eligible", "not_refractory"),
        (doc("history", intracranial_pressure="elevated"), "eligible_with_precautions", "intracranial_pressure"),
        (doc(medications=["lorazepam"]), "eligible", "interaction_benzodiazepine"),
    ],
)
def test_decisions_through_the_command(document, decision, code):
    exit_code, out = run(document)
    assert exit_code == 0
    assert out["decision"] == decision
    assert code in [f["code"] for f in out["findings"]]
    for finding in out["findings"]:
        get_source(finding["source"])


def test_evidence_for_several_conditions():
    code, out = run(doc("pain", conditions=["fibromyalgia", "spinal_cord_injury"]))
    assert code == 0
    assert [(e["condition"], e["level"], e["grade"]) for e in out["evidence"]] == [
        ("fibromyalgia", "weak_or_none", "D, Low"),
        ("spinal_cord_injury", "weak", "C, Low"),
    ]
    assert all(e["source"] == "asra2018" for e in out["evidence"])


# --------------------------------------------------------------------------- contract 4.2 v2


def test_installed_command_judges_a_v2_document():
    document = doc("history", coronary="stable", mania="none", alcohol_use="moderate")
    document["patient"].update(height_cm=165, breastfeeding=False)
    document["vitals"].update(respiratory_rate_per_min=16)
    document["medications"] = ["Nardil 15 mg", "OXYCONTIN 20mg ER"]
    proc = run_installed(document)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    kinds = {f["code"]: f["kind"] for f in out["findings"]}
    assert out["decision"] == "eligible_with_precautions"
    assert kinds["coronary_disease"] == "precaution" and kinds["interaction_maoi"] == "precaution"
    assert kinds["interaction_opioid"] == "note"


@pytest.mark.parametrize(
    ("document", "field", "allowed"),
    [
        (doc("history", cerebrovascular="stroke"), "history.cerebrovascular",
         ["'none'", "'aneurysm_or_avm'", "'intracerebral_hemorrhage_history'"]),
        (doc("history", coronary="mi"), "history.coronary", ["'none'", "'stable'", "'recent_event'"]),
        (doc("history", thyroid="overactive"), "history.thyroid",
         ["'normal'", "'hyperthyroid_treated'", "'hyperthyroid_untreated'"]),
        (doc("history", seizures="yes"), "history.seizures", ["'none'", "'controlled'", "'poorly_controlled'"]),
        (doc("history", mania="bipolar"), "history.mania", ["'none'", "'history'", "'active'"]),
        (doc("history", alcohol_use="social"), "history.alcohol_use", ["'none'", "'moderate'", "'heavy'"]),
    ],
)
def test_bad_v2_enum_values_exit_2_naming_the_field_and_the_allowed_values(document, field, allowed):
    code, out = run(document)
    assert code == 2
    err = out["error"]
    assert err["code"] == "invalid_input" and err["field"] == field
    for value in allowed:
        assert value in err["message"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (doc("patient", height_cm=-170), "patient.height_cm"),
        (doc("patient", breastfeeding="maybe"), "patient.breastfeeding"),
        (doc("vitals", respiratory_rate_per_min=0), "vitals.respiratory_rate_per_min"),
        (doc("history", stroke="none"), "history.stroke"),
    ],
)
def test_bad_v2_values_exit_2_naming_the_field(document, field):
    code, out = run(document)
    assert code == 2 and out["error"]["field"] == field


def test_installed_command_rejects_a_bad_v2_enum_without_a_traceback():
    proc = run_installed(doc("history", coronary="recent"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"]["field"] == "history.coronary"


@pytest.mark.parametrize(
    ("document", "decision", "code", "kind"),
    [
        (doc("vitals", spo2_pct=88, heart_rate_bpm=150), "not_eligible", "hypoxaemia", "contraindication"),
        (doc("vitals", heart_rate_bpm=111), "eligible_with_precautions", "tachycardia", "precaution"),
        (doc("history", cerebrovascular="aneurysm_or_avm"), "not_eligible", "cerebrovascular_risk", "contraindication"),
        (doc("history", coronary="recent_event"), "not_eligible", "coronary_recent_event", "contraindication"),
        (doc("history", thyroid="hyperthyroid_untreated"), "not_eligible", "hyperthyroidism_untreated",
         "contraindication"),
        (doc("history", mania="active"), "not_eligible", "mania_active", "contraindication"),
        (doc("history", mania="history"), "eligible_with_precautions", "mania_history", "precaution"),
        (doc("history", seizures="poorly_controlled"), "eligible_with_precautions", "seizures_poorly_controlled",
         "precaution"),
        (doc("history", alcohol_use="heavy"), "eligible_with_precautions", "alcohol_heavy", "precaution"),
        (doc("patient", breastfeeding=True), "eligible_with_precautions", "breastfeeding", "precaution"),
        (doc(medications=["Nardil 15 mg"]), "eligible_with_precautions", "interaction_maoi", "precaution"),
        (doc(medications=["Theo-24 300 mg"]), "eligible_with_precautions", "interaction_seizure_threshold",
         "precaution"),
        (doc(medications=["Klonopin 0.5 mg"]), "eligible", "interaction_benzodiazepine", "note"),
        (doc(medications=["Paxlovid"]), "eligible", "interaction_cyp3a4_inhibitor", "note"),
        (doc("pain", duration_weeks=6, conditions=["fibromyalgia"]), "not_eligible", "pain_not_chronic",
         "unmet_requirement"),
        (doc("pain", duration_weeks=6), "eligible", "pain_not_chronic", "note"),
    ],
)
def test_v2_decisions_through_the_command(document, decision, code, kind):
    exit_code, out = run(document)
    assert exit_code == 0
    assert out["decision"] == decision
    assert {f["code"]: f["kind"] for f in out["findings"]}[code] == kind
    for finding in out["findings"]:
        get_source(finding["source"])
