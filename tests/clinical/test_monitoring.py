"""The alert rules of contract 4.4, at and around every threshold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ketaclinic.clinical.monitoring import (
    ACTIONS,
    DEFAULT_THRESHOLDS,
    RULES,
    SIDE_EFFECT_CODES,
    MonitorRequest,
    Observation,
    build_alert_rules,
    evaluate_observation,
    max_severity,
    recheck_interval_min,
)
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.sources import get_source

BASELINE = Vitals(systolic_mmhg=128, diastolic_mmhg=82, heart_rate_bpm=74, spo2_pct=98)
# A higher baseline so that the absolute blood-pressure thresholds can be probed without the rise rule.
HIGH_BASELINE = Vitals(systolic_mmhg=150, diastolic_mmhg=95, heart_rate_bpm=74, spo2_pct=98)
NORMAL = {
    "minute": 25,
    "systolic_mmhg": 150,
    "diastolic_mmhg": 90,
    "heart_rate_bpm": 88,
    "spo2_pct": 97,
    "respiratory_rate_per_min": 14,
    "moaas": 5,
    "side_effects": [{"code": "nausea", "severity": "mild"}],
}


def observe(baseline: Vitals = BASELINE, **changes: object) -> list:
    return evaluate_observation(baseline, Observation.model_validate({**NORMAL, **changes}))


def codes(alerts: list) -> set[str]:
    return {a.code for a in alerts}


def test_contract_example_gives_no_alerts() -> None:
    request = MonitorRequest.model_validate({"baseline": BASELINE.model_dump(), "observation": NORMAL})
    assert evaluate_observation(request.baseline, request.observation) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"spo2_pct": 89.9}, {"spo2_critical"}),
        ({"spo2_pct": 90}, {"spo2_low"}),
        ({"spo2_pct": 93}, {"spo2_low"}),
        ({"spo2_pct": 93.9}, {"spo2_low"}),
        ({"spo2_pct": 94}, set()),
        ({"respiratory_rate_per_min": 7}, {"respiratory_rate_critical"}),
        ({"respiratory_rate_per_min": 7.9}, {"respiratory_rate_critical"}),
        ({"respiratory_rate_per_min": 8}, set()),
        ({"moaas": 0}, {"sedation_critical"}),
        ({"moaas": 2}, {"sedation_critical"}),
        ({"moaas": 3}, {"sedation_moderate"}),
        ({"moaas": 4}, set()),
        ({"heart_rate_bpm": 120}, set()),
        ({"heart_rate_bpm": 120.5}, {"tachycardia"}),
        ({"heart_rate_bpm": 121}, {"tachycardia"}),
        ({"heart_rate_bpm": 50}, set()),
        ({"heart_rate_bpm": 49}, {"bradycardia"}),
    ],
)
def test_vital_sign_thresholds(changes: dict, expected: set[str]) -> None:
    assert codes(observe(**changes)) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"systolic_mmhg": 179, "diastolic_mmhg": 100}, set()),
        ({"systolic_mmhg": 180, "diastolic_mmhg": 100}, {"bp_critical", "bp_critical_call_physician"}),
        ({"systolic_mmhg": 170, "diastolic_mmhg": 109}, set()),
        ({"systolic_mmhg": 170, "diastolic_mmhg": 110}, {"bp_critical", "bp_critical_call_physician"}),
    ],
)
def test_absolute_blood_pressure_thresholds(changes: dict, expected: set[str]) -> None:
    assert codes(observe(HIGH_BASELINE, **changes)) == expected


def test_critical_blood_pressure_pauses_and_calls_the_physician() -> None:
    alerts = observe(HIGH_BASELINE, systolic_mmhg=186, diastolic_mmhg=112)
    by_code = {a.code: a for a in alerts}
    assert by_code["bp_critical"].action == "pause_infusion"
    assert by_code["bp_critical"].severity == "critical"
    assert "call the physician" in by_code["bp_critical"].message
    assert by_code["bp_critical_call_physician"].action == "call_physician"
    assert "186" in by_code["bp_critical"].message and "112" in by_code["bp_critical"].message
    assert len(alerts) == 2  # the rise rule is suppressed by the absolute rule of the same group


@pytest.mark.parametrize(
    ("changes", "fires"),
    [
        ({"systolic_mmhg": 167}, False),  # +39
        ({"systolic_mmhg": 168}, True),  # +40
        ({"diastolic_mmhg": 106}, False),  # +24
        ({"diastolic_mmhg": 107}, True),  # +25
    ],
)
def test_rise_from_baseline(changes: dict, fires: bool) -> None:
    alerts = observe(**changes)
    assert codes(alerts) == ({"bp_rise_from_baseline"} if fires else set())
    if fires:
        assert alerts[0].severity == "warning" and alerts[0].action == "continue"
        assert alerts[0].source == "spravato_label_bp"


def test_rise_of_exactly_40_with_decimals() -> None:
    baseline = Vitals(systolic_mmhg=120.2, diastolic_mmhg=82, heart_rate_bpm=74, spo2_pct=98)
    assert 160.2 - 120.2 < 40  # binary floating point would miss the boundary
    assert codes(observe(baseline, systolic_mmhg=160.2)) == {"bp_rise_from_baseline"}
    assert codes(observe(baseline, systolic_mmhg=160.1)) == set()


@pytest.mark.parametrize(
    ("effects", "expected"),
    [
        ([{"code": "nausea", "severity": "mild"}], set()),
        ([{"code": "nausea", "severity": "moderate"}], {"nausea_vomiting"}),
        ([{"code": "vomiting", "severity": "severe"}], {"nausea_vomiting"}),
        ([{"code": "dissociation", "severity": "moderate"}], set()),
        ([{"code": "dissociation", "severity": "severe"}], {"psychomimetic_distress"}),
        ([{"code": "hallucinations", "severity": "severe"}], {"psychomimetic_distress"}),
        ([{"code": "hallucinations", "severity": "mild"}], set()),
        ([{"code": c, "severity": "severe"} for c in ("dizziness", "headache", "blurred_vision", "anxiety")], set()),
        ([], set()),
    ],
)
def test_side_effect_rules(effects: list, expected: set[str]) -> None:
    assert codes(observe(side_effects=effects)) == expected


def test_nausea_and_vomiting_give_one_antiemetic_alert() -> None:
    alerts = observe(side_effects=[{"code": "nausea", "severity": "moderate"}, {"code": "vomiting", "severity": "severe"}])
    assert [(a.code, a.action) for a in alerts] == [("nausea_vomiting", "give_medication")]
    assert "moderate nausea" in alerts[0].message.lower() and "severe vomiting" in alerts[0].message.lower()
    assert "antiemetic" in alerts[0].message


@pytest.mark.parametrize(
    ("code", "severity", "action"),
    [
        ("bp_critical", "critical", "pause_infusion"),
        ("spo2_critical", "critical", "stop_infusion"),
        ("respiratory_rate_critical", "critical", "stop_infusion"),
        ("sedation_critical", "critical", "stop_infusion"),
        ("spo2_low", "warning", "reduce_rate"),
        ("tachycardia", "warning", "pause_infusion"),
        ("bradycardia", "warning", "call_physician"),
        ("sedation_moderate", "warning", "reduce_rate"),
        ("psychomimetic_distress", "warning", "reduce_rate"),
        ("nausea_vomiting", "warning", "give_medication"),
    ],
)
def test_severity_and_action_follow_the_contract_table(code: str, severity: str, action: str) -> None:
    rule = next(r for r in build_alert_rules() if r.code == code)
    assert (rule.severity, rule.action) == (severity, action)


def test_one_alert_per_group_and_critical_first() -> None:
    alerts = observe(spo2_pct=85, moaas=1, heart_rate_bpm=130, respiratory_rate_per_min=6)
    assert codes(alerts) == {"spo2_critical", "sedation_critical", "respiratory_rate_critical", "tachycardia"}
    severities = [a.severity for a in alerts]
    assert severities == sorted(severities, key=lambda s: s != "critical")
    assert max_severity(alerts) == "critical"
    assert max_severity([]) is None


def test_every_alert_names_a_known_source_and_action() -> None:
    alerts = observe(
        HIGH_BASELINE, systolic_mmhg=200, diastolic_mmhg=120, spo2_pct=85, respiratory_rate_per_min=5, moaas=1,
        heart_rate_bpm=140, side_effects=[{"code": "vomiting", "severity": "severe"}, {"code": "hallucinations", "severity": "severe"}],
    )
    assert len(alerts) >= 7
    for alert in alerts:
        get_source(alert.source)
        assert alert.action in ACTIONS
        assert alert.message.endswith(".")


def test_thresholds_may_be_tightened_but_not_loosened() -> None:
    strict = build_alert_rules(DEFAULT_THRESHOLDS.tightened(spo2_warning_below_pct=95, nausea_min_severity="mild"))
    obs = Observation.model_validate({**NORMAL, "spo2_pct": 94.5})
    assert codes(evaluate_observation(BASELINE, obs, strict)) == {"spo2_low", "nausea_vomiting"}
    assert evaluate_observation(BASELINE, obs) == []
    with pytest.raises(ValueError, match="looser"):
        DEFAULT_THRESHOLDS.tightened(spo2_critical_below_pct=85)
    with pytest.raises(ValueError, match="looser"):
        DEFAULT_THRESHOLDS.tightened(systolic_critical_mmhg=200)
    with pytest.raises(ValueError, match="looser"):
        DEFAULT_THRESHOLDS.tightened(psychomimetic_min_severity="severe", nausea_min_severity="severe")
    with pytest.raises(ValueError, match="unknown"):
        DEFAULT_THRESHOLDS.tightened(spo2_min=80)


@pytest.mark.parametrize(
    ("since", "alerts", "expected"),
    [(None, [], 15), (0, [], 5), (14.9, [], 5), (15, [], 15), (60, [], 15), (None, ["x"], 5)],
)
def test_recheck_interval(since: float | None, alerts: list, expected: int) -> None:
    assert recheck_interval_min(since, alerts) == expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"spo2_pct": 101}, "spo2_pct"),
        ({"moaas": 6}, "moaas"),
        ({"moaas": 2.5}, "moaas"),
        ({"respiratory_rate_per_min": -1}, "respiratory_rate_per_min"),
        ({"heart_rate_bpm": 0}, "heart_rate_bpm"),
        ({"minute": -5}, "minute"),
        ({"side_effects": [{"code": "itch", "severity": "mild"}]}, "side_effects"),
        ({"side_effects": [{"code": "nausea", "severity": "awful"}]}, "side_effects"),
        ({"spo2": 97}, "spo2"),
    ],
)
def test_implausible_or_unknown_input_is_refused(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Observation.model_validate({**NORMAL, **changes})
    assert field in str(info.value)


def test_swapped_pressures_and_duplicate_side_effects_are_refused() -> None:
    with pytest.raises(ValidationError, match="swapped"):
        Observation.model_validate({**NORMAL, "systolic_mmhg": 80, "diastolic_mmhg": 120})
    with pytest.raises(ValidationError, match="listed twice"):
        Observation.model_validate(
            {**NORMAL, "side_effects": [{"code": "nausea", "severity": "mild"}, {"code": "nausea", "severity": "severe"}]}
        )


def test_side_effect_vocabulary_is_the_contract_list() -> None:
    assert set(SIDE_EFFECT_CODES) == {
        "nausea", "vomiting", "dizziness", "blurred_vision", "headache", "fatigue", "dissociation",
        "hallucinations", "vivid_dreams", "anxiety", "hypersalivation", "nystagmus",
    }


def test_rule_catalogue_covers_every_alert_rule() -> None:
    catalogue = {r.code for r in RULES}
    assert {r.code for r in build_alert_rules()} <= catalogue
    assert all(r.domain == "monitoring" for r in RULES)


# --------------------------------------------------------------------------- properties

RANK = {None: 0, "warning": 1, "critical": 2}

observations = st.fixed_dictionaries(
    {
        "minute": st.floats(0, 600),
        "systolic_mmhg": st.floats(90, 220),
        "diastolic_mmhg": st.floats(40, 85),
        "heart_rate_bpm": st.floats(40, 150),
        "spo2_pct": st.floats(80, 100),
        "respiratory_rate_per_min": st.floats(4, 30),
        "moaas": st.integers(0, 5),
        "side_effects": st.lists(
            st.fixed_dictionaries(
                {"code": st.sampled_from(SIDE_EFFECT_CODES), "severity": st.sampled_from(["mild", "moderate", "severe"])}
            ),
            max_size=4,
            unique_by=lambda e: e["code"],
        ),
    }
)


def _worsen(obs: dict, which: str, amount: float) -> dict:
    worse = dict(obs)
    if which == "systolic_mmhg":
        worse["systolic_mmhg"] = min(300, obs["systolic_mmhg"] + amount * 20)
    elif which == "diastolic_mmhg":
        worse["diastolic_mmhg"] = min(worse["systolic_mmhg"] - 1, obs["diastolic_mmhg"] + amount * 10)
    elif which == "spo2_pct":
        worse["spo2_pct"] = max(50, obs["spo2_pct"] - amount * 5)
    elif which == "respiratory_rate_per_min":
        worse["respiratory_rate_per_min"] = max(0, obs["respiratory_rate_per_min"] - amount * 3)
    elif which == "moaas":
        worse["moaas"] = max(0, obs["moaas"] - int(amount * 2 + 1))
    elif which == "heart_rate_bpm":
        # away from the normal range: faster when fast, slower when slow
        hr = obs["heart_rate_bpm"]
        worse["heart_rate_bpm"] = min(250, hr + amount * 20) if hr >= 80 else max(20, hr - amount * 10)
    elif which == "side_effect":
        worse["side_effects"] = [{**e, "severity": "severe"} for e in obs["side_effects"]]
    return worse


@settings(max_examples=300, deadline=None)
@given(
    obs=observations,
    which=st.sampled_from(
        ["systolic_mmhg", "diastolic_mmhg", "spo2_pct", "respiratory_rate_per_min", "moaas", "heart_rate_bpm", "side_effect"]
    ),
    amount=st.floats(0, 3),
)
def test_worsening_a_vital_never_lowers_the_max_severity(obs: dict, which: str, amount: float) -> None:
    before = evaluate_observation(BASELINE, Observation.model_validate(obs))
    after = evaluate_observation(BASELINE, Observation.model_validate(_worsen(obs, which, amount)))
    assert RANK[max_severity(after)] >= RANK[max_severity(before)]


@settings(max_examples=200, deadline=None)
@given(obs=observations, spo2_warn=st.floats(94, 97), hr_high=st.floats(100, 120))
def test_tightened_rules_alert_at_least_as_much(obs: dict, spo2_warn: float, hr_high: float) -> None:
    strict = build_alert_rules(DEFAULT_THRESHOLDS.tightened(spo2_warning_below_pct=spo2_warn, heart_rate_high_above_bpm=hr_high))
    o = Observation.model_validate(obs)
    assert RANK[max_severity(evaluate_observation(BASELINE, o, strict))] >= RANK[max_severity(evaluate_observation(BASELINE, o))]
