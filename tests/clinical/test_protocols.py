"""The protocol library: every regimen of issue 4 is there, says what it is, and cites its source."""

from __future__ import annotations

import pytest

from ketaclinic.clinical import protocols as P
from ketaclinic.clinical.dosing import DEFAULT_LIBRARY
from ketaclinic.evidence.sources import get_source

REQUIRED = {
    "single_infusion_40min", "outpatient_infusion", "titrated_infusion", "intermittent_bolus",
    "continuous_inpatient_3day", "inpatient_course_5day", "oral_adjunct", "schwartzman2009", "sigtermans2009",
    "custom_iv",
}


def test_every_required_protocol_is_in_the_library() -> None:
    assert REQUIRED <= set(P.PROTOCOL_IDS)
    assert len(P.PROTOCOL_IDS) == len(set(P.PROTOCOL_IDS))


@pytest.mark.parametrize("protocol", P.PROTOCOLS, ids=lambda p: p.id)
def test_each_protocol_is_complete_and_cited(protocol: P.Protocol) -> None:
    assert protocol.route in ("iv", "oral", "intranasal", "im")
    assert protocol.setting in ("outpatient", "inpatient")
    assert protocol.name and protocol.summary
    assert protocol.min_observation_after_stop_min >= 60
    for evidence in protocol.evidence:
        assert get_source(evidence.source).id == evidence.source
    for limit in protocol.limits:
        get_source(limit.source)
    if protocol.titration:
        get_source(protocol.titration.source)
        assert protocol.titration.start <= protocol.titration.max
    get_source(protocol.series.source)
    assert protocol.requires_explicit_steps or protocol.steps


def test_listing_has_the_contract_fields() -> None:
    listing = P.list_protocols()
    assert [p["id"] for p in listing] == list(P.PROTOCOL_IDS)
    for entry in listing:
        assert {"id", "name", "route", "setting", "source"} <= set(entry)
        get_source(entry["source"])


def test_single_infusion_is_half_a_mg_per_kg_over_40_min() -> None:
    p = P.get_protocol("single_infusion_40min")
    (step,) = p.steps
    assert step.kind == "infusion" and step.duration_min == 40
    assert step.rate_mg_per_kg_per_h * step.duration_min / 60 == pytest.approx(0.5)
    assert p.source == "seed_ketarevive" and p.setting == "outpatient"


def test_outpatient_infusion_defaults_are_the_contract_example() -> None:
    p = P.get_protocol("outpatient_infusion")
    assert [s.as_dict() | {"label": None} for s in p.steps] == [
        {"kind": "bolus", "dose_mg_per_kg": 0.2, "duration_min": 5, "label": None},
        {"kind": "infusion", "rate_mg_per_kg_per_h": 0.5, "duration_min": 240, "label": None},
    ]
    sources = {e.source for e in p.evidence}
    assert {"seed_outpatient_series", "asra2018"} <= sources
    advised = {(lim.quantity, lim.value) for lim in p.limits if lim.bound == "advised_min"}
    assert advised == {("session_total_mg", 80.0), ("session_infusion_time_min", 120.0)}
    durations = {(lim.bound, lim.value) for lim in p.limits if lim.quantity == "infusion_duration_min"}
    assert durations == {("min", 40), ("max", 240)}


def test_titrated_infusion_starts_between_0_1_and_0_5() -> None:
    p = P.get_protocol("titrated_infusion")
    assert p.titration is not None and p.titration.start_range == (0.1, 0.5)
    assert p.steps[0].rate_mg_per_kg_per_h == p.titration.start == 0.1


def test_intermittent_bolus_range_and_its_override_note() -> None:
    p = P.get_protocol("intermittent_bolus")
    bounds = {lim.bound: lim.value for lim in p.limits if lim.quantity == "bolus_dose_mg_per_kg"}
    # the seed's 0.75 mg/kg rests on a clinic page: the protocol stops at ASRA's 0.35 mg/kg (issue 11)
    assert bounds == {"min": 0.2, "max": 0.35}
    assert (p.series.interval_days_min, p.series.interval_days_max) == (3, 4)
    assert bounds["max"] <= DEFAULT_LIBRARY.bolus_dose_mg_per_kg.soft_max.value
    assert p.titration is not None and p.titration.max == 0.35
    assert any("override" in c for c in p.cautions) and "anesthesia-staffed" in p.summary


def test_continuous_three_day_and_five_day_courses_are_inpatient() -> None:
    three = P.get_protocol("continuous_inpatient_3day")
    assert three.setting == "inpatient" and three.steps[0].duration_min == 3 * 24 * 60
    assert {(lim.bound, lim.value) for lim in three.limits if lim.quantity == "infusion_rate_mg_per_kg_per_h"} == {
        ("min", 0.1), ("max", 0.3)}
    five = P.get_protocol("inpatient_course_5day")
    assert five.setting == "inpatient" and five.steps[0].duration_min == 5 * 24 * 60
    assert five.source == "seed_inpatient_course"
    assert five.titration is not None and (five.titration.start, five.titration.max, five.titration.unit) == (10.0, 40.0, "mg/h")


def test_oral_adjunct_is_half_a_mg_per_kg_three_times_a_day() -> None:
    p = P.get_protocol("oral_adjunct")
    assert p.route == "oral" and p.allowed_kinds == ("oral",)
    assert (p.steps[0].dose_mg_per_kg, p.steps[0].times_per_day) == (0.5, 3)
    assert p.source == "seed_oral_adjunct"
    assert p.default_concentration_mg_per_ml == 10.0  # oral solution 50 mg/5 mL


def test_schwartzman_regimen_and_its_cap() -> None:
    p = P.get_protocol("schwartzman2009")
    assert p.steps[0].rate_mg_per_kg_per_h == 0.35 and p.steps[0].duration_min == 240
    cap = p.cap_mg_per_h()
    assert cap is not None and cap.value == 25.0 and cap.source == "schwartzman2009"
    assert (p.series.sessions, p.series.interval_days_min) == (10, 1)
    assert any(lim.quantity == "session_total_mg" and lim.value == 100.0 for lim in p.limits)


def test_sigtermans_is_a_titrated_4_2_day_inpatient_infusion() -> None:
    p = P.get_protocol("sigtermans2009")
    assert p.setting == "inpatient" and p.steps[0].duration_min == pytest.approx(4.2 * 24 * 60)
    assert p.steps[0].rate_mg_per_kg_per_h * 70 == pytest.approx(5.0)  # 5 mg/h per 70 kg
    assert p.titration is not None and p.titration.max * 70 == pytest.approx(30.0)
    assert any("S(+)-ketamine" in c for c in p.cautions)


def test_custom_iv_has_no_defaults_and_only_the_asra_advice() -> None:
    p = P.get_protocol("custom_iv")
    assert p.requires_explicit_steps and not p.steps and p.route == "iv" and p.setting == "outpatient"
    assert all(lim.bound == "advised_min" for lim in p.limits)


def test_unknown_protocol_names_the_allowed_ids() -> None:
    with pytest.raises(P.UnknownProtocolError) as err:
        P.get_protocol("outpatient")
    assert "outpatient_infusion" in str(err.value) and "custom_iv" in str(err.value)


def test_titration_steps_and_never_passes_its_maximum() -> None:
    t = P.get_protocol("continuous_inpatient_3day").titration
    assert t is not None
    assert t.next_rate(0.1) == 0.15
    assert t.next_rate(0.25) == 0.3
    assert t.next_rate(0.29) == 0.3
    assert t.next_rate(0.3) == 0.3


@pytest.mark.parametrize(("bound", "value", "fires"), [
    ("max", 0.75, False), ("max", 0.7501, True), ("min", 0.2, False), ("min", 0.1999, True),
    ("advised_min", 80, False), ("advised_min", 79.9, True),
])
def test_protocol_limit_fires_only_past_its_value(bound: str, value: float, fires: bool) -> None:
    threshold = {"max": 0.75, "min": 0.2, "advised_min": 80}[bound]
    quantity = "session_total_mg" if bound == "advised_min" else "bolus_dose_mg_per_kg"
    lim = P.ProtocolLimit(quantity, bound, threshold, "clinic_policy", "test")  # type: ignore[arg-type]
    assert lim.fires(value) is fires


def test_only_an_absolute_rate_can_be_capped() -> None:
    with pytest.raises(ValueError, match="capped"):
        P.ProtocolLimit("bolus_dose_mg_per_kg", "cap", 1.0, "clinic_policy", "no")


def test_a_limit_citing_an_unknown_source_fails_at_definition() -> None:
    with pytest.raises(KeyError):
        P.ProtocolLimit("session_total_mg", "max", 1.0, "no_such_source", "no")


def test_rules_are_unique_and_cited() -> None:
    codes = [r.code for r in P.RULES]
    assert len(codes) == len(set(codes))
    for rule in P.RULES:
        get_source(rule.source)
        assert rule.domain == "protocols"
    assert "schwartzman2009.protocol_infusion_rate_capped" in codes
    assert {f"{p.id}.min_observation" for p in P.PROTOCOLS} <= set(codes)


def test_as_dict_is_json_ready() -> None:
    import json

    for p in P.PROTOCOLS:
        again = json.loads(json.dumps(p.as_dict()))
        assert again["id"] == p.id and again["evidence"]
