"""Long-term pain relief over a course of infusions — EXPLORATORY.

Dahan et al. 2011 (Eur J Pain 15:258) modelled the pain relief of 60 patients with CRPS type 1
given a 100-h S-ketamine infusion (5 → 20 mg/h per 70 kg) or placebo: relief follows an effect
compartment with an onset/offset half-life of 10.9 ± 4.0 days and a potency C50 of
10.5 ± 4.8 ng/mL (S-ketamine). Only the abstract was read; what is missing is stated here and
in every output:

* the Hill coefficient γ was not found — γ = 1 is ASSUMED;
* the maximum effect is taken as complete relief (Emax = 1), an ASSUMPTION;
* the population is S-ketamine in CRPS-1; for racemic ketamine the S-enantiomer is taken as
  half the racemic concentration (an ASSUMPTION: equal disposition of the enantiomers).

It shows how relief is predicted to build over a series and fade afterwards; it is not a
prediction for an individual patient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketaclinic.evidence.sources import ref
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.models import PKModel

SOURCE = ref("dahan2011")
C50_S_KETAMINE_NG_PER_ML = 10.5
ONSET_OFFSET_HALF_LIFE_DAYS = 10.9
KE0_RELIEF_PER_MIN = float(np.log(2) / (ONSET_OFFSET_HALF_LIFE_DAYS * 24 * 60))
ASSUMED_HILL = 1.0
ASSUMED_EMAX = 1.0
S_FRACTION_OF_RACEMIC = 0.5

LABEL = (
    "EXPLORATORY: Dahan 2011 pain-relief model fitted on S-ketamine in CRPS type 1 (n = 60). "
    "Hill coefficient not published (γ = 1 assumed), Emax = 1 assumed, S-ketamine taken as half of racemic. "
    "Shows the expected build-up and fading of relief over a course; not an individual prediction."
)


@dataclass(frozen=True)
class ReliefCurve:
    times_day: np.ndarray
    relief_fraction: np.ndarray
    effect_s_ketamine_ng_per_ml: np.ndarray
    label: str = LABEL
    source: str = SOURCE


def predicted_relief(
    model: PKModel,
    weight_kg: float,
    age_years: float | None,
    inputs: Inputs,
    horizon_days: float,
    step_min: float = 30.0,
    racemic: bool = True,
) -> ReliefCurve:
    """Relief fraction over ``horizon_days`` for the model's typical subject under ``inputs``."""
    disposition = model.disposition(weight_kg, age_years)
    times = np.arange(0.0, horizon_days * 24 * 60 + step_min / 2, step_min)
    solution = Solution(disposition, inputs, ke0_per_min=KE0_RELIEF_PER_MIN)
    effect = solution.concentration_ng_per_ml(times, effect_site=True)[0]
    if racemic:
        effect = effect * S_FRACTION_OF_RACEMIC
    ratio = (effect / C50_S_KETAMINE_NG_PER_ML) ** ASSUMED_HILL
    relief = ASSUMED_EMAX * ratio / (1.0 + ratio)
    return ReliefCurve(times / (24 * 60), relief, effect)
