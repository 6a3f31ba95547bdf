"""``ketaclinic score`` (contract 4.11): through the installed command once, the rest in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ketaclinic.cli import app

KETACLINIC = Path(sys.executable).with_name("ketaclinic")
runner = CliRunner()


def run(document: object, *args: str) -> tuple[int, dict]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = runner.invoke(app, ["score", *args], input=text)
    return result.exit_code, json.loads(result.stdout)


def test_installed_command_scores_phq9_with_the_self_harm_flag():
    proc = subprocess.run([str(KETACLINIC), "score"], input=json.dumps(
        {"instrument": "phq9", "answers": [3, 3, 3, 2, 2, 2, 2, 2, 1]}), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["instrument"], out["total"], out["severity"]) == ("phq9", 20, "severe")
    assert [f["code"] for f in out["flags"]] == ["self_harm_thoughts"]
    assert set(out["flags"][0]) == {"code", "message", "source"}


def test_gad7_and_pgic():
    assert run({"instrument": "gad7", "answers": [1, 1, 1, 1, 1, 0, 0]})[1]["severity"] == "mild"
    code, out = run({"instrument": "pgic", "answers": [2]})
    assert (code, out["total"], out["severity"], out["flags"]) == (0, 2, "much_improved", [])


def test_missing_items_prorated_or_exit_2():
    code, out = run({"instrument": "phq9", "answers": [2, 2, 2, 2, 2, 2, 2, None, 0]})
    assert (code, out["total"], out["prorated"]) == (0, 16, True)
    code, out = run({"instrument": "phq9", "answers": [2, 2, 2, 2, 2, 2, None, None, None]})
    assert code == 2 and out["error"]["code"] == "too_many_missing"
    code, out = run({"instrument": "pgic", "answers": [None]})
    assert code == 2 and out["error"]["field"] == "answers"


def test_bad_input_exits_2_with_the_error_shape():
    cases = [
        ({"instrument": "phq9", "answers": [1] * 8}, "wrong_item_count"),
        ({"instrument": "gad7", "answers": [1, 1, 1, 1, 1, 1, 4]}, "invalid_answer"),
        ({"instrument": "gad7", "answers": [1, 1, 1, 1, 1, 1, "2"]}, "invalid_input"),
        ({"instrument": "gad7", "answers": [1, 1, 1, 1, 1, 1, 1.5]}, "invalid_input"),
        ({"instrument": "bpi", "answers": [1]}, "unknown_instrument"),
        ({"instrument": "pgic", "answers": [1], "when": "now"}, "unknown_field"),
        ({"answers": [1]}, "missing_field"),
        ("not json", "invalid_json"),
    ]
    for document, code in cases:
        exit_code, out = run(document)
        assert exit_code == 2, document
        assert out["error"]["code"] == code, (document, out)
        assert set(out["error"]) == {"code", "message", "field"}


def test_list():
    code, out = run("", "--list")
    assert code == 0
    ids = {i["id"]: i for i in out["instruments"]}
    assert set(ids) == {"phq9", "gad7", "pgic"}
    assert ids["phq9"]["items"] == 9 and ids["gad7"]["items"] == 7 and ids["pgic"]["items"] == 1
    assert all({"id", "name", "items", "licence", "source"} <= set(i) for i in out["instruments"])
