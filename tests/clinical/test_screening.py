"""Screening rules (contract 4.2): every code at and around its threshold, the decision logic,
sources, validation, and property tests that the decision is monotone in the findings."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ketaclinic.clinical.conditions import ConditionId
from ketaclinic.clinical.screening import (
    DECISION_RANK,
    RULE_VERSION,
    RULES,
    Decision,
    Kind,
    ScreeningRequest,
    decide,
    screen,
)
from ketaclinic.evidence.sources import get_source

BASE: dict[str, Any] = {
    "patient": {"age_years": 52, "sex": "female", "weight_kg": 68, "pregnant": False},
    "pain": {
        "conditions": ["crps"],
        "duration_weeks": 40,
        "nrs_now": 8,
        "prior_treatments": ["gabapentinoid", "antidepressant", "physical_therapy"],
    },
    "vitals": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98},
    "history": {
        "cardiovascular": "none",
        "hypertension": "none",
        "intracranial_pressure": "normal",
        "intraocular_pressure": "normal",
        "psychosis": "none",
        "hepatic_impairment": "none",
        "substance_use": "none",
    },
    "allergies": [],
}

CONTRACT_CODES = {
    "age_under_18": "contraindication",
    "pregnancy": "contraindication",
    "ketamine_allergy": "contraindication",
    "cardiovascular_unstable": "contraindication",
    "hypertension_uncontrolled": "contraindication",
    "psychosis_active": "contraindication",
    "hepatic_severe": "contraindication",
    "substance_use_active": "contraindication",
    "pain_not_chronic": "unmet_requirement",
    "not_refractory": "unmet_requirement",
    "intracranial_pressure": "precaution",
    "intraocular_pressure": "precaution",
    "psychosis_history": "precaution",
    "hepatic_moderate": "precaution",
    "substance_use_history": "precaution",
    "hypertension_borderline": "precaution",
}

V2_CODES = {
    "cerebrovascular_risk": "contraindication",
    "coronary_recent_event": "contraindication",
    "coronary_disease": "precaution",
    "hyperthyroidism_untreated": "contraindication",
    "mania_active": "contraindication",
    "mania_history": "precaution",
    "seizures_poorly_controlled": "precaution",
    "alcohol_heavy": "precaution",
    "breastfeeding": "precaution",
    "hypoxaemia": "contraindication",
    "tachycardia": "precaution",
    "interaction_maoi": "precaution",
    "interaction_seizure_threshold": "precaution",
    "respiratory_rate_abnormal": "precaution",
    "interaction_benzodiazepine": "note",
    "interaction_opioid": "note",
    "interaction_psychostimulant": "note",
    "interaction_cyp3a4_inhibitor": "note",
    "interaction_cyp_inducer": "note",
    "interaction_cns_depressant": "note",
}


def doc(**changes: Any) -> dict[str, Any]:
    """The base document with ``section__field=value`` changes (``allergies=[...]`` for top level)."""
    d = copy.deepcopy(BASE)
    for key, value in changes.items():
        if "__" in key:
            section, field = key.split("__")
            d[section][field] = value
        else:
            d[key] = value
    return d


def run(**changes: Any):
    return screen(ScreeningRequest.model_validate(doc(**changes)))


def kinds_by_code(result) -> dict[str, str]:
    return {f.code: f.kind.value for f in result.findings}


def non_notes(result) -> dict[str, str]:
    return {k: v for k, v in kinds_by_code(result).items() if v != "note"}


# --- the baseline ----------------------------------------------------------------------------------


def test_the_contract_example_is_eligible_with_notes_only():
    result = run()
    assert result.decision is Decision.ELIGIBLE
    assert non_notes(result) == {}
    assert {"crps_evidence", "escort_no_driving", "pregnancy_test"} <= result.codes()
    out = result.as_json()
    assert set(out) == {"decision", "findings", "evidence", "rule_version"}
    assert out["evidence"] == [
        {
            "condition": "crps",
            "name": "Complex regional pain syndrome (CRPS)",
            "level": "moderate",
            "grade": "B",
            "summary": out["evidence"][0]["summary"],
            "source": "asra2018",
        }
    ]
    assert out["rule_version"] == RULE_VERSION


# --- each code at and around its threshold ---------------------------------------------------------


@pytest.mark.parametrize(("age", "hit"), [(17, True), (17.9, True), (18, False), (18.1, False), (0, True), (120, False)])
def test_age_under_18(age, hit):
    result = run(patient__age_years=age)
    assert ("age_under_18" in result.codes()) is hit
    assert (result.decision is Decision.NOT_ELIGIBLE) is hit


@pytest.mark.parametrize(("pregnant", "hit"), [(True, True), (False, False), (None, False)])
def test_pregnancy(pregnant, hit):
    result = run(patient__pregnant=pregnant)
    assert ("pregnancy" in result.codes()) is hit
    if hit:
        assert kinds_by_code(result)["pregnancy"] == "contraindication"
        assert "pregnancy_test" not in result.codes()


def test_pregnancy_may_be_omitted():
    d = doc()
    del d["patient"]["pregnant"]
    result = screen(ScreeningRequest.model_validate(d))
    assert "pregnancy" not in result.codes()
    test_note = next(f for f in result.findings if f.code == "pregnancy_test")
    assert "not recorded" in test_note.message


@pytest.mark.parametrize(
    ("allergies", "hit"),
    [
        (["Ketamine"], True),
        (["KETAMINE (hallucinations)"], True),
        (["esketamine"], True),
        (["S-Ketamine"], True),
        (["penicillin", "Ketalar"], True),
        (["penicillin", "latex"], False),
        ([], False),
    ],
)
def test_ketamine_allergy_is_matched_case_insensitively(allergies, hit):
    result = run(allergies=allergies)
    assert ("ketamine_allergy" in result.codes()) is hit
    assert (result.decision is Decision.NOT_ELIGIBLE) is hit


@pytest.mark.parametrize(
    ("value", "expected"),
    [("poorly_controlled", {"cardiovascular_unstable": "contraindication"}), ("controlled", {}), ("none", {})],
)
def test_cardiovascular(value, expected):
    result = run(history__cardiovascular=value)
    assert non_notes(result) == expected
    assert ("baseline_ecg" in result.codes()) is (value == "controlled")


@pytest.mark.parametrize(
    ("systolic", "diastolic", "expected"),
    [
        (179, 82, "hypertension_borderline"),
        (180, 82, "hypertension_uncontrolled"),
        (181, 82, "hypertension_uncontrolled"),
        (159, 82, None),
        (160, 82, "hypertension_borderline"),
        (150, 99, None),
        (150, 100, "hypertension_borderline"),
        (150, 109, "hypertension_borderline"),
        (150, 110, "hypertension_uncontrolled"),
        (170, 105, "hypertension_borderline"),
        (179, 109, "hypertension_borderline"),
        (179, 110, "hypertension_uncontrolled"),
        (200, 120, "hypertension_uncontrolled"),
    ],
)
def test_blood_pressure_thresholds(systolic, diastolic, expected):
    result = run(vitals__systolic_mmhg=systolic, vitals__diastolic_mmhg=diastolic)
    bp_codes = {c for c in result.codes() if c.startswith("hypertension_")}
    assert bp_codes == ({expected} if expected else set())
    if expected == "hypertension_uncontrolled":
        assert result.decision is Decision.NOT_ELIGIBLE
        assert next(f for f in result.findings if f.code == expected).source == "clinic_policy"
    elif expected == "hypertension_borderline":
        assert result.decision is Decision.ELIGIBLE_WITH_PRECAUTIONS
    else:
        assert result.decision is Decision.ELIGIBLE


def test_poorly_controlled_hypertension_is_uncontrolled_whatever_the_reading():
    result = run(history__hypertension="poorly_controlled")
    assert non_notes(result) == {"hypertension_uncontrolled": "contraindication"}
    finding = next(f for f in result.findings if f.code == "hypertension_uncontrolled")
    assert finding.source == "asra2018"
    # a borderline reading does not add a second, weaker finding
    result = run(history__hypertension="poorly_controlled", vitals__systolic_mmhg=170)
    assert non_notes(result) == {"hypertension_uncontrolled": "contraindication"}


def test_controlled_hypertension_is_a_note():
    result = run(history__hypertension="controlled")
    assert result.decision is Decision.ELIGIBLE
    assert kinds_by_code(result)["hypertension_controlled"] == "note"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("active", {"psychosis_active": "contraindication"}), ("history", {"psychosis_history": "precaution"}), ("none", {})],
)
def test_psychosis(value, expected):
    assert non_notes(run(history__psychosis=value)) == expected


@pytest.mark.parametrize(
    ("value", "expected", "note"),
    [
        ("severe", {"hepatic_severe": "contraindication"}, False),
        ("moderate", {"hepatic_moderate": "precaution"}, False),
        ("mild", {}, True),
        ("none", {}, False),
    ],
)
def test_hepatic_impairment(value, expected, note):
    result = run(history__hepatic_impairment=value)
    assert non_notes(result) == expected
    assert ("hepatic_mild" in result.codes()) is note


@pytest.mark.parametrize(
    ("value", "expected"),
    [("active", {"substance_use_active": "contraindication"}), ("history", {"substance_use_history": "precaution"}), ("none", {})],
)
def test_substance_use(value, expected):
    assert non_notes(run(history__substance_use=value)) == expected


@pytest.mark.parametrize(("weeks", "hit"), [(0, True), (11, True), (11.9, True), (12, False), (12.1, False), (40, False)])
def test_pain_not_chronic(weeks, hit):
    result = run(pain__duration_weeks=weeks, pain__conditions=["fibromyalgia"])
    assert ("pain_not_chronic" in result.codes()) is hit
    assert (result.decision is Decision.NOT_ELIGIBLE) is hit
    if hit:
        finding = next(f for f in result.findings if f.code == "pain_not_chronic")
        assert finding.kind is Kind.UNMET_REQUIREMENT
        assert finding.source == "treede2019_icd11"  # IASP / ICD-11, not a clinic web page
        assert "3 months" in finding.message


def test_crps_6_weeks_is_a_note_and_fibromyalgia_6_weeks_is_not_eligible():
    crps = run(pain__duration_weeks=6, pain__conditions=["crps"])
    assert kinds_by_code(crps)["pain_not_chronic"] == "note"
    assert crps.decision is Decision.ELIGIBLE
    note = next(f for f in crps.findings if f.code == "pain_not_chronic")
    assert note.source == "harden2010_budapest" and "Budapest" in note.message
    fibro = run(pain__duration_weeks=6, pain__conditions=["fibromyalgia"])
    assert kinds_by_code(fibro)["pain_not_chronic"] == "unmet_requirement"
    assert fibro.decision is Decision.NOT_ELIGIBLE


@pytest.mark.parametrize("conditions", [["crps", "fibromyalgia"], ["migraine", "crps"]])
def test_crps_with_another_condition_keeps_the_note_and_says_the_others_are_not_chronic(conditions):
    result = run(pain__duration_weeks=6, pain__conditions=conditions)
    assert kinds_by_code(result)["pain_not_chronic"] == "note"
    assert "not yet chronic" in next(f for f in result.findings if f.code == "pain_not_chronic").message


def test_crps_at_12_weeks_or_more_has_no_duration_finding():
    assert "pain_not_chronic" not in run(pain__duration_weeks=12, pain__conditions=["crps"]).codes()


@pytest.mark.parametrize(("treatments", "hit"), [([], True), (["other"], False), (["nsaid", "opioid"], False)])
def test_not_refractory(treatments, hit):
    result = run(pain__prior_treatments=treatments)
    assert ("not_refractory" in result.codes()) is hit
    if hit:
        assert kinds_by_code(result)["not_refractory"] == "unmet_requirement"


@pytest.mark.parametrize("field", ["intracranial_pressure", "intraocular_pressure"])
def test_raised_pressures_are_precautions(field):
    result = run(**{f"history__{field}": "elevated"})
    assert non_notes(result) == {field: "precaution"}
    assert result.decision is Decision.ELIGIBLE_WITH_PRECAUTIONS
    assert non_notes(run(**{f"history__{field}": "normal"})) == {}


def test_every_contract_code_fires_with_its_kind_and_a_resolvable_source():
    worst = doc(
        patient__age_years=16,
        patient__pregnant=True,
        allergies=["esketamine"],
        history__cardiovascular="poorly_controlled",
        history__psychosis="active",
        history__hepatic_impairment="severe",
        history__substance_use="active",
        pain__duration_weeks=3,
        pain__conditions=["fibromyalgia"],
        pain__prior_treatments=[],
        vitals__systolic_mmhg=190,
        vitals__diastolic_mmhg=115,
    )
    seen = kinds_by_code(screen(ScreeningRequest.model_validate(worst)))
    precautions = doc(
        history__intracranial_pressure="elevated",
        history__intraocular_pressure="elevated",
        history__psychosis="history",
        history__hepatic_impairment="moderate",
        history__substance_use="history",
        vitals__systolic_mmhg=165,
    )
    seen |= kinds_by_code(screen(ScreeningRequest.model_validate(precautions)))
    for code, kind in CONTRACT_CODES.items():
        assert seen.get(code) == kind, code


# --- decision logic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "decision"),
    [
        ([], "eligible"),
        (["note"], "eligible"),
        (["note", "precaution"], "eligible_with_precautions"),
        (["precaution", "unmet_requirement"], "not_eligible"),
        (["contraindication"], "not_eligible"),
        (["unmet_requirement"], "not_eligible"),
        (["note", "precaution", "contraindication"], "not_eligible"),
    ],
)
def test_decide_from_kinds(kinds, decision):
    assert decide(kinds).value == decision


def test_findings_are_ordered_by_severity():
    result = run(history__psychosis="history", pain__duration_weeks=2, patient__age_years=17)
    order = [f.kind for f in result.findings]
    assert order == sorted(order, key=lambda k: list(Kind).index(k))
    assert order[0] is Kind.CONTRAINDICATION


def test_screen_is_pure():
    request = ScreeningRequest.model_validate(doc(history__psychosis="history", allergies=["latex"]))
    before = request.model_dump()
    assert screen(request) == screen(request)
    assert request.model_dump() == before


# --- notes -----------------------------------------------------------------------------------------


def test_weak_evidence_condition_asks_for_rationale_and_consent():
    result = run(pain__conditions=["fibromyalgia", "migraine"])
    assert result.decision is Decision.ELIGIBLE
    note = next(f for f in result.findings if f.code == "weak_evidence_consent")
    assert "Fibromyalgia" in note.message and "Migraine" in note.message and "consent" in note.message
    assert "_" not in note.message.split(" (ASRA")[0]  # names a reader knows, not ids
    assert "crps_evidence" not in result.codes()
    assert [e.level.value for e in result.evidence] == ["weak_or_none", "weak_or_none"]
    assert [e.grade for e in result.evidence] == ["D, Low", "D, Low"]


def test_crps_alone_needs_no_weak_evidence_note():
    assert "weak_evidence_consent" not in run().codes()


def test_spinal_cord_injury_evidence_is_short_term():
    result = run(pain__conditions=["spinal_cord_injury"])
    assert "sci_short_term_evidence" in result.codes()
    assert result.evidence[0].grade == "C, Low"


def test_evidence_lists_each_condition_once_in_input_order():
    result = run(pain__conditions=["sickle_cell", "crps", "sickle_cell"])
    assert [e.condition.value for e in result.evidence] == ["sickle_cell", "crps"]
    assert result.evidence[0].level.value == "not_addressed" and result.evidence[0].grade is None


@pytest.mark.parametrize(
    ("sex", "age", "pregnant", "note"),
    [
        ("female", 30, False, True),
        ("female", 12, False, True),
        ("female", 55, False, True),
        ("female", 56, False, False),
        ("female", 11, False, False),
        ("male", 30, False, False),
        ("female", 30, True, False),
    ],
)
def test_pregnancy_test_note(sex, age, pregnant, note):
    result = run(patient__sex=sex, patient__age_years=age, patient__pregnant=pregnant)
    assert ("pregnancy_test" in result.codes()) is note


def test_escort_and_no_driving_note_is_always_given():
    result = run(patient__sex="male")
    escort = next(f for f in result.findings if f.code == "escort_no_driving")
    assert escort.kind is Kind.NOTE and escort.source == "spravato_pi"


@pytest.mark.parametrize(
    ("medication", "codes"),
    [
        ("Lorazepam 1 mg at night", {"interaction_benzodiazepine"}),
        ("LAMOTRIGINE 200 mg", {"interaction_lamotrigine"}),
        ("clarithromycin", {"interaction_cyp3a4_inhibitor"}),
        ("ticlopidine", {"interaction_cyp2b6_inhibitor"}),
        ("Rifampin", {"interaction_cyp_inducer"}),
        ("rifampicin 600 mg", {"interaction_cyp_inducer"}),
        ("St John's wort", {"interaction_cyp_inducer"}),
        ("methylphenidate ER", {"interaction_psychostimulant"}),
        ("oxycodone 10 mg bid", {"interaction_opioid", "opioid_mme_baseline"}),
        ("Fentanyl 25 mcg/h patch", {"interaction_opioid", "opioid_mme_baseline"}),
        ("metformin", set()),
    ],
)
def test_interacting_medications_are_noted_without_changing_the_decision(medication, codes):
    result = run(medications=[medication])
    found = {c for c in result.codes() if c.startswith("interaction_") or c == "opioid_mme_baseline"}
    assert found == codes
    assert result.decision is Decision.ELIGIBLE
    for f in result.findings:
        if f.code in codes:
            assert f.kind is Kind.NOTE
            assert medication in f.message or f.code == "opioid_mme_baseline"
            get_source(f.source)


def test_medications_field_is_optional_and_names_are_free_text():
    d = doc()
    assert "medications" not in d
    assert screen(ScreeningRequest.model_validate(d)).decision is Decision.ELIGIBLE
    with pytest.raises(ValidationError):
        ScreeningRequest.model_validate(doc(medications=[""]))


# --- rules catalogue -------------------------------------------------------------------------------


def test_rules_describe_every_contract_code_with_its_kind_and_a_source():
    by_code: dict[str, set[str]] = {}
    for rule in RULES:
        assert rule.domain == "screening"
        assert rule.kind in {k.value for k in Kind}
        assert rule.threshold and rule.action
        get_source(rule.source)
        by_code.setdefault(rule.code, set()).add(rule.kind)
    for code, kind in CONTRACT_CODES.items():
        if code == "pain_not_chronic":  # 4.2 v2: a note for CRPS
            assert by_code[code] == {kind, "note"}
            continue
        assert by_code.get(code) == {kind}, code
    for code, kind in V2_CODES.items():
        assert by_code.get(code) == {kind}, code
    assert RULE_VERSION.startswith("screening-")


def test_rule_grades_are_printed_as_the_guideline_prints_them():
    grades = {r.code: r.grade for r in RULES if r.grade}
    assert grades["pregnancy"] == "B, Low"
    assert grades["hepatic_severe"] == "C, Low"
    assert grades["crps_evidence"] == "B"


# --- validation ------------------------------------------------------------------------------------


def _error(document: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        ScreeningRequest.model_validate(document)
    return info.value.errors(include_url=False)[0]


@pytest.mark.parametrize(
    ("document", "loc", "error_type"),
    [
        (doc(notes="typo"), ("notes",), "extra_forbidden"),
        (doc(patient__weight_lb=150), ("patient", "weight_lb"), "extra_forbidden"),
        (doc(history__kidney="none"), ("history", "kidney"), "extra_forbidden"),
        (doc(vitals__temperature_c=37), ("vitals", "temperature_c"), "extra_forbidden"),
        (doc(history__psychosis="yes"), ("history", "psychosis"), "enum"),
        (doc(pain__conditions=["crps", "gout"]), ("pain", "conditions", 1), "enum"),
        (doc(pain__prior_treatments=["surgery"]), ("pain", "prior_treatments", 0), "enum"),
        (doc(patient__sex="f"), ("patient", "sex"), "enum"),
        (doc(vitals__spo2_pct=101), ("vitals", "spo2_pct"), "less_than_equal"),
        (doc(patient__weight_kg=-70), ("patient", "weight_kg"), "value_error"),
        (doc(patient__weight_kg=0), ("patient", "weight_kg"), "value_error"),
        (doc(patient__weight_kg=401), ("patient", "weight_kg"), "value_error"),
        (doc(patient__age_years=121), ("patient", "age_years"), "value_error"),
        (doc(patient__age_years=-1), ("patient", "age_years"), "value_error"),
        (doc(pain__nrs_now=11), ("pain", "nrs_now"), "value_error"),
        (doc(pain__nrs_now=6.5), ("pain", "nrs_now"), "value_error"),
        (doc(pain__duration_weeks=-2), ("pain", "duration_weeks"), "value_error"),
        (doc(pain__conditions=[]), ("pain", "conditions"), "too_short"),
    ],
)
def test_invalid_documents_are_rejected_at_the_field(document, loc, error_type):
    err = _error(document)
    assert err["loc"][: len(loc)] == loc
    assert err["type"] == error_type


def test_enum_errors_list_the_allowed_values():
    msg = _error(doc(history__hepatic_impairment="bad"))["msg"]
    for allowed in ("none", "mild", "moderate", "severe"):
        assert f"'{allowed}'" in msg


def test_number_errors_name_the_allowed_range():
    assert _error(doc(patient__weight_kg=-70))["msg"] == (
        "Value error, must be a number from 2 to 400 kg (a body weight; 0 or less is impossible)"
    )
    assert "from 0 to 10" in _error(doc(pain__nrs_now=11))["msg"]


def test_booleans_and_strings_are_not_numbers():
    assert _error(doc(patient__age_years=True))["loc"] == ("patient", "age_years")
    assert _error(doc(patient__weight_kg="70"))["loc"] == ("patient", "weight_kg")


def test_diastolic_must_be_below_systolic():
    err = _error(doc(vitals__systolic_mmhg=120, vitals__diastolic_mmhg=130))
    assert err["loc"] == ("vitals",)


def test_missing_history_item_is_an_error_not_a_default():
    d = doc()
    del d["history"]["cardiovascular"]
    err = _error(d)
    assert err["type"] == "missing" and err["loc"] == ("history", "cardiovascular")


# --- properties ------------------------------------------------------------------------------------

CONTROL = ["none", "controlled", "poorly_controlled"]
PRESSURE = ["normal", "elevated"]
COURSE = ["none", "history", "active"]
HEPATIC = ["none", "mild", "moderate", "severe"]
ORDERS = {
    "cardiovascular": CONTROL,
    "hypertension": CONTROL,
    "intracranial_pressure": PRESSURE,
    "intraocular_pressure": PRESSURE,
    "psychosis": COURSE,
    "hepatic_impairment": HEPATIC,
    "substance_use": COURSE,
}
TREATMENTS = ["antidepressant", "gabapentinoid", "anticonvulsant", "nsaid", "opioid", "nerve_block",
              "physical_therapy", "psychotherapy", "spinal_cord_stimulator", "topical", "other"]
MEDS = ["lorazepam", "lamotrigine", "clarithromycin", "rifampicin", "phenelzine", "oxycodone", "metformin"]


def _mostly(benign, *others):
    """Benign values most of the time, so a single worsening change is usually the one that decides."""
    return st.sampled_from([benign] * 4 + list(others))


@st.composite
def documents(draw) -> dict[str, Any]:
    systolic = draw(st.one_of(st.integers(100, 158), st.integers(90, 230)))
    return {
        "patient": {
            "age_years": draw(st.one_of(st.floats(18, 95, allow_nan=False), st.floats(10, 95, allow_nan=False))),
            "sex": draw(st.sampled_from(["female", "male", "other", "unknown"])),
            "weight_kg": draw(st.floats(35, 180, allow_nan=False)),
            "pregnant": draw(_mostly(False, None, True)),
        },
        "pain": {
            "conditions": draw(st.lists(st.sampled_from([c.value for c in ConditionId]), min_size=1, max_size=3)),
            "duration_weeks": draw(st.one_of(st.floats(12, 400, allow_nan=False), st.floats(0, 400, allow_nan=False))),
            "nrs_now": draw(st.integers(0, 10)),
            "prior_treatments": draw(st.lists(st.sampled_from(TREATMENTS), min_size=draw(_mostly(1, 0)), max_size=4)),
        },
        "vitals": {
            "systolic_mmhg": systolic,
            "diastolic_mmhg": draw(st.integers(40, min(systolic - 1, 150))),
            "heart_rate_bpm": draw(st.integers(45, 130)),
            "spo2_pct": draw(st.integers(88, 100)),
        },
        "history": {k: draw(_mostly(v[0], *v[1:])) for k, v in ORDERS.items()},
        "allergies": draw(st.lists(st.sampled_from(["latex", "penicillin", "sulfa"]), max_size=2)),
        "medications": draw(st.lists(st.sampled_from(MEDS), max_size=3)),
    }


def worsen(document: dict[str, Any], data) -> dict[str, Any]:
    """One change that can only add or aggravate findings."""
    d = copy.deepcopy(document)
    change = data.draw(st.sampled_from([
        "history", "systolic", "diastolic", "duration", "age", "allergy", "pregnant", "treatments",
        "medication", "condition",
    ]))
    if change == "history":
        field = data.draw(st.sampled_from(sorted(ORDERS)))
        order = ORDERS[field]
        d["history"][field] = data.draw(st.sampled_from(order[order.index(d["history"][field]):]))
    elif change == "systolic":
        d["vitals"]["systolic_mmhg"] = data.draw(st.integers(d["vitals"]["systolic_mmhg"], 300))
    elif change == "diastolic":
        v = d["vitals"]
        if v["diastolic_mmhg"] < v["systolic_mmhg"] - 1:
            v["diastolic_mmhg"] = data.draw(st.integers(v["diastolic_mmhg"], min(v["systolic_mmhg"] - 1, 200)))
    elif change == "duration":
        d["pain"]["duration_weeks"] = data.draw(st.floats(0, d["pain"]["duration_weeks"], allow_nan=False))
    elif change == "age":
        d["patient"]["age_years"] = data.draw(st.floats(0, d["patient"]["age_years"], allow_nan=False))
    elif change == "allergy":
        d["allergies"].append(data.draw(st.sampled_from(["ketamine", "Esketamine", "S-KETAMINE"])))
    elif change == "pregnant":
        d["patient"]["pregnant"] = True
    elif change == "treatments":
        kept = d["pain"]["prior_treatments"]
        d["pain"]["prior_treatments"] = kept[: data.draw(st.integers(0, len(kept)))]
    elif change == "medication":
        d["medications"].append(data.draw(st.sampled_from(MEDS)))
    else:
        # adding CRPS is not a worsening: it brings an indication the Budapest criteria date by signs, not months
        d["pain"]["conditions"].append(data.draw(st.sampled_from([c.value for c in ConditionId if c.value != "crps"])))
    return d


def judge(document: dict[str, Any]):
    return screen(ScreeningRequest.model_validate(document))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_a_worsening_change_never_makes_the_decision_more_permissive(document, data):
    before = judge(document)
    after = judge(worsen(document, data))
    assert DECISION_RANK[after.decision] >= DECISION_RANK[before.decision]


@settings(max_examples=150, deadline=None)
@given(documents(), st.sampled_from([
    ("patient", "pregnant", True),
    ("history", "cardiovascular", "poorly_controlled"),
    ("history", "psychosis", "active"),
    ("history", "hepatic_impairment", "severe"),
    ("history", "substance_use", "active"),
    ("history", "hypertension", "poorly_controlled"),
]))
def test_adding_a_contraindication_always_gives_not_eligible(document, change):
    section, field, value = change
    document[section][field] = value
    result = judge(document)
    assert result.decision is Decision.NOT_ELIGIBLE
    assert any(f.kind is Kind.CONTRAINDICATION for f in result.findings)


@settings(max_examples=150, deadline=None)
@given(documents())
def test_the_decision_is_a_function_of_the_findings_kinds(document):
    result = judge(document)
    kinds = {f.kind for f in result.findings}
    if kinds & {Kind.CONTRAINDICATION, Kind.UNMET_REQUIREMENT}:
        expected = Decision.NOT_ELIGIBLE
    elif Kind.PRECAUTION in kinds:
        expected = Decision.ELIGIBLE_WITH_PRECAUTIONS
    else:
        expected = Decision.ELIGIBLE
    assert result.decision is expected is decide(f.kind for f in result.findings)
    # notes never decide: removing them leaves the decision unchanged
    assert decide(f.kind for f in result.findings if f.kind is not Kind.NOTE) is result.decision


@settings(max_examples=150, deadline=None)
@given(documents())
def test_every_finding_has_a_rule_and_a_resolvable_source(document):
    rule_codes = {r.code for r in RULES}
    for finding in judge(document).findings:
        assert finding.code in rule_codes
        assert get_source(finding.source).id == finding.source
        assert finding.message


def _history_combinations():
    import itertools

    fields = sorted(ORDERS)
    for values in itertools.product(*(ORDERS[f] for f in fields)):
        yield dict(zip(fields, values, strict=True))


def test_every_one_step_worsening_of_the_history_is_monotone_exhaustively():
    """All 1,296 history combinations x each one-step worsening: the decision never relaxes."""
    checked = 0
    for history in _history_combinations():
        base = judge(doc(history=history))
        for field, order in ORDERS.items():
            i = order.index(history[field])
            if i + 1 < len(order):
                worse = judge(doc(history={**history, field: order[i + 1]}))
                assert DECISION_RANK[worse.decision] >= DECISION_RANK[base.decision], (history, field)
                checked += 1
    assert checked > 3000
