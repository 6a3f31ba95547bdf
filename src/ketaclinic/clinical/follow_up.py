"""Between sessions: when to offer a booster, which long-term risk checks are due, opioid use in MME.

All dates are passed in (``today``); nothing reads a clock.

**Booster rule** (clinic policy, ``clinic_policy``; the numbers are configurable in
:class:`BoosterPolicy`): relief has *faded* when, on every diary entry of the last 7 days (today
included), the pain reduction from the pre-course baseline is below 30 %, and there are at least 4
such entries (so that one or two bad days, or a silent diary, do not trigger it). A booster is
suggested only when relief has faded, the patient had relief to lose (at least one diary entry
since the last session with a reduction of 30 % or more; otherwise it is a non-response for the
physician to review), and never sooner than the minimum interval after the last session (default
14 days; no guideline sets an interval).

No guideline or trial sets when to retreat: the trigger as a whole is the clinic's choice. The
30 % figure is borrowed, as context only, from IMMPACT (``immpact2008``), which uses it to
interpret chronic-pain *trials* (a moderately important change, a responder); IMMPACT does not say
when to give a booster. The responder definitions (30 % / 50 %) in ``clinical.outcomes`` cite it.

**Risk checks**: liver tests before a repeat course that is multi-day or starts less than 4 weeks
after the previous one ended (``noppers2011``: liver injury on the second of two courses 16 days
apart; ``cotter2021_faers``); urinary symptoms at every visit (``chan2022_uropathy``); a misuse
check (universal precautions, ``asra2018``) and a brief cognitive screen every 3 months (clinic
policy).

**MME**: CDC 2022 conversion factors (``cdc2022_opioids``); the fentanyl patch factor applies to
its rate in mcg/h, every other factor to the daily dose in mg. Unknown opioids are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.clinical.rules import Rule
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

# --------------------------------------------------------------------------- diary and booster


class DiaryEntry(BaseModel):
    """One diary day: the patient's average pain on the 0-10 numeric rating scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: date
    pain_nrs: float = Field(ge=0, le=10)


def reduction_pct(baseline_pain_nrs: float, pain_nrs: float) -> float:
    """Percentage pain reduction from baseline (negative when pain is worse).

    Rounded to 9 decimals so that a typed boundary (8 -> 5.6 is 30 %) is not lost to binary
    floating point (which would give 29.999999999999996 or 30.000000000000004).
    """
    if baseline_pain_nrs <= 0:
        raise ValueError("baseline pain must be above 0 to measure a reduction from it")
    return round((baseline_pain_nrs - pain_nrs) / baseline_pain_nrs * 100, 9)


@dataclass(frozen=True)
class BoosterPolicy:
    relief_threshold_pct: float = 30.0
    window_days: int = 7
    min_entries_in_window: int = 4
    min_interval_days: int = 14


DEFAULT_BOOSTER_POLICY = BoosterPolicy()


@dataclass(frozen=True)
class BoosterAdvice:
    suggest_booster: bool
    relief_faded: bool
    had_relief: bool
    earliest_booster_day: date
    entries_in_window: int
    message: str
    source: str


def booster_advice(
    baseline_pain_nrs: float,
    entries: list[DiaryEntry],
    last_session_day: date,
    today: date,
    policy: BoosterPolicy = DEFAULT_BOOSTER_POLICY,
) -> BoosterAdvice:
    """Whether to suggest a booster today, from the diary since the last session."""
    if baseline_pain_nrs <= 0:
        raise ValueError("baseline_pain_nrs must be above 0")
    if any(e.day > today for e in entries):
        raise ValueError("diary entries after today cannot be judged")
    since = [e for e in entries if e.day > last_session_day]
    window_start = today - timedelta(days=policy.window_days - 1)
    window = [e for e in since if e.day >= window_start]
    earliest = last_session_day + timedelta(days=policy.min_interval_days)
    had_relief = any(reduction_pct(baseline_pain_nrs, e.pain_nrs) >= policy.relief_threshold_pct for e in since)
    enough = len(window) >= policy.min_entries_in_window
    faded = enough and all(reduction_pct(baseline_pain_nrs, e.pain_nrs) < policy.relief_threshold_pct for e in window)
    source = ref(CLINIC_POLICY)  # the retreatment trigger is clinic policy (IMMPACT only interprets trials)
    if not enough:
        message = (
            f"Only {len(window)} diary entries in the last {policy.window_days} days "
            f"(at least {policy.min_entries_in_window} needed to judge whether relief has faded)."
        )
        suggest = False
    elif not faded:
        message = f"Relief holds: at least one entry in the last {policy.window_days} days is {policy.relief_threshold_pct:g} % or more below baseline."
        suggest = False
    elif not had_relief:
        message = (
            f"No diary entry since the last session showed a {policy.relief_threshold_pct:g} % reduction: this is no "
            "response rather than faded relief; a booster is not suggested - physician review."
        )
        suggest = False
    elif today < earliest:
        message = (
            f"Relief has faded, but a booster is not due before {earliest.isoformat()} "
            f"({policy.min_interval_days} days after the last session)."
        )
        suggest = False
    else:
        message = (
            f"Relief has faded: every entry of the last {policy.window_days} days is less than "
            f"{policy.relief_threshold_pct:g} % below the pre-course pain; suggest a booster (physician to decide)."
        )
        suggest = True
    return BoosterAdvice(suggest, faded, had_relief, earliest, len(window), message, source)


# --------------------------------------------------------------------------- long-term risk checks


@dataclass(frozen=True)
class RiskCheckPolicy:
    repeat_course_gap_days: int = 28
    liver_tests_valid_days: int = 30
    cognition_interval_days: int = 90
    misuse_interval_days: int = 90


DEFAULT_RISK_POLICY = RiskCheckPolicy()


@dataclass(frozen=True)
class PlannedCourse:
    start_day: date
    multi_day: bool


@dataclass(frozen=True)
class RiskCheck:
    code: str
    due: bool
    due_on: date | None
    message: str
    source: str


def _interval_check(code: str, what: str, last: date | None, today: date, interval_days: int, source: str) -> RiskCheck:
    if last is None:
        return RiskCheck(code, True, today, f"{what}: never recorded - due now.", source)
    if last > today:
        raise ValueError(f"{code}: last check {last.isoformat()} is after today")
    next_due = last + timedelta(days=interval_days)
    if today >= next_due:
        return RiskCheck(code, True, next_due, f"{what}: last on {last.isoformat()}, due since {next_due.isoformat()}.", source)
    return RiskCheck(code, False, next_due, f"{what}: last on {last.isoformat()}, next due {next_due.isoformat()}.", source)


def liver_tests_needed(
    next_course: PlannedCourse, previous_course_end: date | None, policy: RiskCheckPolicy = DEFAULT_RISK_POLICY
) -> bool:
    """Liver tests are needed before a *repeat* course that is multi-day or starts < 4 weeks after the last."""
    if previous_course_end is None:
        return False
    if previous_course_end > next_course.start_day:
        raise ValueError("the previous course cannot end after the next one starts")
    gap = (next_course.start_day - previous_course_end).days
    return next_course.multi_day or gap < policy.repeat_course_gap_days


def risk_checks_due(
    today: date,
    *,
    next_course: PlannedCourse | None = None,
    previous_course_end: date | None = None,
    last_liver_tests_on: date | None = None,
    last_cognition_check_on: date | None = None,
    last_misuse_check_on: date | None = None,
    policy: RiskCheckPolicy = DEFAULT_RISK_POLICY,
) -> list[RiskCheck]:
    """The long-term safety checks for a visit on ``today``: which are due and when."""
    checks: list[RiskCheck] = []
    liver_source = ref("noppers2011")
    if next_course is not None and liver_tests_needed(next_course, previous_course_end, policy):
        window_start = max(previous_course_end, next_course.start_day - timedelta(days=policy.liver_tests_valid_days))
        fresh = last_liver_tests_on is not None and window_start < last_liver_tests_on <= next_course.start_day
        why = "multi-day" if next_course.multi_day else f"starts less than {policy.repeat_course_gap_days} days after the last course"
        if fresh:
            checks.append(RiskCheck("liver_tests", False, None,
                                    f"Liver tests done on {last_liver_tests_on.isoformat()} for this repeat course ({why}).", liver_source))
        else:
            checks.append(RiskCheck("liver_tests", True, next_course.start_day,
                                    f"Liver tests needed before the repeat course of {next_course.start_day.isoformat()} ({why}): "
                                    f"taken after the last course and within {policy.liver_tests_valid_days} days of the start.",
                                    liver_source))
    else:
        checks.append(RiskCheck("liver_tests", False, None, "Liver tests not required (no repeat multi-day or closely spaced course planned).", liver_source))
    checks.append(RiskCheck("urinary_symptoms", True, today,
                            "Ask about urinary frequency, urgency, bladder pain and blood in the urine (every visit).",
                            ref("chan2022_uropathy")))
    checks.append(_interval_check("misuse_check", "Misuse check (PDMP, urine drug screen as per policy)",
                                  last_misuse_check_on, today, policy.misuse_interval_days, ref("asra2018")))
    checks.append(_interval_check("cognition_check", "Brief cognitive screen",
                                  last_cognition_check_on, today, policy.cognition_interval_days, ref(CLINIC_POLICY)))
    return checks


# --------------------------------------------------------------------------- MME

#: CDC 2022 MME conversion factors: daily dose in mg times the factor, fentanyl patch in mcg/h.
MME_FACTORS: dict[str, float] = {
    "codeine": 0.15,
    "fentanyl_transdermal": 2.4,
    "hydrocodone": 1.0,
    "hydromorphone": 5.0,
    "methadone": 4.7,
    "morphine": 1.0,
    "oxycodone": 1.5,
    "oxymorphone": 3.0,
    "tapentadol": 0.4,
    "tramadol": 0.2,
}
PATCH_OPIOIDS = frozenset({"fentanyl_transdermal"})

_NOT_IN_TABLE = {
    "fentanyl": "say 'fentanyl_transdermal' for a patch in mcg/h; other fentanyl forms have no factor in the CDC table",
    "buprenorphine": "buprenorphine has no factor in the CDC 2022 table; record it separately",
}


class UnknownOpioidError(ValueError):
    """An opioid without a CDC 2022 conversion factor, or a dose given in the wrong unit."""


class OpioidDose(BaseModel):
    """One opioid the patient takes: a daily dose in mg, or a fentanyl patch rate in mcg/h."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    opioid: str
    daily_dose_mg: float | None = Field(default=None, ge=0, le=10000)
    patch_mcg_per_h: float | None = Field(default=None, ge=0, le=1000)


@dataclass(frozen=True)
class MmeLine:
    opioid: str
    amount: float
    unit: str
    factor: float
    mme_per_day: float


@dataclass(frozen=True)
class MmeResult:
    total_mme_per_day: float
    lines: tuple[MmeLine, ...]
    notes: tuple[str, ...]
    source: str


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def daily_mme(doses: list[OpioidDose]) -> MmeResult:
    """Total morphine milligram equivalents per day (CDC 2022), refusing unknown opioids and wrong units."""
    lines: list[MmeLine] = []
    notes = ["MME estimates total opioid exposure; do not use it to convert one opioid to another (CDC 2022)."]
    for dose in doses:
        name = _normalise(dose.opioid)
        if name not in MME_FACTORS:
            hint = _NOT_IN_TABLE.get(name, "allowed: " + ", ".join(sorted(MME_FACTORS)))
            raise UnknownOpioidError(f"unknown opioid {dose.opioid!r}: {hint}")
        factor = MME_FACTORS[name]
        if name in PATCH_OPIOIDS:
            if dose.patch_mcg_per_h is None or dose.daily_dose_mg is not None:
                raise UnknownOpioidError(f"{name}: give the patch rate as patch_mcg_per_h (mcg/h), not a daily dose in mg")
            amount, unit = dose.patch_mcg_per_h, "mcg/h"
            notes.append("Fentanyl patch: factor applies to the patch rate in mcg/h; take particular care.")
        else:
            if dose.daily_dose_mg is None or dose.patch_mcg_per_h is not None:
                raise UnknownOpioidError(f"{name}: give the total daily dose as daily_dose_mg (mg/day)")
            amount, unit = dose.daily_dose_mg, "mg/day"
        if name == "methadone":
            notes.append("Methadone: long, variable half-life; conversion is uncertain - use particular caution.")
        lines.append(MmeLine(name, amount, unit, factor, round(amount * factor, 2)))
    total = round(sum(line.mme_per_day for line in lines), 2)
    return MmeResult(total, tuple(lines), tuple(dict.fromkeys(notes)), ref("cdc2022_opioids"))


# --------------------------------------------------------------------------- rule catalogue

_B = DEFAULT_BOOSTER_POLICY
_R = DEFAULT_RISK_POLICY
RULES: tuple[Rule, ...] = (
    Rule("booster_relief_faded", "follow_up", "suggestion",
         f"every diary entry of the last {_B.window_days} days < {_B.relief_threshold_pct:g} % below pre-course pain, "
         f">= {_B.min_entries_in_window} entries, and some entry since the last session >= {_B.relief_threshold_pct:g} % "
         "(clinic policy; the 30 % is IMMPACT's trial-interpretation threshold, used as context, not a retreatment rule)",
         "suggest a booster (physician decides)", ref(CLINIC_POLICY)),
    Rule("booster_min_interval", "follow_up", "limit", f"no booster sooner than {_B.min_interval_days} days after the last session",
         "earliest booster date", ref(CLINIC_POLICY)),
    Rule("liver_tests", "follow_up", "risk_check",
         f"repeat course that is multi-day or starts < {_R.repeat_course_gap_days} days after the previous one",
         f"liver tests after the last course and <= {_R.liver_tests_valid_days} days before the start", ref("noppers2011")),
    Rule("urinary_symptoms", "follow_up", "risk_check", "every visit", "ask; if present hold ketamine and check urinalysis",
         ref("chan2022_uropathy")),
    Rule("misuse_check", "follow_up", "risk_check", f"every {_R.misuse_interval_days} days", "misuse check (universal precautions)",
         ref("asra2018"), grade="C, Low"),
    Rule("cognition_check", "follow_up", "risk_check", f"every {_R.cognition_interval_days} days", "brief cognitive screen",
         ref(CLINIC_POLICY)),
    Rule("mme_conversion", "follow_up", "calculation",
         "; ".join(f"{k} x{v:g}" for k, v in MME_FACTORS.items()) + " (fentanyl patch per mcg/h, others per mg/day)",
         "daily MME; unknown opioids refused; methadone caution", ref("cdc2022_opioids")),
)
