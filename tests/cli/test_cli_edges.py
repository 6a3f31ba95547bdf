"""Issue 16 item 10: the CLI edge refuses hostile nesting and strings where numbers belong (exit 2, JSON error)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.cli.io import MAX_DEPTH
from tests.cli.test_dose_cli import EXAMPLE as DOSE
from tests.cli.test_monitor_cli import doc as monitor_doc
from tests.cli.test_simulate_cli import EXAMPLE as SIMULATE

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
COMMANDS = ["screen", "dose", "monitor", "simulate", "tci", "discharge"]
runner = CliRunner()
TCI = {"model": "domino1984", "patient": {"weight_kg": 70, "age_years": 40}, "target_ng_per_ml": 100,
       "duration_min": 60, "max_rate_mg_per_h": 120}


def run(command: str, text: str) -> tuple[int, dict]:
    result = runner.invoke(app, [command], input=text)
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("command", COMMANDS)
def test_hundred_thousand_deep_array_is_exit_2_with_the_json_error(command: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    result = subprocess.run([str(KETACLINIC), command], input=deep, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_json" and "nested too deeply" in error["message"]


@pytest.mark.parametrize("command", COMMANDS)
def test_nesting_just_past_the_limit_inside_an_object_is_refused(command: str) -> None:
    deep = '{"a": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"
    code, body = run(command, deep)
    assert code == 2 and body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("command, document, path", [
    ("dose", {**DOSE, "weight_kg": "70"}, "weight_kg"),
    ("dose", {**DOSE, "concentration_mg_per_ml": "1.0"}, "concentration_mg_per_ml"),
    ("simulate", {**SIMULATE, "patient": {**SIMULATE["patient"], "weight_kg": "70"}}, "patient.weight_kg"),
    ("monitor", monitor_doc(spo2_pct="97"), "observation.spo2_pct"),
    ("tci", {**TCI, "target_ng_per_ml": "100"}, "target_ng_per_ml"),
])
def test_a_string_where_a_number_belongs_is_refused(command: str, document: dict, path: str) -> None:
    code, body = run(command, json.dumps(document))
    assert code == 2, body
    assert body["error"]["field"] == path
    assert body["error"]["code"] == "invalid_input"


def test_the_same_document_with_numbers_is_accepted() -> None:
    assert run("dose", json.dumps(DOSE))[0] == 0
    assert run("simulate", json.dumps(SIMULATE))[0] == 0
