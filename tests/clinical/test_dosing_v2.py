"""Design 4.3 v2: the dosing weight, the two care profiles, session totals, and the slips the
first clinical review reproduced with the CLI (issue 11), each as a named test; then the property
that no program the engine returns is past its profile's hard limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical import dosing as D
from ketaclinic.clinical.dosing import (
    PROFILES,
    Delivery,
    DoseRequest,
    DosingError,
    dosing_weight,
    ideal_body_weight_kg,
    most_in_any_window,
    program_pump,
)
from ketaclinic.clinical.protocols import PROTOCOLS
from tests.clinical.test_dosing import OVERRIDE, bolus, infusion, order


def refusal(req: DoseRequest) -> DosingError:
    with pytest.raises(DosingError) as err:
        program_pump(req)
    return err.value


# ----------------------------------------------------------------------------- the dosing weight


@pytest.mark.parametrize(("weight", "height", "sex", "kg", "basis"), [
    (70, None, None, "70.0", "actual"),
    (100, None, None, "100.0", "actual"),
    (100.1, None, None, "100", "capped"),
    (180, None, "male", "100", "capped"),
    (70, 170, "female", "70.0", "actual"),  # BMI 24.2
    (101.2, 170, "female", "77.4", "adjusted"),  # BMI 35.02; IBW 61.516 + 0.4 x 39.684 = 77.39
    (130, 165, "female", "86.2", "adjusted"),  # IBW 56.966 + 0.4 x 73.034 = 86.18
    (130, 165, "male", "88.9", "adjusted"),  # IBW 61.466 + 0.4 x 68.534 = 88.88
    (130, 165, None, "86.2", "adjusted"),  # sex unknown counts as female
])
def test_dosing_weight_follows_design_4_3_v2(weight: float, height: float | None, sex: str | None, kg: str, basis: str) -> None:
    got = dosing_weight(weight, height, sex)
    assert (got.basis, got.kg) == (basis, Decimal(kg))


def test_devine_ideal_body_weight() -> None:
    assert ideal_body_weight_kg(152.4, "male") == Decimal("50")
    assert ideal_body_weight_kg(152.4, "female") == Decimal("45.5")
    assert ideal_body_weight_kg(180, "male") == Decimal("50") + Decimal("0.91") * Decimal("27.6")
    assert ideal_body_weight_kg(140, "female") == Decimal("45.5")  # nothing taken off below 152.4 cm
    assert ideal_body_weight_kg(170, None) == ideal_body_weight_kg(170, "female")


def test_bmi_just_under_35_keeps_the_actual_weight() -> None:
    assert dosing_weight(101.0, 170, "female").basis == "actual"  # BMI 34.95
    assert dosing_weight(101.2, 170, "female").basis == "adjusted"  # BMI 35.02


def test_program_reports_the_dosing_weight_and_applies_every_mg_per_kg_to_it() -> None:
    out = program_pump(order("outpatient_infusion", 130, height_cm=165, sex="female")).as_dict()
    assert (out["dosing_weight_kg"], out["dosing_weight_basis"], out["weight_kg"]) == (86.2, "adjusted", 130.0)
    bolus_step, infusion_step = out["program"]
    assert bolus_step["dose_mg"] == 17.2  # 0.2 x 86.2 = 17.24
    assert infusion_step["rate_mg_per_h"] == 43.1  # 0.5 x 86.2
    assert "dosing_weight" in [n["code"] for n in out["notes"]]


def test_without_height_a_heavy_patient_is_dosed_at_100_kg() -> None:
    out = program_pump(order("outpatient_infusion", 140)).as_dict()
    assert (out["dosing_weight_kg"], out["dosing_weight_basis"]) == (100.0, "capped")
    assert out["program"][1]["rate_mg_per_h"] == 50.0


@pytest.mark.parametrize("height", [119.9, 230.1, -1])
def test_height_outside_120_to_230_cm_is_refused(height: float) -> None:
    with pytest.raises(ValueError, match="height_cm"):
        order("outpatient_infusion", 70, height_cm=height)


# ----------------------------------------------------------------------------- the slips of issue 11


def test_slip_180_kg_at_1_mg_per_kg_per_h_is_not_180_mg_per_h() -> None:
    err = refusal(order(weight_kg=180, steps=[infusion(1.0, 240)]))
    assert err.code == "soft_limit"  # 1.0 mg/kg/h is past the low-dose soft maximum
    out = program_pump(order(weight_kg=180, steps=[infusion(1.0, 240)], override=OVERRIDE)).as_dict()
    assert out["program"][0]["rate_mg_per_h"] == 100.0  # capped dosing weight, not 180 mg/h
    assert out["total_dose_mg"] == 400.0 and out["dosing_weight_basis"] == "capped"
    with_height = refusal(order(weight_kg=180, height_cm=185, sex="male", steps=[infusion(1.0, 240)], override=OVERRIDE))
    # BMI 52.6: adjusted 79.3 + 0.4 x 100.7 = 119.6 kg -> 119.6 mg/h: past the 100 mg/h hard stop
    assert with_height.code == "hard_limit" and "absolute_rate" in [f.code for f in with_height.limits]


def test_slip_twenty_boluses_of_0_35_mg_per_kg_stop_on_the_session_total() -> None:
    err = refusal(order(steps=[bolus(0.35)] * 20, override=OVERRIDE))
    assert err.code == "hard_limit" and err.field == "steps"
    assert {f.code for f in err.limits if f.level == "hard"} == {"session_total"}
    assert "7 mg/kg" in err.message


def test_slip_twenty_steps_of_600_min_stop_on_the_session_length() -> None:
    err = refusal(order(steps=[infusion(0.1, 600)] * 20, override=OVERRIDE))
    assert err.code == "hard_limit"
    assert "session_duration" in {f.code for f in err.limits if f.level == "hard"}


def test_slip_154_lb_typed_as_154_kg_with_a_height_is_an_implausible_bmi() -> None:
    err = refusal(order("outpatient_infusion", 154, height_cm=160, sex="female"))  # BMI 60.2
    assert err.code == "soft_limit" and "implausible_bmi" in [f.code for f in err.limits]
    assert "pounds" in err.message


def test_implausible_low_bmi_is_soft() -> None:
    err = refusal(order("outpatient_infusion", 35, height_cm=175))  # BMI 11.4
    assert err.code == "soft_limit" and [f.code for f in err.limits] == ["implausible_bmi"]


def test_intermittent_bolus_no_longer_allows_0_75_mg_per_kg_in_the_low_dose_profile() -> None:
    err = refusal(order("intermittent_bolus", 70, steps=[bolus(0.75)], override=OVERRIDE))
    assert err.code == "hard_limit" and "bolus_dose" in [f.code for f in err.limits if f.level == "hard"]
    staffed = program_pump(order("intermittent_bolus", 70, profile="anesthesia_staffed", steps=[bolus(0.75)],
                                 override=OVERRIDE))
    assert staffed.profile == "anesthesia_staffed" and staffed.steps[0].dose_mg == Decimal("52.5")


# ----------------------------------------------------------------------------- profiles and protocols


def test_each_protocol_names_its_profile_and_inpatient_ones_are_anesthesia_staffed() -> None:
    for protocol in PROTOCOLS:
        assert protocol.profile in PROFILES
        if protocol.setting == "inpatient":
            assert protocol.profile == "anesthesia_staffed", protocol.id
    assert {p.id: p.profile for p in PROTOCOLS}["sigtermans2009"] == "anesthesia_staffed"


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if not p.requires_explicit_steps], ids=lambda p: p.id)
@pytest.mark.parametrize("weight", [45, 70, 100])
def test_every_protocol_default_program_stays_inside_its_profile_soft_limits(protocol: Any, weight: float) -> None:
    out = program_pump(order(protocol.id, weight)).as_dict()
    assert out["limits"] == [] and out["profile"] == protocol.profile


def test_titration_never_climbs_past_the_low_dose_soft_maximum() -> None:
    for protocol in PROTOCOLS:
        t = protocol.titration
        if protocol.profile == "low_dose" and t is not None and t.unit == "mg/kg/h":
            assert t.max <= D.LOW_DOSE_LIBRARY.infusion_rate_mg_per_kg_per_h.soft_max.value, protocol.id
        if protocol.profile == "low_dose" and t is not None and t.unit == "mg/kg":
            assert t.max <= D.LOW_DOSE_LIBRARY.bolus_dose_mg_per_kg.soft_max.value, protocol.id


def test_schwartzman_keeps_its_25_mg_per_h_cap() -> None:
    step = program_pump(order("schwartzman2009", 120, height_cm=190, sex="male")).steps[0]
    assert step.rate_mg_per_h == Decimal("25.0")


def test_the_40_minute_protocol_says_it_is_the_depression_regimen_and_shows_asra_advice() -> None:
    program = program_pump(order("single_infusion_40min", 70))
    assert "depression" in program.protocol.summary and "80 mg" in program.protocol.summary
    assert {n.code for n in program.notes} >= {"protocol_session_total_below_advised_min"}
    assert "zarate2006_depression" in [e.source for e in program.protocol.evidence]


def test_a_low_dose_order_may_choose_the_tighter_profile_for_an_inpatient_protocol() -> None:
    err = refusal(order("sigtermans2009", 70, profile="low_dose"))
    assert err.code == "hard_limit" and "session_duration" in [f.code for f in err.limits]


# ----------------------------------------------------------------------------- session totals


def test_a_window_of_24_h_takes_the_busiest_day_of_a_long_infusion() -> None:
    day = Decimal(1440)
    steady = [Delivery(Decimal(0), 3 * day, Decimal(300))]  # 100 mg a day for 3 days
    assert most_in_any_window(steady) == Decimal(100)
    ramp = [Delivery(Decimal(0), day, Decimal(100)), Delivery(day, day, Decimal(200))]
    assert most_in_any_window(ramp) == Decimal(200)
    doses = [Delivery(Decimal(0), Decimal(0), Decimal(50)), Delivery(day, Decimal(0), Decimal(50))]
    assert most_in_any_window(doses) == Decimal(50)  # two doses exactly 24 h apart are two days
    assert most_in_any_window([Delivery(Decimal(0), Decimal(60), Decimal(30))] * 2) == Decimal(60)


def test_a_multi_day_infusion_is_judged_per_24_h_not_over_its_whole_length() -> None:
    out = program_pump(order("continuous_inpatient_3day", 70)).as_dict()
    assert out["total_dose_mg"] == 504.0 and out["session_total_mg_per_kg"] == 2.4  # 168 mg in any day


@pytest.mark.parametrize(("profile", "rate", "minutes", "expected"), [
    ("low_dose", 0.75, 320, "ok"),  # 4.0 mg/kg: at the soft maximum
    ("low_dose", 0.75, 321, "soft_limit"),
    ("low_dose", 0.75, 480, "ok"),  # 6.0 mg/kg: at the hard maximum (soft only, overridden)
    ("low_dose", 0.75, 481, "hard_limit"),
    ("anesthesia_staffed", 2.0, 240, "ok"),  # 8.0 mg/kg at the soft maximum
    ("anesthesia_staffed", 2.0, 241, "soft_limit"),
    ("anesthesia_staffed", 2.0, 361, "hard_limit"),
])
def test_session_total_in_mg_per_kg_per_profile(profile: str, rate: float, minutes: float, expected: str) -> None:
    req = order(weight_kg=60, profile=profile, steps=[infusion(rate, minutes)], override=OVERRIDE)
    try:
        out = program_pump(req)
    except DosingError as err:
        assert err.code == expected
        assert "session_total" in [f.code for f in err.limits if f.level == ("hard" if expected == "hard_limit" else "soft")]
        return
    codes = {f.code for f in out.limits}
    assert expected in ("ok", "soft_limit")
    if expected == "soft_limit" or minutes == 480:
        assert "session_total" in codes
    else:
        assert "session_total" not in codes


# ----------------------------------------------------------------------------- the property: never past a hard limit

PROFILE_IDS = st.sampled_from(["low_dose", "anesthesia_staffed"])


@st.composite
def any_orders(draw: st.DrawFn) -> DoseRequest:
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 20))):
        if draw(st.booleans()):
            steps.append(bolus(draw(st.decimals("0.01", "1.5", places=3).map(float)), draw(st.integers(1, 30))))
        else:
            steps.append(infusion(draw(st.decimals("0.01", "3.0", places=3).map(float)), draw(st.integers(1, 2000))))
    extra: dict[str, Any] = {"steps": steps, "override": OVERRIDE, "profile": draw(PROFILE_IDS),
                             "concentration_mg_per_ml": draw(st.sampled_from([1.0, 2.0, 10.0]))}
    if draw(st.booleans()):
        extra["height_cm"] = draw(st.decimals("120", "230", places=1).map(float))
        extra["sex"] = draw(st.sampled_from(["female", "male", None]))
    return order(weight_kg=draw(st.decimals("30", "250", places=1).map(float)), **extra)


@settings(max_examples=400, deadline=None)
@given(any_orders())
def test_property_no_program_is_past_its_profile_hard_limits(req: DoseRequest) -> None:
    try:
        program = program_pump(req)
    except DosingError:
        return
    lib = PROFILES[program.profile]
    weight = Decimal(repr(program.dosing_weight_kg))
    assert weight == dosing_weight(req.weight_kg, req.height_cm, req.sex).kg

    def hard(limit: D.Limit) -> Decimal:
        assert limit.hard_max is not None
        return Decimal(repr(limit.hard_max.value))

    for step in program.steps:
        if step.kind == "infusion":
            assert step.rate_mg_per_h / weight <= hard(lib.infusion_rate_mg_per_kg_per_h)
            assert step.rate_mg_per_h <= hard(lib.infusion_rate_mg_per_h)
            assert step.duration_min <= hard(lib.infusion_duration_min)
        else:
            assert step.dose_mg / weight <= hard(lib.bolus_dose_mg_per_kg)
    most = most_in_any_window(D.deliveries_of(program.steps))
    assert most / weight <= hard(lib.session_total_mg_per_kg)
    assert most <= hard(lib.session_total_mg)
    assert D.infusion_time_min(program.steps) <= hard(lib.session_duration_min)


@settings(max_examples=200, deadline=None)
@given(st.decimals("0.900", "1.100", places=3).map(float), st.decimals("30", "100", places=2).map(float),
       st.sampled_from([1.0, 2.0, 10.0]))
def test_property_rounding_never_carries_a_rate_over_the_hard_maximum(rate: float, weight: float, conc: float) -> None:
    try:
        program = program_pump(order(weight_kg=weight, concentration_mg_per_ml=conc, steps=[infusion(rate, 60)],
                                     override=OVERRIDE))
    except DosingError as err:
        assert rate > 1.0 or {f.code for f in err.limits if f.level == "hard"} <= {"pump_rate"}
        return
    step = program.steps[0]
    assert step.rate_mg_per_h / Decimal(repr(program.dosing_weight_kg)) <= Decimal("1.0")
