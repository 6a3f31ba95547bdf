"""Issue 18, item 1 and 3: one code per system per condition, from checked tables; the screening code table."""

from __future__ import annotations

import re

import pytest

from ketaclinic.clinical.conditions import CONDITIONS, ICD10CM_CHECKED, SNOMED_CHECKED, ConditionId
from ketaclinic.clinical.screening import History, Patient
from ketaclinic.interop import fhir_screening_codes as sc
from tests.clinical.test_conditions import ICD10CM_PATTERN, verhoeff_valid

SEMANTIC_TAG = re.compile(r" \((disorder|finding|situation)\)$")


@pytest.mark.parametrize("cid", list(ConditionId))
def test_each_condition_carries_at_most_one_code_per_system_from_the_checked_tables(cid):
    condition = CONDITIONS[cid]
    assert len(condition.icd10cm) <= 1 and len(condition.snomed) <= 1
    for coding in condition.icd10cm:
        assert ICD10CM_CHECKED.get(coding.code) == coding, f"{coding.code} is not the checked table's entry"
    for coding in condition.snomed:
        assert SNOMED_CHECKED.get(coding.code) == coding, f"{coding.code} is not the checked table's entry"
    for also in condition.recognised:
        table = ICD10CM_CHECKED if also.system == "ICD-10-CM" else SNOMED_CHECKED
        assert also.prefix or also.code in table, f"{also.code} is recognised on import but was not checked"
        assert len(also.checked) > 15, also.code


def test_the_checked_tables_hold_well_formed_codes_with_official_displays_and_where_each_was_checked():
    for code, coding in ICD10CM_CHECKED.items():
        assert ICD10CM_PATTERN.match(code) and coding.code == code and coding.system == "ICD-10-CM"
        assert "(" not in coding.display or coding.code == "G89.3", f"{code}: no added notes in the display"
        assert len(coding.checked) > 15
    for code, coding in SNOMED_CHECKED.items():
        assert verhoeff_valid(code) and coding.system == "SNOMED CT"
        assert SEMANTIC_TAG.search(coding.display), f"{code}: the fully specified name, with its semantic tag"
        assert "(" not in SEMANTIC_TAG.sub("", coding.display), f"{code}: no added notes in the display"
        assert len(coding.checked) > 15


def test_the_contradictions_of_issue_18_are_gone():
    crps, sickle, cancer = (CONDITIONS[c] for c in (ConditionId.CRPS, ConditionId.SICKLE_CELL, ConditionId.CANCER_PAIN))
    assert [c.code for c in crps.codings] == ["128200000"]  # the parent concept; no type I or type II code
    assert [c.code for c in sickle.icd10cm] == ["D57.1"]  # sickle-cell disease NOS, not also "with crisis"
    assert cancer.snomed == ()  # "malignant neoplastic disease" is the cancer, not the pain
    assert all(len(c.icd10cm) + len(c.snomed) <= 2 for c in CONDITIONS.values())


def test_sickle_cell_trait_is_not_read_as_sickle_cell_disease():
    prefixes = [a.code for a in CONDITIONS[ConditionId.SICKLE_CELL].recognised if a.prefix]
    assert prefixes and not any("D57.3".startswith(p) for p in prefixes)


def test_the_screening_table_covers_every_question_the_screening_asks():
    asked = set(History.model_fields) | ({"pregnancy"} if "pregnant" in Patient.model_fields else set())
    assert set(sc.QUESTIONS) == asked
    for row in sc.ROWS:
        assert row.question in sc.QUESTIONS and len(row.checked) > 15 and row.what
        if row.system == "SNOMED CT":
            assert verhoeff_valid(row.code) and row.code[-3:-1] in {"00", "10"}, row.code
        else:
            assert row.system == "ICD-10" and re.match(r"^[A-Z]([0-9][0-9A-Z](\.[0-9A-Z]{1,4})?)?$", row.code)
    assert len(sc.SNOMED_CONCEPTS) == sum(1 for r in sc.ROWS if r.system == "SNOMED CT")  # no id listed twice


@pytest.mark.parametrize("code, question", [
    ("I10", "hypertension"), ("I21.4", "coronary"), ("I46.9", "cardiovascular"), ("F31.2", "mania"),
    ("F20.9", "psychosis"), ("F10.20", "alcohol_use"), ("F11.20", "substance_use"), ("K74.60", "hepatic_impairment"),
    ("O09.90", "pregnancy"), ("G93.2", "intracranial_pressure"), ("I67.1", "cerebrovascular"), ("G40.909", "seizures"),
    ("E05.00", "thyroid"), ("h40.9", "intraocular_pressure"),
])
def test_icd10_codes_map_to_their_question(code, question):
    assert sc.icd10_question(code).question == question


def test_codes_outside_the_ranges_and_unlisted_concepts_map_to_nothing():
    assert sc.icd10_question("G90.50") is None and sc.icd10_question("I70.229") is None
    assert sc.snomed_question("410429000").question == "cardiovascular"
    assert sc.snomed_question("444814009") is None  # viral sinusitis
