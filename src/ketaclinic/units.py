"""Typed quantities at the edge: what a person types ("154 lb", "2 mg/mL", "0.5 mg/kg/h") parsed
with ``pint`` into the canonical float the core works in (kg, mg/mL, mg/kg/h, ...).

Why this module exists: the classic ten-fold and unit slips of infusion medicine happen where a
quantity is typed. So a quantity must name its unit, the unit must be of the right *kind*, and
the error must say what was probably meant ("'mg/h' is not a rate per kg: did you mean
mg/kg/h?"). Two traps pint alone would let through are closed here:

- ``mg/kg`` is dimensionless and ``mg/kg/h`` is just ``1/time`` to pint, so a bare number or
  ``%/h`` would convert silently. We check the *shape* of the unit instead: the mass on top, the
  mass (and time) underneath.
- pint reads "1,5 mg" as 15 mg. A decimal comma is refused outright: a misplaced decimal point is
  exactly the error we are here to stop.

One module-level :data:`UREG`; the core never imports this module (it only sees floats).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pint

UREG = pint.UnitRegistry()
"""The one unit registry of KetaClinic (pint quantities from different registries do not mix)."""

_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$")
_MASS = UREG.get_dimensionality("[mass]")
_TIME = UREG.get_dimensionality("[time]")
_VOLUME = UREG.get_dimensionality("[length] ** 3")
_NONE = UREG.get_dimensionality("")


class UnitParseError(ValueError):
    """A typed quantity that cannot be read as the quantity asked for; the message says why."""


@dataclass(frozen=True)
class _Shape:
    """Dimensions of the unit's numerator and denominator, taken apart (pint would cancel mass/mass)."""

    top: object
    bottom: object


def _shape(units: pint.Unit) -> _Shape:
    top = _NONE
    bottom = _NONE
    for name, power in units._units.items():  # the unit's factors: {"milligram": 1, "kilogram": -1, ...}
        dim = UREG.get_dimensionality(name)
        if power > 0:
            top = top * dim**power
        else:
            bottom = bottom * dim ** (-power)
    return _Shape(top, bottom)


def _split(text: str, what: str) -> tuple[float, str]:
    if not isinstance(text, str) or not text.strip():
        raise UnitParseError(f"{what}: expected a number with a unit, got nothing")
    if "," in text:
        raise UnitParseError(
            f"{what}: {text!r} has a comma; write the decimal point as '.' (e.g. '1.5', not '1,5') "
            "and leave out thousands separators"
        )
    match = _NUMBER.match(text.replace("µ", "u").replace("μ", "u"))
    if not match:
        raise UnitParseError(f"{what}: {text!r} does not start with a number")
    number = float(match.group(1))
    if not math.isfinite(number):
        raise UnitParseError(f"{what}: {text!r} is not a finite number")
    return number, match.group(2)


def _units(unit_text: str, text: str, what: str, example: str) -> pint.Unit:
    if not unit_text:
        raise UnitParseError(f"{what}: {text!r} has no unit; write it with its unit, e.g. {example!r}")
    try:
        return UREG.parse_units(unit_text)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, ValueError, TypeError):
        raise UnitParseError(f"{what}: unknown unit {unit_text!r} in {text!r}; e.g. {example!r}") from None


def _positive(value: float, text: str, what: str) -> float:
    if not value > 0:
        raise UnitParseError(f"{what}: {text!r} must be greater than zero")
    return value


def _describe(shape: _Shape) -> str:
    """What kind of quantity a unit shape is, in clinic words, for the error message."""
    known = {
        (_MASS, _NONE): "an amount (mass)",
        (_MASS, _MASS): "a dose per kg",
        (_MASS, _MASS * _TIME): "a rate per kg",
        (_MASS, _TIME): "an absolute rate",
        (_MASS, _VOLUME): "a concentration",
        (_VOLUME, _TIME): "a volume rate",
        (_VOLUME, _NONE): "a volume",
        (_TIME, _NONE): "a time",
    }
    return known.get((shape.top, shape.bottom), "a different kind of quantity")


_HINTS = {
    # (wanted, got) -> hint
    ("a rate per kg", "an absolute rate"): "did you mean mg/kg/h?",
    ("a rate per kg", "a dose per kg"): "a dose per kg has no time; did you mean mg/kg/h?",
    ("a rate per kg", "a volume rate"): "mL/h is the pump setting, not the order; give the order in mg/kg/h",
    ("a dose per kg", "an amount (mass)"): "did you mean mg/kg?",
    ("a dose per kg", "a rate per kg"): "a rate is not a dose; did you mean mg/kg?",
    ("an absolute rate", "a rate per kg"): "this is per kg; give mg/h, or use the per-kg field",
    ("a concentration", "an amount (mass)"): "did you mean mg/mL?",
    ("a concentration", "a dose per kg"): "did you mean mg/mL?",
    ("an amount (mass)", "a dose per kg"): "this is per kg; give the weight or the dose in mg",
}


def _check_shape(
    units: pint.Unit, unit_text: str, what: str, wanted: _Shape, wanted_name: str, example: str
) -> None:
    got = _shape(units)
    if (got.top, got.bottom) == (wanted.top, wanted.bottom):
        return
    got_name = _describe(got)
    hint = _HINTS.get((wanted_name, got_name), f"expected {wanted_name}, e.g. {example!r}")
    raise UnitParseError(f"{what}: {unit_text!r} is {got_name}, not {wanted_name}: {hint}")


def _parse(text: str, *, what: str, canonical: str, wanted: _Shape, wanted_name: str, example: str) -> float:
    number, unit_text = _split(text, what)
    units = _units(unit_text, text, what, example)
    _check_shape(units, unit_text, what, wanted, wanted_name, example)
    value = float(UREG.Quantity(number, units).to(canonical).magnitude)
    return _positive(value, text, what)


def parse_weight_kg(text: str) -> float:
    """Body weight in kg from '70 kg', '154 lb', '154 lbs', '70000 g'. A bare number is refused:
    a weight without its unit is the lb-for-kg slip waiting to happen."""
    return _parse(text, what="weight", canonical="kg", wanted=_Shape(_MASS, _NONE), wanted_name="an amount (mass)", example="70 kg")


def parse_concentration_mg_per_ml(text: str) -> float:
    """Concentration in mg/mL from '2 mg/mL', '2 mg/ml', '2000 mcg/mL', '1 g/L'."""
    return _parse(
        text, what="concentration", canonical="mg/mL", wanted=_Shape(_MASS, _VOLUME), wanted_name="a concentration", example="1 mg/mL"
    )


def parse_rate_mg_per_kg_per_h(text: str) -> float:
    """Weight-based infusion rate in mg/kg/h from '0.5 mg/kg/h', '0.5 mg/kg/hr', '8.3 mcg/kg/min'."""
    return _parse(
        text,
        what="rate per kg",
        canonical="mg/kg/h",
        wanted=_Shape(_MASS, _MASS * _TIME),
        wanted_name="a rate per kg",
        example="0.5 mg/kg/h",
    )


def parse_rate_mg_per_h(text: str) -> float:
    """Absolute infusion rate in mg/h from '35 mg/h', '0.5 mg/min'."""
    return _parse(text, what="rate", canonical="mg/h", wanted=_Shape(_MASS, _TIME), wanted_name="an absolute rate", example="35 mg/h")


def parse_dose_mg_per_kg(text: str) -> float:
    """Weight-based dose in mg/kg from '0.35 mg/kg', '350 mcg/kg'."""
    return _parse(
        text, what="dose per kg", canonical="mg/kg", wanted=_Shape(_MASS, _MASS), wanted_name="a dose per kg", example="0.35 mg/kg"
    )


def parse_dose_mg(text: str) -> float:
    """An amount of drug in mg from '25 mg', '0.025 g', '25000 mcg'."""
    return _parse(text, what="dose", canonical="mg", wanted=_Shape(_MASS, _NONE), wanted_name="an amount (mass)", example="25 mg")


def parse_duration_min(text: str) -> float:
    """A duration in minutes from '40 min', '4 h', '4.2 day'."""
    return _parse(text, what="duration", canonical="min", wanted=_Shape(_TIME, _NONE), wanted_name="a time", example="40 min")
