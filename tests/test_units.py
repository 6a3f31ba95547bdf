"""Typed quantities at the edge: right unit -> canonical float; wrong kind of unit -> a clear error."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.units import (
    UREG,
    UnitParseError,
    parse_concentration_mg_per_ml,
    parse_dose_mg,
    parse_dose_mg_per_kg,
    parse_duration_min,
    parse_rate_mg_per_h,
    parse_rate_mg_per_kg_per_h,
    parse_weight_kg,
)


@pytest.mark.parametrize(
    ("text", "kg"),
    [("70 kg", 70.0), ("154 lb", 69.853225), ("154 lbs", 69.853225), ("70000 g", 70.0), (" 82.5kg ", 82.5)],
)
def test_weight_in_kilograms_whatever_the_unit_typed(text: str, kg: float) -> None:
    assert parse_weight_kg(text) == pytest.approx(kg, abs=1e-6)


def test_pounds_are_converted_not_taken_as_kilograms() -> None:
    # the lb-for-kg slip: 154 typed for a 70 kg patient is only safe when its unit comes with it
    assert parse_weight_kg("154 lb") == pytest.approx(69.85, abs=0.01)


def test_a_bare_number_weight_is_refused_because_its_unit_is_ambiguous() -> None:
    with pytest.raises(UnitParseError, match="has no unit"):
        parse_weight_kg("154")


@pytest.mark.parametrize(
    ("text", "mg_per_ml"), [("2 mg/mL", 2.0), ("2 mg/ml", 2.0), ("2000 mcg/mL", 2.0), ("2000 µg/mL", 2.0), ("1 g/L", 1.0)]
)
def test_concentration_in_mg_per_ml(text: str, mg_per_ml: float) -> None:
    assert parse_concentration_mg_per_ml(text) == pytest.approx(mg_per_ml)


@pytest.mark.parametrize(
    ("text", "rate"), [("0.5 mg/kg/h", 0.5), ("0.5 mg/kg/hr", 0.5), ("8.5 mcg/kg/min", 0.51), ("500 ug/kg/h", 0.5)]
)
def test_rate_per_kg_in_mg_per_kg_per_h(text: str, rate: float) -> None:
    assert parse_rate_mg_per_kg_per_h(text) == pytest.approx(rate)


def test_mg_per_h_typed_as_a_rate_per_kg_names_the_slip() -> None:
    with pytest.raises(UnitParseError) as err:
        parse_rate_mg_per_kg_per_h("35 mg/h")
    assert "'mg/h' is an absolute rate, not a rate per kg: did you mean mg/kg/h?" in str(err.value)


def test_a_dose_per_kg_typed_as_a_rate_is_refused() -> None:
    with pytest.raises(UnitParseError, match="did you mean mg/kg/h"):
        parse_rate_mg_per_kg_per_h("0.5 mg/kg")


@pytest.mark.parametrize("text", ["0.5 %/h", "0.5 1/h", "0.5 mg/kg/h/h", "0.5 mL/h"])
def test_units_of_the_right_dimension_but_wrong_shape_are_refused(text: str) -> None:
    # to pint, mg/kg/h is just 1/time; we insist on a mass over a mass and a time
    with pytest.raises(UnitParseError):
        parse_rate_mg_per_kg_per_h(text)


def test_dose_per_kg_needs_mass_over_mass() -> None:
    assert parse_dose_mg_per_kg("350 mcg/kg") == pytest.approx(0.35)
    with pytest.raises(UnitParseError, match="did you mean mg/kg"):
        parse_dose_mg_per_kg("25 mg")
    with pytest.raises(UnitParseError, match="has no unit"):
        parse_dose_mg_per_kg("0.35")  # mg/kg is dimensionless to pint; a bare number must not pass


def test_concentration_given_as_an_amount_is_refused() -> None:
    with pytest.raises(UnitParseError, match="did you mean mg/mL"):
        parse_concentration_mg_per_ml("2 mg")


def test_absolute_rate_dose_and_duration() -> None:
    assert parse_rate_mg_per_h("0.5 mg/min") == pytest.approx(30.0)
    assert parse_dose_mg("0.025 g") == pytest.approx(25.0)
    assert parse_duration_min("4.2 day") == pytest.approx(6048.0)
    with pytest.raises(UnitParseError, match="this is per kg"):
        parse_rate_mg_per_h("0.5 mg/kg/h")


@pytest.mark.parametrize("text", ["1,5 mg/kg", "1,000 mg"])
def test_a_decimal_comma_is_refused_rather_than_read_as_ten_times_the_dose(text: str) -> None:
    # pint alone reads "1,5 mg" as 15 mg: a misplaced decimal point in the making
    assert UREG.parse_expression("1,5 mg").magnitude == 15
    with pytest.raises(UnitParseError, match="comma"):
        (parse_dose_mg_per_kg if "kg" in text else parse_dose_mg)(text)


@pytest.mark.parametrize("text", ["", "   ", "kg", "-70 kg", "0 kg", "1e400 kg", "70 furlongs", "70 stone-ish"])
def test_nonsense_weights_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(UnitParseError) as err:
        parse_weight_kg(text)
    assert str(err.value).startswith("weight:")


@given(st.floats(min_value=1, max_value=1000, allow_nan=False))
def test_pounds_convert_by_the_exact_factor(lb: float) -> None:
    assert parse_weight_kg(f"{lb!r} lb") == pytest.approx(lb * 0.45359237, rel=1e-12)


@given(st.floats(min_value=0.001, max_value=100, allow_nan=False))
def test_mcg_per_kg_per_min_and_mg_per_kg_per_h_agree(rate: float) -> None:
    mcg_per_kg_per_min = rate * 1000 / 60
    assert math.isclose(parse_rate_mg_per_kg_per_h(f"{mcg_per_kg_per_min!r} mcg/kg/min"), rate, rel_tol=1e-9)
