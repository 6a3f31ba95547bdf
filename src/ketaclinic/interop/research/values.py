"""Values as they may leave: numbers, codes of a fixed vocabulary, medication names, and the
plausible range of every exported number (outside it a value is blanked and counted)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ketaclinic.clinical.monitoring import (
    MAX_SESSION_MIN,
    Observation,
)
from ketaclinic.interop.research.rules import MAX_DOSE_MG, MEDICATIONS, VITAL_FIELDS, WEIGHT_RANGE_KG
from ketaclinic.pharmacology.regimen import MG_PER_UNIT


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def as_integer(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number.is_integer() else None


def coded(value: Any, vocabulary: Iterable[str]) -> str | None:
    return value if isinstance(value, str) and value in vocabulary else None


def medication_name(text: Any) -> str:
    """The drug as one word of :data:`MEDICATIONS`, or "other": what a nurse types never leaves as typed."""
    if not isinstance(text, str):
        return "other"
    words = re.findall(r"[a-z]+", text.lower())
    return words[0] if words and words[0] in MEDICATIONS else "other"


def _observation_range(name: str) -> tuple[float, float]:
    """The range :class:`~ketaclinic.clinical.monitoring.Observation` accepts for ``name`` (its ge/le)."""
    low = high = None
    for rule in Observation.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    if low is None or high is None:  # pragma: no cover - every vital sign has both
        raise RuntimeError(f"Observation.{name} has no range")
    return float(low), float(high)


#: The plausible range of each exported number, as the event models accept it (vital signs as
#: ``Observation``; rates and doses above 0 and at most 5000 mg, as services.sessions checks a
#: corrected rate; per kg, for the lightest weight allowed; NRS and diary scores 0-10 as the diary
#: model; weight 30-250 kg as contract 4.3). Outside it a value is a slip and leaves blank.
RANGES: dict[str, tuple[float, float]] = {
    **{name: _observation_range(name) for name in VITAL_FIELDS},
    "minute": (0.0, float(MAX_SESSION_MIN)),
    "rate_mg_per_h": (0.0, MAX_DOSE_MG),
    "rate_mg_per_kg_per_h": (0.0, MAX_DOSE_MG / WEIGHT_RANGE_KG[0]),
    "dose": (0.0, MAX_DOSE_MG),  # in mg (mcg and g converted); mL and units taken as they are
    "planned_dose_mg": (0.0, MAX_DOSE_MG),
    "weight_kg": WEIGHT_RANGE_KG,
    "baseline_pain_nrs": (0.0, 10.0),
    "baseline_nrs": (0.0, 10.0),
    "followup_nrs": (0.0, 10.0),
    **{name: (0.0, 10.0) for name in ("pain_nrs", "mood", "sleep", "function")},
}
_ABOVE_ZERO = frozenset({"rate_mg_per_h", "rate_mg_per_kg_per_h", "dose", "planned_dose_mg", "weight_kg"})


def plausible(name: str, value: float, *, unit: str | None = None) -> bool:
    """Whether ``value`` lies in the range :data:`RANGES` gives ``name`` (a dose in its ``unit``)."""
    low, high = RANGES[name]
    if name == "dose":
        value = value * MG_PER_UNIT.get(unit or "mg", 1.0)
    return (low < value if name in _ABOVE_ZERO else low <= value) and value <= high


def blank_implausible(table: str, row: dict[str, Any], blanks: Counter[str]) -> None:
    """Empty (in place) every number of ``row`` outside its range, counting each as ``table.column``."""
    for name, value in row.items():
        if name in RANGES and value is not None and not plausible(name, value, unit=row.get("dose_unit")):
            row[name] = None
            blanks[f"{table}.{name}"] += 1





def checked(table: str, name: str, value: Any, blanks: Counter[str], *, integer: bool = False) -> Any:
    """``value`` as a number of its range, else None (an out-of-range number is counted as blanked)."""
    number = as_integer(value) if integer else as_number(value)
    if number is not None and not plausible(name, number):
        blanks[f"{table}.{name}"] += 1
        return None
    return number
