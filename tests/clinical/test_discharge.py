"""Discharge (contract 4.7): the modified PADSS with every item required, and the absolute criteria."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ketaclinic.clinical.discharge import (
    PADSS_ITEMS,
    RULES,
    DischargeRequest,
    assess_discharge,
    padss_vital_signs_score,
)
from ketaclinic.evidence.sources import get_source

BASELINE = {"systolic_mmhg": 125, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "spo2_pct": 98}
GOOD = {
    "baseline": BASELINE,
    "minutes_since_stop": 65,
    "observation": {"systolic_mmhg": 130, "diastolic_mmhg": 82, "heart_rate_bpm": 76, "spo2_pct": 97,
                    "respiratory_rate_per_min": 14, "moaas": 5},
    "padss": {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2, "bleeding": 2},
    "dissociation_resolved": True, "escort_present": True, "oriented": True, "steady_gait": True,
}


def request(**changes: object) -> DischargeRequest:
    doc = {**GOOD}
    for key, value in changes.items():
        doc[key] = {**GOOD[key], **value} if isinstance(value, dict) and isinstance(GOOD.get(key), dict) else value
    return DischargeRequest.model_validate(doc)


def unmet(**changes: object) -> list[str]:
    return [c.code for c in assess_discharge(request(**changes)).unmet]


def test_a_settled_patient_with_an_escort_may_go_home() -> None:
    assessment = assess_discharge(request())
    assert assessment.as_contract() == {"ready": True, "padss_total": 10, "unmet": []}
    for c in assessment.criteria:
        get_source(c.source)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"minutes_since_stop": 59.9}, "observation_time"),
        ({"padss": {"pain": 0}}, "padss_low"),
        ({"escort_present": False}, "escort_missing"),
        ({"dissociation_resolved": False}, "dissociation_unresolved"),
        ({"oriented": False}, "not_oriented"),
        ({"steady_gait": False}, "gait_unsteady"),
        ({"observation": {"spo2_pct": 93.9}}, "spo2_low"),
        ({"observation": {"systolic_mmhg": 150, "diastolic_mmhg": 100}, "baseline": {**BASELINE, "diastolic_mmhg": 95}},
         "bp_high"),
        ({"observation": {"systolic_mmhg": 160}, "baseline": {**BASELINE, "systolic_mmhg": 150}}, "bp_high"),
        ({"observation": {"systolic_mmhg": 89, "diastolic_mmhg": 70}, "baseline": {**BASELINE, "systolic_mmhg": 100}},
         "bp_low"),
        ({"observation": {"heart_rate_bpm": 111}, "baseline": {**BASELINE, "heart_rate_bpm": 100}}, "hr_abnormal"),
        ({"observation": {"heart_rate_bpm": 49}, "baseline": {**BASELINE, "heart_rate_bpm": 55}}, "hr_abnormal"),
        ({"observation": {"respiratory_rate_per_min": 9}}, "rr_abnormal"),
        ({"observation": {"respiratory_rate_per_min": 25}}, "rr_abnormal"),
        ({"observation": {"moaas": 4}}, "moaas_low"),
        ({"observation": {"heart_rate_bpm": 90}}, "vitals_within_20pct"),
    ],
)
def test_each_absolute_criterion_alone(changes: dict, code: str) -> None:
    assert unmet(**changes) == [code]


@pytest.mark.parametrize(
    ("changes"),
    [{"minutes_since_stop": 60}, {"observation": {"spo2_pct": 94}}, {"observation": {"respiratory_rate_per_min": 10}},
     {"observation": {"respiratory_rate_per_min": 24}}, {"padss": {"pain": 1}}],
)
def test_at_the_boundary_the_criterion_is_met(changes: dict) -> None:
    assert unmet(**changes) == []


def test_baseline_165_100_to_195_118_with_spo2_85_is_not_ready() -> None:
    """Within 20 % of a high baseline, but absolutely too high and hypoxaemic: not ready."""
    assessment = assess_discharge(request(
        baseline={"systolic_mmhg": 165, "diastolic_mmhg": 100, "heart_rate_bpm": 80, "spo2_pct": 97},
        observation={"systolic_mmhg": 195, "diastolic_mmhg": 118, "heart_rate_bpm": 84, "spo2_pct": 85}))
    assert not assessment.ready
    assert {c.code for c in assessment.unmet} == {"spo2_low", "bp_high"}


def test_discharge_refused_for_spo2_91_after_70_minutes() -> None:
    out = assess_discharge(request(minutes_since_stop=70, observation={"spo2_pct": 91})).as_contract()
    assert out["ready"] is False
    assert [u["code"] for u in out["unmet"]] == ["spo2_low"]
    assert "91" in out["unmet"][0]["message"]


@pytest.mark.parametrize("item", PADSS_ITEMS)
def test_an_unanswered_padss_item_is_an_error_never_a_default(item: str) -> None:
    doc = {**GOOD, "padss": {k: v for k, v in GOOD["padss"].items() if k != item}}
    with pytest.raises(ValidationError) as info:
        DischargeRequest.model_validate(doc)
    assert f"padss.{item}" in str(info.value).replace("\n", ".")


@pytest.mark.parametrize(
    "bad",
    [{"padss": {**GOOD["padss"], "pain": 3}}, {"padss": {**GOOD["padss"], "pain": "2"}},
     {"padss": {**GOOD["padss"], "pain": None}}, {"escort_present": "yes"}, {"oriented": None},
     {"observation": {**GOOD["observation"], "moaas": 6}}, {"minutes_since_stop": -1},
     {"observation": {**GOOD["observation"], "systolic_mmhg": 70, "diastolic_mmhg": 90}},
     {"padss": {**GOOD["padss"], "intake_output": 2}}],
)
def test_bad_answers_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        DischargeRequest.model_validate({**GOOD, **bad})


@pytest.mark.parametrize("field", ["dissociation_resolved", "escort_present", "oriented", "steady_gait",
                                   "observation", "baseline", "minutes_since_stop", "padss"])
def test_every_top_level_answer_is_required(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        DischargeRequest.model_validate({k: v for k, v in GOOD.items() if k != field})


def test_every_unmet_criterion_is_listed_with_a_source() -> None:
    out = assess_discharge(request(
        minutes_since_stop=10, dissociation_resolved=False, escort_present=False, oriented=False, steady_gait=False,
        padss={"activity": 0, "nausea_vomiting": 1},
        observation={"systolic_mmhg": 182, "diastolic_mmhg": 104, "heart_rate_bpm": 118, "spo2_pct": 90,
                     "respiratory_rate_per_min": 8, "moaas": 3})).as_contract()
    assert {u["code"] for u in out["unmet"]} == {
        "observation_time", "padss_low", "vitals_within_20pct", "escort_missing", "dissociation_unresolved",
        "not_oriented", "gait_unsteady", "spo2_low", "bp_high", "hr_abnormal", "rr_abnormal", "moaas_low"}
    assert out["padss_total"] == 7
    sources = {u["code"]: u["source"] for u in out["unmet"]}
    assert sources["padss_low"] == "chung1995_padss"
    assert all(s == "clinic_policy" for c, s in sources.items() if c not in ("padss_low", "vitals_within_20pct"))


def test_a_longer_protocol_minimum_applies() -> None:
    assessment = assess_discharge(request(minutes_since_stop=90), minimum_observation_min=120)
    (criterion,) = assessment.unmet
    assert criterion.code == "observation_time" and "30 min to go" in criterion.message


@pytest.mark.parametrize(("change_pct", "score"), [(0, 2), (20, 2), (20.1, 1), (40, 1), (40.1, 0)])
def test_padss_vital_sign_hint_bands(change_pct: float, score: int) -> None:
    assert padss_vital_signs_score(change_pct) == score


@settings(max_examples=300, deadline=None)
@given(items=st.fixed_dictionaries({k: st.integers(0, 2) for k in PADSS_ITEMS}))
def test_padss_total_is_the_sum_and_below_9_is_never_ready(items: dict) -> None:
    assessment = assess_discharge(request(padss=items))
    assert assessment.padss_total == sum(items.values())
    assert ("padss_low" in {c.code for c in assessment.unmet}) == (sum(items.values()) < 9)
    if sum(items.values()) < 9:
        assert not assessment.ready


def test_rules_name_every_criterion() -> None:
    assert {c.code for c in assess_discharge(request()).criteria} <= {r.code for r in RULES}
