"""Outcomes: who responded, how long relief lasted, and how a cohort compares with published series.

- **Responder** (IMMPACT, ``immpact2008``): a pain (NRS) reduction of >= 30 % is moderately
  important, >= 50 % substantial; a fall of >= 2 points is about moderately meaningful.
- **Loss of relief** (defined here, clinic policy built on the IMMPACT 30 %): after a course,
  relief is *lost* on the first diary day, after relief was first seen, from which every entry
  for ``sustain_days`` days (default 7) is less than 30 % below the pre-course pain, with at
  least ``min_entries`` entries in those days and the diary continuing to the window's end. A
  patient who never reached 30 % has no relief to lose and gives no durability record.
- **Durability** records (duration in days from the end of the course, event observed or
  censored at the last diary entry) feed a Kaplan-Meier estimate (lifelines).
- **Intervals**: a responder proportion's 95 % interval is Wilson's score interval
  (``wilson1927``); reports show condition counts below 5 as "<5" (clinic policy).
- **Adverse events** of sessions: side effects by code and worst severity per session, alerts by
  code, counted from the append-only session events (:func:`adverse_event_summary`).
- **Published comparators**: only numbers present in our reference notes or read in the
  abstracts during this work, each with the caveats that make a direct comparison unsafe.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from ketaclinic.clinical.follow_up import DiaryEntry, reduction_pct
from ketaclinic.clinical.record import EventRow
from ketaclinic.clinical.rules import Rule
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

MODERATE_REDUCTION_PCT = 30.0
SUBSTANTIAL_REDUCTION_PCT = 50.0
MEANINGFUL_REDUCTION_POINTS = 2.0


# --------------------------------------------------------------------------- responders


@dataclass(frozen=True)
class Response:
    baseline_nrs: float
    followup_nrs: float
    reduction_points: float
    reduction_pct: float
    responder_30: bool
    responder_50: bool
    two_point: bool


def classify_response(baseline_nrs: float, followup_nrs: float) -> Response:
    """IMMPACT responder classes for one patient (NRS 0-10, baseline above 0)."""
    for name, value in (("baseline_nrs", baseline_nrs), ("followup_nrs", followup_nrs)):
        if not (0 <= value <= 10) or math.isnan(value):
            raise ValueError(f"{name} must be between 0 and 10 (got {value})")
    pct = reduction_pct(baseline_nrs, followup_nrs)
    points = round(baseline_nrs - followup_nrs, 9)  # 6.3 - 4.3 must be 2 points, not 1.9999999999999996
    return Response(
        baseline_nrs, followup_nrs, round(points, 3), round(pct, 3),
        responder_30=pct >= MODERATE_REDUCTION_PCT,
        responder_50=pct >= SUBSTANTIAL_REDUCTION_PCT,
        two_point=points >= MEANINGFUL_REDUCTION_POINTS,
    )


# --------------------------------------------------------------------------- loss of relief


@dataclass(frozen=True)
class LossOfRelief:
    had_relief: bool
    first_relief_day: date | None
    loss_day: date | None
    last_observed_day: date | None


def time_to_loss_of_relief(
    course_end: date,
    baseline_nrs: float,
    entries: list[DiaryEntry],
    *,
    sustain_days: int = 7,
    min_entries: int = 3,
    threshold_pct: float = MODERATE_REDUCTION_PCT,
) -> LossOfRelief:
    """When relief was lost after a course, by the definition in the module docstring."""
    series = sorted((e for e in entries if e.day > course_end), key=lambda e: e.day)
    if not series:
        return LossOfRelief(False, None, None, None)
    relieved = [reduction_pct(baseline_nrs, e.pain_nrs) >= threshold_pct for e in series]
    if not any(relieved):
        return LossOfRelief(False, None, None, series[-1].day)
    first = relieved.index(True)
    last_day = series[-1].day
    for i in range(first + 1, len(series)):
        if relieved[i]:
            continue
        start = series[i].day
        end = start + timedelta(days=sustain_days - 1)
        if last_day < end:
            break  # the window is not yet fully observed: censored
        window = [r for e, r in zip(series, relieved, strict=True) if start <= e.day <= end]
        if len(window) >= min_entries and not any(window):
            return LossOfRelief(True, series[first].day, start, last_day)
    return LossOfRelief(True, series[first].day, None, last_day)


@dataclass(frozen=True)
class DurabilityRecord:
    """One patient's relief after a course, ready for Kaplan-Meier: days to loss, or censored."""

    patient_id: str
    condition: str
    duration_days: float
    event_observed: bool


def durability_record(
    patient_id: str, condition: str, course_end: date, baseline_nrs: float, entries: list[DiaryEntry], **kwargs: float
) -> DurabilityRecord | None:
    """The durability record of a patient, or ``None`` when relief was never reached (nothing to lose)."""
    loss = time_to_loss_of_relief(course_end, baseline_nrs, entries, **kwargs)
    if not loss.had_relief or loss.last_observed_day is None:
        return None
    if loss.loss_day is not None:
        return DurabilityRecord(patient_id, condition, float((loss.loss_day - course_end).days), True)
    return DurabilityRecord(patient_id, condition, float((loss.last_observed_day - course_end).days), False)


@dataclass(frozen=True)
class KaplanMeierTable:
    times_days: tuple[float, ...]
    survival: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    median_days: float | None
    n: int
    events: int

    def as_dict(self) -> dict[str, object]:
        return {
            "times_days": list(self.times_days),
            "survival": list(self.survival),
            "ci_lower": list(self.ci_lower),
            "ci_upper": list(self.ci_upper),
            "median_days": self.median_days,
            "n": self.n,
            "events": self.events,
        }


def kaplan_meier(records: list[DurabilityRecord], alpha: float = 0.05) -> KaplanMeierTable:
    """Kaplan-Meier probability of still having relief over time (lifelines), with its confidence band."""
    if not records:
        raise ValueError("no durability records to estimate from")
    counts: dict[tuple[float, bool], int] = defaultdict(int)
    for r in records:
        counts[(r.duration_days, r.event_observed)] += 1
    return kaplan_meier_grouped([(days, lost, n) for (days, lost), n in sorted(counts.items())], alpha)


def kaplan_meier_grouped(groups: list[tuple[float, bool, int]], alpha: float = 0.05) -> KaplanMeierTable:
    """:func:`kaplan_meier` from ``(duration_days, event_observed, patients)`` groups: the same estimate
    and band (the estimator only sees how many patients lost relief or were censored at each time), for a
    cohort counted by the database instead of listed patient by patient (issue 17)."""
    groups = [(float(days), bool(lost), int(n)) for days, lost, n in groups if n > 0]
    if not groups:
        raise ValueError("no durability records to estimate from")
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=alpha)
    kmf.fit([g[0] for g in groups], event_observed=[g[1] for g in groups], weights=[g[2] for g in groups])
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    median = float(kmf.median_survival_time_)
    return KaplanMeierTable(
        times_days=tuple(float(t) for t in sf.index),
        survival=tuple(float(s) for s in sf.to_numpy()),
        ci_lower=tuple(float(x) for x in ci.iloc[:, 0].to_numpy()),
        ci_upper=tuple(float(x) for x in ci.iloc[:, 1].to_numpy()),
        median_days=median if math.isfinite(median) else None,
        n=sum(g[2] for g in groups),
        events=sum(g[2] for g in groups if g[1]),
    )


# --------------------------------------------------------------------------- cohort


@dataclass(frozen=True)
class PatientOutcome:
    patient_id: str
    condition: str
    baseline_nrs: float
    followup_nrs: float


@dataclass(frozen=True)
class GroupSummary:
    n: int
    responders_30: int
    responders_50: int
    two_point: int

    @property
    def pct_30(self) -> float:
        return round(100 * self.responders_30 / self.n, 1) if self.n else 0.0

    @property
    def pct_50(self) -> float:
        return round(100 * self.responders_50 / self.n, 1) if self.n else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "responders_30": self.responders_30, "responders_50": self.responders_50,
                "two_point": self.two_point, "pct_30": self.pct_30, "pct_50": self.pct_50}


@dataclass(frozen=True)
class CohortSummary:
    overall: GroupSummary
    by_condition: dict[str, GroupSummary]


def _group(responses: list[Response]) -> GroupSummary:
    return GroupSummary(
        len(responses),
        sum(r.responder_30 for r in responses),
        sum(r.responder_50 for r in responses),
        sum(r.two_point for r in responses),
    )


def cohort_summary(outcomes: list[PatientOutcome]) -> CohortSummary:
    """Responders at 30 % and 50 % (and 2 points), overall and by condition."""
    by: dict[str, list[Response]] = defaultdict(list)
    everyone: list[Response] = []
    for o in outcomes:
        r = classify_response(o.baseline_nrs, o.followup_nrs)
        by[o.condition].append(r)
        everyone.append(r)
    return CohortSummary(_group(everyone), {c: _group(rs) for c, rs in sorted(by.items())})


# --------------------------------------------------------------------------- intervals and small cells

#: z for a two-sided 95 % interval (the 0.975 quantile of the standard normal).
Z_95 = 1.959963984540054
#: Clinic policy for reports that may leave the clinic: a count below this is shown as "<5".
SMALL_CELL_BELOW = 5


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (as fractions, 0-1).

    Source: Wilson EB (1927), Probable inference, the law of succession, and statistical
    inference, J Am Stat Assoc 22:209-212 (``wilson1927``); recommended over the simple
    (Wald) interval for small groups and proportions near 0 or 1 (Newcombe 1998, Stat Med
    17:857-872, method 3). Unlike the Wald interval it never leaves 0-1 and is not empty at
    0 of n or n of n, which is what a clinic's small groups give.
    """
    if n <= 0:
        raise ValueError("an interval needs at least one patient (n >= 1)")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}); got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    if successes == 0:
        low = 0.0  # exact at the edges (floating point gives 1e-17)
    if successes == n:
        high = 1.0
    return round(low, 6), round(high, 6)


def small_cell(count: int, below: int = SMALL_CELL_BELOW) -> str:
    """A count as a report shows it under the small-cell rule: ``"<5"`` below the threshold.

    Clinic policy (``clinic_policy``): condition rows of reports that may be shared outside the
    clinic show counts of 0-4 as "<5", so that a patient in a rare group cannot be recognised.
    """
    return f"<{below}" if count < below else str(count)


# --------------------------------------------------------------------------- adverse events


@dataclass(frozen=True)
class SideEffectCount:
    code: str
    severity: str
    sessions: int  # sessions in which this was the worst severity of the code
    reports: int  # times it was recorded (side-effect events and observations)


@dataclass(frozen=True)
class AlertCount:
    code: str
    severity: str
    alerts: int
    sessions: int


@dataclass(frozen=True)
class AdverseEventSummary:
    sessions_with_events: int
    sessions_with_side_effects: int
    sessions_with_alerts: int
    side_effects: tuple[SideEffectCount, ...]
    alerts: tuple[AlertCount, ...]


_SEVERITY_ORDER = {"mild": 0, "moderate": 1, "severe": 2}


def adverse_event_summary(rows: list[EventRow]) -> AdverseEventSummary:
    """Side effects by code and severity and alerts by code, counted from session events.

    - A side effect is counted from ``side_effect`` events and from the ``side_effects`` listed in
      ``vitals`` observations. Per session, each code counts once, at its worst severity (the
      same nausea noted at three observations is one episode); ``reports`` counts every mention.
    - An ``alert`` event is counted once per alert raised, with the sessions it was raised in.
    - An ``amendment`` whose ``correction`` gives a new ``code`` or ``severity`` replaces the
      amended side-effect event's values (the record is append-only; the correction counts).
    """
    corrections: dict[int, dict] = {}
    for row in rows:
        if row.kind == "amendment" and row.amends_event_id is not None:
            fix = (row.payload or {}).get("correction") or {}
            if fix:
                corrections[row.amends_event_id] = {**corrections.get(row.amends_event_id, {}), **fix}
    worst: dict[tuple[int, str], str] = {}
    reports: dict[tuple[str, str], int] = defaultdict(int)
    alerts: dict[tuple[str, str], list[int]] = defaultdict(list)
    sessions: set[int] = set()

    def side_effect(session_id: int, code: object, severity: object) -> None:
        if not isinstance(code, str) or severity not in _SEVERITY_ORDER:
            return
        reports[(code, str(severity))] += 1
        key = (session_id, code)
        if key not in worst or _SEVERITY_ORDER[str(severity)] > _SEVERITY_ORDER[worst[key]]:
            worst[key] = str(severity)

    for row in rows:
        sessions.add(row.session_id)
        payload = {**(row.payload or {}), **corrections.get(row.id, {})}
        if row.kind == "side_effect":
            side_effect(row.session_id, payload.get("code"), payload.get("severity"))
        elif row.kind == "vitals":
            for effect in (payload.get("observation") or {}).get("side_effects") or []:
                side_effect(row.session_id, effect.get("code"), effect.get("severity"))
        elif row.kind == "alert":
            alerts[(str(payload.get("code")), str(payload.get("severity")))].append(row.session_id)
    by_code_severity: dict[tuple[str, str], int] = defaultdict(int)
    for (_, code), severity in worst.items():
        by_code_severity[(code, severity)] += 1
    side_effects = tuple(sorted(
        (SideEffectCount(code, severity, by_code_severity.get((code, severity), 0), n)
         for (code, severity), n in reports.items()),
        key=lambda c: (-c.sessions, c.code, _SEVERITY_ORDER[c.severity])))
    alert_counts = tuple(sorted((AlertCount(code, severity, len(ids), len(set(ids)))
                                 for (code, severity), ids in alerts.items()),
                                key=lambda a: (-a.alerts, a.code)))
    return AdverseEventSummary(len(sessions), len({sid for sid, _ in worst}),
                               len({sid for ids in alerts.values() for sid in ids}), side_effects, alert_counts)


# --------------------------------------------------------------------------- published comparators


@dataclass(frozen=True)
class PublishedComparator:
    source: str
    condition: str
    design: str
    n: int | None
    regimen: str
    reported: str
    caveats: str


PUBLISHED_COMPARATORS: tuple[PublishedComparator, ...] = (
    PublishedComparator(
        ref("correll2004"), "crps", "retrospective chart review", 33,
        "subanaesthetic ketamine infusions (dose details: read the paper)",
        "76 % complete and 18 % partial relief after the first course; 31 % pain-free at 6 months",
        "retrospective, uncontrolled, unblinded; numbers from secondary quotes, not the paper itself",
    ),
    PublishedComparator(
        ref("schwartzman2009"), "crps", "randomised, double-blind, placebo-controlled (outpatient)", None,
        "4 h a day for 10 days, up to 0.35 mg/kg/h and at most 25 mg/h; midazolam and clonidine in both arms",
        "statistically significant (p < 0.05) reductions in many pain parameters; no effect in any parameter on "
        "placebo; 3-month follow-up (abstract)",
        "small trial (size not in the abstract); co-medication with midazolam and clonidine; responder rates not "
        "reported in the abstract, so no direct 30 %/50 % comparison",
    ),
    PublishedComparator(
        ref("sigtermans2009_pain"), "crps", "randomised, double-blind, placebo-controlled (inpatient)", 60,
        "S(+)-ketamine titrated continuous infusion for 4.2 days (22.2 +/- 2.0 mg/h per 70 kg at the end)",
        "pain lower than placebo for 12 weeks, no longer significant at week 12 (P = 0.07); no functional "
        "improvement; psychomimetic effects 76 % vs 18 % on placebo",
        "S-ketamine, not racemic; a 4.2-day continuous inpatient infusion, not outpatient sessions; CRPS type 1 only",
    ),
    PublishedComparator(
        ref("patil2012"), "mixed", "retrospective chart review (outpatient, 2004-2009)", 49,
        "369 outpatient infusions; all pretreated with midazolam and ondansetron",
        "mean VAS reduction 5.9 (CRPS 7.2, others 5.1) after infusion; in the 29 with recorded duration, "
        "probability of lasting relief 59-85 % (90 % CI), 23-51 % relief over 3 weeks (PubMed abstract, PMID 21939497)",
        "retrospective; 36 infusions excluded for missing data; immediate post-infusion VAS, not a follow-up NRS; "
        "mixed diagnoses (18 CRPS, 8 headache, 7 back pain among others)",
    ),
)


def comparators_for(condition: str) -> tuple[PublishedComparator, ...]:
    """Published series to set beside a cohort of ``condition`` (mixed series are always included)."""
    return tuple(c for c in PUBLISHED_COMPARATORS if c.condition in (condition, "mixed"))


RULES: tuple[Rule, ...] = (
    Rule("responder_30", "outcomes", "classification", f"NRS reduction >= {MODERATE_REDUCTION_PCT:g} % from baseline",
         "moderately important (responder)", ref("immpact2008")),
    Rule("responder_50", "outcomes", "classification", f"NRS reduction >= {SUBSTANTIAL_REDUCTION_PCT:g} % from baseline",
         "substantial", ref("immpact2008")),
    Rule("two_point", "outcomes", "classification", f"NRS fall >= {MEANINGFUL_REDUCTION_POINTS:g} points",
         "moderately meaningful change", ref("immpact2008")),
    Rule("loss_of_relief", "outcomes", "definition",
         f"first day after relief from which every entry for 7 days is < {MODERATE_REDUCTION_PCT:g} % below baseline "
         "(>= 3 entries)", "event for Kaplan-Meier durability; else censored at the last entry", ref(CLINIC_POLICY)),
)
