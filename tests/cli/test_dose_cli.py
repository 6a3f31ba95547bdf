"""``ketaclinic dose`` end to end (a few cases through the installed command) and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.clinical.protocols import PROTOCOL_IDS

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
EXAMPLE = {
    "protocol": "outpatient_infusion", "weight_kg": 70, "concentration_mg_per_ml": 1.0,
    "steps": [{"kind": "bolus", "dose_mg_per_kg": 0.2}, {"kind": "infusion", "rate_mg_per_kg_per_h": 0.5, "duration_min": 240}],
}
runner = CliRunner()


def run(document: object, *args: str) -> tuple[int, dict]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["dose", *args], input=text)
    return result.exit_code, json.loads(result.stdout)


def run_installed(document: object | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KETACLINIC), "dose", *args], input=None if document is None else json.dumps(document),
        capture_output=True, text=True, timeout=60,
    )


# --------------------------------------------------------------------------- through the installed command


def test_installed_contract_example() -> None:
    proc = run_installed(EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [(s["step"], s["kind"], s["dose_mg"], s["rate_ml_per_h"]) for s in out["program"]] == [
        (1, "bolus", 14.0, 168.0), (2, "infusion", 140.0, 35.0)]
    assert (out["total_dose_mg"], out["total_volume_ml"], out["limits"]) == (154.0, 154.0, [])


def test_installed_hard_limit_exits_2_with_json_and_no_traceback() -> None:
    proc = run_installed({"protocol": "custom_iv", "weight_kg": 70,
                          "steps": [{"kind": "infusion", "rate_mg_per_kg_per_h": 35, "duration_min": 60}],
                          "override": {"reason": "trying", "by": "dr"}})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "hard_limit" and error["field"] == "steps[0].rate_mg_per_kg_per_h"
    assert all(lim["source"] for lim in error["limits"])


def test_installed_list_protocols(tmp_path: Path) -> None:
    proc = run_installed(None, "--list-protocols")
    assert proc.returncode == 0, proc.stderr
    protocols = json.loads(proc.stdout)["protocols"]
    assert [p["id"] for p in protocols] == list(PROTOCOL_IDS)
    for p in protocols:
        assert {"id", "name", "route", "setting", "source"} <= set(p)
        assert p["route"] in ("iv", "oral", "intranasal", "im") and p["setting"] in ("outpatient", "inpatient")


def test_installed_reads_input_file(tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text(json.dumps({"protocol": "schwartzman2009", "weight_kg": 100}), encoding="utf-8")
    proc = run_installed(None, "--input", str(path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["program"][0]["rate_mg_per_h"] == 25.0
    assert any(n["code"] == "protocol_infusion_rate_capped" for n in out["notes"])


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize("protocol", [p for p in PROTOCOL_IDS if p != "custom_iv"])
def test_protocol_and_weight_alone_answer(protocol: str) -> None:
    code, out = run({"protocol": protocol, "weight_kg": 70})
    assert code == 0, out
    assert out["program"] and out["total_dose_mg"] > 0 and out["protocol"] == protocol


def test_soft_limit_stops_without_override_and_passes_with_one() -> None:
    order = {"protocol": "custom_iv", "weight_kg": 70, "steps": [{"kind": "bolus", "dose_mg_per_kg": 0.45}]}
    code, out = run(order)
    assert code == 2 and out["error"]["code"] == "soft_limit" and out["error"]["field"] == "steps[0].dose_mg_per_kg"
    code, out = run({**order, "override": {"reason": "  ", "by": "dr"}})
    assert code == 2 and out["error"]["code"] == "soft_limit"
    code, out = run({**order, "override": {"reason": "responded only at 0.45 mg/kg", "by": "dr.smith"}})
    assert code == 0
    assert [(lim["level"], lim["code"]) for lim in out["limits"]] == [("soft", "bolus_dose")]
    assert out["override"]["by"] == "dr.smith" and out["override"]["overridden"] == ["bolus_dose"]


def test_the_v2_slips_through_the_command() -> None:
    """Issue 11, as reproduced with the CLI: each now stops, with the limit named."""
    code, out = run({"protocol": "custom_iv", "weight_kg": 180,
                     "steps": [{"kind": "infusion", "rate_mg_per_kg_per_h": 1, "duration_min": 240}],
                     "override": {"reason": "x", "by": "dr"}})
    assert code == 0 and out["dosing_weight_kg"] == 100 and out["dosing_weight_basis"] == "capped"
    assert out["total_dose_mg"] == 400.0  # not 720 mg
    code, out = run({"protocol": "custom_iv", "weight_kg": 70, "override": {"reason": "x", "by": "dr"},
                     "steps": [{"kind": "bolus", "dose_mg_per_kg": 0.35}] * 20})
    assert code == 2 and out["error"]["code"] == "hard_limit" and "session total" in out["error"]["message"]
    code, out = run({"protocol": "custom_iv", "weight_kg": 70, "override": {"reason": "x", "by": "dr"},
                     "steps": [{"kind": "infusion", "rate_mg_per_kg_per_h": 0.1, "duration_min": 600}] * 20})
    assert code == 2 and out["error"]["code"] == "hard_limit"
    code, out = run({"protocol": "outpatient_infusion", "weight_kg": 154, "height_cm": 160})
    assert code == 2 and out["error"]["code"] == "soft_limit" and "implausible_bmi" in [
        lim["code"] for lim in out["error"]["limits"]]
    code, out = run({"protocol": "outpatient_infusion", "weight_kg": 70, "height_cm": 400})
    assert code == 2 and out["error"]["code"] == "invalid_input" and out["error"]["field"] == "height_cm"
    code, out = run({"protocol": "outpatient_infusion", "weight_kg": 70, "profile": "icu"})
    assert code == 2 and out["error"]["field"] == "profile"


@pytest.mark.parametrize(("weight", "code"), [(300, "weight_out_of_range"), (29, "weight_out_of_range"), (70, None)])
def test_weight_out_of_range(weight: float, code: str | None) -> None:
    exit_code, out = run({"protocol": "outpatient_infusion", "weight_kg": weight})
    if code is None:
        assert exit_code == 0
    else:
        assert exit_code == 2 and out["error"]["code"] == code and out["error"]["field"] == "weight_kg"


def test_unknown_concentration_names_the_allowed_ones() -> None:
    code, out = run({"protocol": "outpatient_infusion", "weight_kg": 70, "concentration_mg_per_ml": 50})
    assert code == 2 and out["error"]["code"] == "invalid_input"
    assert out["error"]["field"] == "concentration_mg_per_ml" and "1, 2, 10 mg/mL" in out["error"]["message"]


def test_unknown_protocol_names_the_allowed_ids() -> None:
    code, out = run({"protocol": "ketamine_please", "weight_kg": 70})
    assert code == 2 and out["error"]["code"] == "invalid_input" and out["error"]["field"] == "protocol"
    assert all(pid in out["error"]["message"] for pid in PROTOCOL_IDS)


@pytest.mark.parametrize(("document", "code", "field"), [
    ({"protocol": "custom_iv", "weight_kg": 70, "steps": [{"kind": "infusion", "rate_mg_per_hr": 35, "duration_min": 60}]},
     "unknown_field", "steps[0].rate_mg_per_hr"),
    ({"protocol": "custom_iv"}, "missing_field", "weight_kg"),
    ({"protocol": "custom_iv", "weight_kg": 70}, "invalid_input", "steps"),
    ({"protocol": "custom_iv", "weight_kg": "seventy"}, "invalid_input", "weight_kg"),
    ("{not json", "invalid_json", None),
    ("", "empty_input", None),
])
def test_bad_input_is_a_clean_json_error(document: object, code: str, field: str | None) -> None:
    exit_code, out = run(document)
    assert exit_code == 2 and out["error"]["code"] == code and out["error"]["field"] == field


def test_hard_limit_programs_nothing() -> None:
    code, out = run({"protocol": "custom_iv", "weight_kg": 70, "steps": [{"kind": "bolus", "dose_mg_per_kg": 3.5}]})
    assert code == 2 and set(out) == {"error"}
    assert out["error"]["code"] == "hard_limit" and "0.35 mg/kg" in out["error"]["message"]
