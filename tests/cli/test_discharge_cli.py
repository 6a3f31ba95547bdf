"""``ketaclinic discharge`` (contract 4.7): through the installed command and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
GOOD = {
    "baseline": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98},
    "minutes_since_stop": 65,
    "observation": {"systolic_mmhg": 130, "diastolic_mmhg": 80, "heart_rate_bpm": 76, "spo2_pct": 97,
                    "respiratory_rate_per_min": 14, "moaas": 5},
    "padss": {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 1, "bleeding": 2},
    "dissociation_resolved": True, "escort_present": True, "oriented": True, "steady_gait": True,
}
runner = CliRunner()


def run(document: object) -> tuple[int, dict]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["discharge"], input=text)
    return result.exit_code, json.loads(result.stdout)


def test_installed_command_good_input_is_ready() -> None:
    proc = subprocess.run([str(KETACLINIC), "discharge"], input=json.dumps(GOOD), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ready": True, "padss_total": 9, "unmet": []}


def test_installed_command_missing_padss_item_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({**GOOD, "padss": {k: v for k, v in GOOD["padss"].items() if k != "bleeding"}}))
    proc = subprocess.run([str(KETACLINIC), "discharge", "--input", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"] == {"code": "missing_field", "message": "field 'padss.bleeding' is required",
                                                "field": "padss.bleeding"}


def test_not_ready_lists_each_unmet_criterion_with_message_and_source() -> None:
    code, out = run({**GOOD, "minutes_since_stop": 70, "escort_present": False,
                     "observation": {**GOOD["observation"], "spo2_pct": 91}})
    assert code == 0 and out["ready"] is False and out["padss_total"] == 9
    assert [u["code"] for u in out["unmet"]] == ["escort_missing", "spo2_low"]
    assert all(set(u) == {"code", "message", "source"} for u in out["unmet"])


def test_high_baseline_does_not_hide_absolute_limits() -> None:
    code, out = run({**GOOD, "baseline": {"systolic_mmhg": 165, "diastolic_mmhg": 100, "heart_rate_bpm": 80, "spo2_pct": 97},
                     "observation": {**GOOD["observation"], "systolic_mmhg": 195, "diastolic_mmhg": 118, "spo2_pct": 85}})
    assert code == 0 and out["ready"] is False
    assert {"spo2_low", "bp_high"} <= {u["code"] for u in out["unmet"]}


@pytest.mark.parametrize(
    ("document", "error_code", "field"),
    [
        ({k: v for k, v in GOOD.items() if k != "padss"}, "missing_field", "padss"),
        ({**GOOD, "padss": {**GOOD["padss"], "pain": None}}, "invalid_input", "padss.pain"),
        ({**GOOD, "padss": {**GOOD["padss"], "pain": 3}}, "invalid_input", "padss.pain"),
        ({**GOOD, "padss": {**GOOD["padss"], "intake_output": 2}}, "unknown_field", "padss.intake_output"),
        ({**GOOD, "escort": True}, "unknown_field", "escort"),
        ({k: v for k, v in GOOD.items() if k != "oriented"}, "missing_field", "oriented"),
        ({**GOOD, "observation": {**GOOD["observation"], "spo2": 97}}, "unknown_field", "observation.spo2"),
        ({**GOOD, "observation": {k: v for k, v in GOOD["observation"].items() if k != "moaas"}}, "missing_field",
         "observation.moaas"),
        ({**GOOD, "minutes_since_stop": "an hour"}, "invalid_input", "minutes_since_stop"),
        ({**GOOD, "steady_gait": "yes"}, "invalid_input", "steady_gait"),
    ],
)
def test_bad_input_exits_2_with_the_field_named(document: dict, error_code: str, field: str) -> None:
    code, out = run(document)
    assert code == 2
    assert out["error"]["code"] == error_code
    assert out["error"]["field"] == field


@pytest.mark.parametrize("text", ["", "{not json", "[1]"])
def test_unreadable_documents_are_refused(text: str) -> None:
    code, out = run(text)
    assert code == 2 and "error" in out
