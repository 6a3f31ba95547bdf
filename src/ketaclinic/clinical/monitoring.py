"""Alert rules for one observation during a monitored infusion (contract 4.4 and 4.4 v2 of design.md).

The rules are a data table (:func:`build_alert_rules`), built from :class:`MonitoringThresholds`
so that a clinic can *tighten* a threshold (alert sooner) but never loosen one past the default
table of the contract. Each rule names its source, or ``clinic_policy`` where the number is the
clinic's choice (the contract's default table is clinic policy unless a source is given).

**One clinical cause gives one alert.** Rules share a ``group`` (blood pressure, SpO2, respiration,
sedation, heart rate, psychomimetic, nausea); a group gives at most one alert per observation: the
most severe rule of the group that applies, and among rules of equal severity the one listed first
in the table. The alert's message names what fired and then, as "also", every other rule of the same
group that applied, so nothing the nurse should know is dropped.

Blood pressure (group ``bp``), in table order:

==========================  =========  ==============  =============================================
rule                        severity   action          when
==========================  =========  ==============  =============================================
``bp_critical``             critical   pause_infusion  systolic >= 180 or diastolic >= 110 (the message
                                                       says: call the physician)
``hypotension_critical``    critical   stop_infusion   systolic < 80
``hypotension``             warning    pause_infusion  systolic < 90 or diastolic < 50
``bp_elevated``             warning    reduce_rate     systolic 160-179 or diastolic 100-109
``bp_rise_from_baseline``   warning    call_physician  systolic rise >= 40 or diastolic rise >= 25
==========================  =========  ==============  =============================================

So 185/110 is one critical ``bp_critical``; 168/92 over 126/80 is one ``bp_elevated`` warning whose
message also names the rise; the rise alone fires only below 160/100 (and above 90/50).
**Hypertension with hypotension** (a wide pulse pressure, e.g. 185/45 or 170/45): the most severe
rule wins and the other reading is named in the message: 185/45 is one critical ``bp_critical``
(pause, call the physician; "also: diastolic 45 < 50"); 170/45 is one ``hypotension`` warning
(pause_infusion: listed before ``bp_elevated``, and pausing is the stronger action), naming the
systolic 170 as well. The two critical rules cannot both apply (systolic < 80 with a diastolic
>= 110 or a systolic >= 180 is impossible).

Other decisions written down here (and in the rule table):

- The 180/110 pause is **clinic policy**. Del Sant 2020 defines "transient hypertension" as
  > 180/110 after esketamine; it sets no pause rule. It is context in the message only.
- SpO2 is judged on the value as given: ``spo2 < 90`` critical, ``90 <= spo2 < 94`` warning.
- MOAA/S 4 gives no alert (contract); 3 warns; 2 or less is critical. RASS (Sessler 2002), when
  recorded, adds: RASS <= -3 critical stop (group ``sedation``, reported only when MOAA/S did not
  already fire), RASS >= +2 warning reduce_rate (group ``psychomimetic``). Both thresholds are clinic
  policy.
- Psychomimetic distress (one cause, one alert, action ``reduce_rate``): *severe* dissociation,
  *moderate or severe* hallucinations, *severe* anxiety, *severe* agitation (4.4 v2), or RASS >= +2.
- The rise from baseline uses the esketamine label's reported rise (>= 40 systolic, >= 25
  diastolic) by analogy; the action (``call_physician``) is clinic policy.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.scales import CADSS6_MAX, RASS_LEVELS, Cadss6, RassScore
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
    "agitation",
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


class BaselineVitals(Vitals):
    """The pre-infusion vitals (contract 4.2 ``vitals``; 4.2 v2 may add the respiratory rate)."""

    respiratory_rate_per_min: float | None = Field(
        default=None, ge=0, le=60, description="Breaths per minute (allowed 0-60; optional)")


class Observation(BaseModel):
    """One set of observations during a session (contract 4.4 ``observation``).

    The ranges are plausibility limits to catch typing slips, not clinical thresholds. ``rass`` and
    ``cadss6`` are optional structured scores recorded with the vitals (:mod:`ketaclinic.clinical.scales`).
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
    rass: RassScore | None = None
    cadss6: Cadss6 | None = None

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

    baseline: BaselineVitals
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
    """The numbers of the alert table. Defaults are contract 4.4 and 4.4 v2; see :meth:`tightened`."""

    systolic_critical_mmhg: float = 180
    diastolic_critical_mmhg: float = 110
    systolic_elevated_mmhg: float = 160
    diastolic_elevated_mmhg: float = 100
    systolic_low_critical_below_mmhg: float = 80
    systolic_low_below_mmhg: float = 90
    diastolic_low_below_mmhg: float = 50
    spo2_critical_below_pct: float = 90
    spo2_warning_below_pct: float = 94
    respiratory_rate_critical_below_per_min: float = 8
    moaas_critical_at_or_below: int = 2
    moaas_warning_at_or_below: int = 3
    rass_sedation_critical_at_or_below: int = -3
    rass_agitation_at_or_above: int = 2
    heart_rate_high_above_bpm: float = 120
    heart_rate_low_below_bpm: float = 50
    systolic_rise_warning_mmhg: float = 40
    diastolic_rise_warning_mmhg: float = 25
    nausea_min_severity: SideEffectSeverity = "moderate"
    psychomimetic_min_severity: SideEffectSeverity = "severe"  # dissociation
    hallucinations_min_severity: SideEffectSeverity = "moderate"
    anxiety_agitation_min_severity: SideEffectSeverity = "severe"

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
    "systolic_elevated_mmhg": "lower",
    "diastolic_elevated_mmhg": "lower",
    "systolic_low_critical_below_mmhg": "higher",
    "systolic_low_below_mmhg": "higher",
    "diastolic_low_below_mmhg": "higher",
    "spo2_critical_below_pct": "higher",
    "spo2_warning_below_pct": "higher",
    "respiratory_rate_critical_below_per_min": "higher",
    "moaas_critical_at_or_below": "higher",
    "moaas_warning_at_or_below": "higher",
    "rass_sedation_critical_at_or_below": "higher",
    "rass_agitation_at_or_above": "lower",
    "heart_rate_high_above_bpm": "lower",
    "heart_rate_low_below_bpm": "higher",
    "systolic_rise_warning_mmhg": "lower",
    "diastolic_rise_warning_mmhg": "lower",
    "nausea_min_severity": "milder",
    "psychomimetic_min_severity": "milder",
    "hallucinations_min_severity": "milder",
    "anxiety_agitation_min_severity": "milder",
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
# 9 decimals so that 168.2 - 128.2 is a rise of 40, not 39.99999999999997). ``None``: not recorded.
_MEASURES: dict[str, tuple[str, str, Callable[[Vitals, Observation], float | None]]] = {
    "systolic_mmhg": ("systolic", "mmHg", lambda b, o: o.systolic_mmhg),
    "diastolic_mmhg": ("diastolic", "mmHg", lambda b, o: o.diastolic_mmhg),
    "heart_rate_bpm": ("heart rate", "/min", lambda b, o: o.heart_rate_bpm),
    "spo2_pct": ("SpO2", "%", lambda b, o: o.spo2_pct),
    "respiratory_rate_per_min": ("respiratory rate", "/min", lambda b, o: o.respiratory_rate_per_min),
    "moaas": ("MOAA/S", "", lambda b, o: o.moaas),
    "rass": ("RASS", "", lambda b, o: o.rass),
    "systolic_rise_mmhg": ("systolic rise from baseline", "mmHg", lambda b, o: round(o.systolic_mmhg - b.systolic_mmhg, 9)),
    "diastolic_rise_mmhg": ("diastolic rise from baseline", "mmHg", lambda b, o: round(o.diastolic_mmhg - b.diastolic_mmhg, 9)),
}


@dataclass(frozen=True)
class Condition:
    """``measure op threshold``, e.g. ``spo2_pct < 90`` (a measure not recorded never holds)."""

    measure: str
    op: Literal["<", "<=", ">", ">="]
    threshold: float

    def __post_init__(self) -> None:
        if self.measure not in _MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}")

    def value(self, baseline: Vitals, observation: Observation) -> float | None:
        return _MEASURES[self.measure][2](baseline, observation)

    def holds(self, baseline: Vitals, observation: Observation) -> bool:
        value = self.value(baseline, observation)
        return value is not None and _OPS[self.op](value, self.threshold)

    def _unit(self) -> tuple[str, str]:
        label, unit, _ = _MEASURES[self.measure]
        return label, (" " + unit) if unit and unit != "%" else unit

    def describe(self) -> str:
        label, unit = self._unit()
        return f"{label} {self.op} {_signed(self.measure, self.threshold)}{unit}"

    def finding(self, baseline: Vitals, observation: Observation) -> str:
        label, unit = self._unit()
        value = self.value(baseline, observation)
        shown = _signed(self.measure, value)
        if self.measure == "rass" and value in RASS_LEVELS:
            shown += f" ({RASS_LEVELS[int(value)]})"
        return f"{label} {shown}{unit} ({self.op} {_signed(self.measure, self.threshold)}{unit})"


def _signed(measure: str, value: float | None) -> str:
    if value is None:
        return "not recorded"
    return f"{value:+g}" if measure == "rass" and value > 0 else f"{value:g}"


@dataclass(frozen=True)
class AlertRule:
    """One row of the alert table.

    It fires when any of ``conditions`` holds, or when a side effect named in ``side_effects`` is at
    least as severe as its floor (``(code, minimum severity)`` pairs). Rules sharing a ``group`` are
    one clinical cause: only the first rule that fires in table order is reported (the table lists
    each group most severe first), and the others that fired are named in its message.
    """

    code: str
    group: str
    severity: Severity
    action: Action
    advice: str
    source: str
    conditions: tuple[Condition, ...] = ()
    side_effects: tuple[tuple[str, SideEffectSeverity], ...] = ()

    def __post_init__(self) -> None:
        ref(self.source)
        if not self.conditions and not self.side_effects:
            raise ValueError(f"rule {self.code!r} has nothing to test")
        unknown = {code for code, _ in self.side_effects} - set(SIDE_EFFECT_CODES)
        if unknown:
            raise ValueError(f"rule {self.code!r} names unknown side effects {sorted(unknown)}")

    def findings(self, baseline: Vitals, observation: Observation) -> list[str]:
        """What made the rule fire (empty when it does not)."""
        return [text for _, text in self.keyed_findings(baseline, observation)]

    def keyed_findings(self, baseline: Vitals, observation: Observation) -> list[tuple[str, str]]:
        """``(what was measured, finding)`` for each condition or side effect that fired."""
        found = [(c.measure, c.finding(baseline, observation)) for c in self.conditions if c.holds(baseline, observation)]
        floors = dict(self.side_effects)
        found += [
            (e.code, f"{e.severity} {e.code.replace('_', ' ')}")
            for e in observation.side_effects
            if e.code in floors and _SIDE_EFFECT_RANK[e.severity] >= _SIDE_EFFECT_RANK[floors[e.code]]
        ]
        return found

    def threshold_text(self) -> str:
        parts = [c.describe() for c in self.conditions]
        by_floor: dict[str, list[str]] = {}
        for code, floor in self.side_effects:
            by_floor.setdefault(floor, []).append(code.replace("_", " "))
        for floor, names in by_floor.items():
            worse = "" if floor == "severe" else " or worse"
            parts.append(f"{floor}{worse} {' or '.join(sorted(names))}")
        return " or ".join(parts)


def build_alert_rules(t: MonitoringThresholds = DEFAULT_THRESHOLDS) -> tuple[AlertRule, ...]:
    """The alert table for thresholds ``t``: within each group, most severe first, then the contract's order."""
    return (
        # --- blood pressure: one alert per observation (see the module docstring)
        AlertRule(
            "bp_critical", "bp", "critical", "pause_infusion",
            "pause the infusion, call the physician now and repeat the blood pressure in 5 minutes "
            "(Del Sant 2020 calls > 180/110 after esketamine transient hypertension; the pause is clinic policy)",
            ref(CLINIC_POLICY),
            conditions=(Condition("systolic_mmhg", ">=", t.systolic_critical_mmhg),
                        Condition("diastolic_mmhg", ">=", t.diastolic_critical_mmhg)),
        ),
        AlertRule(
            "hypotension_critical", "bp", "critical", "stop_infusion",
            "stop the infusion, lay the patient flat, call the physician and re-check the blood pressure now",
            ref(CLINIC_POLICY), conditions=(Condition("systolic_mmhg", "<", t.systolic_low_critical_below_mmhg),),
        ),
        AlertRule(
            "hypotension", "bp", "warning", "pause_infusion",
            "pause the infusion, lay the patient flat, re-check in 5 minutes and tell the physician",
            ref(CLINIC_POLICY),
            conditions=(Condition("systolic_mmhg", "<", t.systolic_low_below_mmhg),
                        Condition("diastolic_mmhg", "<", t.diastolic_low_below_mmhg)),
        ),
        AlertRule(
            "bp_elevated", "bp", "warning", "reduce_rate",
            "reduce the rate and re-check the blood pressure in 5 minutes; call the physician if it keeps rising",
            ref(CLINIC_POLICY),
            conditions=(Condition("systolic_mmhg", ">=", t.systolic_elevated_mmhg),
                        Condition("diastolic_mmhg", ">=", t.diastolic_elevated_mmhg)),
        ),
        AlertRule(
            "bp_rise_from_baseline", "bp", "warning", "call_physician",
            "tell the physician and re-check the blood pressure in 5 minutes",
            ref("spravato_label_bp"),
            conditions=(Condition("systolic_rise_mmhg", ">=", t.systolic_rise_warning_mmhg),
                        Condition("diastolic_rise_mmhg", ">=", t.diastolic_rise_warning_mmhg)),
        ),
        # --- oxygenation and breathing
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
        # --- level of consciousness
        AlertRule(
            "sedation_critical", "sedation", "critical", "stop_infusion",
            "stop the infusion (responds only to prodding or pain), support the airway and call the physician",
            ref(CLINIC_POLICY), conditions=(Condition("moaas", "<=", t.moaas_critical_at_or_below),),
        ),
        AlertRule(
            "rass_sedation_critical", "sedation", "critical", "stop_infusion",
            "stop the infusion (moves or opens the eyes to voice only, or less), support the airway and call the physician",
            ref(CLINIC_POLICY), conditions=(Condition("rass", "<=", t.rass_sedation_critical_at_or_below),),
        ),
        AlertRule(
            "sedation_moderate", "sedation", "warning", "reduce_rate",
            "reduce the rate and re-check in 5 minutes",
            ref(CLINIC_POLICY), conditions=(Condition("moaas", "<=", t.moaas_warning_at_or_below),),
        ),
        # --- heart rate
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
        # --- psychomimetic distress: one cause, one alert
        AlertRule(
            "psychomimetic_distress", "psychomimetic", "warning", "reduce_rate",
            "reduce the rate, reassure the patient in a quiet room; the physician may give the rescue drug in the plan",
            ref(CLINIC_POLICY),
            side_effects=(("dissociation", t.psychomimetic_min_severity),
                          ("hallucinations", t.hallucinations_min_severity),
                          ("anxiety", t.anxiety_agitation_min_severity),
                          ("agitation", t.anxiety_agitation_min_severity)),
        ),
        AlertRule(
            "rass_agitation", "psychomimetic", "warning", "reduce_rate",
            "reduce the rate, reassure the patient in a quiet room; the physician may give the rescue drug in the plan",
            ref(CLINIC_POLICY), conditions=(Condition("rass", ">=", t.rass_agitation_at_or_above),),
        ),
        # --- nausea
        AlertRule(
            "nausea_vomiting", "nausea", "warning", "give_medication",
            "give the antiemetic in the plan (e.g. ondansetron, as the physician prescribed)",
            ref(CLINIC_POLICY),
            side_effects=(("nausea", t.nausea_min_severity), ("vomiting", t.nausea_min_severity)),
        ),
    )


DEFAULT_ALERT_RULES = build_alert_rules()
BP_RULE_CODES: frozenset[str] = frozenset(r.code for r in DEFAULT_ALERT_RULES if r.group == "bp")


# --------------------------------------------------------------------------- evaluation


def _rank_in_group(rules: tuple[AlertRule, ...]) -> dict[str, list[AlertRule]]:
    """Each group's rules, most severe first, then table order (a stable sort keeps the table order)."""
    groups: dict[str, list[AlertRule]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule)
    return {g: sorted(rs, key=lambda r: -SEVERITY_RANK[r.severity]) for g, rs in groups.items()}


def evaluate_observation(
    baseline: Vitals, observation: Observation, rules: tuple[AlertRule, ...] = DEFAULT_ALERT_RULES
) -> list[Alert]:
    """Judge one observation against the alert table: at most one alert per group (clinical cause),
    critical alerts first, then table order. A normal observation gives an empty list."""
    chosen: list[tuple[int, Alert]] = []
    order = {rule.code: i for i, rule in enumerate(rules)}
    for ranked in _rank_in_group(rules).values():
        fired = [(rule, found) for rule in ranked if (found := rule.keyed_findings(baseline, observation))]
        if not fired:
            continue
        rule, found = fired[0]
        # the other rules of the cause that applied, each reading once (185 >= 180 is not repeated as >= 160)
        seen = {key for key, _ in found}
        also = []
        for _, other in fired[1:]:
            for key, finding in other:
                if key not in seen:
                    seen.add(key)
                    also.append(finding)
        text = f"{_capital('; '.join(f for _, f in found))}: {rule.advice}."
        if also:
            text += f" Also: {'; '.join(also)}."
        chosen.append((order[rule.code], Alert(rule.code, rule.severity, rule.action, text, rule.source)))
    chosen.sort(key=lambda pair: (-SEVERITY_RANK[pair[1].severity], pair[0]))
    return [alert for _, alert in chosen]


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


VITALS_OVERDUE_GRACE_MIN = 5
"""Minutes past the due time before the vitals timer says overdue (clinic policy)."""


@dataclass(frozen=True)
class VitalsDue:
    """The console's vitals timer: when the next set is due and whether it is late."""

    interval_min: int
    due_at_min: float
    state: Literal["ok", "due", "overdue"]
    minutes_left: float

    def as_dict(self) -> dict[str, object]:
        return {"interval_min": self.interval_min, "due_at_min": self.due_at_min, "state": self.state,
                "minutes_left": self.minutes_left}


def vitals_due(minute_now: float, last_vitals_minute: float | None, last_change_minute: float | None,
               open_alerts: int, routine_min: int = ROUTINE_RECHECK_MIN) -> VitalsDue:
    """When the next vital signs are due (issue 12's vitals timer): ``routine_min`` after the last set
    (15 min by default, a clinic setting), 5 min while an alert is open or for 15 min after a bolus or
    a rate increase (:func:`recheck_interval_min`); due at once when none was taken since the start.
    Overdue once more than 5 minutes late. All clinic policy."""
    since_change = None if last_change_minute is None else minute_now - last_change_minute
    interval = recheck_interval_min(since_change, [None] * open_alerts)  # type: ignore[list-item]
    if interval == ROUTINE_RECHECK_MIN:
        interval = routine_min
    due = 0.0 if last_vitals_minute is None else last_vitals_minute + interval
    left = due - minute_now
    state: Literal["ok", "due", "overdue"] = "ok" if left > 0 else ("due" if left >= -VITALS_OVERDUE_GRACE_MIN else "overdue")
    return VitalsDue(interval, due, state, round(left, 1))


# --------------------------------------------------------------------------- rule catalogue


def _catalogue() -> tuple[Rule, ...]:
    rows = []
    for r in DEFAULT_ALERT_RULES:
        threshold = r.threshold_text()
        if r.group == "bp":
            threshold += " (blood pressure: one alert per observation, the most severe, then table order)"
        rows.append(Rule(r.code, "monitoring", r.severity, threshold, r.action, r.source))
    rows += [
        Rule(
            "vitals_recheck_interval", "monitoring", "schedule",
            f"every {ROUTINE_RECHECK_MIN} min; every {CLOSE_RECHECK_MIN} min for {CLOSE_WINDOW_AFTER_CHANGE_MIN} min "
            "after a bolus or rate increase and while an alert is open",
            "re-check vital signs", ref(CLINIC_POLICY),
        ),
        Rule(
            "cadss6_score", "monitoring", "score",
            f"CADSS-6: CADSS items 1, 2, 6, 7, 15, 22, each 0-4, total 0-{CADSS6_MAX}; recorded with the vitals, "
            "no alert threshold (none published)",
            "record and show the change", ref("rodrigues2021_cadss6"),
        ),
        Rule(
            "rass_scale", "monitoring", "score",
            "RASS -5 (unarousable) to +4 (combative), 0 alert and calm; recorded with the vitals beside MOAA/S",
            "record; feeds rass_sedation_critical and rass_agitation", ref("sessler2002_rass"),
        ),
    ]
    return tuple(rows)


RULES: tuple[Rule, ...] = _catalogue()
