"""Discharge after an infusion (contract 4.7): one pure rule, :func:`assess_discharge`, used by the
``ketaclinic discharge`` command, the session service (API) and the web discharge form alike.

Home readiness is judged with the modified Post-Anaesthetic Discharge Scoring System (PADSS: vital
signs, activity, nausea and vomiting, pain, bleeding, each scored 0-2 by the nurse; total >= 9 = fit
for discharge, Chung 1995; the five items of the modified score as Marshall & Chung 1999 print them)
plus absolute criteria the clinic adds for ketamine. **Every PADSS item is required**: a missing item
is an input error, never a default (an unanswered question must not count as "fine").

Not ready while any of these holds (the ``code`` is what ``unmet`` lists):

======================  =====================================================  ======================
code                    when                                                   source
======================  =====================================================  ======================
observation_time        < 60 min since the infusion stopped (or the longer     clinic policy
                        minimum of the protocol / clinic settings)
padss_low               PADSS total < 9                                        Chung 1995
vitals_within_20pct     systolic, diastolic or heart rate more than 20 % from  Chung 1995 (the PADSS
                        baseline (the change-from-baseline rule kept from v1)  vital-sign band)
escort_missing          no escort                                              clinic policy
dissociation_unresolved dissociation not resolved                              clinic policy
not_oriented            not oriented to person, place and time                 clinic policy
gait_unsteady           not walking steadily                                   clinic policy
spo2_low                SpO2 < 94 %                                            clinic policy
bp_high                 systolic >= 160 or diastolic >= 100                    clinic policy
bp_low                  systolic < 90                                          clinic policy
hr_abnormal             heart rate < 50 or > 110 /min                          clinic policy
rr_abnormal             respiratory rate < 10 or > 24 /min                     clinic policy
moaas_low               MOAA/S < 5                                             clinic policy
======================  =====================================================  ======================

The absolute criteria stand on their own: a patient whose pressure was already high at baseline
(165/100 → 195/118, under 20 % change) is still not ready (``bp_high``).

Decisions: the esketamine label's 2-hour observation is not the default (a protocol may choose it);
no post-infusion suicidality question is asked here, because no source read sets one for a
ketamine *analgesic* infusion (the esketamine boxed warning on suicidal thoughts is the antidepressant
class warning about clinical worsening over weeks, not a discharge criterion); see docs/decisions.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from ketaclinic.clinical.monitoring import BaselineVitals
from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

PADSS_PASS = 9
PADSS_ITEMS: tuple[str, ...] = ("vital_signs", "activity", "nausea_vomiting", "pain", "bleeding")
VITALS_WITHIN_PCT = 20.0
VITALS_SCORE_1_WITHIN_PCT = 40.0
DEFAULT_MINIMUM_OBSERVATION_MIN = 60.0
SPRAVATO_OBSERVATION_MIN = 120.0
MAX_OBSERVATION_MIN = 24 * 60.0

SPO2_MIN_PCT = 94.0
SYSTOLIC_HIGH_MMHG = 160.0
DIASTOLIC_HIGH_MMHG = 100.0
SYSTOLIC_LOW_BELOW_MMHG = 90.0
HEART_RATE_LOW_BELOW_BPM = 50.0
HEART_RATE_HIGH_ABOVE_BPM = 110.0
RESPIRATORY_RATE_LOW_BELOW = 10.0
RESPIRATORY_RATE_HIGH_ABOVE = 24.0
MOAAS_REQUIRED = 5

PadssItem = Annotated[int, Field(strict=True, ge=0, le=2, description="0, 1 or 2")]

#: What each score of each PADSS item means (modified PADSS), for the nurse's questions.
PADSS_ANCHORS: dict[str, tuple[str, dict[int, str]]] = {
    "vital_signs": ("Blood pressure and pulse compared with before the infusion",
                    {2: "within 20 % of the pre-infusion values", 1: "20-40 % from them", 0: "more than 40 % from them"}),
    "activity": ("Walking", {2: "steady gait, no dizziness", 1: "needs assistance", 0: "cannot walk, or dizzy"}),
    "nausea_vomiting": ("Nausea and vomiting", {2: "none or minimal", 1: "moderate", 0: "severe"}),
    "pain": ("Pain", {2: "minimal", 1: "moderate", 0: "severe"}),
    "bleeding": ("Bleeding (at the cannula site)", {2: "none or minimal", 1: "moderate", 0: "severe"}),
}


class Padss(BaseModel):
    """The five modified-PADSS items, each 0-2 as the nurse scored it. All are required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vital_signs: PadssItem
    activity: PadssItem
    nausea_vomiting: PadssItem
    pain: PadssItem
    bleeding: PadssItem

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in PADSS_ITEMS)


class DischargeObservation(BaseModel):
    """The vital signs and sedation score at the discharge assessment (plausibility ranges as 4.4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systolic_mmhg: float = Field(ge=50, le=300, description="Systolic blood pressure, mmHg (allowed 50-300)")
    diastolic_mmhg: float = Field(ge=20, le=200, description="Diastolic blood pressure, mmHg (allowed 20-200)")
    heart_rate_bpm: float = Field(ge=20, le=250, description="Heart rate, beats per minute (allowed 20-250)")
    spo2_pct: float = Field(ge=50, le=100, description="Oxygen saturation by pulse oximetry, % (allowed 50-100)")
    respiratory_rate_per_min: float = Field(ge=0, le=60, description="Breaths per minute (allowed 0-60)")
    moaas: int = Field(strict=True, ge=0, le=5, description="MOAA/S, 0-5 (5 = awake)")

    @model_validator(mode="after")
    def _diastolic_below_systolic(self) -> DischargeObservation:
        if self.diastolic_mmhg >= self.systolic_mmhg:
            raise ValueError(
                f"diastolic_mmhg ({self.diastolic_mmhg:g}) must be lower than systolic_mmhg ({self.systolic_mmhg:g}); "
                "were the two values swapped?"
            )
        return self


class DischargeAnswers(BaseModel):
    """What the nurse answers at the bedside (everything of 4.7 but the baseline and the clock)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    observation: DischargeObservation
    padss: Padss
    dissociation_resolved: StrictBool = Field(description="Dissociation has resolved: the patient is back to baseline")
    escort_present: StrictBool = Field(description="An adult escort is here to take the patient home")
    oriented: StrictBool = Field(description="Oriented to person, place and time")
    steady_gait: StrictBool = Field(description="Walks steadily, without dizziness")


class DischargeRequest(DischargeAnswers):
    """The document ``ketaclinic discharge`` reads (contract 4.7)."""

    baseline: BaselineVitals
    minutes_since_stop: float = Field(ge=0, le=MAX_OBSERVATION_MIN, allow_inf_nan=False,
                                      description="Minutes since the infusion stopped (0-1440)")


@dataclass(frozen=True)
class Criterion:
    """One discharge criterion: ``code`` names the failure (what ``unmet`` lists)."""

    code: str
    met: bool
    message: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DischargeAssessment:
    criteria: tuple[Criterion, ...]
    padss_total: int
    minutes_since_stop: float
    minimum_observation_min: float

    @property
    def ready(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def unmet(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.met)

    def as_contract(self) -> dict[str, Any]:
        """The 4.7 answer: ``{"ready", "padss_total", "unmet": [{"code", "message", "source"}]}``."""
        return {"ready": self.ready, "padss_total": self.padss_total,
                "unmet": [{"code": c.code, "message": c.message, "source": c.source} for c in self.unmet]}


def vital_change_pct(baseline: Vitals, current: DischargeObservation | Vitals) -> dict[str, float]:
    """Absolute percentage change from baseline of systolic, diastolic and heart rate."""
    pairs = {
        "systolic_mmhg": (baseline.systolic_mmhg, current.systolic_mmhg),
        "diastolic_mmhg": (baseline.diastolic_mmhg, current.diastolic_mmhg),
        "heart_rate_bpm": (baseline.heart_rate_bpm, current.heart_rate_bpm),
    }
    return {name: round(abs(now - base) / base * 100, 9) for name, (base, now) in pairs.items()}


def padss_vital_signs_score(max_change_pct: float) -> int:
    """2 within 20 % of baseline, 1 within 20-40 %, 0 beyond 40 % (Chung 1995): a hint for the nurse."""
    if max_change_pct <= VITALS_WITHIN_PCT:
        return 2
    if max_change_pct <= VITALS_SCORE_1_WITHIN_PCT:
        return 1
    return 0


def _c(code: str, met: bool, ok: str, not_ok: str, source: str) -> Criterion:
    return Criterion(code, met, ok if met else not_ok, source)


def assess_discharge(request: DischargeRequest,
                     minimum_observation_min: float = DEFAULT_MINIMUM_OBSERVATION_MIN) -> DischargeAssessment:
    """Every discharge criterion, met or not (contract 4.7). Pure: the clock comes in as minutes."""
    o = request.observation
    policy = ref(CLINIC_POLICY)
    observed, minimum = request.minutes_since_stop, minimum_observation_min
    total = request.padss.total
    p = request.padss
    changes = vital_change_pct(request.baseline, o)
    outside = {k: v for k, v in changes.items() if v > VITALS_WITHIN_PCT}
    words = {"systolic_mmhg": "systolic", "diastolic_mmhg": "diastolic", "heart_rate_bpm": "heart rate"}
    bp = f"{o.systolic_mmhg:g}/{o.diastolic_mmhg:g} mmHg"
    criteria = (
        _c("observation_time", observed >= minimum,
           f"Observed {observed:g} min since the infusion stopped (minimum {minimum:g} min).",
           f"Observed {observed:g} min since the infusion stopped: the minimum is {minimum:g} min "
           f"({minimum - observed:g} min to go).", policy),
        _c("padss_low", total >= PADSS_PASS,
           f"PADSS {total}/10 (fit at >= {PADSS_PASS}).",
           f"PADSS {total}/10, below {PADSS_PASS}: vital signs {p.vital_signs}, activity {p.activity}, nausea/vomiting "
           f"{p.nausea_vomiting}, pain {p.pain}, bleeding {p.bleeding}.", ref("chung1995_padss")),
        _c("vitals_within_20pct", not outside,
           f"Blood pressure and heart rate within {VITALS_WITHIN_PCT:g} % of baseline.",
           "Not within 20 % of baseline: " + ", ".join(f"{words[k]} {v:.0f} %" for k, v in outside.items())
           + "; keep observing and tell the physician if it is not settling.", ref("chung1995_padss")),
        _c("escort_missing", request.escort_present,
           "Escort present; advice given: no driving until the next day after a restful sleep.",
           "No escort: the patient may not leave alone or drive; call the escort.", policy),
        _c("dissociation_unresolved", request.dissociation_resolved,
           "Dissociation resolved; the patient is back to baseline.",
           "Dissociation not resolved: keep observing until the patient is back to baseline.", policy),
        _c("not_oriented", request.oriented, "Oriented to person, place and time.",
           "Not oriented to person, place and time: keep observing.", policy),
        _c("gait_unsteady", request.steady_gait, "Walks steadily.",
           "Gait unsteady or dizzy: keep observing; do not let the patient walk out alone.", policy),
        _c("spo2_low", o.spo2_pct >= SPO2_MIN_PCT, f"SpO2 {o.spo2_pct:g} %.",
           f"SpO2 {o.spo2_pct:g} %, below {SPO2_MIN_PCT:g} %: keep observing, consider oxygen, tell the physician.",
           policy),
        _c("bp_high", o.systolic_mmhg < SYSTOLIC_HIGH_MMHG and o.diastolic_mmhg < DIASTOLIC_HIGH_MMHG,
           f"Blood pressure {bp}.",
           f"Blood pressure {bp}, at or above {SYSTOLIC_HIGH_MMHG:g}/{DIASTOLIC_HIGH_MMHG:g}: re-check in 15 minutes "
           "and tell the physician.", policy),
        _c("bp_low", o.systolic_mmhg >= SYSTOLIC_LOW_BELOW_MMHG, f"Systolic {o.systolic_mmhg:g} mmHg.",
           f"Systolic {o.systolic_mmhg:g} mmHg, below {SYSTOLIC_LOW_BELOW_MMHG:g}: lie the patient down, re-check and "
           "tell the physician.", policy),
        _c("hr_abnormal", HEART_RATE_LOW_BELOW_BPM <= o.heart_rate_bpm <= HEART_RATE_HIGH_ABOVE_BPM,
           f"Heart rate {o.heart_rate_bpm:g} /min.",
           f"Heart rate {o.heart_rate_bpm:g} /min, outside {HEART_RATE_LOW_BELOW_BPM:g}-{HEART_RATE_HIGH_ABOVE_BPM:g}: "
           "re-check and tell the physician.", policy),
        _c("rr_abnormal", RESPIRATORY_RATE_LOW_BELOW <= o.respiratory_rate_per_min <= RESPIRATORY_RATE_HIGH_ABOVE,
           f"Respiratory rate {o.respiratory_rate_per_min:g} /min.",
           f"Respiratory rate {o.respiratory_rate_per_min:g} /min, outside "
           f"{RESPIRATORY_RATE_LOW_BELOW:g}-{RESPIRATORY_RATE_HIGH_ABOVE:g}: keep observing and tell the physician.",
           policy),
        _c("moaas_low", o.moaas >= MOAAS_REQUIRED, "MOAA/S 5 (awake, responds readily to name).",
           f"MOAA/S {o.moaas}: not fully awake; keep observing.", policy),
    )
    return DischargeAssessment(criteria, total, observed, minimum)


RULES: tuple[Rule, ...] = (
    Rule("observation_time", "discharge", "criterion",
         f">= protocol minimum after the infusion stops (default {DEFAULT_MINIMUM_OBSERVATION_MIN:g} min; "
         f"esketamine label {SPRAVATO_OBSERVATION_MIN:g} min by analogy)", "keep observing", ref(CLINIC_POLICY)),
    Rule("padss_low", "discharge", "criterion",
         f"modified PADSS total < {PADSS_PASS} of 10 (vital signs, activity, nausea/vomiting, pain, bleeding; "
         "each 0-2, all required)", "not fit for home until met", ref("chung1995_padss")),
    Rule("padss_items", "discharge", "score",
         "vital signs 2 within 20 %, 1 within 20-40 %, 0 beyond 40 % of baseline; activity 2 steady gait, 1 needs "
         "assistance, 0 cannot walk or dizzy; nausea/vomiting, pain, bleeding 2 minimal, 1 moderate, 0 severe",
         "PADSS items as the nurse scores them", ref("marshall_chung1999_padss")),
    Rule("vitals_within_20pct", "discharge", "criterion",
         f"systolic, diastolic or heart rate more than {VITALS_WITHIN_PCT:g} % from baseline",
         "keep observing; tell the physician if not settling", ref("chung1995_padss")),
    Rule("escort_missing", "discharge", "criterion", "no escort present (no driving until the next day)",
         "do not discharge alone", ref(CLINIC_POLICY)),
    Rule("dissociation_unresolved", "discharge", "criterion", "dissociation not resolved (not back to baseline)",
         "keep observing", ref(CLINIC_POLICY)),
    Rule("not_oriented", "discharge", "criterion", "not oriented to person, place and time", "keep observing",
         ref(CLINIC_POLICY)),
    Rule("gait_unsteady", "discharge", "criterion", "gait not steady", "keep observing", ref(CLINIC_POLICY)),
    Rule("spo2_low", "discharge", "criterion", f"SpO2 < {SPO2_MIN_PCT:g} %", "keep observing", ref(CLINIC_POLICY)),
    Rule("bp_high", "discharge", "criterion",
         f"systolic >= {SYSTOLIC_HIGH_MMHG:g} or diastolic >= {DIASTOLIC_HIGH_MMHG:g} mmHg", "keep observing",
         ref(CLINIC_POLICY)),
    Rule("bp_low", "discharge", "criterion", f"systolic < {SYSTOLIC_LOW_BELOW_MMHG:g} mmHg", "keep observing",
         ref(CLINIC_POLICY)),
    Rule("hr_abnormal", "discharge", "criterion",
         f"heart rate < {HEART_RATE_LOW_BELOW_BPM:g} or > {HEART_RATE_HIGH_ABOVE_BPM:g} /min", "keep observing",
         ref(CLINIC_POLICY)),
    Rule("rr_abnormal", "discharge", "criterion",
         f"respiratory rate < {RESPIRATORY_RATE_LOW_BELOW:g} or > {RESPIRATORY_RATE_HIGH_ABOVE:g} /min",
         "keep observing", ref(CLINIC_POLICY)),
    Rule("moaas_low", "discharge", "criterion", f"MOAA/S < {MOAAS_REQUIRED}", "keep observing", ref(CLINIC_POLICY)),
)
