"""The condition table: the 4.2 vocabulary, well-formed codes (SNOMED CT check digits), where each
code was checked, and the ASRA 2018 evidence per condition."""

from __future__ import annotations

import re

import pytest

from ketaclinic.clinical.conditions import CONDITIONS, ConditionId, get_condition, unverified_codings
from ketaclinic.evidence.grades import Certainty, EvidenceLevel, GuidelineGrade, RecommendationGrade
from ketaclinic.evidence.sources import get_source

CONTRACT_CONDITIONS = [
    "crps", "fibromyalgia", "diabetic_neuropathy", "peripheral_neuropathy", "postherpetic_neuralgia",
    "trigeminal_neuralgia", "phantom_limb", "cancer_pain", "migraine", "chronic_low_back",
    "spinal_cord_injury", "sickle_cell", "ischemic_pain", "other_neuropathic",
]

ICD10CM_PATTERN = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")

# Verhoeff tables: every SNOMED CT identifier ends in a Verhoeff check digit, so a mistyped or
# invented concept id is caught here.
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_valid(number: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def test_verhoeff_helper_rejects_a_changed_digit():
    assert verhoeff_valid("128200000")
    assert not verhoeff_valid("128200001")
    assert not verhoeff_valid("128200010")


def test_the_table_holds_exactly_the_contract_vocabulary():
    assert [c.value for c in ConditionId] == CONTRACT_CONDITIONS
    assert list(CONDITIONS) == list(ConditionId)
    for cid, condition in CONDITIONS.items():
        assert condition.id is cid


@pytest.mark.parametrize("cid", list(ConditionId))
def test_each_condition_has_icd10cm_and_snomed_codes_that_are_well_formed(cid):
    condition = CONDITIONS[cid]
    # at most one code per system (issue 18); a system without a code that means exactly the condition says why
    assert condition.codings and len(condition.icd10cm) <= 1 and len(condition.snomed) <= 1
    if not (condition.icd10cm and condition.snomed):
        assert "no code" in condition.coding_note or "no SNOMED CT code" in condition.coding_note, cid
    for coding in condition.icd10cm:
        assert coding.system == "ICD-10-CM"
        assert ICD10CM_PATTERN.match(coding.code), coding.code
        assert coding.source == "icd10cm"
    for coding in condition.snomed:
        assert coding.system == "SNOMED CT"
        assert coding.code.isdigit() and 6 <= len(coding.code) <= 18, coding.code
        assert verhoeff_valid(coding.code), f"{coding.code} fails the SNOMED CT check digit"
        # partition identifier: 00 = International concept (short form), 10 = extension concept (long form)
        assert coding.code[-3:-1] in {"00", "10"}, coding.code
        assert coding.source == "snomedct"
    for coding in condition.codings:
        assert coding.display.strip()
        assert len(coding.checked) > 15, f"{coding.code}: say where it was checked"
        get_source(coding.source)


def test_key_codes_as_looked_up():
    assert CONDITIONS[ConditionId.CRPS].icd10cm == ()  # no ICD-10-CM code for CRPS of unstated type
    assert CONDITIONS[ConditionId.CRPS].snomed[0].code == "128200000"
    assert CONDITIONS[ConditionId.FIBROMYALGIA].icd10cm[0].code == "M79.7"
    assert CONDITIONS[ConditionId.FIBROMYALGIA].snomed[0].code == "203082005"
    assert CONDITIONS[ConditionId.TRIGEMINAL_NEURALGIA].icd10cm[0].code == "G50.0"
    assert CONDITIONS[ConditionId.PHANTOM_LIMB].icd10cm[0].code == "G54.6"
    assert CONDITIONS[ConditionId.CANCER_PAIN].icd10cm[0].code == "G89.3"
    assert CONDITIONS[ConditionId.POSTHERPETIC_NEURALGIA].snomed[0].code == "2177002"


def test_unconfirmed_codes_are_marked_in_the_data_and_say_why():
    unverified = unverified_codings()
    assert unverified, "the table has at least one unconfirmed code (M79.2) and must say so"
    for cid, coding in unverified:
        assert not CONDITIONS[cid].verified
        assert "not confirmed" in coding.checked
    confirmed = {c.id for c in CONDITIONS.values() if c.verified}
    assert confirmed == set(ConditionId) - {cid for cid, _ in unverified}


def test_plain_language_names_are_distinct():
    names = [c.name for c in CONDITIONS.values()]
    assert len(set(names)) == len(names)
    assert all(n and n[0].isupper() for n in names)


def test_asra_evidence_per_condition():
    crps = CONDITIONS[ConditionId.CRPS].evidence
    assert crps.level is EvidenceLevel.MODERATE
    assert crps.grade == GuidelineGrade(RecommendationGrade.B, None)
    sci = CONDITIONS[ConditionId.SPINAL_CORD_INJURY].evidence
    assert sci.level is EvidenceLevel.WEAK and sci.grade.label() == "C, Low"
    weak = set(ConditionId) - {ConditionId.CRPS, ConditionId.SPINAL_CORD_INJURY, ConditionId.SICKLE_CELL}
    for cid in weak:
        ev = CONDITIONS[cid].evidence
        assert ev.level is EvidenceLevel.WEAK_OR_NONE, cid
        assert ev.grade.label() == "D, Low", cid
        assert CONDITIONS[cid].weak_or_no_evidence
    sickle = CONDITIONS[ConditionId.SICKLE_CELL].evidence
    assert sickle.level is EvidenceLevel.NOT_ADDRESSED and sickle.grade is None
    for condition in CONDITIONS.values():
        assert condition.evidence.source == "asra2018"
        get_source(condition.evidence.source)
    assert not CONDITIONS[ConditionId.CRPS].weak_or_no_evidence


def test_get_condition_names_the_allowed_ids():
    assert get_condition("crps").id is ConditionId.CRPS
    with pytest.raises(KeyError, match="allowed: crps, fibromyalgia"):
        get_condition("crsp")


@pytest.mark.parametrize(
    ("text", "label"), [("C, Low", "C, Low"), ("b", "B"), ("d low", "D, Low"), ("A,High", "A, High")]
)
def test_guideline_grade_parses_and_prints_as_published(text, label):
    grade = GuidelineGrade.parse(text)
    assert grade.label() == label == str(grade)
    assert GuidelineGrade.parse(grade.label()) == grade


@pytest.mark.parametrize("text", ["", "E, Low", "C, Medium", "C Low extra"])
def test_guideline_grade_rejects_what_the_guideline_does_not_print(text):
    with pytest.raises(ValueError):
        GuidelineGrade.parse(text)


def test_certainty_values_are_the_published_words():
    assert [c.value for c in Certainty] == ["High", "Moderate", "Low"]
