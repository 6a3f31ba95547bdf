"""Ages, weights and session counts as bands, and small-cell suppression of the quasi-identifiers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ketaclinic.interop.research.rules import (
    CMS_CELL_POLICY_URL,
    DEFAULT_K,
    QUASI_IDENTIFIERS,
    SESSION_COUNT_BANDS,
    TOP_AGE,
    WEIGHT_BAND_KG,
    WEIGHT_HIGH_KG,
    WEIGHT_LOW_KG,
)


def age_in_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def age_band(age: int) -> str:
    if age >= TOP_AGE:
        return f"{TOP_AGE}+"
    if age < 18:
        return "<18"
    if age < 30:
        return "18-29"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def weight_band(weight_kg: float) -> str:
    """5-kg bands, clamped: "<45", "45-49", ..., "145-149", "≥150"."""
    if weight_kg < WEIGHT_LOW_KG:
        return f"<{WEIGHT_LOW_KG}"
    if weight_kg >= WEIGHT_HIGH_KG:
        return f"≥{WEIGHT_HIGH_KG}"
    low = int(weight_kg // WEIGHT_BAND_KG * WEIGHT_BAND_KG)
    return f"{low}-{low + WEIGHT_BAND_KG - 1}"


def session_count_band(sessions: int) -> str:
    """How many sessions a patient has, as the cell counts it: 1, 2-3, 4-6 or 7+."""
    return next(label for top, label in SESSION_COUNT_BANDS if sessions <= top)


@dataclass(frozen=True)
class Suppression:
    """What small-cell suppression did: counted into the manifest."""

    k: int
    cells_below_k: int = 0
    patients_generalised: int = 0  # sex and age suppressed, conditions kept
    patients_fully_suppressed: int = 0  # conditions suppressed too (released: at least k share the session band)
    patients_removed: int = 0  # fully suppressed in a group of fewer than k: left out of every table
    values: dict[str, int] = field(default_factory=dict)  # "table.column" -> values emptied

    @property
    def total_values(self) -> int:
        return sum(self.values.values())

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "quasi_identifiers": list(QUASI_IDENTIFIERS),
                "session_count_bands": [label for _, label in SESSION_COUNT_BANDS],
                "cells_below_k": self.cells_below_k, "patients_generalised": self.patients_generalised,
                "patients_fully_suppressed": self.patients_fully_suppressed, "patients_removed": self.patients_removed,
                "values_suppressed": dict(sorted(self.values.items())), "total_values_suppressed": self.total_values,
                "policy": f"k = {self.k}" + (" (CMS cell size suppression policy: no cell of 1 to 10)"
                                             if self.k == DEFAULT_K else " (clinic policy)"),
                "source": CMS_CELL_POLICY_URL}


SUPPRESSIBLE = ("sex", "age_band", "condition", "conditions")


def released_cells(rows: Iterable[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """How many patients share each released combination of the quasi-identifiers."""
    return Counter(tuple(r[c] for c in QUASI_IDENTIFIERS) for r in rows)


def suppress_small_cells(rows: list[dict[str, Any]], k: int) -> Suppression:
    """Empty the quasi-identifiers of patients in cells of fewer than ``k`` (in place).

    ``rows`` carry every column of :data:`QUASI_IDENTIFIERS` (``session_count_band`` too, which
    cannot be emptied: the session rows show it). Step 1: a patient whose cell is smaller than
    ``k`` loses sex and age band. Step 2: among those, a (condition, conditions, session band)
    combination still shared by fewer than ``k`` loses the conditions too. Step 3: patients left
    in a released combination of fewer than ``k`` (only fully suppressed ones can be) are marked
    ``qi_suppressed = "removed"``: the caller leaves them out of every table.

    Afterwards every combination released (the rows not removed) is shared by at least ``k``
    patients: step 1 keeps only cells of ``k`` or more as they are; step 2 keeps conditions only
    for groups of ``k`` or more, all of which are released alike; step 3 removes the rest.
    """
    before = [tuple(r[c] for c in SUPPRESSIBLE) for r in rows]
    counts = released_cells(rows)
    small = [r for r in rows if counts[tuple(r[c] for c in QUASI_IDENTIFIERS)] < k]
    by_conditions = Counter((r["condition"], r["conditions"], r["session_count_band"]) for r in small)
    for r in small:
        r["sex"] = r["age_band"] = None
        if by_conditions[(r["condition"], r["conditions"], r["session_count_band"])] >= k:
            r["qi_suppressed"] = "age_sex"
        else:
            r["condition"] = r["conditions"] = None
            r["qi_suppressed"] = "all"
    released = released_cells(rows)
    for r in rows:
        if released[tuple(r[c] for c in QUASI_IDENTIFIERS)] < k:
            r["qi_suppressed"] = "removed"
    kept = [r for r in rows if r["qi_suppressed"] != "removed"]
    if any(n < k for n in released_cells(kept).values()):  # cannot happen (see above); never release it if it does
        raise RuntimeError("small-cell suppression left a released cell below k")
    emptied: Counter[str] = Counter()
    for r, was in zip(rows, before, strict=True):
        if r["qi_suppressed"] != "removed":
            emptied.update(f"patients.{c}" for c, value in zip(SUPPRESSIBLE, was, strict=True)
                           if value is not None and r[c] is None)
    return Suppression(k=k, cells_below_k=sum(1 for n in counts.values() if n < k),
                       patients_generalised=sum(r["qi_suppressed"] == "age_sex" for r in kept),
                       patients_fully_suppressed=sum(r["qi_suppressed"] == "all" for r in kept),
                       patients_removed=len(rows) - len(kept), values=dict(emptied))
