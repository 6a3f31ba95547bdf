"""Discharge after an infusion: which criteria are met and which are not.

Home readiness is judged with the Post-Anaesthetic Discharge Scoring System (PADSS, Chung 1995:
five items scored 0-2, total >= 9 = fit for discharge) plus the ketamine-specific criteria the
clinic adds: a minimum observation time after the infusion stops (the protocol's, by default 60
minutes, clinic policy; the esketamine label asks for at least 2 hours, which a protocol may
choose by analogy), vital signs within 20 % of baseline, no ongoing dissociation, and an escort.

Decisions: the PADSS vital-sign item compares systolic, diastolic *and* heart rate with the
baseline and scores the worst of the three (Chung scores "BP and pulse"); a change of exactly
20 % still scores 2 and exactly 40 % scores 1. Surgical bleeding does not apply to an infusion
and scores 2 with a note.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

PADSS_PASS = 9
VITALS_WITHIN_PCT = 20.0
VITALS_SCORE_1_WITHIN_PCT = 40.0
DEFAULT_MINIMUM_OBSERVATION_MIN = 60.0
SPRAVATO_OBSERVATION_MIN = 120.0

Level = Literal["minimal", "moderate", "severe"]


class PadssInput(BaseModel):
    """The observations behind the PADSS items other than vital signs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    oriented: bool = Field(description="Oriented to person, place and time")
    steady_gait: bool = Field(description="Walks steadily, without dizziness")
    pain_nausea_vomiting: Level = Field(description="minimal | moderate (treated) | severe (needs treatment)")
    bleeding: Literal["minimal", "moderate", "severe", "not_applicable"] = "not_applicable"
    oral_fluids_tolerated: bool
    voided: bool


class DischargeFacts(BaseModel):
    """What the nurse knows at the discharge assessment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes_since_infusion_stopped: float = Field(ge=0, le=24 * 60)
    minimum_observation_min: float = Field(default=DEFAULT_MINIMUM_OBSERVATION_MIN, ge=0, le=24 * 60)
    baseline: Vitals
    current: Vitals
    padss: PadssInput
    ongoing_dissociation: bool
    escort_present: bool


@dataclass(frozen=True)
class PadssScore:
    vital_signs: int
    activity_mental_status: int
    pain_nausea_vomiting: int
    bleeding: int
    intake_output: int
    max_vital_change_pct: float
    notes: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.vital_signs + self.activity_mental_status + self.pain_nausea_vomiting + self.bleeding + self.intake_output

    @property
    def fit_for_discharge(self) -> bool:
        return self.total >= PADSS_PASS

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        out["total"] = self.total
        out["fit_for_discharge"] = self.fit_for_discharge
        return out


@dataclass(frozen=True)
class Criterion:
    code: str
    met: bool
    message: str
    source: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class DischargeAssessment:
    criteria: tuple[Criterion, ...]
    padss: PadssScore

    @property
    def ready(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def unmet(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.met)


def vital_change_pct(baseline: Vitals, current: Vitals) -> dict[str, float]:
    """Absolute percentage change from baseline of systolic, diastolic and heart rate."""
    pairs = {
        "systolic_mmhg": (baseline.systolic_mmhg, current.systolic_mmhg),
        "diastolic_mmhg": (baseline.diastolic_mmhg, current.diastolic_mmhg),
        "heart_rate_bpm": (baseline.heart_rate_bpm, current.heart_rate_bpm),
    }
    return {name: round(abs(now - base) / base * 100, 9) for name, (base, now) in pairs.items()}


def padss_vital_signs_score(max_change_pct: float) -> int:
    """2 within 20 % of baseline, 1 within 20-40 %, 0 beyond 40 % (Chung 1995)."""
    if max_change_pct <= VITALS_WITHIN_PCT:
        return 2
    if max_change_pct <= VITALS_SCORE_1_WITHIN_PCT:
        return 1
    return 0


def padss(baseline: Vitals, current: Vitals, items: PadssInput) -> PadssScore:
    """Score the five PADSS items (Chung 1995)."""
    max_change = max(vital_change_pct(baseline, current).values())
    notes: list[str] = []
    activity = int(items.oriented) + int(items.steady_gait)
    pnv = {"minimal": 2, "moderate": 1, "severe": 0}[items.pain_nausea_vomiting]
    if items.bleeding == "not_applicable":
        bleeding = 2
        notes.append("surgical bleeding does not apply to an infusion: scored 2")
    else:
        bleeding = {"minimal": 2, "moderate": 1, "severe": 0}[items.bleeding]
    intake_output = int(items.oral_fluids_tolerated) + int(items.voided)
    return PadssScore(
        vital_signs=padss_vital_signs_score(max_change),
        activity_mental_status=activity,
        pain_nausea_vomiting=pnv,
        bleeding=bleeding,
        intake_output=intake_output,
        max_vital_change_pct=round(max_change, 1),
        notes=tuple(notes),
    )


def assess_discharge(facts: DischargeFacts) -> DischargeAssessment:
    """Every discharge criterion, met or not, with the PADSS behind it."""
    score = padss(facts.baseline, facts.current, facts.padss)
    changes = vital_change_pct(facts.baseline, facts.current)
    observed = facts.minutes_since_infusion_stopped
    minimum = facts.minimum_observation_min
    criteria = [
        Criterion(
            "minimum_observation", observed >= minimum,
            f"Observed {observed:g} min since the infusion stopped (minimum {minimum:g} min"
            + ("" if observed >= minimum else f"; {minimum - observed:g} min to go") + ").",
            ref(CLINIC_POLICY),
        ),
        Criterion(
            "padss", score.fit_for_discharge,
            f"PADSS {score.total}/10 (needs >= {PADSS_PASS}): vital signs {score.vital_signs}, activity/mental status "
            f"{score.activity_mental_status}, pain/nausea/vomiting {score.pain_nausea_vomiting}, bleeding {score.bleeding}, "
            f"intake/output {score.intake_output}.",
            ref("chung1995_padss"),
        ),
    ]
    outside = {k: v for k, v in changes.items() if v > VITALS_WITHIN_PCT}
    if outside:
        detail = ", ".join(f"{k.split('_')[0]} {v:.0f} %" for k, v in outside.items())
        criteria.append(Criterion("vitals_within_20pct", False, f"Vital signs not within 20 % of baseline: {detail}.", ref("chung1995_padss")))
    else:
        criteria.append(Criterion("vitals_within_20pct", True, "Vital signs within 20 % of baseline.", ref("chung1995_padss")))
    criteria.append(
        Criterion(
            "no_ongoing_dissociation", not facts.ongoing_dissociation,
            "Dissociation resolved; the patient is back to baseline." if not facts.ongoing_dissociation
            else "Dissociation still present: keep observing until the patient is back to baseline.",
            ref(CLINIC_POLICY),
        )
    )
    criteria.append(
        Criterion(
            "escort_present", facts.escort_present,
            "Escort present; written advice given: no driving until the next day after a restful sleep." if facts.escort_present
            else "No escort: the patient may not leave alone or drive; call the escort.",
            ref("spravato_pi"),
        )
    )
    return DischargeAssessment(tuple(criteria), score)


RULES: tuple[Rule, ...] = (
    Rule("minimum_observation", "discharge", "criterion",
         f">= protocol minimum after the infusion stops (default {DEFAULT_MINIMUM_OBSERVATION_MIN:g} min; "
         f"esketamine label {SPRAVATO_OBSERVATION_MIN:g} min by analogy)",
         "keep observing", ref(CLINIC_POLICY)),
    Rule("padss", "discharge", "criterion", f"PADSS total >= {PADSS_PASS} of 10 (five items scored 0-2)",
         "not fit for home until met", ref("chung1995_padss")),
    Rule("padss_vital_signs", "discharge", "score",
         f"2 within {VITALS_WITHIN_PCT:g} % of baseline, 1 within {VITALS_WITHIN_PCT:g}-{VITALS_SCORE_1_WITHIN_PCT:g} %, "
         f"0 beyond {VITALS_SCORE_1_WITHIN_PCT:g} % (worst of systolic, diastolic, heart rate)",
         "PADSS item", ref("chung1995_padss")),
    Rule("vitals_within_20pct", "discharge", "criterion",
         f"systolic, diastolic and heart rate within {VITALS_WITHIN_PCT:g} % of baseline",
         "keep observing; tell the physician if not settling", ref("chung1995_padss")),
    Rule("no_ongoing_dissociation", "discharge", "criterion", "no dissociation; back to baseline",
         "keep observing", ref(CLINIC_POLICY)),
    Rule("escort_present", "discharge", "criterion", "escort present; no driving until the next day",
         "do not discharge alone", ref("spravato_pi")),
)
