"""The drug library and the pump program: weight-based orders -> mL/h, with hard and soft limits.

This is where a ten-fold or unit error must be stopped before it reaches a patient (ISMP: smart
pumps with a dose error-reduction system are expected practice, ambulatory infusion centres
included). The library entry "ketamine, low-dose analgesia" holds the limits of contract 4.3,
each number with its source or marked clinic policy; :func:`program_pump` is a pure function
from an order (protocol, weight, concentration, steps, optional override) to a pump program.

How the limits work
    * A **hard** limit stops: :class:`DosingError` with code ``hard_limit``; nothing is
      programmed and no override is possible.
    * A **soft** limit stops unless the order carries ``override`` with a non-empty ``reason``;
      then the program is returned with the soft limits listed and the override echoed, so it is
      always recorded.
    * A value *at* a limit is within it; only a value past it fires.
    * Limits judge the order *as typed*, before a protocol cap clamps the rate: a slip such as
      35 typed into mg/kg/h under the Schwartzman protocol (cap 25 mg/h) must stop, not be quietly
      capped into a plausible number.

How the numbers are rounded (all arithmetic in :class:`decimal.Decimal`, half-up)
    Inputs are read as the decimals a person typed (``Decimal(repr(x))``: 0.35 is 0.35, not the
    binary 0.34999...). Then, per step:

    * infusion: ``rate_ml_per_h`` = ordered mg/h / concentration, to 0.1 mL/h (pump resolution).
      ``rate_mg_per_h`` = ``rate_ml_per_h`` × concentration: the rate the pump really delivers.
      ``dose_mg`` = ``rate_mg_per_h`` × ``duration_min`` / 60, to 0.1 mg: what the programmed rate
      delivers over the step, so the dose follows the rounded rate, not the unrounded order.
    * bolus and oral: ``dose_mg`` = weight × mg/kg, to 0.1 mg (a bolus is programmed as a dose).
      A bolus's ``rate_ml_per_h`` is its volume over its push time, to 0.1 mL/h.
    * ``volume_ml`` = ``dose_mg`` / concentration, to 0.01 mL; exact for 1, 2 and 10 mg/mL (a
      multiple of 0.1 mg divides into them without remainder). It is the volume to be infused.
    * ``total_dose_mg`` and ``total_volume_ml`` are the exact sums of the rounded steps.

    The rounded rate can differ from the order by up to 0.05 mL/h × concentration; below
    1.0 mL/h that is 5 % or more and the pump's own accuracy degrades, so a rate under 1.0 mL/h
    is a soft limit (choose a weaker concentration) and a rate that rounds to 0.0 mL/h is hard.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ketaclinic.clinical.protocols import (
    PROTOCOL_IDS,
    Protocol,
    ProtocolLimit,
    UnknownProtocolError,
    get_protocol,
)
from ketaclinic.clinical.rules import Rule
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

Level = Literal["soft", "hard"]

TENTH = Decimal("0.1")
HUNDREDTH = Decimal("0.01")
LB_PER_KG = Decimal("2.20462262185")

WEIGHT_CHANGE_FRACTION = 0.20
"""A weight more than 20 % away from the last recorded one is flagged (clinic policy, contract 4.3)."""


def round_half_up(value: Decimal, quantum: Decimal) -> Decimal:
    """Round to ``quantum`` with ties away from zero (0.25 -> 0.3), as people and pumps expect;
    Python's ``round`` rounds ties to even and works on binary floats."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def dec(x: float | int | Decimal) -> Decimal:
    """The decimal a person typed: ``Decimal(repr(0.35))`` is 0.35, ``Decimal(0.35)`` is not."""
    if isinstance(x, Decimal):
        return x
    return Decimal(repr(float(x))) if isinstance(x, float) else Decimal(x)


def _num(x: Decimal | None) -> float | None:
    return None if x is None else float(x)


def _fmt(x: Decimal | float) -> str:
    d = dec(x) if not isinstance(x, Decimal) else x
    text = format(d.normalize(), "f")
    return text


# -- the drug library -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """One threshold with its authority."""

    value: float
    source: str
    grade: str | None = None
    why: str = ""

    def __post_init__(self) -> None:
        ref(self.source)


@dataclass(frozen=True)
class Limit:
    """Soft and hard bounds on one quantity.

    ``code`` is the contract's code for a finding on it (design 4.3 v2: ``infusion_rate``,
    ``bolus_dose``, ``absolute_rate``, ``session_total``, ``bolus_duration``, ``implausible_bmi``
    ...); two limits may share a code (the session total in mg/kg and in mg). ``stem`` names the
    individual rule (``infusion_rate_per_kg`` -> ``infusion_rate_per_kg_above_hard_max``)."""

    code: str
    quantity: str
    unit: str
    label: str
    soft_min: Bound | None = None
    soft_max: Bound | None = None
    hard_min: Bound | None = None
    hard_max: Bound | None = None
    stem: str = ""

    def rule_name(self, level: Level, side: str) -> str:
        word = "above" if side == "max" else "below"
        return f"{self.stem or self.code}_{word}_{level}_{side}"

    def bounds(self) -> list[tuple[Level, str, Bound]]:
        """(level, "min"|"max", bound) for every bound that is set, hard first."""
        out: list[tuple[Level, str, Bound]] = []
        for level, side, bound in (
            ("hard", "max", self.hard_max), ("hard", "min", self.hard_min),
            ("soft", "max", self.soft_max), ("soft", "min", self.soft_min),
        ):
            if bound is not None:
                out.append((level, side, bound))  # type: ignore[arg-type]
        return out

    def breaches(self, value: Decimal) -> list[tuple[Level, str, Bound]]:
        """The bounds ``value`` is past (a value at a bound is within it). Hard first; a soft
        bound on the same side is not repeated once the hard one fires."""
        found: list[tuple[Level, str, Bound]] = []
        for level, side, bound in self.bounds():
            past = value > dec(bound.value) if side == "max" else value < dec(bound.value)
            if past and not any(s == side for _, s, _ in found):
                found.append((level, side, bound))
        return found


@dataclass(frozen=True)
class DrugLibrary:
    """A smart-pump drug library entry (one drug, one care area: the care *profile*).

    Every per-kg limit is judged on the dosing weight (:func:`dosing_weight`). The session limits
    apply to everything one session programs (all steps, all boluses) and, for an infusion longer
    than a day, to any 24 h of it."""

    name: str
    infusion_rate_mg_per_kg_per_h: Limit
    infusion_rate_mg_per_h: Limit
    infusion_duration_min: Limit
    bolus_dose_mg_per_kg: Limit
    bolus_duration_min: Limit
    oral_dose_mg_per_kg: Limit
    pump_rate_ml_per_h: Limit
    weight_kg: Limit
    session_total_mg_per_kg: Limit
    session_total_mg: Limit
    session_duration_min: Limit
    bmi_kg_per_m2: Limit
    concentrations_mg_per_ml: tuple[float, ...]
    concentrations_source: str
    default_bolus_duration_min: float
    default_bolus_duration_source: str
    profile: str = "low_dose"

    def __post_init__(self) -> None:
        ref(self.concentrations_source)
        ref(self.default_bolus_duration_source)
        if not self.concentrations_mg_per_ml:
            raise ValueError("a drug library needs at least one concentration")

    def limits(self) -> tuple[Limit, ...]:
        return tuple(lim for _, lim in _library_limit_attrs(self))

    def allows_concentration(self, concentration_mg_per_ml: float) -> bool:
        return any(dec(concentration_mg_per_ml) == dec(c) for c in self.concentrations_mg_per_ml)

    def as_dict(self) -> dict[str, Any]:
        def b(bound: Bound | None) -> dict[str, Any] | None:
            return None if bound is None else {"value": bound.value, "source": bound.source, "grade": bound.grade, "why": bound.why}

        return {
            "name": self.name,
            "profile": self.profile,
            "limits": [
                {"code": lim.code, "quantity": lim.quantity, "unit": lim.unit, "label": lim.label,
                 "soft_min": b(lim.soft_min), "soft_max": b(lim.soft_max), "hard_min": b(lim.hard_min), "hard_max": b(lim.hard_max)}
                for lim in self.limits()
            ],
            "concentrations_mg_per_ml": list(self.concentrations_mg_per_ml),
            "concentrations_source": self.concentrations_source,
            "default_bolus_duration_min": self.default_bolus_duration_min,
        }


_ASRA = "C, Low"


def _shared_limits() -> dict[str, Limit]:
    """The limits both care profiles share: they catch slips, not doses."""
    return dict(
        infusion_duration_min=Limit(
            "infusion_duration", "infusion_duration_min", "min", "infusion duration",
            hard_max=Bound(7 * 24 * 60.0, CLINIC_POLICY, None, "7 days: longer than any protocol; catches hours typed as minutes"),
        ),
        bolus_duration_min=Limit(
            "bolus_duration", "bolus_duration_min", "min", "bolus push time",
            soft_min=Bound(2.0, CLINIC_POLICY, None, "a fast push raises the risk of dissociation and blood-pressure rise"),
        ),
        oral_dose_mg_per_kg=Limit(
            "oral_dose", "oral_dose_mg_per_kg", "mg/kg", "oral dose", stem="oral_dose_per_kg",
            soft_max=Bound(0.5, ref("kannan2002_oral"), None, "the studied dose: 0.5 mg/kg three times daily"),
            hard_max=Bound(1.0, CLINIC_POLICY, None, "twice the studied oral dose"),
        ),
        pump_rate_ml_per_h=Limit(
            "pump_rate", "rate_ml_per_h", "mL/h", "programmed pump rate",
            soft_min=Bound(1.0, CLINIC_POLICY, None, "below 1 mL/h the 0.1 mL/h rounding is >= 5 % of the rate and delivery "
                           "is uneven: choose a weaker concentration"),
            hard_min=Bound(0.1, CLINIC_POLICY, None, "the rate rounds to 0.0 mL/h: nothing would be delivered"),
        ),
        weight_kg=Limit(
            "weight", "weight_kg", "kg", "weight",
            hard_min=Bound(30.0, CLINIC_POLICY, None, "adult clinic; below this a weight is more likely a slip than a patient"),
            hard_max=Bound(250.0, CLINIC_POLICY, None, "above this a weight is more likely pounds typed as kilograms"),
        ),
        bmi_kg_per_m2=Limit(
            "implausible_bmi", "bmi_kg_per_m2", "kg/m2", "body-mass index", stem="bmi",
            soft_min=Bound(15.0, CLINIC_POLICY, None, "a BMI this low is more likely a slip (kilograms typed as pounds, "
                           "a height in inches) than a patient"),
            soft_max=Bound(60.0, CLINIC_POLICY, None, "a BMI this high is more likely pounds typed as kilograms or a "
                           "height slip than a patient"),
        ),
    )


LOW_DOSE_LIBRARY = DrugLibrary(
    name="ketamine, low-dose analgesia",
    profile="low_dose",
    infusion_rate_mg_per_kg_per_h=Limit(
        "infusion_rate", "infusion_rate_mg_per_kg_per_h", "mg/kg/h", "infusion rate", stem="infusion_rate_per_kg",
        soft_min=Bound(0.04, CLINIC_POLICY, None, "below the lowest starting rate of any protocol (10 mg/h at 250 kg): "
                       "a decimal slip the other way, e.g. 0.35 typed as 0.035"),
        soft_max=Bound(0.75, CLINIC_POLICY, None, "the highest rate of any outpatient low-dose protocol (0.5 mg/kg over "
                       "40 min); above it a physician decides"),
        hard_max=Bound(1.0, ref("pa_lowdose_ketamine2020"), None, "low-dose infusions are no more than 1 mg/kg/h"),
    ),
    infusion_rate_mg_per_h=Limit(
        "absolute_rate", "infusion_rate_mg_per_h", "mg/h", "absolute infusion rate", stem="infusion_rate_absolute",
        hard_max=Bound(100.0, CLINIC_POLICY, None, "catches a wrong weight or unit whatever the per-kg rate (trial "
                       "regimens ran at 22-25 mg/h)"),
    ),
    bolus_dose_mg_per_kg=Limit(
        "bolus_dose", "bolus_dose_mg_per_kg", "mg/kg", "bolus dose", stem="bolus_dose_per_kg",
        soft_min=Bound(0.1, CLINIC_POLICY, None, "below any published analgesic bolus: a decimal slip the other way"),
        soft_max=Bound(0.35, ref("asra2018"), _ASRA, "ASRA 2018: boluses up to 0.35 mg/kg"),
        hard_max=Bound(0.5, ref("pa_lowdose_ketamine2020"), None, "a low-dose bolus is no more than 0.5 mg/kg"),
    ),
    session_total_mg_per_kg=Limit(
        "session_total", "session_total_mg_per_kg", "mg/kg", "session total", stem="session_total_per_kg",
        soft_max=Bound(4.0, CLINIC_POLICY, None, "all steps and boluses of one session, or any 24 h of a longer "
                       "infusion: 4 h at the low-dose maximum of 1 mg/kg/h"),
        hard_max=Bound(6.0, CLINIC_POLICY, None, "one and a half times the soft session total"),
    ),
    session_total_mg=Limit(
        "session_total", "session_total_mg", "mg", "session total", stem="session_total_absolute",
        soft_max=Bound(400.0, CLINIC_POLICY, None, "4 mg/kg at a 100 kg dosing weight"),
        hard_max=Bound(600.0, CLINIC_POLICY, None, "catches a wrong weight or a step repeated by mistake"),
    ),
    session_duration_min=Limit(
        "session_duration", "session_duration_min", "min", "infusion time in one session",
        soft_max=Bound(240.0, ref("seed_outpatient_series"), None, "outpatient sessions run 40 min to 4 h"),
        hard_max=Bound(720.0, CLINIC_POLICY, None, "an outpatient day; longer infusions run in the anesthesia-staffed "
                       "profile (inpatient)"),
    ),
    concentrations_mg_per_ml=(1.0, 2.0, 10.0),
    concentrations_source=CLINIC_POLICY,
    default_bolus_duration_min=5.0,
    default_bolus_duration_source=CLINIC_POLICY,
    **_shared_limits(),
)
"""The default care profile (design 4.3 v2): a nurse-run outpatient chair. Pennsylvania 2020 defines
low dose as infusions of no more than 1 mg/kg/h or boluses of no more than 0.5 mg/kg."""

ANESTHESIA_STAFFED_LIBRARY = DrugLibrary(
    name="ketamine, anesthesia-staffed analgesia",
    profile="anesthesia_staffed",
    infusion_rate_mg_per_kg_per_h=Limit(
        "infusion_rate", "infusion_rate_mg_per_kg_per_h", "mg/kg/h", "infusion rate", stem="infusion_rate_per_kg",
        soft_min=LOW_DOSE_LIBRARY.infusion_rate_mg_per_kg_per_h.soft_min,
        soft_max=Bound(1.0, ref("pa_lowdose_ketamine2020"), None, "above the low-dose definition of 1 mg/kg/h"),
        hard_max=Bound(2.0, ref("asra2018"), _ASRA, "top of the ASRA 2018 range of 0.5-2 mg/kg/h"),
    ),
    infusion_rate_mg_per_h=Limit(
        "absolute_rate", "infusion_rate_mg_per_h", "mg/h", "absolute infusion rate", stem="infusion_rate_absolute",
        hard_max=Bound(200.0, CLINIC_POLICY, None, "catches a wrong weight or unit whatever the per-kg rate"),
    ),
    bolus_dose_mg_per_kg=Limit(
        "bolus_dose", "bolus_dose_mg_per_kg", "mg/kg", "bolus dose", stem="bolus_dose_per_kg",
        soft_min=LOW_DOSE_LIBRARY.bolus_dose_mg_per_kg.soft_min,
        soft_max=Bound(0.35, ref("asra2018"), _ASRA, "ASRA 2018: boluses up to 0.35 mg/kg"),
        hard_max=Bound(1.0, CLINIC_POLICY, None, "anesthetic induction doses begin around 1 mg/kg"),
    ),
    session_total_mg_per_kg=Limit(
        "session_total", "session_total_mg_per_kg", "mg/kg", "session total", stem="session_total_per_kg",
        soft_max=Bound(8.0, CLINIC_POLICY, None, "all steps and boluses of one session, or any 24 h of a longer infusion"),
        hard_max=Bound(12.0, CLINIC_POLICY, None, "one and a half times the soft session total"),
    ),
    session_total_mg=Limit(
        "session_total", "session_total_mg", "mg", "session total", stem="session_total_absolute",
        soft_max=Bound(800.0, CLINIC_POLICY, None, "8 mg/kg at a 100 kg dosing weight"),
        hard_max=Bound(1200.0, CLINIC_POLICY, None, "catches a wrong weight or a step repeated by mistake"),
    ),
    session_duration_min=Limit(
        "session_duration", "session_duration_min", "min", "infusion time in one session",
        hard_max=Bound(7 * 24 * 60.0, CLINIC_POLICY, None, "7 days: longer than any inpatient protocol"),
    ),
    concentrations_mg_per_ml=(1.0, 2.0, 10.0),
    concentrations_source=CLINIC_POLICY,
    default_bolus_duration_min=5.0,
    default_bolus_duration_source=CLINIC_POLICY,
    **_shared_limits(),
)
"""Inpatient and multi-day infusions with an anaesthesia clinician present: ASRA 2018's 0.5-2 mg/kg/h.
Chosen only by a physician with a reason, recorded on the plan (the services layer enforces it)."""

PROFILES: dict[str, DrugLibrary] = {"low_dose": LOW_DOSE_LIBRARY, "anesthesia_staffed": ANESTHESIA_STAFFED_LIBRARY}
PROFILE_IDS: tuple[str, ...] = tuple(PROFILES)
DEFAULT_PROFILE = "low_dose"
DEFAULT_LIBRARY = LOW_DOSE_LIBRARY


class LibraryLoosenedError(ValueError):
    """A change to a drug library that would loosen it past a hard limit."""


_BOUND_NAMES = ("soft_min", "soft_max", "hard_min", "hard_max")


def tighten_library(
    base: DrugLibrary,
    *,
    limits: Mapping[str, Mapping[str, float]] | None = None,
    concentrations_mg_per_ml: tuple[float, ...] | None = None,
    default_bolus_duration_min: float | None = None,
    source: str = CLINIC_POLICY,
    name: str | None = None,
) -> DrugLibrary:
    """A copy of ``base`` with the clinic's own limits; it may tighten, never loosen past a hard limit.

    ``limits`` maps a quantity (``"infusion_rate_mg_per_kg_per_h"``) to new bounds
    (``{"soft_max": 0.8, "hard_max": 1.5}``). A hard maximum may only come down and a hard
    minimum only go up; a soft bound may move but must stay inside the (new) hard bounds and
    the soft minimum must stay below the soft maximum. Concentrations may only be removed.
    Every new number carries ``source`` (clinic policy unless the clinic cites something).
    Raises :class:`LibraryLoosenedError` naming what would be loosened.
    """
    ref(source)
    by_quantity = {lim.quantity: (attr, lim) for attr, lim in _library_limit_attrs(base)}
    changes: dict[str, Any] = {}
    for quantity, new_bounds in (limits or {}).items():
        if quantity not in by_quantity:
            raise LibraryLoosenedError(f"unknown library quantity {quantity!r}; known: {', '.join(by_quantity)}")
        attr, lim = by_quantity[quantity]
        updated: dict[str, Bound] = {}
        for bound_name, value in new_bounds.items():
            if bound_name not in _BOUND_NAMES:
                raise LibraryLoosenedError(f"{quantity}: unknown bound {bound_name!r}; known: {', '.join(_BOUND_NAMES)}")
            if value is None or not math.isfinite(value):
                raise LibraryLoosenedError(f"{quantity}.{bound_name}: a bound cannot be removed or made infinite")
            updated[bound_name] = Bound(float(value), source, None, "tightened by the clinic")
        new = replace(lim, **updated)
        _check_not_looser(quantity, lim, new)
        changes[attr] = new
    if concentrations_mg_per_ml is not None:
        extra = [c for c in concentrations_mg_per_ml if not base.allows_concentration(c)]
        if extra or not concentrations_mg_per_ml:
            raise LibraryLoosenedError(
                f"concentrations may only be removed from {list(base.concentrations_mg_per_ml)} (not added: {extra})"
            )
        changes["concentrations_mg_per_ml"] = tuple(float(c) for c in concentrations_mg_per_ml)
        changes["concentrations_source"] = source
    if default_bolus_duration_min is not None:
        changes["default_bolus_duration_min"] = float(default_bolus_duration_min)
        changes["default_bolus_duration_source"] = source
    tightened = replace(base, name=name or base.name, **changes)
    floor = tightened.bolus_duration_min.soft_min
    if floor is not None and tightened.default_bolus_duration_min < floor.value:
        raise LibraryLoosenedError("the default bolus push time would be below the library's soft minimum")
    return tightened


LIMIT_ATTRS: tuple[str, ...] = (
    "infusion_rate_mg_per_kg_per_h", "infusion_rate_mg_per_h", "infusion_duration_min", "bolus_dose_mg_per_kg",
    "bolus_duration_min", "oral_dose_mg_per_kg", "pump_rate_ml_per_h", "weight_kg",
    "session_total_mg_per_kg", "session_total_mg", "session_duration_min", "bmi_kg_per_m2",
)


def _library_limit_attrs(library: DrugLibrary) -> list[tuple[str, Limit]]:
    return [(name, getattr(library, name)) for name in LIMIT_ATTRS]


def _check_not_looser(quantity: str, old: Limit, new: Limit) -> None:
    def v(b: Bound | None) -> float | None:
        return None if b is None else b.value

    if old.hard_max is not None and v(new.hard_max) > old.hard_max.value:  # type: ignore[operator]
        raise LibraryLoosenedError(f"{quantity}: hard_max {v(new.hard_max)} would loosen {old.hard_max.value} {old.unit}")
    if old.hard_min is not None and v(new.hard_min) < old.hard_min.value:  # type: ignore[operator]
        raise LibraryLoosenedError(f"{quantity}: hard_min {v(new.hard_min)} would loosen {old.hard_min.value} {old.unit}")
    upper = v(new.hard_max)
    lower = v(new.hard_min)
    for name in ("soft_min", "soft_max"):
        value = v(getattr(new, name))
        if value is None:
            continue
        if upper is not None and value > upper:
            raise LibraryLoosenedError(f"{quantity}: {name} {value} is past the hard maximum {upper} {old.unit}")
        if lower is not None and value < lower:
            raise LibraryLoosenedError(f"{quantity}: {name} {value} is past the hard minimum {lower} {old.unit}")
    if new.soft_min is not None and new.soft_max is not None and new.soft_min.value > new.soft_max.value:
        raise LibraryLoosenedError(f"{quantity}: soft_min is above soft_max")
    if new.hard_min is not None and new.hard_max is not None and new.hard_min.value > new.hard_max.value:
        raise LibraryLoosenedError(f"{quantity}: hard_min is above hard_max")


# -- the dosing weight (design 4.3 v2) ----------------------------------------------------------

HEIGHT_MIN_CM = 120.0
HEIGHT_MAX_CM = 230.0
ADJUSTED_WEIGHT_FROM_BMI = Decimal("35")
ADJUSTMENT_FACTOR = Decimal("0.4")
CAP_WITHOUT_HEIGHT_KG = Decimal("100")
DEVINE_BASE_KG = {"male": Decimal("50"), "female": Decimal("45.5")}
DEVINE_KG_PER_CM = Decimal("0.91")
DEVINE_FROM_CM = Decimal("152.4")


@dataclass(frozen=True)
class DosingWeight:
    """The weight every mg/kg figure is applied to, and why (design 4.3 v2).

    ``basis``: ``actual`` (BMI < 35, or no height and at most 100 kg), ``adjusted`` (BMI >= 35:
    IBW + 0.4 x (actual - IBW)) or ``capped`` (no height given: the actual weight capped at 100 kg,
    because without a height obesity cannot be told from a slip)."""

    kg: Decimal
    basis: Literal["actual", "adjusted", "capped"]
    actual_kg: Decimal
    height_cm: Decimal | None
    bmi_kg_per_m2: Decimal | None
    ideal_kg: Decimal | None
    sex_assumed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "dosing_weight_kg": float(self.kg), "dosing_weight_basis": self.basis, "weight_kg": float(self.actual_kg),
            "height_cm": _num(self.height_cm), "bmi_kg_per_m2": _num(self.bmi_kg_per_m2),
            "ideal_body_weight_kg": _num(self.ideal_kg), "sex_assumed": self.sex_assumed,
        }

    def describe(self) -> str:
        """What a nurse reads beside a mg/kg figure: ``dosing weight 94.6 kg (adjusted: BMI 41.3)``."""
        why = {"actual": "actual weight", "capped": "actual weight capped at 100 kg: no height recorded",
               "adjusted": f"adjusted for BMI {_fmt(round_half_up(self.bmi_kg_per_m2 or Decimal(0), TENTH))}"}[self.basis]
        return f"dosing weight {_fmt(self.kg)} kg ({why})"


def ideal_body_weight_kg(height_cm: float, sex: str | None) -> Decimal:
    """Devine 1974: men 50 kg, women 45.5 kg, + 0.91 kg per cm above 152.4 cm (as design 4.3 v2
    writes it: nothing is taken off below 152.4 cm). An unknown sex counts as female, the lower
    and so the safer figure."""
    base = DEVINE_BASE_KG["male" if sex == "male" else "female"]
    above = max(dec(height_cm) - DEVINE_FROM_CM, Decimal(0))
    return base + DEVINE_KG_PER_CM * above


def bmi_kg_per_m2(weight_kg: float, height_cm: float) -> Decimal:
    metres = dec(height_cm) / 100
    return dec(weight_kg) / (metres * metres)


def dosing_weight(weight_kg: float, height_cm: float | None = None, sex: str | None = None) -> DosingWeight:
    """The dosing weight of design 4.3 v2, to 0.1 kg (half up), so the printed weight times the
    printed mg/kg gives the printed dose. Sources: Devine 1974 (IBW), Pai & Paloucek 2000 (the
    adjusted weight convention); the BMI 35 threshold and the 100 kg cap are clinic policy."""
    actual = dec(weight_kg)
    assumed = sex not in ("male", "female")
    if height_cm is None:
        if actual > CAP_WITHOUT_HEIGHT_KG:
            return DosingWeight(CAP_WITHOUT_HEIGHT_KG, "capped", actual, None, None, None, assumed)
        return DosingWeight(round_half_up(actual, TENTH), "actual", actual, None, None, None, assumed)
    height = dec(height_cm)
    bmi = bmi_kg_per_m2(weight_kg, height_cm)
    ideal = ideal_body_weight_kg(height_cm, sex)
    if bmi >= ADJUSTED_WEIGHT_FROM_BMI and actual > ideal:
        adjusted = ideal + ADJUSTMENT_FACTOR * (actual - ideal)
        return DosingWeight(round_half_up(adjusted, TENTH), "adjusted", actual, height, bmi, ideal, assumed)
    return DosingWeight(round_half_up(actual, TENTH), "actual", actual, height, bmi, ideal, assumed)


def program_weight_text(program: Mapping[str, Any] | None, fallback_kg: float | None = None) -> str:
    """The weight a stored pump program applied its mg/kg figures to, as every document says it:
    ``70 kg``, or ``a dosing weight of 86.2 kg (adjusted for BMI 47.8; actual 130 kg)``. Programs
    made before design 4.3 v2 carry no dosing weight and read as their actual weight."""
    p = program or {}
    actual = p.get("weight_kg", fallback_kg)
    kg = p.get("dosing_weight_kg", actual)
    basis = p.get("dosing_weight_basis", "actual")
    if kg is None:
        return "an unrecorded weight"
    if basis == "adjusted":
        bmi = (p.get("dosing_weight") or {}).get("bmi_kg_per_m2")
        why = f"adjusted for BMI {bmi:.1f}" if isinstance(bmi, int | float) else "adjusted for obesity"
        return f"a dosing weight of {float(kg):g} kg ({why}; actual {float(actual):g} kg)"
    if basis == "capped":
        return f"a dosing weight of {float(kg):g} kg (capped at 100 kg: no height recorded; actual {float(actual):g} kg)"
    return f"{float(kg):g} kg"


def program_dosing_weight_kg(program: Mapping[str, Any] | None, fallback_kg: float | None = None) -> float | None:
    """The weight a stored program's mg/kg figures refer to (its dosing weight; older programs: their weight)."""
    p = program or {}
    value = p.get("dosing_weight_kg", p.get("weight_kg", fallback_kg))
    return None if value is None else float(value)


# -- the order (contract 4.3 input) -----------------------------------------------------------


class Override(BaseModel):
    """A physician's override of soft limits. ``reason`` must not be empty; ``by`` names who
    approved it (the services layer fills it from the signed-in physician)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(max_length=2000)
    by: str | None = Field(default=None, max_length=200)

    def is_valid(self) -> bool:
        return bool(self.reason.strip())


class DoseStep(BaseModel):
    """One step of the order. ``bolus``: dose_mg_per_kg (+ duration_min, default 5);
    ``infusion``: rate_mg_per_kg_per_h + duration_min; ``oral``: dose_mg_per_kg (+ times_per_day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bolus", "infusion", "oral"]
    dose_mg_per_kg: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    rate_mg_per_kg_per_h: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    duration_min: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    times_per_day: int | None = Field(default=None, ge=1, le=6)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> DoseStep:
        article = "an" if self.kind[0] in "aeiou" else "a"

        def need(name: str) -> None:
            if getattr(self, name) is None:
                raise ValueError(f"{article} {self.kind} step needs {name}")

        def refuse(name: str, hint: str) -> None:
            if getattr(self, name) is not None:
                raise ValueError(f"{article} {self.kind} step takes no {name}: {hint}")

        if self.kind == "bolus":
            need("dose_mg_per_kg")
            refuse("rate_mg_per_kg_per_h", "a bolus is a dose in mg/kg")
            refuse("times_per_day", "use an oral step")
            if self.duration_min is not None and self.duration_min > 60:
                raise ValueError("a bolus pushed over more than 60 min is an infusion: use an infusion step")
        elif self.kind == "infusion":
            need("rate_mg_per_kg_per_h")
            need("duration_min")
            refuse("dose_mg_per_kg", "an infusion is a rate in mg/kg/h")
            refuse("times_per_day", "use an oral step")
        else:
            need("dose_mg_per_kg")
            refuse("rate_mg_per_kg_per_h", "an oral dose is in mg/kg")
            refuse("duration_min", "an oral dose has no infusion time")
        return self


class DoseRequest(BaseModel):
    """The ``ketaclinic dose`` input (contract 4.3 and 4.3 v2). Only ``protocol`` and ``weight_kg``
    are required; ``height_cm`` and ``sex`` give the dosing weight, ``profile`` the care profile
    (absent: the protocol's own, ``low_dose`` for every outpatient protocol)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    weight_kg: float = Field(allow_inf_nan=False)
    height_cm: float | None = Field(default=None, ge=HEIGHT_MIN_CM, le=HEIGHT_MAX_CM, allow_inf_nan=False)
    sex: Literal["female", "male"] | None = None
    profile: Literal["low_dose", "anesthesia_staffed"] | None = None
    concentration_mg_per_ml: float | None = Field(default=None, allow_inf_nan=False)
    steps: list[DoseStep] | None = Field(default=None, min_length=1, max_length=20)
    override: Override | None = None

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value not in PROTOCOL_IDS:
            raise ValueError(f"unknown protocol {value!r}; allowed: {', '.join(PROTOCOL_IDS)}")
        return value


# -- the program (contract 4.3 output) --------------------------------------------------------


@dataclass(frozen=True)
class LimitFinding:
    level: Level
    code: str
    message: str
    source: str
    step: int | None = None
    field: str | None = None
    grade: str | None = None
    #: The individual rule that fired (``infusion_rate_per_kg_above_soft_max``); ``code`` is the
    #: contract's code for the kind of limit (``infusion_rate``).
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "code": self.code, "rule": self.rule or self.code, "message": self.message,
                "source": self.source, "step": self.step, "field": self.field}


@dataclass(frozen=True)
class Note:
    """Information on the program that never stops it (a cap applied, an advised minimum not met)."""

    code: str
    message: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class ProgramStep:
    step: int
    kind: Literal["bolus", "infusion", "oral"]
    label: str
    dose_mg: Decimal
    rate_mg_per_h: Decimal | None
    rate_ml_per_h: Decimal | None
    duration_min: Decimal | None
    volume_ml: Decimal
    ordered_mg_per_kg: Decimal | None = None
    ordered_rate_mg_per_kg_per_h: Decimal | None = None
    #: When the step starts, minutes from the start of the session (IV steps run one after the
    #: other) or of the day (oral doses), so the program can be simulated without reading labels.
    start_min: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "kind": self.kind,
            "start_min": _num(self.start_min),
            "dose_mg": _num(self.dose_mg),
            "rate_mg_per_h": _num(self.rate_mg_per_h),
            "rate_ml_per_h": _num(self.rate_ml_per_h),
            "duration_min": _num(self.duration_min),
            "volume_ml": _num(self.volume_ml),
            "label": self.label,
        }
        if self.ordered_rate_mg_per_kg_per_h is not None:
            out["rate_mg_per_kg_per_h"] = _num(round_half_up(self.ordered_rate_mg_per_kg_per_h, Decimal("0.0001")))
        if self.ordered_mg_per_kg is not None:
            out["dose_mg_per_kg"] = _num(self.ordered_mg_per_kg)
        return out


@dataclass(frozen=True)
class PumpProgram:
    protocol: Protocol
    weight_kg: float
    concentration_mg_per_ml: float
    steps: tuple[ProgramStep, ...]
    limits: tuple[LimitFinding, ...]
    notes: tuple[Note, ...]
    override: Override | None
    library_name: str
    dosing_weight: DosingWeight | None = None
    profile: str = DEFAULT_PROFILE

    @property
    def dosing_weight_kg(self) -> float:
        return float(self.dosing_weight.kg) if self.dosing_weight else self.weight_kg

    @property
    def most_in_any_24h_mg(self) -> Decimal:
        return most_in_any_window(deliveries_of(self.steps))

    @property
    def total_dose_mg(self) -> Decimal:
        return sum((s.dose_mg for s in self.steps), Decimal("0"))

    @property
    def total_volume_ml(self) -> Decimal:
        return sum((s.volume_ml for s in self.steps), Decimal("0"))

    def as_dict(self) -> dict[str, Any]:
        """Contract 4.3 output (``program``, ``total_dose_mg``, ``total_volume_ml``, ``limits``), plus
        what the record needs: the protocol, the override echoed, notes, titration and observation."""
        override = None
        if self.override is not None:
            override = {"reason": self.override.reason, "by": self.override.by,
                        "overridden": [f.code for f in self.limits if f.level == "soft"]}
        return {
            "program": [s.as_dict() for s in self.steps],
            "total_dose_mg": float(self.total_dose_mg),
            "total_volume_ml": float(self.total_volume_ml),
            "limits": [f.as_dict() for f in self.limits],
            "override": override,
            "notes": [n.as_dict() for n in self.notes],
            "protocol": self.protocol.id,
            "route": self.protocol.route,
            "setting": self.protocol.setting,
            "weight_kg": self.weight_kg,
            "dosing_weight_kg": self.dosing_weight_kg,
            "dosing_weight_basis": self.dosing_weight.basis if self.dosing_weight else "actual",
            "dosing_weight": self.dosing_weight.as_dict() if self.dosing_weight else None,
            "profile": self.profile,
            "session_total_mg_per_kg": float(round_half_up(self.most_in_any_24h_mg / dec(self.dosing_weight_kg),
                                                           Decimal("0.001"))),
            "concentration_mg_per_ml": self.concentration_mg_per_ml,
            "drug_library": self.library_name,
            "titration": self.protocol.titration.as_dict() if self.protocol.titration else None,
            "min_observation_after_stop_min": self.protocol.min_observation_after_stop_min,
        }


class DosingError(Exception):
    """The order cannot be programmed. ``code``: ``hard_limit``, ``soft_limit``,
    ``weight_out_of_range`` or ``invalid_input``; ``limits`` lists every limit that fired."""

    def __init__(self, code: str, message: str, field: str | None = None, limits: tuple[LimitFinding, ...] = ()):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.limits = limits


# -- the calculation --------------------------------------------------------------------------


@dataclass
class _Check:
    """Collects findings and notes while a program is built."""

    findings: list[LimitFinding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def library(self, limit: Limit, value: Decimal, step: int | None, field_path: str | None,
                hint_max: str = "", hint_min: str = "") -> None:
        for level, side, bound in limit.breaches(value):
            where = f"step {step}: " if step is not None else ""
            if step is None and limit.code in ("session_total", "session_duration"):
                where = "session: "
            word = "above" if side == "max" else "below"
            message = (
                f"{where}{limit.label} {_fmt(value)} {limit.unit} is {word} the {level} {side}imum of "
                f"{_fmt(dec(bound.value))} {limit.unit} (limit {limit.code}) [{bound.source}]"
            )
            if bound.why:
                message += f" ({bound.why})"
            hint = hint_max if side == "max" else hint_min
            if hint:
                message += f"; {hint}"
            self.findings.append(LimitFinding(level, limit.code, message, bound.source,
                                              step, field_path, bound.grade, limit.rule_name(level, side)))

    def protocol(self, protocol: Protocol, lim: ProtocolLimit, value: Decimal, step: int | None, field_path: str | None) -> None:
        if lim.bound == "cap" or not lim.fires(float(value)):
            return
        where = f"step {step}: " if step is not None else "session: "
        word = "above the maximum" if lim.bound == "max" else "below the minimum"
        if lim.bound == "advised_min":
            self.notes.append(Note(lim.code, f"{where}{lim.quantity.replace('_', ' ')} {_fmt(value)} {lim.unit} is below "
                                              f"the advised {_fmt(dec(lim.value))} {lim.unit} ({lim.why})", lim.source))
            return
        message = (f"{where}{lim.quantity} {_fmt(value)} {lim.unit} is {word} of {_fmt(dec(lim.value))} {lim.unit} "
                   f"for protocol {protocol.id} [{lim.source}] ({lim.why})")
        self.findings.append(LimitFinding("soft", lim.code, message, lim.source, step, field_path, lim.grade, lim.code))


def _plausible(limit: Limit, value: Decimal) -> bool:
    """Is ``value`` inside the limit's soft range (what a correct order would look like)?"""
    low = dec(limit.soft_min.value) if limit.soft_min else Decimal("0")
    high = dec(limit.soft_max.value) if limit.soft_max else (dec(limit.hard_max.value) if limit.hard_max else Decimal("Infinity"))
    return low <= value <= high


def _slip_hint_rate(rate: Decimal, weight: Decimal, library: DrugLibrary) -> str:
    """Name the classic slips when the corrected number would be an ordinary order."""
    limit = library.infusion_rate_mg_per_kg_per_h
    hints = []
    if _plausible(limit, rate / weight):
        hints.append(f"was {_fmt(rate)} mg/h typed as mg/kg/h? ({_fmt(rate)} mg/h is "
                     f"{_fmt(round_half_up(rate / weight, Decimal('0.001')))} mg/kg/h at {_fmt(weight)} kg)")
    if _plausible(limit, rate / 10):
        hints.append(f"a misplaced decimal point? ({_fmt(rate / 10)} mg/kg/h)")
    return "; ".join(hints)


def _slip_hint_dose(dose: Decimal, weight: Decimal, limit: Limit) -> str:
    hints = []
    if _plausible(limit, dose / 10):
        hints.append(f"a misplaced decimal point? ({_fmt(dose / 10)} mg/kg)")
    if _plausible(limit, dose / weight):
        hints.append(f"was {_fmt(dose)} mg typed as mg/kg? ({_fmt(round_half_up(dose / weight, Decimal('0.001')))} mg/kg)")
    return "; ".join(hints)


@dataclass(frozen=True)
class _Order:
    kind: Literal["bolus", "infusion", "oral"]
    dose_mg_per_kg: float | None = None
    rate_mg_per_kg_per_h: float | None = None
    rate_mg_per_h: float | None = None
    duration_min: float | None = None
    times_per_day: int | None = None
    label: str = ""


def _orders(request: DoseRequest, protocol: Protocol) -> list[_Order]:
    if request.steps:
        orders = [
            _Order(s.kind, s.dose_mg_per_kg, s.rate_mg_per_kg_per_h, None, s.duration_min, s.times_per_day, "")
            for s in request.steps
        ]
    elif protocol.requires_explicit_steps:
        raise DosingError("invalid_input", f"protocol {protocol.id!r} needs explicit steps (bolus and infusion steps "
                          "checked against the drug library)", "steps")
    else:
        orders = [
            _Order(s.kind, s.dose_mg_per_kg, s.rate_mg_per_kg_per_h, s.rate_mg_per_h, s.duration_min, s.times_per_day, s.label)
            for s in protocol.steps
        ]
    for i, order in enumerate(orders):
        if order.kind not in protocol.allowed_kinds:
            raise DosingError(
                "invalid_input",
                f"steps[{i}].kind: a {order.kind} step is not part of protocol {protocol.id!r} "
                f"(route {protocol.route}; allowed: {', '.join(protocol.allowed_kinds)})",
                f"steps[{i}].kind",
            )
    return orders


def _weight(weight_kg: float, library: DrugLibrary) -> Decimal:
    weight = dec(weight_kg)
    lim = library.weight_kg
    breaches = lim.breaches(weight)
    if breaches:
        low = lim.hard_min.value if lim.hard_min else 0
        high = lim.hard_max.value if lim.hard_max else math.inf
        message = f"weight_kg {_fmt(weight)} is outside {_fmt(dec(low))}-{_fmt(dec(high))} kg [{breaches[0][2].source}]"
        as_kg = weight / LB_PER_KG
        if weight > dec(high) and dec(low) <= as_kg <= dec(high):
            message += f"; were pounds typed as kilograms? {_fmt(weight)} lb is {_fmt(round_half_up(as_kg, TENTH))} kg"
        raise DosingError("weight_out_of_range", message, "weight_kg")
    return weight


def _concentration(request: DoseRequest, protocol: Protocol, library: DrugLibrary) -> Decimal:
    allowed = ", ".join(_fmt(dec(c)) for c in library.concentrations_mg_per_ml)
    if request.concentration_mg_per_ml is None:
        chosen = protocol.default_concentration_mg_per_ml
        if not library.allows_concentration(chosen):
            chosen = library.concentrations_mg_per_ml[0]
        return dec(chosen)
    if not library.allows_concentration(request.concentration_mg_per_ml):
        raise DosingError(
            "invalid_input",
            f"concentration_mg_per_ml {_fmt(dec(request.concentration_mg_per_ml))} mg/mL is not in the drug library "
            f"{library.name!r}; allowed: {allowed} mg/mL [{library.concentrations_source}]",
            "concentration_mg_per_ml",
        )
    return dec(request.concentration_mg_per_ml)


def library_for(request_profile: str | None, protocol: Protocol,
                libraries: DrugLibrary | Mapping[str, DrugLibrary] = PROFILES) -> DrugLibrary:
    """The library an order is judged against: the profile the order names, else the protocol's.

    ``libraries`` maps profile -> library (the clinic's tightened profiles); a single library
    is used as it is (the caller has chosen it)."""
    if isinstance(libraries, DrugLibrary):
        return libraries
    profile = request_profile or protocol.profile
    try:
        return libraries[profile]
    except KeyError:
        raise DosingError("invalid_input", f"profile {profile!r} is not in the drug library; allowed: "
                          f"{', '.join(libraries)}", "profile") from None


def program_pump(request: DoseRequest, library: DrugLibrary | Mapping[str, DrugLibrary] = PROFILES, *,
                 session_limits: bool = True) -> PumpProgram:
    """Turn a weight-based order into a pump program, or raise :class:`DosingError`.

    Pure: the same order and library always give the same program. See the module docstring
    for the limit and rounding rules. Every mg/kg figure is applied to the dosing weight; no
    program it returns is past a hard limit of its profile, per step or per session.
    ``session_limits=False`` judges the steps alone: the bedside judges a change per step here
    and the whole session with :func:`session_findings`.
    """
    try:
        protocol = get_protocol(request.protocol)
    except UnknownProtocolError as exc:
        raise DosingError("invalid_input", str(exc), "protocol") from None
    library = library_for(request.profile, protocol, library)
    actual = _weight(request.weight_kg, library)
    basis = dosing_weight(float(actual), request.height_cm, request.sex)
    weight = basis.kg
    conc = _concentration(request, protocol, library)
    orders = _orders(request, protocol)
    check = _Check()
    if basis.bmi_kg_per_m2 is not None:
        check.library(library.bmi_kg_per_m2, round_half_up(basis.bmi_kg_per_m2, TENTH), None, "weight_kg",
                      hint_max="were pounds typed as kilograms, or is the height right?",
                      hint_min="is the weight in kilograms and the height in centimetres?")
    cap = protocol.cap_mg_per_h()
    explicit = bool(request.steps)

    program: list[ProgramStep] = []
    infusion_time = Decimal("0")
    clock = Decimal("0")
    for i, order in enumerate(orders):
        number = len(program) + 1
        path = f"steps[{i}]" if explicit else f"protocol.steps[{i}]"
        if order.kind == "infusion":
            step, minutes = _infusion(order, number, path, weight, conc, protocol, cap, library, check)
            program.append(replace(step, start_min=clock))
            infusion_time += minutes
            clock += step.duration_min or Decimal("0")
        elif order.kind == "bolus":
            step = _bolus(order, number, path, weight, conc, protocol, library, check)
            program.append(replace(step, start_min=clock))
            clock += step.duration_min or Decimal("0")
        else:
            program.extend(_oral(order, number, path, weight, conc, protocol, library, check))

    total = sum((s.dose_mg for s in program), Decimal("0"))
    if session_limits:
        check_session(program, weight, library, check, field_path="steps" if explicit else "protocol")
    for lim in protocol.limits:
        if lim.quantity == "session_total_mg":
            check.protocol(protocol, lim, total, None, None)
        elif lim.quantity == "session_infusion_time_min":
            check.protocol(protocol, lim, infusion_time, None, None)
    for caution in protocol.cautions:
        check.notes.append(Note("protocol_caution", caution, protocol.source))
    if basis.basis != "actual":
        check.notes.append(Note("dosing_weight", f"every mg/kg figure uses the {basis.describe()}, not the actual "
                                f"{_fmt(actual)} kg", ref("devine1974_ibw") if basis.basis == "adjusted" else CLINIC_POLICY))

    return _decide(protocol, request, basis, conc, program, check, library)


# -- session totals -----------------------------------------------------------------------------

DAY_MIN = Decimal(24 * 60)


@dataclass(frozen=True)
class Delivery:
    """One amount given evenly from ``start_min`` over ``duration_min`` (0: all at once)."""

    start_min: Decimal
    duration_min: Decimal
    dose_mg: Decimal

    @property
    def end_min(self) -> Decimal:
        return self.start_min + self.duration_min

    def given_before(self, t: Decimal) -> Decimal:
        """How much of it is given strictly before minute ``t``."""
        if t <= self.start_min:
            return Decimal(0)
        if self.duration_min <= 0 or t >= self.end_min:
            return self.dose_mg
        return self.dose_mg * (t - self.start_min) / self.duration_min


def deliveries_of(program: Iterable[ProgramStep]) -> list[Delivery]:
    """The program as amounts over time (oral doses at once, pushes and infusions evenly)."""
    out = []
    for step in program:
        start = step.start_min or Decimal(0)
        minutes = step.duration_min if step.kind != "oral" and step.duration_min is not None else Decimal(0)
        out.append(Delivery(start, minutes, step.dose_mg))
    return out


def most_in_any_window(deliveries: Iterable[Delivery], window_min: Decimal = DAY_MIN) -> Decimal:
    """The largest amount given in any ``window_min`` (a 24 h day by default), window [t, t + w).

    For a session shorter than the window this is simply its total. The amount in a window is
    piecewise linear in t, so its maximum is at a window edge meeting a start or an end."""
    items = [d for d in deliveries if d.dose_mg > 0]
    if not items:
        return Decimal(0)
    first = min(d.start_min for d in items)
    last = max(d.end_min for d in items)
    if last - first < window_min:
        return sum((d.dose_mg for d in items), Decimal(0))
    edges = {t for d in items for t in (d.start_min, d.end_min)}
    candidates = edges | {t - window_min for t in edges}

    def given(t: Decimal) -> Decimal:
        return sum((d.given_before(t) for d in items), Decimal(0))

    return max(given(t + window_min) - given(t) for t in candidates)


def infusion_time_min(program: Iterable[ProgramStep]) -> Decimal:
    """The minutes of infusion steps in a program (slow pushes and oral doses not counted)."""
    return sum((s.duration_min or Decimal(0) for s in program if s.kind == "infusion"), Decimal(0))


def check_session(program: Iterable[ProgramStep], weight: Decimal, library: DrugLibrary, check: _Check,
                  *, field_path: str | None = None) -> Decimal:
    """Judge a program's session totals (design 4.3 v2). Returns the most given in any 24 h, in mg."""
    program = list(program)
    return _judge_session(deliveries_of(program), infusion_time_min(program), weight, library, check, field_path)


def session_findings(deliveries: Iterable[Delivery], infusion_min: Decimal, weight: Decimal, library: DrugLibrary,
                     field_path: str | None = None) -> list[LimitFinding]:
    """The session limits a whole session breaks, given as amounts over time: what the bedside
    checks before a rate change or an extra bolus (what ran so far, the change, and the rest of
    the program as it would then run)."""
    check = _Check()
    _judge_session(list(deliveries), dec(infusion_min), weight, library, check, field_path)
    return check.findings


def _judge_session(deliveries: list[Delivery], length: Decimal, weight: Decimal, library: DrugLibrary, check: _Check,
                   field_path: str | None) -> Decimal:
    """The most given in any 24 h, in mg/kg of the dosing weight and in mg, and the infusion time."""
    most = most_in_any_window(deliveries)
    what = "in the session" if length <= DAY_MIN else "in the busiest 24 h of the infusion"
    per_kg = round_half_up(most / weight, Decimal("0.001"))
    check.library(library.session_total_mg_per_kg, per_kg, None, field_path,
                  hint_max=f"{_fmt(round_half_up(most, TENTH))} mg {what} at a dosing weight of {_fmt(weight)} kg")
    check.library(library.session_total_mg, round_half_up(most, TENTH), None, field_path,
                  hint_max=f"{what}; check the weight, the steps and their durations")
    check.library(library.session_duration_min, length, None, field_path,
                  hint_max="check that hours were not typed as minutes, or use an inpatient protocol")
    return most


def judge(findings: Iterable[LimitFinding], override: Override | None) -> tuple[LimitFinding, ...]:
    """Apply the stop rules: any hard finding raises ``hard_limit`` (no override possible); a soft
    one raises ``soft_limit`` unless ``override`` carries a reason. Returns the soft findings the
    override covers, to be recorded."""
    findings = tuple(findings)
    hard = [f for f in findings if f.level == "hard"]
    soft = [f for f in findings if f.level == "soft"]
    if hard:
        raise DosingError(
            "hard_limit",
            "hard limit, nothing programmed and no override possible: " + " | ".join(f.message for f in hard),
            hard[0].field, findings,
        )
    if soft and (override is None or not override.is_valid()):
        why = "an override needs a non-empty reason" if override is not None else \
            "a physician may override it with a written reason"
        raise DosingError("soft_limit", f"soft limit ({why}): " + " | ".join(f.message for f in soft), soft[0].field, findings)
    return tuple(soft)


def check_schedule(weight: Decimal, library: DrugLibrary, *, boluses: Iterable[tuple[float, float]] = (),
                   infusions: Iterable[tuple[float, float, float]] = ()) -> list[LimitFinding]:
    """Judge a schedule made elsewhere (a target-controlled infusion) against a profile's limits on
    the dosing weight ``weight``: each bolus ``(at_min, dose_mg)`` and each infusion
    ``(start_min, duration_min, rate_mg_per_h)`` per step, and the whole as one session."""
    check = _Check()
    steps: list[ProgramStep] = []
    for i, (at_min, dose_mg) in enumerate(boluses):
        dose = round_half_up(dec(dose_mg), TENTH)
        check.library(library.bolus_dose_mg_per_kg, round_half_up(dose / weight, Decimal("0.001")), i + 1,
                      f"bolus[{i}].dose_mg", f"{_fmt(dose)} mg at a dosing weight of {_fmt(weight)} kg")
        steps.append(ProgramStep(i + 1, "bolus", "bolus", dose, None, None, Decimal(0), Decimal(0), start_min=dec(at_min)))
    for i, (start_min, duration_min, rate_mg_per_h) in enumerate(infusions):
        rate = dec(rate_mg_per_h)
        if rate <= 0:
            continue
        minutes = dec(duration_min)
        check.library(library.infusion_rate_mg_per_kg_per_h, round_half_up(rate / weight, Decimal("0.0001")), i + 1,
                      f"steps[{i}].rate_mg_per_h", f"{_fmt(rate)} mg/h at a dosing weight of {_fmt(weight)} kg")
        check.library(library.infusion_rate_mg_per_h, rate, i + 1, f"steps[{i}].rate_mg_per_h")
        dose = round_half_up(rate * minutes / 60, TENTH)
        steps.append(ProgramStep(i + 1, "infusion", "infusion", dose, rate, None, minutes, Decimal(0),
                                 start_min=dec(start_min)))
    check_session(steps, weight, library, check, field_path="steps")
    # the minimums catch a decimal slip in a typed order; a computed schedule tapers by design.
    # One finding per rule (the first step past it), saying how many steps are past it.
    kept: dict[str, LimitFinding] = {}
    counts: dict[str, int] = {}
    for f in check.findings:
        if "_below_" in (f.rule or ""):
            continue
        key = f.rule or f.code
        counts[key] = counts.get(key, 0) + 1
        kept.setdefault(key, f)
    return [f if counts[k] == 1 else replace(f, message=f"{f.message} (and {counts[k] - 1} later steps)")
            for k, f in kept.items()]


def _decide(protocol: Protocol, request: DoseRequest, basis: DosingWeight, conc: Decimal, program: list[ProgramStep],
            check: _Check, library: DrugLibrary) -> PumpProgram:
    override = request.override
    soft = judge(check.findings, override)
    return PumpProgram(
        protocol=protocol, weight_kg=float(basis.actual_kg), concentration_mg_per_ml=float(conc), steps=tuple(program),
        limits=tuple(soft), notes=tuple(check.notes), override=override, library_name=library.name,
        dosing_weight=basis, profile=library.profile,
    )


def _hard_ceiling(limit: Limit) -> Decimal | None:
    return dec(limit.hard_max.value) if limit.hard_max is not None else None


def _inside_hard(value: Decimal, ceiling: Decimal | None, quantum: Decimal, ordered: Decimal) -> Decimal:
    """Round ``value`` down when half-up rounding alone pushed an order that was within a hard
    maximum past it: rounding must never carry a dose over a hard limit."""
    if ceiling is None or value <= ceiling or ordered > ceiling:
        return value
    return ceiling.quantize(quantum, rounding=ROUND_FLOOR)


def _infusion(order: _Order, number: int, path: str, weight: Decimal, conc: Decimal, protocol: Protocol,
              cap: ProtocolLimit | None, library: DrugLibrary, check: _Check) -> tuple[ProgramStep, Decimal]:
    assert order.duration_min is not None
    minutes = dec(order.duration_min)
    if order.rate_mg_per_h is not None:  # a protocol default given in mg/h (Goldberg 2010)
        ordered = dec(order.rate_mg_per_h)
        per_kg = ordered / weight
        per_kg_field = f"{path}.rate_mg_per_h"
    else:
        assert order.rate_mg_per_kg_per_h is not None
        per_kg = dec(order.rate_mg_per_kg_per_h)
        ordered = per_kg * weight
        per_kg_field = f"{path}.rate_mg_per_kg_per_h"
    # limits judge the order as typed, before any protocol cap
    check.library(library.infusion_rate_mg_per_kg_per_h, per_kg, number, per_kg_field,
                  _slip_hint_rate(per_kg, weight, library))
    check.library(library.infusion_rate_mg_per_h, ordered, number, f"{path}.rate_mg_per_kg_per_h",
                  f"{_fmt(per_kg)} mg/kg/h at {_fmt(weight)} kg; check the weight and the unit")
    check.library(library.infusion_duration_min, minutes, number, f"{path}.duration_min")
    for lim in protocol.limits:
        if lim.quantity == "infusion_rate_mg_per_kg_per_h":
            check.protocol(protocol, lim, per_kg, number, per_kg_field)
        elif lim.quantity == "infusion_rate_mg_per_h":
            check.protocol(protocol, lim, ordered, number, per_kg_field)
        elif lim.quantity == "infusion_duration_min":
            check.protocol(protocol, lim, minutes, number, f"{path}.duration_min")
    if cap is not None and ordered > dec(cap.value):
        check.notes.append(Note(
            cap.code,
            f"step {number}: {_fmt(round_half_up(ordered, HUNDREDTH))} mg/h capped at {_fmt(dec(cap.value))} mg/h "
            f"({cap.why})", cap.source,
        ))
        ordered = dec(cap.value)
        per_kg = ordered / weight
    rate_ml = round_half_up(ordered / conc, TENTH)
    ceilings = [c for c in (_hard_ceiling(library.infusion_rate_mg_per_h),
                            None if library.infusion_rate_mg_per_kg_per_h.hard_max is None
                            else _hard_ceiling(library.infusion_rate_mg_per_kg_per_h) * weight) if c is not None]
    if ceilings:
        rate_ml = _inside_hard(rate_ml, min(ceilings) / conc, TENTH, ordered / conc)
    check.library(library.pump_rate_ml_per_h, rate_ml, number, "concentration_mg_per_ml",
                  hint_min=f"at {_fmt(conc)} mg/mL the pump would run at {_fmt(rate_ml)} mL/h for "
                  f"{_fmt(round_half_up(ordered, HUNDREDTH))} mg/h: choose a weaker concentration")
    rate_mg = rate_ml * conc
    dose = round_half_up(rate_mg * minutes / 60, TENTH)
    volume = round_half_up(dose / conc, HUNDREDTH)
    label = order.label or "infusion"
    return ProgramStep(number, "infusion", label, dose, rate_mg, rate_ml, minutes, volume,
                       ordered_rate_mg_per_kg_per_h=per_kg), minutes


def _bolus(order: _Order, number: int, path: str, weight: Decimal, conc: Decimal, protocol: Protocol,
           library: DrugLibrary, check: _Check) -> ProgramStep:
    assert order.dose_mg_per_kg is not None
    per_kg = dec(order.dose_mg_per_kg)
    minutes = dec(order.duration_min if order.duration_min is not None else library.default_bolus_duration_min)
    check.library(library.bolus_dose_mg_per_kg, per_kg, number, f"{path}.dose_mg_per_kg",
                  _slip_hint_dose(per_kg, weight, library.bolus_dose_mg_per_kg))
    check.library(library.bolus_duration_min, minutes, number, f"{path}.duration_min")
    for lim in protocol.limits:
        if lim.quantity == "bolus_dose_mg_per_kg":
            check.protocol(protocol, lim, per_kg, number, f"{path}.dose_mg_per_kg")
    dose = round_half_up(per_kg * weight, TENTH)
    ceiling = _hard_ceiling(library.bolus_dose_mg_per_kg)
    dose = _inside_hard(dose, None if ceiling is None else ceiling * weight, TENTH, per_kg * weight)
    _nonzero(dose, number, f"{path}.dose_mg_per_kg", check)
    volume = round_half_up(dose / conc, HUNDREDTH)
    rate_ml = round_half_up(volume * 60 / minutes, TENTH)
    return ProgramStep(number, "bolus", order.label or "bolus", dose, rate_ml * conc, rate_ml, minutes, volume,
                       ordered_mg_per_kg=per_kg)


def _oral(order: _Order, number: int, path: str, weight: Decimal, conc: Decimal, protocol: Protocol,
          library: DrugLibrary, check: _Check) -> list[ProgramStep]:
    assert order.dose_mg_per_kg is not None
    per_kg = dec(order.dose_mg_per_kg)
    check.library(library.oral_dose_mg_per_kg, per_kg, number, f"{path}.dose_mg_per_kg",
                  _slip_hint_dose(per_kg, weight, library.oral_dose_mg_per_kg))
    for lim in protocol.limits:
        if lim.quantity == "oral_dose_mg_per_kg":
            check.protocol(protocol, lim, per_kg, number, f"{path}.dose_mg_per_kg")
    dose = round_half_up(per_kg * weight, TENTH)
    ceiling = _hard_ceiling(library.oral_dose_mg_per_kg)
    dose = _inside_hard(dose, None if ceiling is None else ceiling * weight, TENTH, per_kg * weight)
    _nonzero(dose, number, f"{path}.dose_mg_per_kg", check)
    volume = round_half_up(dose / conc, HUNDREDTH)
    times = order.times_per_day or 1
    every_h = Decimal(24) / times
    base = order.label or "by mouth"
    return [
        ProgramStep(number + k, "oral", f"{base}: dose {k + 1} of {times} a day (at {_fmt(round_half_up(every_h * k, TENTH))} h)",
                    dose, None, None, None, volume, ordered_mg_per_kg=per_kg, start_min=every_h * k * 60)
        for k in range(times)
    ]


def _nonzero(dose: Decimal, number: int, path: str, check: _Check) -> None:
    if dose <= 0:
        check.findings.append(LimitFinding("hard", "dose_rounds_to_zero",
                                           f"step {number}: the dose rounds to 0.0 mg; nothing would be given",
                                           CLINIC_POLICY, number, path))


# -- the weight check for the services layer --------------------------------------------------


@dataclass(frozen=True)
class WeightChangeFlag:
    """A weight too far from the last recorded one to accept without a second look."""

    code: str
    change_pct: float
    likely_slip: Literal["lb_for_kg", "kg_for_lb"] | None
    message: str
    source: str = CLINIC_POLICY

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def weight_change_flag(new_weight_kg: float, last_weight_kg: float) -> WeightChangeFlag | None:
    """Flag a weight more than 20 % away from the last recorded one (contract 4.3), naming a
    likely pounds-for-kilograms slip when the ratio is close to 2.2. ``None`` when within 20 %
    (exactly 20 % is within)."""
    if not (math.isfinite(new_weight_kg) and math.isfinite(last_weight_kg)) or last_weight_kg <= 0:
        raise ValueError("weights must be finite and the last weight positive")
    new, last = dec(new_weight_kg), dec(last_weight_kg)
    change = (new - last) / last
    if abs(change) <= dec(WEIGHT_CHANGE_FRACTION):
        return None
    ratio = new / last
    slip: Literal["lb_for_kg", "kg_for_lb"] | None = None
    if abs(ratio / LB_PER_KG - 1) <= Decimal("0.05"):
        slip = "lb_for_kg"
    elif abs(ratio * LB_PER_KG - 1) <= Decimal("0.05"):
        slip = "kg_for_lb"
    pct = float(round_half_up(change * 100, TENTH))
    message = f"weight {_fmt(new)} kg is {pct:+g} % from the last recorded {_fmt(last)} kg (more than 20 %)"
    if slip == "lb_for_kg":
        message += f"; were pounds typed as kilograms? {_fmt(new)} lb is {_fmt(round_half_up(new / LB_PER_KG, TENTH))} kg"
    elif slip == "kg_for_lb":
        message += f"; were kilograms converted twice? {_fmt(new)} kg is {_fmt(round_half_up(new * LB_PER_KG, TENTH))} lb"
    message += ". Re-weigh the patient before programming the pump."
    return WeightChangeFlag("weight_change_over_20_pct", pct, slip, message)


# -- rules for docs/clinical-rules.md ----------------------------------------------------------


def _limit_rules(library: DrugLibrary, base: DrugLibrary | None = None) -> list[Rule]:
    """One rule per bound; with ``base``, only the bounds that differ from it, named by profile."""
    rules: list[Rule] = []
    prefix = f"{library.profile}." if base is not None else ""
    per_profile = f" (profile {library.profile})"
    for attr, lim in _library_limit_attrs(library):
        if lim.quantity == "weight_kg" or (base is not None and getattr(base, attr) == lim):
            continue
        for level, side, bound in lim.bounds():
            op = ">" if side == "max" else "<"
            action = ("stop: nothing programmed, no override" if level == "hard"
                      else "stop unless a physician overrides with a reason (recorded)")
            per = " of the dosing weight" if "mg/kg" in lim.unit else ""
            rules.append(Rule(
                code=prefix + lim.rule_name(level, side), domain="dosing", kind=f"{level}_limit",
                threshold=f"{lim.label} {op} {bound.value:g} {lim.unit}{per}" + (per_profile if base is not None else ""),
                action=f"{action}" + (f"; {bound.why}" if bound.why else ""), source=bound.source, grade=bound.grade,
            ))
    return rules


def _rules(library: DrugLibrary) -> tuple[Rule, ...]:
    rules: list[Rule] = _limit_rules(library)
    rules.extend(_limit_rules(ANESTHESIA_STAFFED_LIBRARY, base=library))
    rules.append(Rule(
        code="dosing_weight", domain="dosing", kind="calculation",
        threshold="every mg/kg figure", action="applied to the dosing weight: actual weight when BMI < 35; IBW + 0.4 x "
        "(actual - IBW) when BMI >= 35 (Devine IBW); actual weight capped at 100 kg when no height is recorded "
        "(BMI threshold, factor use and cap: clinic policy)", source=ref("devine1974_ibw"),
    ))
    rules.append(Rule(
        code="care_profile", domain="dosing", kind="scope",
        threshold="profile anesthesia_staffed", action="only a physician chooses it, with a reason recorded on the plan; "
        "inpatient and multi-day protocols run under it; every other protocol runs under low_dose",
        source=ref("pa_lowdose_ketamine2020"),
    ))
    w = library.weight_kg
    rules.append(Rule(
        code="weight_out_of_range", domain="dosing", kind="hard_error",
        threshold=f"weight < {w.hard_min.value:g} kg or > {w.hard_max.value:g} kg" if w.hard_min and w.hard_max else "weight",
        action="stop (error weight_out_of_range); suggests the kg value when pounds look typed as kilograms",
        source=w.hard_max.source if w.hard_max else CLINIC_POLICY,
    ))
    rules.append(Rule(
        code="concentration_not_in_library", domain="dosing", kind="invalid_input",
        threshold=f"concentration not one of {', '.join(f'{c:g}' for c in library.concentrations_mg_per_ml)} mg/mL",
        action="stop (invalid_input) naming the allowed concentrations", source=library.concentrations_source,
    ))
    rules.append(Rule(
        code="bolus_default_duration", domain="dosing", kind="default",
        threshold="bolus without duration_min", action=f"pushed over {library.default_bolus_duration_min:g} min",
        source=library.default_bolus_duration_source,
    ))
    rules.append(Rule(
        code="dose_rounds_to_zero", domain="dosing", kind="hard_limit", threshold="bolus or oral dose rounds to 0.0 mg",
        action="stop: nothing programmed, no override", source=CLINIC_POLICY,
    ))
    rules.append(Rule(
        code="weight_change_over_20_pct", domain="dosing", kind="flag",
        threshold="weight more than 20 % from the last recorded weight",
        action="flag for re-weighing; names a likely lb-for-kg slip when the ratio is about 2.2", source=CLINIC_POLICY,
    ))
    rules.append(Rule(
        code="anesthetic_dose_excluded", domain="dosing", kind="scope",
        threshold="anesthetic-dose ('ketamine coma') regimens, e.g. several mg/kg/h in intensive care",
        action="not in this library: the hard limits stop them in an outpatient clinic", source=ref("kiefer2008_anesthetic"),
    ))
    rules.append(Rule(
        code="smart_pump_library", domain="dosing", kind="standard",
        threshold="every ketamine infusion, bolus and loading dose",
        action="programmed through this drug library (dose error-reduction system)", source=ref("ismp_smart_pumps2019"),
    ))
    return tuple(rules)


RULES: tuple[Rule, ...] = _rules(DEFAULT_LIBRARY)
