"""docs/clinical-rules.md is generated from the code and matches it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ketaclinic.clinical import checklist, discharge, follow_up, monitoring, outcomes
from ketaclinic.clinical.rules import Rule, rule_catalog
from ketaclinic.clinical.rules_doc import render
from ketaclinic.evidence.sources import get_source

DOC = Path(__file__).resolve().parents[2] / "docs" / "clinical-rules.md"


def test_committed_doc_equals_a_fresh_generation() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/clinical-rules.md is stale: run `python -m ketaclinic.clinical.rules_doc > docs/clinical-rules.md`"
    )


def test_module_entry_point_prints_the_same_document() -> None:
    out = subprocess.run([sys.executable, "-m", "ketaclinic.clinical.rules_doc"], capture_output=True, text=True, check=True)
    assert out.stdout == render()


def test_every_rule_source_resolves_and_is_listed() -> None:
    text = render()
    for rule in rule_catalog():
        source = get_source(rule.source)
        assert f"| `{source.id}` |" in text


def test_rules_of_this_part_are_in_the_table_with_unique_codes_per_domain() -> None:
    text = render()
    for module in (checklist, monitoring, discharge, follow_up, outcomes):
        codes = [r.code for r in module.RULES]
        assert len(codes) == len(set(codes)), module.__name__
        for rule in module.RULES:
            assert f"| {rule.domain} | `{rule.code}` |" in text


def test_pipes_in_rule_text_do_not_break_the_table() -> None:
    text = render([Rule("x", "demo", "note", "a | b", "c", "clinic_policy")])
    row = next(line for line in text.splitlines() if line.startswith("| demo"))
    assert row.count(" | ") == 6 and "a \\| b" in row
