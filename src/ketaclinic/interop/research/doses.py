"""What a session gave, row by row: the program's steps as run, rate changes and extra ketamine."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from ketaclinic.interop.research.rules import ROUTES
from ketaclinic.pharmacology.regimen import Bolus, doses_from_pump_program


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def session_doses(pump_program: dict[str, Any] | None, *, weight_kg: float | None,
                  rate_changes: Sequence[tuple[float, float, bool]] = (),
                  extra_boluses: Sequence[tuple[float, float, str, bool]] = (),
                  stopped_at_min: float | None = None) -> list[dict[str, Any]]:
    """What a session gave, row by row: the program's steps as run, and extra ketamine.

    The same reading as :func:`ketaclinic.pharmacology.regimen.doses_as_given` (which draws the
    session's curve): a rate change ``(minute, rate_mg_per_h, amended)`` holds wherever the program
    has an infusion running until the next change; slow pushes and oral doses are given as
    programmed; nothing is given after the stop. Here each piece keeps its kind and source, and an
    infusion is split wherever its rate changed. ``extra_boluses`` are ``(minute, dose_mg, route,
    amended)`` from ketamine recorded as a medication.
    """
    program = pump_program or {}
    steps = list(program.get("program") or [])
    route = program.get("route") if program.get("route") in ROUTES else "iv"
    stop = math.inf if stopped_at_min is None else float(stopped_at_min)
    changes = sorted(rate_changes)
    planned, _ = doses_from_pump_program(steps) if steps else ([], 0.0)
    rows: list[dict[str, Any]] = []

    def per_kg(value: float | None) -> float | None:
        return None if value is None or not weight_kg else value / weight_kg

    def add(source: str, kind: str, how: str, start: float, minutes: float | None, mg: float, rate: float | None,
            amended: bool = False) -> None:
        rows.append({"source": source, "kind": kind, "route": how, "start_min": rounded(start, 2),
                     "duration_min": rounded(minutes, 2), "dose_mg": rounded(mg, 2),
                     "dose_mg_per_kg": rounded(per_kg(mg), 2), "rate_mg_per_h": rounded(rate, 2),
                     "rate_mg_per_kg_per_h": rounded(per_kg(rate), 4), "amended": amended})

    for step, dose in zip(steps, planned, strict=True):
        if isinstance(dose, Bolus):  # an oral dose, taken at its time
            if dose.at_min < stop:
                add("program", "oral", "oral", dose.at_min, None, dose.dose_mg, None)
            continue
        start, end = dose.start_min, min(dose.end_min, stop)
        if start >= end:
            continue
        if step.get("kind") == "bolus":  # a slow push, as programmed (cut short only by the stop)
            add("program", "bolus", route, start, end - start, dose.rate_mg_per_h * (end - start) / 60, None)
            continue
        cuts = sorted({start, end} | {m for m, _, _ in changes if start < m < end})
        for a, b in pairwise(cuts):
            current = [c for c in changes if c[0] <= a]
            rate, source, amended = (current[-1][1], "rate_change", current[-1][2]) if current else \
                (dose.rate_mg_per_h, "program", False)
            last = rows[-1] if rows else None
            if last and last["kind"] == "infusion" and last["source"] == source and last["_rate"] == rate \
                    and last["_end"] == a:
                minutes = b - last["_start"]
                last.update(duration_min=rounded(minutes, 2), dose_mg=rounded(rate * minutes / 60, 2),
                            dose_mg_per_kg=rounded(per_kg(rate * minutes / 60), 2), _end=b)
                continue
            add(source, "infusion", route, a, b - a, rate * (b - a) / 60, rate, amended)
            rows[-1].update(_rate=rate, _start=a, _end=b)
    for minute, mg, how, amended in extra_boluses:
        add("extra_bolus", "bolus", how, minute, None, mg, None, amended)
    for row in rows:
        for key in ("_rate", "_start", "_end"):
            row.pop(key, None)
    rows.sort(key=lambda r: (r["start_min"], 0 if r["source"] != "extra_bolus" else 1))
    return rows
