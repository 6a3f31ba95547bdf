"""Screening contract 4.2 v2: new optional fields, absolute vital signs, new history items, brand-name
medication matching, the CRPS duration exception, and properties (v1 documents stay valid; the
decision follows from the kinds; worsening a v2 field never relaxes the decision)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ketaclinic.clinical.medications import (
    DRUGS,
    DrugClass,
    brand_table,
    classes_of,
    match_medication,
    normalise,
)
from ketaclinic.clinical.screening import (
    DECISION_RANK,
    INTERACTIONS,
    RULES,
    Decision,
    Kind,
    ScreeningRequest,
    decide,
    screen,
)
from ketaclinic.evidence.sources import get_source
from tests.clinical.test_screening import BASE, V2_CODES, doc, documents, kinds_by_code, non_notes, run

# --- the new fields are optional; v1 stays valid; unknown fields are still refused ---------------------


def test_a_v1_document_is_still_valid_and_unchanged_in_meaning():
    result = screen(ScreeningRequest.model_validate(copy.deepcopy(BASE)))
    assert result.decision is Decision.ELIGIBLE


def test_vitals_may_give_blood_pressure_only():
    d = doc()
    d["vitals"] = {"systolic_mmhg": 128, "diastolic_mmhg": 82}
    result = screen(ScreeningRequest.model_validate(d))
    assert result.decision is Decision.ELIGIBLE
    assert not {"hypoxaemia", "tachycardia", "respiratory_rate_abnormal"} & result.codes()


def test_every_v2_field_is_accepted():
    d = doc(patient__height_cm=168, patient__breastfeeding=False, vitals__respiratory_rate_per_min=14,
            history__cerebrovascular="none", history__coronary="none", history__thyroid="normal",
            history__seizures="none", history__mania="none", history__alcohol_use="moderate")
    result = screen(ScreeningRequest.model_validate(d))
    assert result.decision is Decision.ELIGIBLE
    assert ScreeningRequest.model_validate(d).model_dump(mode="json")["history"]["alcohol_use"] == "moderate"


@pytest.mark.parametrize(
    ("changes", "loc", "error_type"),
    [
        ({"history__cerebrovascular": "stroke"}, ("history", "cerebrovascular"), "enum"),
        ({"history__coronary": "recent"}, ("history", "coronary"), "enum"),
        ({"history__thyroid": "hypothyroid"}, ("history", "thyroid"), "enum"),
        ({"history__seizures": "active"}, ("history", "seizures"), "enum"),
        ({"history__mania": "current"}, ("history", "mania"), "enum"),
        ({"history__alcohol_use": "light"}, ("history", "alcohol_use"), "enum"),
        ({"patient__breastfeeding": "sometimes"}, ("patient", "breastfeeding"), "bool_parsing"),
        ({"patient__height_cm": 20}, ("patient", "height_cm"), "value_error"),
        ({"patient__height_cm": "170"}, ("patient", "height_cm"), "value_error"),
        ({"vitals__respiratory_rate_per_min": 0}, ("vitals", "respiratory_rate_per_min"), "greater_than_equal"),
        ({"vitals__spo2_pct": 101}, ("vitals", "spo2_pct"), "less_than_equal"),
        ({"vitals__heart_rate_bpm": 400}, ("vitals", "heart_rate_bpm"), "less_than_equal"),
        ({"history__kidney": "none"}, ("history", "kidney"), "extra_forbidden"),
        ({"patient__height_in": 66}, ("patient", "height_in"), "extra_forbidden"),
    ],
)
def test_bad_v2_values_are_refused_at_the_field(changes, loc, error_type):
    with pytest.raises(ValidationError) as info:
        ScreeningRequest.model_validate(doc(**changes))
    err = info.value.errors(include_url=False)[0]
    assert err["loc"][: len(loc)] == loc
    assert err["type"] == error_type


def test_enum_error_lists_the_allowed_values():
    with pytest.raises(ValidationError) as info:
        ScreeningRequest.model_validate(doc(history__cerebrovascular="stroke"))
    msg = info.value.errors()[0]["msg"]
    for allowed in ("none", "aneurysm_or_avm", "intracerebral_hemorrhage_history"):
        assert f"'{allowed}'" in msg


# --- each v2 code with its kind and trigger -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"history__cerebrovascular": "aneurysm_or_avm"}, {"cerebrovascular_risk": "contraindication"}),
        ({"history__cerebrovascular": "intracerebral_hemorrhage_history"}, {"cerebrovascular_risk": "contraindication"}),
        ({"history__cerebrovascular": "none"}, {}),
        ({"history__coronary": "recent_event"}, {"coronary_recent_event": "contraindication"}),
        ({"history__coronary": "stable"}, {"coronary_disease": "precaution"}),
        ({"history__coronary": "none"}, {}),
        ({"history__thyroid": "hyperthyroid_untreated"}, {"hyperthyroidism_untreated": "contraindication"}),
        ({"history__thyroid": "hyperthyroid_treated"}, {}),
        ({"history__thyroid": "normal"}, {}),
        ({"history__mania": "active"}, {"mania_active": "contraindication"}),
        ({"history__mania": "history"}, {"mania_history": "precaution"}),
        ({"history__mania": "none"}, {}),
        ({"history__seizures": "poorly_controlled"}, {"seizures_poorly_controlled": "precaution"}),
        ({"history__seizures": "controlled"}, {}),
        ({"history__alcohol_use": "heavy"}, {"alcohol_heavy": "precaution"}),
        ({"history__alcohol_use": "moderate"}, {}),
        ({"patient__breastfeeding": True}, {"breastfeeding": "precaution"}),
        ({"patient__breastfeeding": False}, {}),
    ],
)
def test_v2_history_codes(changes, expected):
    result = run(**changes)
    assert non_notes(result) == expected
    worst = max((DECISION_RANK[decide([k])] for k in expected.values()), default=0)
    assert DECISION_RANK[result.decision] == worst


@pytest.mark.parametrize(("spo2", "hit"), [(91.9, True), (88, True), (50, True), (92, False), (98, False)])
def test_hypoxaemia_below_92(spo2, hit):
    result = run(vitals__spo2_pct=spo2)
    assert ("hypoxaemia" in result.codes()) is hit
    if hit:
        assert kinds_by_code(result)["hypoxaemia"] == "contraindication"
        assert result.decision is Decision.NOT_ELIGIBLE


@pytest.mark.parametrize(("hr", "hit"), [(110, False), (110.5, True), (111, True), (150, True), (45, False)])
def test_tachycardia_above_110(hr, hit):
    result = run(vitals__heart_rate_bpm=hr)
    assert ("tachycardia" in result.codes()) is hit
    assert (result.decision is Decision.ELIGIBLE_WITH_PRECAUTIONS) is hit


def test_spo2_88_with_heart_rate_150_is_not_eligible():
    result = run(vitals__spo2_pct=88, vitals__heart_rate_bpm=150)
    assert result.decision is Decision.NOT_ELIGIBLE
    assert kinds_by_code(result)["hypoxaemia"] == "contraindication"
    assert kinds_by_code(result)["tachycardia"] == "precaution"


@pytest.mark.parametrize(("rr", "hit"), [(9, True), (10, False), (16, False), (24, False), (25, True), (40, True)])
def test_respiratory_rate_outside_10_to_24_is_a_precaution(rr, hit):
    result = run(vitals__respiratory_rate_per_min=rr)
    assert ("respiratory_rate_abnormal" in result.codes()) is hit
    if hit:
        finding = next(f for f in result.findings if f.code == "respiratory_rate_abnormal")
        assert finding.kind is Kind.PRECAUTION and finding.source == "clinic_policy"


# --- medications by generic and brand name -----------------------------------------------------------

ISSUE_BRANDS = [
    ("OxyContin", "oxycodone", "interaction_opioid"),
    ("Dilaudid", "hydromorphone", "interaction_opioid"),
    ("Percocet", "oxycodone", "interaction_opioid"),
    ("Norco", "hydrocodone", "interaction_opioid"),
    ("Suboxone", "buprenorphine", "interaction_opioid"),
    ("Duragesic", "fentanyl", "interaction_opioid"),
    ("Ativan", "lorazepam", "interaction_benzodiazepine"),
    ("Klonopin", "clonazepam", "interaction_benzodiazepine"),
    ("Valium", "diazepam", "interaction_benzodiazepine"),
    ("Nardil", "phenelzine", "interaction_maoi"),
    ("Parnate", "tranylcypromine", "interaction_maoi"),
    ("Emsam", "selegiline", "interaction_maoi"),
    ("Azilect", "rasagiline", "interaction_maoi"),
    ("Concerta", "methylphenidate", "interaction_psychostimulant"),
    ("Focalin", "dexmethylphenidate", "interaction_psychostimulant"),
    ("Biaxin", "clarithromycin", "interaction_cyp3a4_inhibitor"),
    ("Paxlovid", "ritonavir", "interaction_cyp3a4_inhibitor"),
    ("Tegretol", "carbamazepine", "interaction_cyp_inducer"),
    ("Dilantin", "phenytoin", "interaction_cyp_inducer"),
    ("linezolid", "linezolid", "interaction_maoi"),
    ("methylene blue", "methylene blue", "interaction_maoi"),
    ("theophylline", "theophylline", "interaction_seizure_threshold"),
]


@pytest.mark.parametrize(("name", "generic", "code"), ISSUE_BRANDS, ids=[b[0] for b in ISSUE_BRANDS])
@pytest.mark.parametrize("written", ["{}", "{} 10 mg", "{}  20MG ER", "{}, one at night"])
def test_each_brand_in_the_issue_is_matched(name, generic, code, written):
    for text in (written.format(name), written.format(name.upper()), written.format(name.lower())):
        result = run(medications=[text])
        assert code in result.codes(), text
        finding = next(f for f in result.findings if f.code == code)
        assert text in finding.message
        if name.casefold() != generic:
            assert generic in finding.message  # a brand is named with its generic
        assert finding.kind.value == V2_CODES[code]
        get_source(finding.source)


def test_nardil_15_mg_is_phenelzine_and_a_precaution():
    result = run(medications=["Nardil 15 mg"])
    assert kinds_by_code(result)["interaction_maoi"] == "precaution"
    assert result.decision is Decision.ELIGIBLE_WITH_PRECAUTIONS
    assert "Nardil 15 mg (phenelzine)" in next(f.message for f in result.findings if f.code == "interaction_maoi")


def test_oxycontin_20mg_er_is_oxycodone():
    assert match_medication("OXYCONTIN 20mg ER")[0].drug.generic == "oxycodone"
    result = run(medications=["OXYCONTIN 20mg ER"])
    assert {"interaction_opioid", "opioid_mme_baseline"} <= result.codes()


@pytest.mark.parametrize(
    "text",
    ["phenelzine", "Parnate", "tranylcypromine 10 mg", "Emsam 6 mg/24 h patch", "Eldepryl", "Zelapar", "Azilect 1mg",
     "rasagiline", "Marplan", "isocarboxazid", "Zyvox 600 mg", "LINEZOLID", "ProvayBlue", "methylene blue 1 mg/kg",
     "selegiline"],
)
def test_an_maoi_always_gives_at_least_eligible_with_precautions(text):
    result = run(medications=[text])
    assert kinds_by_code(result)["interaction_maoi"] == "precaution"
    assert result.decision is Decision.ELIGIBLE_WITH_PRECAUTIONS


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Xanax 0.5 mg", "interaction_benzodiazepine"), ("Restoril", "interaction_benzodiazepine"),
        ("Halcion", "interaction_benzodiazepine"), ("Roxicodone 5", "interaction_opioid"),
        ("Vicodin", "interaction_opioid"), ("Exalgo 8 mg", "interaction_opioid"), ("Subutex", "interaction_opioid"),
        ("Butrans 10 mcg/h", "interaction_opioid"), ("Belbuca", "interaction_opioid"),
        ("MS Contin 30 mg", "interaction_opioid"), ("ms-contin", "interaction_opioid"), ("Nucynta", "interaction_opioid"),
        ("Ultram 50", "interaction_opioid"), ("Opana ER", "interaction_opioid"), ("Dolophine", "interaction_opioid"),
        ("methadone 40 mg", "interaction_opioid"), ("Adderall XR", "interaction_psychostimulant"),
        ("Vyvanse", "interaction_psychostimulant"), ("Ritalin LA", "interaction_psychostimulant"),
        ("Provigil", "interaction_psychostimulant"), ("modafinil", "interaction_psychostimulant"),
        ("nirmatrelvir-ritonavir", "interaction_cyp3a4_inhibitor"), ("ketoconazole", "interaction_cyp3a4_inhibitor"),
        ("itraconazole", "interaction_cyp3a4_inhibitor"), ("Norvir", "interaction_cyp3a4_inhibitor"),
        ("Rifadin", "interaction_cyp_inducer"), ("St. John's Wort", "interaction_cyp_inducer"),
        ("st johns wort", "interaction_cyp_inducer"), ("aminophylline", "interaction_seizure_threshold"),
        ("Theo-24 300 mg", "interaction_seizure_threshold"), ("Uniphyl", "interaction_seizure_threshold"),
        ("gabapentin 300 mg tid", "interaction_cns_depressant"), ("Neurontin", "interaction_cns_depressant"),
        ("Gralise", "interaction_cns_depressant"), ("Horizant", "interaction_cns_depressant"),
        ("Lyrica 75mg", "interaction_cns_depressant"), ("pregabalin", "interaction_cns_depressant"),
        ("Ambien 10 mg", "interaction_cns_depressant"), ("zopiclone", "interaction_cns_depressant"),
        ("Lunesta", "interaction_cns_depressant"), ("Sonata", "interaction_cns_depressant"),
        ("Lamictal 100 mg", "interaction_lamotrigine"),
    ],
)
def test_other_brands_and_generics(text, code):
    assert code in run(medications=[text]).codes()


@pytest.mark.parametrize(
    "text",
    ["Anorcolex", "norcodeinex", "metformin 500 mg", "atorvastatin", "benzonatate", "Valiumx", "paracetamol",
     "levothyroxine", "omeprazole", "sertraline"],
)
def test_names_are_matched_as_whole_words(text):
    result = run(medications=[text])
    assert not {c for c in result.codes() if c.startswith("interaction_")}, text


def test_norco_does_not_match_inside_another_word_but_does_beside_punctuation():
    assert classes_of("xnorco") == set()
    assert classes_of("norcox") == set()
    assert classes_of("(Norco)") == {DrugClass.OPIOID}
    assert classes_of("Norco10/325") == {DrugClass.OPIOID}  # a strength run on is still a dose


def test_two_medications_of_one_class_are_listed_in_one_finding():
    result = run(medications=["Ativan 1 mg", "Klonopin 0.5 mg"])
    findings = [f for f in result.findings if f.code == "interaction_benzodiazepine"]
    assert len(findings) == 1
    assert "Ativan 1 mg (lorazepam)" in findings[0].message and "Klonopin 0.5 mg (clonazepam)" in findings[0].message


def test_the_brand_table_is_consistent():
    table = brand_table()
    assert table["Nardil"] == "phenelzine" and table["Paxlovid"] in ("ritonavir + nirmatrelvir",
                                                                      "nirmatrelvir + ritonavir")
    generics = {normalise(d.generic) for d in DRUGS}
    for brand in table:
        assert normalise(brand) not in generics, brand  # no brand shadows a generic name
    for drug in DRUGS:
        assert drug.classes


def test_interactions_cover_every_class_and_cite_a_source():
    assert {i.drug_class for i in INTERACTIONS} == set(DrugClass)
    for i in INTERACTIONS:
        get_source(i.source)


def test_match_medication_is_pure_and_case_insensitive():
    assert [m.drug.generic for m in match_medication("NARDIL")] == [m.drug.generic for m in match_medication("nardil")]


# --- rules catalogue ----------------------------------------------------------------------------------


def test_every_v2_rule_is_in_the_catalogue_with_its_kind_and_a_source():
    by_code: dict[str, set[str]] = {}
    for rule in RULES:
        get_source(rule.source)
        by_code.setdefault(rule.code, set()).add(rule.kind)
    for code, kind in V2_CODES.items():
        assert by_code.get(code) == {kind}, code
    assert by_code["pain_not_chronic"] == {"unmet_requirement", "note"}


def test_the_12_week_rule_no_longer_cites_a_clinic_web_page():
    for rule in RULES:
        if rule.code in ("pain_not_chronic", "not_refractory"):
            assert get_source(rule.source).kind != "seed", rule


# --- properties ---------------------------------------------------------------------------------------

V2_ORDERS = {
    "cerebrovascular": ["none", "aneurysm_or_avm", "intracerebral_hemorrhage_history"],
    "coronary": ["none", "stable", "recent_event"],
    "thyroid": ["normal", "hyperthyroid_treated", "hyperthyroid_untreated"],
    "seizures": ["none", "controlled", "poorly_controlled"],
    "mania": ["none", "history", "active"],
    "alcohol_use": ["none", "moderate", "heavy"],
}
V2_MEDS = ["Nardil 15 mg", "OxyContin 20 mg", "Ativan", "Paxlovid", "Tegretol", "theophylline", "Lyrica", "Concerta",
           "aspirin"]


@st.composite
def v2_documents(draw) -> dict[str, Any]:
    d = draw(documents())
    for field, order in V2_ORDERS.items():
        if draw(st.booleans()):
            d["history"][field] = draw(st.sampled_from([order[0]] * 3 + order[1:]))
    if draw(st.booleans()):
        d["patient"]["breastfeeding"] = draw(st.sampled_from([False, False, True]))
    if draw(st.booleans()):
        d["patient"]["height_cm"] = draw(st.floats(140, 200, allow_nan=False))
    if draw(st.booleans()):
        d["vitals"]["respiratory_rate_per_min"] = draw(st.integers(8, 30))
    d["medications"] = d["medications"] + draw(st.lists(st.sampled_from(V2_MEDS), max_size=2))
    return d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_v1_document_is_valid_without_v2_fields(document):
    request = ScreeningRequest.model_validate(document)
    assert request.history.coronary is None and request.patient.breastfeeding is None
    screen(request)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v2_documents())
def test_v2_decision_is_a_function_of_the_kinds(document):
    result = screen(ScreeningRequest.model_validate(document))
    kinds = {f.kind for f in result.findings}
    if kinds & {Kind.CONTRAINDICATION, Kind.UNMET_REQUIREMENT}:
        expected = Decision.NOT_ELIGIBLE
    elif Kind.PRECAUTION in kinds:
        expected = Decision.ELIGIBLE_WITH_PRECAUTIONS
    else:
        expected = Decision.ELIGIBLE
    assert result.decision is expected
    rule_kinds = {(r.code, r.kind) for r in RULES}
    for f in result.findings:
        assert (f.code, f.kind.value) in rule_kinds, f.code
        get_source(f.source)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v2_documents(), st.data())
def test_worsening_a_v2_field_never_relaxes_the_decision(document, data):
    before = screen(ScreeningRequest.model_validate(document))
    d = copy.deepcopy(document)
    change = data.draw(st.sampled_from(["history", "breastfeeding", "spo2", "hr", "medication"]))
    if change == "history":
        field = data.draw(st.sampled_from(sorted(V2_ORDERS)))
        order = V2_ORDERS[field]
        current = d["history"].get(field, order[0])
        d["history"][field] = data.draw(st.sampled_from(order[order.index(current):]))
    elif change == "breastfeeding":
        d["patient"]["breastfeeding"] = True
    elif change == "spo2":
        d["vitals"]["spo2_pct"] = data.draw(st.integers(50, d["vitals"]["spo2_pct"]))
    elif change == "hr":
        d["vitals"]["heart_rate_bpm"] = data.draw(st.integers(d["vitals"]["heart_rate_bpm"], 250))
    else:
        d["medications"].append(data.draw(st.sampled_from(V2_MEDS)))
    after = screen(ScreeningRequest.model_validate(d))
    assert DECISION_RANK[after.decision] >= DECISION_RANK[before.decision]


def test_every_v2_history_combination_is_judged_exhaustively():
    """All 729 v2 history combinations: each code fires exactly when its value says so."""
    fields = sorted(V2_ORDERS)
    for values in itertools.product(*(V2_ORDERS[f] for f in fields)):
        history = dict(zip(fields, values, strict=True))
        result = run(**{f"history__{k}": v for k, v in history.items()})
        codes = result.codes()
        assert ("cerebrovascular_risk" in codes) is (history["cerebrovascular"] != "none")
        assert ("coronary_recent_event" in codes) is (history["coronary"] == "recent_event")
        assert ("coronary_disease" in codes) is (history["coronary"] == "stable")
        assert ("hyperthyroidism_untreated" in codes) is (history["thyroid"] == "hyperthyroid_untreated")
        assert ("mania_active" in codes) is (history["mania"] == "active")
        assert ("mania_history" in codes) is (history["mania"] == "history")
        assert ("seizures_poorly_controlled" in codes) is (history["seizures"] == "poorly_controlled")
        assert ("alcohol_heavy" in codes) is (history["alcohol_use"] == "heavy")
