"""``ketaclinic monitor`` end to end (a few cases through the installed command) and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
BASELINE = {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98}
OBSERVATION = {
    "minute": 25, "systolic_mmhg": 150, "diastolic_mmhg": 90, "heart_rate_bpm": 88, "spo2_pct": 97,
    "respiratory_rate_per_min": 14, "moaas": 5, "side_effects": [{"code": "nausea", "severity": "mild"}],
}
runner = CliRunner()


def doc(**observation: object) -> dict:
    return {"baseline": BASELINE, "observation": {**OBSERVATION, **observation}}


def run(document: object) -> tuple[int, dict]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["monitor"], input=text)
    return result.exit_code, json.loads(result.stdout)


def run_installed(document: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KETACLINIC), "monitor", *args], input=json.dumps(document), capture_output=True, text=True, timeout=60
    )


# --------------------------------------------------------------------------- through the installed command


def test_installed_command_normal_observation_has_no_alerts() -> None:
    proc = run_installed(doc())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"alerts": []}


def test_installed_command_critical_observation() -> None:
    proc = run_installed(doc(spo2_pct=88, respiratory_rate_per_min=6))
    assert proc.returncode == 0, proc.stderr
    alerts = json.loads(proc.stdout)["alerts"]
    assert {(a["code"], a["severity"], a["action"]) for a in alerts} == {
        ("spo2_critical", "critical", "stop_infusion"),
        ("respiratory_rate_critical", "critical", "stop_infusion"),
    }
    assert all(set(a) == {"code", "severity", "action", "message", "source"} for a in alerts)


def test_installed_command_rejects_unknown_side_effect_with_the_allowed_codes(tmp_path: Path) -> None:
    path = tmp_path / "obs.json"
    path.write_text(json.dumps(doc(side_effects=[{"code": "itching", "severity": "mild"}])))
    proc = subprocess.run([str(KETACLINIC), "monitor", "--input", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["field"] == "observation.side_effects[0].code"
    for code in ("nausea", "hallucinations", "nystagmus", "hypersalivation"):
        assert code in error["message"]


# --------------------------------------------------------------------------- in-process


def test_bp_critical_is_one_pause_alert_citing_clinic_policy() -> None:
    code, out = run({"baseline": {**BASELINE, "systolic_mmhg": 150, "diastolic_mmhg": 95},
                     "observation": {**OBSERVATION, "systolic_mmhg": 182, "diastolic_mmhg": 100}})
    assert code == 0
    assert [(a["code"], a["severity"], a["action"]) for a in out["alerts"]] == [("bp_critical", "critical", "pause_infusion")]
    assert out["alerts"][0]["source"] == "clinic_policy"
    assert "call the physician" in out["alerts"][0]["message"]


def test_v2_fields_hypotension_agitation_and_rass() -> None:
    code, out = run(doc(systolic_mmhg=80, diastolic_mmhg=45, rass=2,
                        side_effects=[{"code": "agitation", "severity": "severe"}]))
    assert code == 0
    assert [(a["code"], a["action"]) for a in out["alerts"]] == [("hypotension", "pause_infusion"),
                                                                ("psychomimetic_distress", "reduce_rate")]


def test_baseline_may_give_a_respiratory_rate_as_4_2_v2() -> None:
    code, out = run({"baseline": {**BASELINE, "respiratory_rate_per_min": 14}, "observation": OBSERVATION})
    assert (code, out) == (0, {"alerts": []})


@pytest.mark.parametrize(
    ("document", "error_code", "field"),
    [
        (doc(spo2=97), "unknown_field", "observation.spo2"),
        ({"baseline": BASELINE}, "missing_field", "observation"),
        ({"baseline": {**BASELINE, "pulse": 70}, "observation": OBSERVATION}, "unknown_field", "baseline.pulse"),
        (doc(spo2_pct=101), "invalid_input", "observation.spo2_pct"),
        (doc(moaas=7), "invalid_input", "observation.moaas"),
        (doc(side_effects=[{"code": "nausea", "severity": "extreme"}]), "invalid_input", "observation.side_effects[0].severity"),
        (doc(respiratory_rate_per_min="fast"), "invalid_input", "observation.respiratory_rate_per_min"),
        (doc(rass=6), "invalid_input", "observation.rass"),
        (doc(cadss6={"cadss_1": 1}), "missing_field", "observation.cadss6.cadss_2"),
    ],
)
def test_bad_input_exits_2_with_a_json_error_naming_the_field(document: dict, error_code: str, field: str) -> None:
    code, out = run(document)
    assert code == 2
    assert out["error"]["code"] == error_code
    assert out["error"]["field"] == field


def test_swapped_pressures_are_refused() -> None:
    code, out = run(doc(systolic_mmhg=70, diastolic_mmhg=110))
    assert code == 2
    assert "swapped" in out["error"]["message"]


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", '{"baseline": NaN}'])
def test_unreadable_documents_are_refused(text: str) -> None:
    code, out = run(text)
    assert code == 2
    assert "error" in out
