"""The alert rules of contract 4.4, at and around every threshold."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ketaclinic.clinical.monitoring import (
    ACTIONS,
    BP_RULE_CODES,
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
        ({"systolic_mmhg": 159, "diastolic_mmhg": 99}, set()),
        ({"systolic_mmhg": 160, "diastolic_mmhg": 99}, {"bp_elevated"}),
        ({"systolic_mmhg": 159, "diastolic_mmhg": 100}, {"bp_elevated"}),
        ({"systolic_mmhg": 179, "diastolic_mmhg": 109}, {"bp_elevated"}),
        ({"systolic_mmhg": 180, "diastolic_mmhg": 100}, {"bp_critical"}),
        ({"systolic_mmhg": 170, "diastolic_mmhg": 110}, {"bp_critical"}),
        ({"systolic_mmhg": 90, "diastolic_mmhg": 50}, set()),
        ({"systolic_mmhg": 89.9, "diastolic_mmhg": 60}, {"hypotension"}),
        ({"systolic_mmhg": 110, "diastolic_mmhg": 49}, {"hypotension"}),
        ({"systolic_mmhg": 80, "diastolic_mmhg": 45}, {"hypotension"}),
        ({"systolic_mmhg": 79, "diastolic_mmhg": 45}, {"hypotension_critical"}),
    ],
)
def test_absolute_blood_pressure_thresholds(changes: dict, expected: set[str]) -> None:
    assert codes(observe(HIGH_BASELINE if changes["systolic_mmhg"] >= 150 else BASELINE, **changes)) == expected


def test_80_45_fires_a_hypotension_alert() -> None:
    alerts = observe(systolic_mmhg=80, diastolic_mmhg=45)
    assert [(a.code, a.severity, a.action) for a in alerts] == [("hypotension", "warning", "pause_infusion")]
    assert "80" in alerts[0].message and "45" in alerts[0].message


def test_systolic_below_80_stops_the_infusion() -> None:
    alerts = observe(systolic_mmhg=72, diastolic_mmhg=40)
    assert [(a.code, a.severity, a.action) for a in alerts] == [("hypotension_critical", "critical", "stop_infusion")]
    assert "diastolic 40" in alerts[0].message  # the other reading is named, not a second alert


def test_185_110_gives_exactly_one_blood_pressure_alert_a_critical_pause() -> None:
    alerts = observe(systolic_mmhg=185, diastolic_mmhg=110)
    assert [(a.code, a.severity, a.action) for a in alerts] == [("bp_critical", "critical", "pause_infusion")]
    assert "call the physician" in alerts[0].message
    assert alerts[0].source == "clinic_policy"  # Del Sant 2020 is context in the message, not the rule's source
    assert "Del Sant 2020" in alerts[0].message


def test_critical_blood_pressure_pauses_and_calls_the_physician() -> None:
    alerts = observe(HIGH_BASELINE, systolic_mmhg=186, diastolic_mmhg=112)
    assert len(alerts) == 1  # one cause, one alert: the rise and the 160/100 tier are named in it
    (alert,) = alerts
    assert (alert.code, alert.severity, alert.action) == ("bp_critical", "critical", "pause_infusion")
    assert "call the physician" in alert.message
    assert "186" in alert.message and "112" in alert.message


def test_168_92_over_126_80_is_one_reduce_rate_warning_naming_the_rise() -> None:
    baseline = Vitals(systolic_mmhg=126, diastolic_mmhg=80, heart_rate_bpm=74, spo2_pct=98)
    alerts = observe(baseline, systolic_mmhg=168, diastolic_mmhg=92)
    assert [(a.code, a.severity, a.action) for a in alerts] == [("bp_elevated", "warning", "reduce_rate")]
    assert "rise" in alerts[0].message


@pytest.mark.parametrize(
    ("reading", "code", "severity", "action", "also"),
    [
        ((185, 45), "bp_critical", "critical", "pause_infusion", "diastolic 45"),
        ((170, 45), "hypotension", "warning", "pause_infusion", "systolic 170"),
        ((165, 48), "hypotension", "warning", "pause_infusion", "systolic 165"),
    ],
)
def test_hypertension_with_hypotension_gives_one_alert_the_most_severe_then_table_order(
    reading: tuple, code: str, severity: str, action: str, also: str
) -> None:
    alerts = observe(HIGH_BASELINE, systolic_mmhg=reading[0], diastolic_mmhg=reading[1])
    assert [(a.code, a.severity, a.action) for a in alerts] == [(code, severity, action)]
    assert also in alerts[0].message


LOW_BASELINE = Vitals(systolic_mmhg=110, diastolic_mmhg=70, heart_rate_bpm=74, spo2_pct=98)


@pytest.mark.parametrize(
    ("changes", "fires"),
    [
        ({"systolic_mmhg": 149}, False),  # +39
        ({"systolic_mmhg": 150}, True),  # +40
        ({"diastolic_mmhg": 94}, False),  # +24
        ({"diastolic_mmhg": 95}, True),  # +25
    ],
)
def test_rise_from_baseline(changes: dict, fires: bool) -> None:
    alerts = observe(LOW_BASELINE, **{"systolic_mmhg": 140, "diastolic_mmhg": 85, **changes})
    assert codes(alerts) == ({"bp_rise_from_baseline"} if fires else set())
    if fires:
        assert alerts[0].severity == "warning" and alerts[0].action == "call_physician"
        assert alerts[0].source == "spravato_label_bp"


def test_rise_of_exactly_40_with_decimals() -> None:
    baseline = Vitals(systolic_mmhg=110.2, diastolic_mmhg=72, heart_rate_bpm=74, spo2_pct=98)
    assert 150.2 - 110.2 < 40  # binary floating point would miss the boundary
    assert codes(observe(baseline, systolic_mmhg=150.2)) == {"bp_rise_from_baseline"}
    assert codes(observe(baseline, systolic_mmhg=150.1)) == set()


@pytest.mark.parametrize(("reading", "code"), [((166, 82), "bp_elevated"), ((128, 107), "bp_elevated"),
                                               ((158, 90), "bp_rise_from_baseline"), ((150, 99), None)])
def test_a_rise_of_40_or_25_calls_the_physician_unless_a_stronger_bp_rule_names_it(reading: tuple, code: str | None) -> None:
    baseline = Vitals(systolic_mmhg=118, diastolic_mmhg=80, heart_rate_bpm=74, spo2_pct=98)
    alerts = observe(baseline, systolic_mmhg=reading[0], diastolic_mmhg=reading[1])
    bp = [a for a in alerts if a.code in BP_RULE_CODES]
    if code is None:
        assert bp == []
    else:
        assert [a.code for a in bp] == [code] and "rise" in bp[0].message
        if code == "bp_rise_from_baseline":
            assert (bp[0].severity, bp[0].action) == ("warning", "call_physician")


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
        ([{"code": "hallucinations", "severity": "moderate"}], {"psychomimetic_distress"}),
        ([{"code": "anxiety", "severity": "moderate"}], set()),
        ([{"code": "anxiety", "severity": "severe"}], {"psychomimetic_distress"}),
        ([{"code": "agitation", "severity": "moderate"}], set()),
        ([{"code": "agitation", "severity": "severe"}], {"psychomimetic_distress"}),
        ([{"code": c, "severity": "severe"} for c in ("dizziness", "headache", "blurred_vision", "vivid_dreams")], set()),
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
    "effects",
    [[{"code": "anxiety", "severity": "severe"}], [{"code": "agitation", "severity": "severe"}],
     [{"code": "hallucinations", "severity": "moderate"}]],
)
def test_severe_anxiety_or_agitation_and_moderate_hallucinations_reduce_the_rate(effects: list) -> None:
    alerts = observe(side_effects=effects)
    assert [(a.code, a.severity, a.action) for a in alerts] == [("psychomimetic_distress", "warning", "reduce_rate")]


def test_psychomimetic_distress_is_one_cause_one_alert() -> None:
    alerts = observe(rass=3, side_effects=[{"code": "agitation", "severity": "severe"},
                                           {"code": "hallucinations", "severity": "severe"},
                                           {"code": "dissociation", "severity": "severe"}])
    assert [a.code for a in alerts] == ["psychomimetic_distress"]
    assert "RASS +3" in alerts[0].message and "severe hallucinations" in alerts[0].message


@pytest.mark.parametrize(
    ("rass", "moaas", "expected"),
    [(None, 5, set()), (1, 5, set()), (2, 5, {"rass_agitation"}), (4, 5, {"rass_agitation"}), (-2, 5, set()),
     (-3, 5, {"rass_sedation_critical"}), (-5, 5, {"rass_sedation_critical"}), (-4, 1, {"sedation_critical"}),
     (-3, 3, {"rass_sedation_critical"})],
)
def test_rass_beside_moaas(rass: int | None, moaas: int, expected: set[str]) -> None:
    alerts = observe(rass=rass, moaas=moaas)
    assert codes(alerts) == expected
    for alert in alerts:
        assert alert.action == ("reduce_rate" if alert.code == "rass_agitation" else "stop_infusion")


def test_cadss6_is_recorded_and_scored_but_raises_no_alert() -> None:
    items = {"cadss_1": 4, "cadss_2": 4, "cadss_6": 3, "cadss_7": 2, "cadss_15": 4, "cadss_22": 1}
    obs = Observation.model_validate({**NORMAL, "cadss6": items})
    assert obs.cadss6 is not None and obs.cadss6.total == 18
    assert evaluate_observation(BASELINE, obs) == []
    with pytest.raises(ValidationError, match="cadss_22"):
        Observation.model_validate({**NORMAL, "cadss6": {k: v for k, v in items.items() if k != "cadss_22"}})
    with pytest.raises(ValidationError):
        Observation.model_validate({**NORMAL, "cadss6": {**items, "cadss_1": 5}})
    with pytest.raises(ValidationError):
        Observation.model_validate({**NORMAL, "rass": 5})


@pytest.mark.parametrize(
    ("code", "severity", "action"),
    [
        ("bp_critical", "critical", "pause_infusion"),
        ("hypotension_critical", "critical", "stop_infusion"),
        ("hypotension", "warning", "pause_infusion"),
        ("bp_elevated", "warning", "reduce_rate"),
        ("bp_rise_from_baseline", "warning", "call_physician"),
        ("rass_sedation_critical", "critical", "stop_infusion"),
        ("rass_agitation", "warning", "reduce_rate"),
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
    assert len(alerts) == 7  # one per cause: bp, spo2, respiration, sedation, heart rate, psychomimetic, nausea
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
        "hallucinations", "vivid_dreams", "anxiety", "hypersalivation", "nystagmus", "agitation",
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
        # away from the normal range: lower when already low (diastolic < 50 is hypotension), else higher
        dia = obs["diastolic_mmhg"]
        worse["diastolic_mmhg"] = (max(20, dia - amount * 10) if dia < 50
                                   else min(worse["systolic_mmhg"] - 1, dia + amount * 10))
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


# --------------------------------------------------------------------------- 4.4 v2 properties: one alert per cause

baselines = st.builds(
    lambda s, d, hr: Vitals(systolic_mmhg=s, diastolic_mmhg=d, heart_rate_bpm=hr, spo2_pct=98),
    st.floats(100, 150), st.floats(55, 95), st.floats(55, 100),
).filter(lambda v: v.diastolic_mmhg < v.systolic_mmhg)

pressures = st.tuples(st.floats(55, 260), st.floats(25, 160)).filter(lambda p: p[1] < p[0])


def _bp_alerts(baseline: Vitals, systolic: float, diastolic: float, **other: object) -> list:
    obs = Observation.model_validate({**NORMAL, "side_effects": [], **other,
                                      "systolic_mmhg": systolic, "diastolic_mmhg": diastolic})
    return [a for a in evaluate_observation(baseline, obs) if a.code in BP_RULE_CODES]


@settings(max_examples=400, deadline=None)
@given(baseline=baselines, bp=pressures, obs=observations)
def test_at_most_one_blood_pressure_alert_per_observation(baseline: Vitals, bp: tuple, obs: dict) -> None:
    observation = Observation.model_validate({**obs, "systolic_mmhg": bp[0], "diastolic_mmhg": bp[1]})
    alerts = evaluate_observation(baseline, observation)
    assert len([a for a in alerts if a.code in BP_RULE_CODES]) <= 1
    assert len({a.code for a in alerts}) == len(alerts)


@settings(max_examples=400, deadline=None)
@given(baseline=baselines, bp=pressures, d_sys=st.floats(0, 80), d_dia=st.floats(0, 50))
def test_a_worse_blood_pressure_never_gives_a_milder_bp_alert(baseline: Vitals, bp: tuple, d_sys: float,
                                                             d_dia: float) -> None:
    """Each pressure moved further from the baseline, in the direction it already went, is worse."""
    systolic, diastolic = bp
    worse_sys = min(300, systolic + d_sys) if systolic >= baseline.systolic_mmhg else max(50, systolic - d_sys)
    worse_dia = min(200, diastolic + d_dia) if diastolic >= baseline.diastolic_mmhg else max(20, diastolic - d_dia)
    assume(worse_dia < worse_sys)
    before = _bp_alerts(baseline, systolic, diastolic)
    after = _bp_alerts(baseline, worse_sys, worse_dia)
    assert RANK[max_severity(after)] >= RANK[max_severity(before)]
    # and the action is never a milder one: stop > pause > reduce / call
    action_rank = {None: 0, "call_physician": 1, "reduce_rate": 1, "pause_infusion": 2, "stop_infusion": 3}
    if before and after and before[0].severity == after[0].severity:
        assert action_rank[after[0].action] >= action_rank[before[0].action]


normal_observations = st.fixed_dictionaries(
    {
        "minute": st.floats(0, 600),
        "systolic_mmhg": st.floats(100, 145),
        "diastolic_mmhg": st.floats(60, 85),
        "heart_rate_bpm": st.floats(55, 110),
        "spo2_pct": st.floats(94, 100),
        "respiratory_rate_per_min": st.floats(10, 24),
        "moaas": st.integers(4, 5),
        "rass": st.one_of(st.none(), st.integers(-2, 1)),
        "side_effects": st.lists(
            st.fixed_dictionaries({"code": st.sampled_from(SIDE_EFFECT_CODES), "severity": st.just("mild")}),
            max_size=4, unique_by=lambda e: e["code"],
        ),
    }
)


@settings(max_examples=300, deadline=None)
@given(obs=normal_observations)
def test_normal_observations_give_no_alerts(obs: dict) -> None:
    baseline = Vitals(systolic_mmhg=125, diastolic_mmhg=78, heart_rate_bpm=72, spo2_pct=98)
    assert evaluate_observation(baseline, Observation.model_validate(obs)) == []


# --- the console's vitals timer (issue 12) ---------------------------------------------------------

def test_vitals_are_due_at_once_then_every_15_min_then_overdue_after_5_more() -> None:
    from ketaclinic.clinical.monitoring import vitals_due

    assert vitals_due(0.5, None, None, 0).state == "due"  # no set since the start
    assert vitals_due(10, 0, None, 0).as_dict() == {"interval_min": 15, "due_at_min": 15, "state": "ok", "minutes_left": 5}
    assert vitals_due(15, 0, None, 0).state == "due"
    assert vitals_due(20, 0, None, 0).state == "due"  # 5 min late is still "due"
    assert vitals_due(20.5, 0, None, 0).state == "overdue"


def test_vitals_every_5_min_while_an_alert_is_open_or_after_a_rate_increase() -> None:
    from ketaclinic.clinical.monitoring import vitals_due

    assert vitals_due(30, 25, None, 1).interval_min == 5
    assert vitals_due(30, 25, 20, 0).interval_min == 5  # 10 min after the increase
    assert vitals_due(40, 35, 20, 0).interval_min == 15  # the close window has passed
    assert vitals_due(40, 30, None, 0, routine_min=10).due_at_min == 40  # the clinic's own interval
