"""Dose events → the engine's piecewise-constant input.

Times are minutes from the start of the regimen, doses mg and rates mg/h at this edge (as a
clinician writes them; mg/kg orders become mg in :mod:`ketaclinic.clinical.dosing`).
Extravascular doses (oral, sublingual, intranasal, intramuscular) enter a first-order depot
holding ``F × dose`` that empties into plasma at ``ka``; F and ka come from the model's route
table with their sources, or from a custom model's ``routes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.pharmacology.engine import Inputs

Route = Literal["iv", "oral", "sublingual", "intranasal", "im"]
MAX_TIME_MIN = 60.0 * 24 * 60  # 60 days: longer regimens are not what this tool is for
#: The mass units a dose of ketamine may be recorded in (a medication event's ``unit``), in mg: the
#: one table the session record, the documents and the research export convert with.
MG_PER_UNIT: Mapping[str, float] = MappingProxyType({"mg": 1.0, "mcg": 0.001, "g": 1000.0})
#: The names a recorded ``medication`` event may give ketamine (lower-cased): such an IV dose adds to the session's ketamine.
KETAMINE_NAMES = ("ketamine", "ketamine hydrochloride")


class Bolus(BaseModel):
    """A single dose at one moment: IV push (into plasma) or an extravascular dose (into a depot)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["bolus"]
    route: Route = "iv"
    at_min: float = Field(ge=0, le=MAX_TIME_MIN, description="time of the dose, minutes from the start (0 or more)")
    dose_mg: float = Field(gt=0, le=5000, description="dose in mg (more than 0, at most 5000)")


class Infusion(BaseModel):
    """A constant-rate IV infusion. Overlapping infusions add; a titration is a series of steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["infusion"]
    route: Literal["iv"] = "iv"
    start_min: float = Field(ge=0, le=MAX_TIME_MIN, description="start, minutes from the start of the regimen (0 or more)")
    duration_min: float = Field(gt=0, le=MAX_TIME_MIN, description="duration in minutes (more than 0)")
    rate_mg_per_h: float = Field(ge=0, le=5000, description="rate in mg/h (0 to 5000)")

    @property
    def end_min(self) -> float:
        return self.start_min + self.duration_min

    @property
    def dose_mg(self) -> float:
        """What the infusion delivers in all: rate × duration."""
        return self.rate_mg_per_h * self.duration_min / 60.0


Dose = Annotated[Bolus | Infusion, Field(discriminator="kind")]


def to_inputs(
    doses: list[Bolus | Infusion],
    absorption: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Inputs:
    """Build engine inputs. ``absorption[route] = (F, ka)``, each an array over subjects (or length 1)."""
    absorption = absorption or {}
    iv_boluses = [d for d in doses if isinstance(d, Bolus) and d.route == "iv"]
    depots = [d for d in doses if isinstance(d, Bolus) and d.route != "iv"]
    infusions = [d for d in doses if isinstance(d, Infusion)]
    missing = sorted({d.route for d in depots} - set(absorption))
    if missing:
        raise KeyError(f"no absorption parameters for route(s) {', '.join(missing)}")
    if depots:
        f_cols = [np.atleast_1d(absorption[d.route][0]) for d in depots]
        ka_cols = [np.atleast_1d(absorption[d.route][1]) for d in depots]
        n = max(c.size for c in f_cols + ka_cols)
        depot_mg = np.stack([np.broadcast_to(f, (n,)) * d.dose_mg for f, d in zip(f_cols, depots, strict=True)], axis=1)
        depot_ka = np.stack([np.broadcast_to(k, (n,)) for k in ka_cols], axis=1)
    else:
        depot_mg = np.zeros((1, 0))
        depot_ka = np.zeros((1, 0))
    return Inputs(
        bolus_time_min=np.array([d.at_min for d in iv_boluses], dtype=float),
        bolus_mg=np.array([d.dose_mg for d in iv_boluses], dtype=float),
        infusion_start_min=np.array([d.start_min for d in infusions], dtype=float),
        infusion_end_min=np.array([d.end_min for d in infusions], dtype=float),
        infusion_mg_per_min=np.array([d.rate_mg_per_h / 60.0 for d in infusions], dtype=float),
        depot_time_min=np.array([d.at_min for d in depots], dtype=float),
        depot_mg=depot_mg,
        depot_ka_per_min=depot_ka,
    )


def doses_from_pump_program(steps: list[dict]) -> tuple[list[Bolus | Infusion], float]:
    """The dose events a pump program (contract 4.3 ``program`` rows) delivers, and when it ends.

    The one place where a program becomes a regimen, so the plan builder, the session console
    and the API preview show the same curve. An IV "bolus" is a slow push over its
    ``duration_min`` (5 min by default), so it is simulated as a short infusion, not as an
    instantaneous dose: treating it as instantaneous would show a central-compartment spike the
    patient never has. IV steps run one after the other unless ``start_min`` says otherwise; oral
    doses are taken at their ``start_min`` (spread evenly over 24 h when a stored program has none).
    """
    doses: list[Bolus | Infusion] = []
    clock = 0.0
    n_oral = sum(1 for s in steps if s.get("kind") == "oral")
    oral_seen = 0
    for step in steps:
        kind = step.get("kind")
        start = step.get("start_min")
        if kind == "oral":
            if start is None:
                start = 24 * 60 * oral_seen / n_oral
            oral_seen += 1
            doses.append(Bolus(kind="bolus", route="oral", at_min=float(start), dose_mg=float(step["dose_mg"])))
            continue
        start = clock if start is None else float(start)
        if kind == "infusion":
            minutes = float(step["duration_min"])
            doses.append(Infusion(kind="infusion", start_min=start, duration_min=minutes,
                                  rate_mg_per_h=float(step["rate_mg_per_h"])))
        elif kind == "bolus":
            minutes = float(step.get("duration_min") or 5.0)
            doses.append(Infusion(kind="infusion", start_min=start, duration_min=minutes,
                                  rate_mg_per_h=float(step["dose_mg"]) * 60.0 / minutes))
        else:
            raise ValueError(f"unknown program step kind {kind!r}; expected bolus, infusion or oral")
        clock = start + minutes
    end = max([clock] + [d.at_min for d in doses if isinstance(d, Bolus)])
    return doses, end


def doses_as_given(
    steps: list[dict],
    rate_changes: list[tuple[float, float]] = (),
    stopped_at_min: float | None = None,
) -> tuple[list[Bolus | Infusion], float]:
    """What a session actually delivered: the program, with the nurse's rate changes and the stop.

    ``rate_changes`` are ``(minute since start, new rate mg/h)``: a new rate holds, wherever the
    program has an infusion running, until the next change; slow pushes (boluses) and oral doses
    are given as programmed. Nothing is given after ``stopped_at_min``. This is what the session
    console draws, so the predicted curve follows the pump, not the plan.
    """
    planned, end = doses_from_pump_program(steps)
    # doses_from_pump_program keeps the program's order, so each step maps to one dose
    programmed = [(step.get("kind"), dose) for step, dose in zip(steps, planned, strict=True)]
    infusion_windows = [(d.start_min, d.end_min, d.rate_mg_per_h) for kind, d in programmed if kind == "infusion"]
    fixed = [d for kind, d in programmed if kind != "infusion"]  # slow pushes and oral doses, as programmed
    changes = sorted((float(m), float(r)) for m, r in rate_changes)
    stop = float("inf") if stopped_at_min is None else float(stopped_at_min)
    cuts = sorted({t for w in infusion_windows for t in w[:2]} | {m for m, _ in changes} | ({stop} if stop < float("inf") else set()))
    given: list[Bolus | Infusion] = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if a >= stop or b <= a:
            continue
        planned_rate = next((r for s, e, r in infusion_windows if s <= a < e), 0.0)
        if planned_rate <= 0:
            continue
        current = [r for m, r in changes if m <= a]
        rate = current[-1] if current else planned_rate
        b = min(b, stop)
        if given and isinstance(given[-1], Infusion) and given[-1].end_min == a and given[-1].rate_mg_per_h == rate:
            last = given.pop()
            given.append(Infusion(kind="infusion", start_min=last.start_min, duration_min=b - last.start_min, rate_mg_per_h=rate))
        else:
            given.append(Infusion(kind="infusion", start_min=a, duration_min=b - a, rate_mg_per_h=rate))
    for dose in fixed:
        if isinstance(dose, Infusion) and dose.start_min < stop:
            given.append(Infusion(kind="infusion", start_min=dose.start_min,
                                  duration_min=min(dose.duration_min, stop - dose.start_min), rate_mg_per_h=dose.rate_mg_per_h))
        elif isinstance(dose, Bolus) and dose.at_min < stop:
            given.append(dose)
    return given, min(end, stop)


def rate_now_mg_per_h(steps: list[dict], rate_changes: list[tuple[float, float]], minute: float) -> float:
    """What the pump runs at ``minute`` since the start, in mg/h: the program with the nurse's rate
    changes applied (:func:`doses_as_given`); 0 before the start, between steps and after the end.
    A slow push counts at its push rate, because that is what the pump runs during it."""
    given, _ = doses_as_given(steps, rate_changes)
    return sum(d.rate_mg_per_h for d in given if isinstance(d, Infusion) and d.start_min <= minute < d.end_min)


def mg_as_given(steps: list[dict], rate_changes: list[tuple[float, float]] = (),
                stopped_at_min: float | None = None) -> float:
    """The ketamine a session delivered in mg (:func:`doses_as_given`, summed); every document that
    states "ketamine given" uses this, so the letter, the record, the summary and the FHIR export agree."""
    given, _ = doses_as_given(steps, rate_changes, stopped_at_min)
    return sum(d.dose_mg for d in given)
