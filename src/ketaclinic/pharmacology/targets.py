"""Concentration bands, exposure summaries and target-controlled infusion.

Bands are plasma concentrations of racemic ketamine at which effects are reported; they are
orientation for the clinician, not targets the software sets. Sources and how they were checked
are in ``docs/research/pk-parameters.md`` §8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from ketaclinic.evidence.sources import ref
from ketaclinic.pharmacology.disposition import Disposition
from ketaclinic.pharmacology.engine import MG_PER_L_TO_NG_PER_ML


@dataclass(frozen=True)
class Band:
    id: str
    label: str
    low_ng_per_ml: float
    high_ng_per_ml: float | None
    sources: tuple[str, ...]
    note: str

    def __post_init__(self) -> None:
        for s in self.sources:
            ref(s)


BANDS: tuple[Band, ...] = (
    Band(
        "analgesia", "Analgesia (about 100 ng/mL and above)", 100.0, None, ("herd2007", "hornik2018"),
        "≥ 0.1 mg/L quoted as the analgesic level in Herd 2007 and Hornik 2018.",
    ),
    Band(
        "psychedelic", "Psychedelic effects rise (50-200 ng/mL)", 50.0, 200.0, ("bowdle1998",),
        "Psychedelic effects rose linearly with venous steady-state concentration over 50-200 ng/mL (n = 10).",
    ),
    Band(
        "awakening", "Awakening from anaesthesia (about 640-750 ng/mL and above)", 640.0, None, ("idvall1979", "herd2007"),
        "Patients woke at 2.7 µmol/L ≈ 640 ng/mL (Idvall 1979); 0.75 mg/L quoted as the adult awakening level.",
    ),
    Band(
        "anaesthesia", "Anaesthesia (about 2000 ng/mL and above)", 2000.0, None, ("herd2008", "idvall1979"),
        "Adult EC50 for anaesthesia about 2 mg/L (quoted in Herd 2008); 2.2 mg/L with N2O (Idvall 1979).",
    ),
)


#: Bands no analgesic regimen should reach: a population percentile above their lower bound is flagged.
UNWANTED_BANDS: tuple[str, ...] = ("awakening", "anaesthesia")


@dataclass(frozen=True)
class BandFlag:
    """A population percentile that reaches a band an analgesic regimen should stay below."""

    band: str
    label: str
    percentile: str
    peak_ng_per_ml: float
    at_min: float
    threshold_ng_per_ml: float
    sources: tuple[str, ...]

    @property
    def message(self) -> str:
        return (f"the {self.percentile}th percentile of simulated patients reaches {self.peak_ng_per_ml:.0f} ng/mL at "
                f"{self.at_min:.0f} min, above the {self.threshold_ng_per_ml:.0f} ng/mL where the "
                f"{self.band} band begins: some patients may get far more than analgesia")

    def as_dict(self) -> dict[str, object]:
        return {"band": self.band, "label": self.label, "percentile": self.percentile, "peak_ng_per_ml": self.peak_ng_per_ml,
                "at_min": self.at_min, "threshold_ng_per_ml": self.threshold_ng_per_ml, "sources": list(self.sources),
                "message": self.message}


def band_flags(times_min: list[float] | np.ndarray, percentiles: dict[str, list[float]],
               bands: tuple[Band, ...] = BANDS, unwanted: tuple[str, ...] = UNWANTED_BANDS) -> list[BandFlag]:
    """Flag each unwanted band that any population percentile reaches, naming the highest percentile
    that does (issue 12: the preview must say when, e.g., the 95th percentile is over the awakening
    band, not leave it to the eye on a chart)."""
    times = np.asarray(times_min, dtype=float)
    flags: list[BandFlag] = []
    for band in bands:
        if band.id not in unwanted:
            continue
        for name in sorted(percentiles, key=float, reverse=True):
            values = np.asarray(percentiles[name], dtype=float)
            if values.size and float(values.max()) >= band.low_ng_per_ml:
                i = int(values.argmax())
                flags.append(BandFlag(band.id, band.label, name, round(float(values[i]), 1), float(times[i]),
                                      band.low_ng_per_ml, band.sources))
                break
    return flags


def time_in_bands(times_min: np.ndarray, concentration_ng_per_ml: np.ndarray) -> dict[str, float]:
    """Minutes spent in each band, from a curve sampled on ``times_min`` (sorted).

    Each interval between samples counts when the concentration at its midpoint (mean of the two
    ends) is inside the band, so the answer is exact to within one sampling interval per crossing.
    """
    t = np.asarray(times_min, float)
    c = np.asarray(concentration_ng_per_ml, float)
    if t.size < 2:
        return {b.id: 0.0 for b in BANDS}
    mid = 0.5 * (c[1:] + c[:-1])
    dt = np.diff(t)
    result = {}
    for band in BANDS:
        inside = mid >= band.low_ng_per_ml
        if band.high_ng_per_ml is not None:
            inside &= mid < band.high_ng_per_ml
        result[band.id] = float(np.sum(dt[inside]))
    return result


def peak(times_min: np.ndarray, concentration_ng_per_ml: np.ndarray) -> tuple[float, float]:
    """(peak concentration ng/mL, time of peak min) on the sampled curve."""
    i = int(np.argmax(concentration_ng_per_ml))
    return float(concentration_ng_per_ml[i]), float(times_min[i])


@dataclass(frozen=True)
class TciStep:
    start_min: float
    duration_min: float
    rate_mg_per_h: float


@dataclass(frozen=True)
class TciSchedule:
    bolus_mg: float
    steps: tuple[TciStep, ...]
    target_ng_per_ml: float
    max_rate_mg_per_h: float
    rate_limited_steps: int = 0

    @property
    def held_by_rate_limit(self) -> bool:
        """True when the maximum rate kept plasma below target for at least one step."""
        return self.rate_limited_steps > 0


def _step_matrices(disposition: Disposition, step_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact discrete-time system over one step: x⁺ = Φx + Γr for a constant rate r (mg/min) into central."""
    k = disposition.rate_matrix()[0]
    c = k.shape[0]
    augmented = np.zeros((c + 1, c + 1))
    augmented[:c, :c] = k
    augmented[0, c] = 1.0
    e = expm(augmented * step_min)
    return e[:c, :c], e[:c, c]


def tci_schedule(
    disposition: Disposition,
    target_ng_per_ml: float,
    duration_min: float,
    max_rate_mg_per_h: float,
    step_min: float = 1.0,
    max_bolus_mg: float | None = None,
) -> TciSchedule:
    """Plasma-targeted TCI (the STANPUMP scheme, Shafer & Gregg 1992): a loading bolus to fill V1
    (capped at ``max_bolus_mg``), then, every ``step_min``, the constant rate that brings the
    predicted plasma concentration to the target at the end of the step, clipped to
    [0, ``max_rate_mg_per_h``]. The state is propagated exactly (matrix exponential), so the
    schedule holds the target without drift whenever the rate limit allows.
    """
    if target_ng_per_ml <= 0 or duration_min <= 0 or max_rate_mg_per_h <= 0 or step_min <= 0:
        raise ValueError("target, duration, maximum rate and step must be positive")
    if disposition.n_subjects != 1:
        raise ValueError("TCI is computed for one (typical) subject")
    phi, gamma = _step_matrices(disposition, step_min)
    v1 = float(disposition.v1_l[0])
    target_mg_per_l = target_ng_per_ml / MG_PER_L_TO_NG_PER_ML
    bolus = target_mg_per_l * v1
    if max_bolus_mg is not None:
        bolus = min(bolus, max_bolus_mg)
    x = np.zeros(phi.shape[0])
    x[0] = bolus
    max_rate = max_rate_mg_per_h / 60.0
    steps: list[TciStep] = []
    limited = 0
    n_steps = int(np.ceil(duration_min / step_min - 1e-9))
    for i in range(n_steps):
        free = phi @ x
        needed = (target_mg_per_l * v1 - free[0]) / gamma[0]
        rate = float(np.clip(needed, 0.0, max_rate))
        limited += int(needed > max_rate * (1 + 1e-12))
        x = free + gamma * rate
        rate_h = rate * 60.0
        start = i * step_min
        if steps and abs(steps[-1].rate_mg_per_h - rate_h) < 1e-9:
            last = steps[-1]
            steps[-1] = TciStep(last.start_min, last.duration_min + step_min, last.rate_mg_per_h)
        else:
            steps.append(TciStep(start, step_min, rate_h))
    return TciSchedule(bolus, tuple(steps), target_ng_per_ml, max_rate_mg_per_h, limited)
