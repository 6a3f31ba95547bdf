"""Alert rules for one observation during a monitored infusion (contract 4.4 of design.md).

The rules are a data table (:func:`build_alert_rules`), built from :class:`MonitoringThresholds`
so that a clinic can *tighten* a threshold (alert sooner) but never loosen one past the default
table of the contract. Each rule names its source, or ``clinic_policy`` where the number is the
clinic's choice (the contract's default table is clinic policy unless a source is given).

Decisions written down here (and in the rule table):

- Blood pressure at or above 180 systolic or 110 diastolic gives **two** alerts: ``bp_critical``
  (action ``pause_infusion``) and ``bp_critical_call_physician`` (action ``call_physician``), so
  that each action the contract names is machine-readable; the messages say both.
- SpO2 is judged on the value as given: ``spo2 < 90`` critical, ``90 <= spo2 < 94`` warning
  (so 93.9 warns and 94 does not). Within a group (SpO2, sedation, blood pressure) only the most
  severe rule that fires is reported, so SpO2 88 gives one critical alert, not a warning as well.
- MOAA/S 4 gives no alert (contract); 3 warns; 2 or less is critical.
- "Severe dissociation / hallucinations" is read as *severe* dissociation or *severe*
  hallucinations (configurable, may be tightened to moderate).
- A rise from baseline of >= 40 mmHg systolic or >= 25 mmHg diastolic (the esketamine label's
  reported rise) warns with action ``continue`` (keep the rate, re-check in 5 minutes, tell the
  physician if it is still rising); it is suppressed when the absolute 180/110 rule fires.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

Severity = Literal["warning", "critical"]
Action = Literal["continue", "reduce_rate", "pause_infusion", "stop_infusion", "give_medication", "call_physician"]
SideEffectCode = Literal[
    "nausea",
    "vomiting",
    "dizziness",
    "blurred_vision",
    "headache",
    "fatigue",
    "dissociation",
    "hallucinations",
    "vivid_dreams",
    "anxiety",
    "hypersalivation",
    "nystagmus",
]
SideEffectSeverity = Literal["mild", "moderate", "severe"]

SIDE_EFFECT_CODES: tuple[str, ...] = get_args(SideEffectCode)
SIDE_EFFECT_SEVERITIES: tuple[str, ...] = get_args(SideEffectSeverity)
ACTIONS: tuple[str, ...] = get_args(Action)
SEVERITY_RANK = {None: 0, "warning": 1, "critical": 2}
_SIDE_EFFECT_RANK = {name: i for i, name in enumerate(SIDE_EFFECT_SEVERITIES)}

#: Longest session an observation minute may belong to: a 5-day inpatient course (seed 004).
MAX_SESSION_MIN = 5 * 24 * 60


# --------------------------------------------------------------------------- input


class SideEffect(BaseModel):
    """A side effect the nurse observed or the patient reported, with its severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: SideEffectCode
    severity: SideEffectSeverity


class Observation(BaseModel):
    """One set of observations during a session (contract 4.4 ``observation``).

    The ranges are plausibility limits to catch typing slips, not clinical thresholds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    minute: float = Field(ge=0, le=MAX_SESSION_MIN, description="Minutes since the session started (0-7200)")
    systolic_mmhg: float = Field(ge=50, le=300, description="Systolic blood pressure, mmHg (allowed 50-300)")
    diastolic_mmhg: float = Field(ge=20, le=200, description="Diastolic blood pressure, mmHg (allowed 20-200)")
    heart_rate_bpm: float = Field(ge=20, le=250, description="Heart rate, beats per minute (allowed 20-250)")
    spo2_pct: float = Field(ge=50, le=100, description="Oxygen saturation by pulse oximetry, % (allowed 50-100)")
    respiratory_rate_per_min: float = Field(ge=0, le=60, description="Breaths per minute (allowed 0-60)")
    moaas: int = Field(ge=0, le=5, description="Modified Observer's Assessment of Alertness/Sedation, 0-5 (5 = awake)")
    side_effects: tuple[SideEffect, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Observation:
        if self.diastolic_mmhg >= self.systolic_mmhg:
            raise ValueError(
                f"diastolic_mmhg ({self.diastolic_mmhg:g}) must be lower than systolic_mmhg ({self.systolic_mmhg:g}); "
                "were the two values swapped?"
            )
        seen: set[str] = set()
        for effect in self.side_effects:
            if effect.code in seen:
                raise ValueError(f"side effect {effect.code!r} is listed twice; give it once with its worst severity")
            seen.add(effect.code)
        return self


class MonitorRequest(BaseModel):
    """The document ``ketaclinic monitor`` reads: the pre-infusion baseline and one observation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline: Vitals
    observation: Observation


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Alert:
    """One alert as the contract gives it: what fired, how urgent, what to do, why, on whose authority."""

    code: str
    severity: Severity
    action: Action
    message: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class MonitoringThresholds:
    """The numbers of the alert table. Defaults are contract 4.4; see :meth:`tightened`."""

    systolic_critical_mmhg: float = 180
    diastolic_critical_mmhg: float = 110
    spo2_critical_below_pct: float = 90
    spo2_warning_below_pct: float = 94
    respiratory_rate_critical_below_per_min: float = 8
    moaas_critical_at_or_below: int = 2
    moaas_warning_at_or_below: int = 3
    heart_rate_high_above_bpm: float = 120
    heart_rate_low_below_bpm: float = 50
    systolic_rise_warning_mmhg: float = 40
    diastolic_rise_warning_mmhg: float = 25
    nausea_min_severity: SideEffectSeverity = "moderate"
    psychomimetic_min_severity: SideEffectSeverity = "severe"

    def tightened(self, **changes: Any) -> MonitoringThresholds:
        """A copy with ``changes`` applied, refusing any change that would alert *later* than the default.

        A clinic may make its monitoring stricter, never looser than the contract's table.
        """
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown monitoring threshold(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            default = getattr(DEFAULT_THRESHOLDS, name)
            direction = _TIGHTER[name]
            if direction == "lower" and value > default:
                raise ValueError(f"{name}={value} is looser than the default {default}: a clinic may only lower it")
            if direction == "higher" and value < default:
                raise ValueError(f"{name}={value} is looser than the default {default}: a clinic may only raise it")
            if direction == "milder" and _SIDE_EFFECT_RANK[value] > _SIDE_EFFECT_RANK[default]:
                raise ValueError(f"{name}={value!r} is looser than the default {default!r}")
        return replace(self, **changes)


# Which way each threshold moves to alert sooner.
_TIGHTER = {
    "systolic_critical_mmhg": "lower",
    "diastolic_critical_mmhg": "lower",
    "spo2_critical_below_pct": "higher",
    "spo2_warning_below_pct": "higher",
    "respiratory_rate_critical_below_per_min": "higher",
    "moaas_critical_at_or_below": "higher",
    "moaas_warning_at_or_below": "higher",
    "heart_rate_high_above_bpm": "lower",
    "heart_rate_low_below_bpm": "higher",
    "systolic_rise_warning_mmhg": "lower",
    "diastolic_rise_warning_mmhg": "lower",
    "nausea_min_severity": "milder",
    "psychomimetic_min_severity": "milder",
}

DEFAULT_THRESHOLDS = MonitoringThresholds()


# --------------------------------------------------------------------------- the rule table

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# What a condition can look at: a value of the observation, or its change from baseline (rounded to
# 9 decimals so that 168.2 - 128.2 is a rise of 40, not 39.99999999999997).
_MEASURES: dict[str, tuple[str, str, Callable[[Vitals, Observation], float]]] = {
    "systolic_mmhg": ("systolic", "mmHg", lambda b, o: o.systolic_mmhg),
    "diastolic_mmhg": ("diastolic", "mmHg", lambda b, o: o.diastolic_mmhg),
    "heart_rate_bpm": ("heart rate", "/min", lambda b, o: o.heart_rate_bpm),
    "spo2_pct": ("SpO2", "%", lambda b, o: o.spo2_pct),
    "respiratory_rate_per_min": ("respiratory rate", "/min", lambda b, o: o.respiratory_rate_per_min),
    "moaas": ("MOAA/S", "", lambda b, o: o.moaas),
    "systolic_rise_mmhg": ("systolic rise from baseline", "mmHg", lambda b, o: round(o.systolic_mmhg - b.systolic_mmhg, 9)),
    "diastolic_rise_mmhg": ("diastolic rise from baseline", "mmHg", lambda b, o: round(o.diastolic_mmhg - b.diastolic_mmhg, 9)),
}


@dataclass(frozen=True)
class Condition:
    """``measure op threshold``, e.g. ``spo2_pct < 90``."""

    measure: str
    op: Literal["<", "<=", ">", ">="]
    threshold: float

    def __post_init__(self) -> None:
        if self.measure not in _MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}")

    def value(self, baseline: Vitals, observation: Observation) -> float:
        return _MEASURES[self.measure][2](baseline, observation)

    def holds(self, baseline: Vitals, observation: Observation) -> bool:
        return _OPS[self.op](self.value(baseline, observation), self.threshold)

    def describe(self) -> str:
        label, unit, _ = _MEASURES[self.measure]
        return f"{label} {self.op} {self.threshold:g}{(' ' + unit) if unit and unit != '%' else unit}"

    def finding(self, baseline: Vitals, observation: Observation) -> str:
        label, unit, _ = _MEASURES[self.measure]
        sep = " " if unit and unit != "%" else ""
        return f"{label} {self.value(baseline, observation):g}{sep}{unit} ({self.op} {self.threshold:g}{sep}{unit})"


@dataclass(frozen=True)
class AlertRule:
    """One row of the alert table.

    It fires when any of ``conditions`` holds, or when any side effect in ``side_effects`` is at
    least ``min_side_effect_severity``. Rules sharing a ``group`` are exclusive: only the first
    (most severe) one that fires in table order is reported.
    """

    code: str
    group: str
    severity: Severity
    action: Action
    advice: str
    source: str
    conditions: tuple[Condition, ...] = ()
    side_effects: frozenset[str] = frozenset()
    min_side_effect_severity: SideEffectSeverity = "severe"
    then_call_physician: bool = False

    def __post_init__(self) -> None:
        ref(self.source)
        if not self.conditions and not self.side_effects:
            raise ValueError(f"rule {self.code!r} has nothing to test")
        unknown = self.side_effects - set(SIDE_EFFECT_CODES)
        if unknown:
            raise ValueError(f"rule {self.code!r} names unknown side effects {sorted(unknown)}")

    def findings(self, baseline: Vitals, observation: Observation) -> list[str]:
        """What made the rule fire (empty when it does not)."""
        found = [c.finding(baseline, observation) for c in self.conditions if c.holds(baseline, observation)]
        floor = _SIDE_EFFECT_RANK[self.min_side_effect_severity]
        found += [
            f"{e.severity} {e.code.replace('_', ' ')}"
            for e in observation.side_effects
            if e.code in self.side_effects and _SIDE_EFFECT_RANK[e.severity] >= floor
        ]
        return found

    def threshold_text(self) -> str:
        parts = [c.describe() for c in self.conditions]
        if self.side_effects:
            worse = "" if self.min_side_effect_severity == "severe" else " or worse"
            names = " or ".join(sorted(e.replace("_", " ") for e in self.side_effects))
            parts.append(f"{self.min_side_effect_severity}{worse} {names}")
        return " or ".join(parts)

    def action_text(self) -> str:
        return f"{self.action} + call_physician" if self.then_call_physician else self.action


def build_alert_rules(t: MonitoringThresholds = DEFAULT_THRESHOLDS) -> tuple[AlertRule, ...]:
    """The alert table for thresholds ``t``, most severe first within each group."""
    bp = (Condition("systolic_mmhg", ">=", t.systolic_critical_mmhg), Condition("diastolic_mmhg", ">=", t.diastolic_critical_mmhg))
    return (
        AlertRule(
            "bp_critical", "bp", "critical", "pause_infusion",
            "pause the infusion, call the physician, repeat the blood pressure in 5 minutes",
            ref("delsant2020"), conditions=bp, then_call_physician=True,
        ),
        AlertRule(
            "bp_rise_from_baseline", "bp", "warning", "continue",
            "keep the rate, re-check the blood pressure in 5 minutes and tell the physician if it is still rising",
            ref("spravato_label_bp"),
            conditions=(
                Condition("systolic_rise_mmhg", ">=", t.systolic_rise_warning_mmhg),
                Condition("diastolic_rise_mmhg", ">=", t.diastolic_rise_warning_mmhg),
            ),
        ),
        AlertRule(
            "spo2_critical", "spo2", "critical", "stop_infusion",
            "stop the infusion, stimulate the patient, give oxygen, support the airway and call the physician",
            ref(CLINIC_POLICY), conditions=(Condition("spo2_pct", "<", t.spo2_critical_below_pct),),
        ),
        AlertRule(
            "spo2_low", "spo2", "warning", "reduce_rate",
            "reduce the rate, ask the patient to breathe deeply, consider oxygen, re-check in 5 minutes",
            ref(CLINIC_POLICY), conditions=(Condition("spo2_pct", "<", t.spo2_warning_below_pct),),
        ),
        AlertRule(
            "respiratory_rate_critical", "respiration", "critical", "stop_infusion",
            "stop the infusion, stimulate the patient, support the airway and call the physician",
            ref(CLINIC_POLICY),
            conditions=(Condition("respiratory_rate_per_min", "<", t.respiratory_rate_critical_below_per_min),),
        ),
        AlertRule(
            "sedation_critical", "sedation", "critical", "stop_infusion",
            "stop the infusion (responds only to prodding or pain), support the airway and call the physician",
            ref(CLINIC_POLICY), conditions=(Condition("moaas", "<=", t.moaas_critical_at_or_below),),
        ),
        AlertRule(
            "sedation_moderate", "sedation", "warning", "reduce_rate",
            "reduce the rate (responds only to a loud or repeated call) and re-check in 5 minutes",
            ref(CLINIC_POLICY), conditions=(Condition("moaas", "<=", t.moaas_warning_at_or_below),),
        ),
        AlertRule(
            "tachycardia", "heart_rate", "warning", "pause_infusion",
            "pause the infusion and re-check in 5 minutes; tell the physician if it persists",
            ref(CLINIC_POLICY), conditions=(Condition("heart_rate_bpm", ">", t.heart_rate_high_above_bpm),),
        ),
        AlertRule(
            "bradycardia", "heart_rate", "warning", "call_physician",
            "call the physician; check the pulse by hand and the patient's symptoms",
            ref(CLINIC_POLICY), conditions=(Condition("heart_rate_bpm", "<", t.heart_rate_low_below_bpm),),
        ),
        AlertRule(
            "psychomimetic_distress", "psychomimetic", "warning", "reduce_rate",
            "reduce the rate, reassure the patient in a quiet room; the physician may give the rescue drug in the plan",
            ref(CLINIC_POLICY),
            side_effects=frozenset({"dissociation", "hallucinations"}),
            min_side_effect_severity=t.psychomimetic_min_severity,
        ),
        AlertRule(
            "nausea_vomiting", "nausea", "warning", "give_medication",
            "give the antiemetic in the plan (e.g. ondansetron, as the physician prescribed)",
            ref(CLINIC_POLICY),
            side_effects=frozenset({"nausea", "vomiting"}),
            min_side_effect_severity=t.nausea_min_severity,
        ),
    )


DEFAULT_ALERT_RULES = build_alert_rules()


# --------------------------------------------------------------------------- evaluation


def evaluate_observation(
    baseline: Vitals, observation: Observation, rules: tuple[AlertRule, ...] = DEFAULT_ALERT_RULES
) -> list[Alert]:
    """Judge one observation against the alert table; critical alerts first, then table order.

    A normal observation gives an empty list.
    """
    alerts: list[Alert] = []
    fired_groups: set[str] = set()
    for rule in rules:
        if rule.group in fired_groups:
            continue
        found = rule.findings(baseline, observation)
        if not found:
            continue
        fired_groups.add(rule.group)
        what = "; ".join(found)
        alerts.append(Alert(rule.code, rule.severity, rule.action, f"{_capital(what)}: {rule.advice}.", rule.source))
        if rule.then_call_physician:
            alerts.append(
                Alert(
                    f"{rule.code}_call_physician", rule.severity, "call_physician",
                    f"Call the physician now: {what}.", rule.source,
                )
            )
    return sorted(alerts, key=lambda a: -SEVERITY_RANK[a.severity])


def max_severity(alerts: list[Alert]) -> Severity | None:
    """The most urgent severity among ``alerts`` (``None`` when there are none)."""
    return max((a.severity for a in alerts), key=SEVERITY_RANK.__getitem__, default=None)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- re-check interval

ROUTINE_RECHECK_MIN = 15
CLOSE_RECHECK_MIN = 5
CLOSE_WINDOW_AFTER_CHANGE_MIN = 15


def recheck_interval_min(minutes_since_bolus_or_rate_increase: float | None, alerts: list[Alert] = ()) -> int:
    """Minutes until the next set of vital signs (clinic policy).

    Every 15 minutes during an infusion; every 5 minutes for the 15 minutes after a bolus or a
    rate increase, and while any alert is open.
    """
    if alerts:
        return CLOSE_RECHECK_MIN
    if minutes_since_bolus_or_rate_increase is not None and 0 <= minutes_since_bolus_or_rate_increase < CLOSE_WINDOW_AFTER_CHANGE_MIN:
        return CLOSE_RECHECK_MIN
    return ROUTINE_RECHECK_MIN


# --------------------------------------------------------------------------- rule catalogue


def _catalogue() -> tuple[Rule, ...]:
    rows = [
        Rule(r.code, "monitoring", r.severity, r.threshold_text(), r.action_text(), r.source)
        for r in DEFAULT_ALERT_RULES
    ]
    rows.append(
        Rule(
            "vitals_recheck_interval", "monitoring", "schedule",
            f"every {ROUTINE_RECHECK_MIN} min; every {CLOSE_RECHECK_MIN} min for {CLOSE_WINDOW_AFTER_CHANGE_MIN} min "
            "after a bolus or rate increase and while an alert is open",
            "re-check vital signs", ref(CLINIC_POLICY),
        )
    )
    return tuple(rows)


RULES: tuple[Rule, ...] = _catalogue()
