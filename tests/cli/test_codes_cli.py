"""``ketaclinic codes`` (contract 4.11): through the installed command and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
runner = CliRunner()


def run(document: object) -> tuple[int, dict]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["codes"], input=text)
    return result.exit_code, json.loads(result.stdout)


def test_installed_command_contract_example() -> None:
    proc = subprocess.run([str(KETACLINIC), "codes"], input=json.dumps(
        {"infusion_minutes": 151, "iv_pushes": 0, "drug_mg": 280, "ndc": "0409-2051-05"}),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = json.loads(proc.stdout)["lines"]
    assert [(line["code"], line["units"]) for line in lines] == [("96365", 1), ("96366", 2), ("J3490", 1)]
    assert all(line["description"] and line["source"] for line in lines)


@pytest.mark.parametrize(("minutes", "expected"), [
    (30, [("96365", 1)]), (31, [("96365", 1)]), (60, [("96365", 1)]), (90, [("96365", 1)]),
    (91, [("96365", 1), ("96366", 1)]), (150, [("96365", 1), ("96366", 1)]), (151, [("96365", 1), ("96366", 2)]),
])
def test_boundary_durations(minutes: int, expected: list[tuple[str, int]]) -> None:
    code, doc = run({"infusion_minutes": minutes, "iv_pushes": 0})
    assert code == 0
    assert [(line["code"], line["units"]) for line in doc["lines"]] == expected


@pytest.mark.parametrize(("document", "field", "error"), [
    ({"infusion_minutes": -5}, "infusion_minutes", "invalid_input"),
    ({"infusion_minutes": "60"}, "infusion_minutes", "invalid_input"),
    ({"infusion_minutes": 60, "iv_pushes": -1}, "iv_pushes", "invalid_input"),
    ({"infusion_minutes": 60, "drug_mg": 200}, "ndc", "invalid_input"),
    ({"infusion_minutes": 60, "drug_mg": 200, "ndc": "not-an-ndc"}, "ndc", "invalid_input"),
    ({"infusion_minutes": 60, "pushes": 1}, "pushes", "unknown_field"),
    ({"iv_pushes": 1}, "infusion_minutes", "missing_field"),
])
def test_bad_input_exits_2_with_a_clear_message(document: dict, field: str, error: str) -> None:
    code, doc = run(document)
    assert code == 2
    assert doc["error"]["code"] == error and doc["error"]["field"] == field and doc["error"]["message"]


def test_not_json_exits_2() -> None:
    code, doc = run("{nope")
    assert code == 2 and doc["error"]["code"] == "invalid_json"
