"""The clinic's outcome report for a period, as a PDF: who responded, for how long, at what cost in
side effects, beside published results and the reasons such a comparison is weak.

- **Cohort**: the courses whose *end* falls in [start, end] (both inclusive;
  :func:`ketaclinic.services.outcomes.cohort_outcomes` with its date range, in the snapshot), and
  who could not be assessed and why.
- **Responders** at 30 % and 50 % (IMMPACT, ``immpact2008``), overall and by condition, each with
  its 95 % Wilson interval (:func:`ketaclinic.clinical.outcomes.wilson_interval`, ``wilson1927``).
- **Durability**: the Kaplan-Meier curve (SVG, :func:`ketaclinic.charts.kaplan_meier_chart`) and
  the median duration of relief.
- **Adverse events** of the sessions *started* in the range: side effects by code and worst
  severity, alerts by code (:func:`ketaclinic.clinical.outcomes.adverse_event_summary`).
- **Published results** (Correll 2004, Schwartzman 2009, Sigtermans 2009, Patil 2012: the
  comparators of :mod:`ketaclinic.clinical.outcomes`, with their citations and caveats), and the
  caveats of setting an uncontrolled clinic cohort beside trials.
- **Small cells** (clinic policy): condition rows show counts below 5 as "<5", and then leave out
  the percentages and intervals they would let a reader work back from; the overall row is shown
  in full.

A pure builder of an :class:`~ketaclinic.reports.snapshots.OutcomeReportSnapshot`:
:mod:`ketaclinic.services.documents` resolves the range (both ends optional; ``end`` defaults to today
and ``start`` to a year before ``end``; a start after the end, or a date not written YYYY-MM-DD, is
refused with a message that says so), lets the cohort's readers (physicians and nurses) have it, and
audits every generation (``report.outcomes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.monitoring import RULES as MONITORING_RULES
from ketaclinic.clinical.outcomes import (
    MODERATE_REDUCTION_PCT,
    PUBLISHED_COMPARATORS,
    SMALL_CELL_BELOW,
    SUBSTANTIAL_REDUCTION_PCT,
    adverse_event_summary,
    small_cell,
    wilson_interval,
)
from ketaclinic.evidence.sources import CLINIC_POLICY, get_source, ref
from ketaclinic.reports.frame import frame_for
from ketaclinic.reports.pdf import Frame, render_pdf, svg_data_uri
from ketaclinic.reports.snapshots import OutcomeReportSnapshot

TEMPLATE = "outcome_report.html"
TITLE = "Clinic outcome report"
#: Why a clinic cohort set beside trials describes and does not compare (each point named in the report).
COMPARISON_CAVEATS = (
    ("Selection", "the clinic treats the patients it judged eligible and who chose to come; trials enrol by fixed "
                  "criteria. The groups differ before anyone is treated."),
    ("No control arm", "without a placebo or usual-care group, part of any improvement is the natural course, "
                       "expectation and the attention of care, not ketamine."),
    ("Regression to the mean", "patients tend to come when their pain is at its worst; a later, lower score is "
                               "partly a return towards their usual level."),
    ("Different outcome definitions", "here a responder is a 30 %/50 % fall of the diary mean from the evaluation's "
                                      "pain score; the trials report mean differences, relief categories or VAS just "
                                      "after infusion."),
    ("Different follow-up times", "here the 28 days after the course; the trials measured at other times (days to "
                                  "12 weeks, 3 and 6 months). Missing diaries leave out patients who stopped "
                                  "writing, often those doing worse."),
)
SIDE_EFFECT_NAMES = {
    "blurred_vision": "blurred vision", "vivid_dreams": "vivid dreams", "hypersalivation": "hypersalivation",
}


def _condition_name(code: str) -> str:
    condition = CONDITIONS.get(code)
    return condition.name if condition else code.replace("_", " ")


def _share(count: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(count, n)
    return {"count": str(count), "pct": round(100 * count / n), "low": round(100 * low), "high": round(100 * high)}


def responder_row(name: str, group: dict[str, Any], *, small_cells: bool) -> dict[str, Any]:
    """One table row: assessable n, responders at 30 % and 50 % with 95 % Wilson intervals.

    With ``small_cells`` (condition rows) a count below 5 is shown as "<5" and the percentage and
    interval of that cell are left out (they would give the count back)."""
    n = int(group["n"])
    row: dict[str, Any] = {"name": name, "n": small_cell(n) if small_cells else str(n), "suppressed": False}
    for key, count in (("r30", int(group["responders_30"])), ("r50", int(group["responders_50"]))):
        if n == 0:
            row[key] = None
        elif small_cells and (n < SMALL_CELL_BELOW or count < SMALL_CELL_BELOW):
            row[key] = {"count": small_cell(count), "pct": None}
            row["suppressed"] = True
        else:
            row[key] = _share(count, n)
    if small_cells and n < SMALL_CELL_BELOW:
        row["suppressed"] = True
    return row


def km_rows(km: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not km:
        return []
    return [{"day": t, "survival": s, "low": lo, "high": hi, "group": "all conditions"}
            for t, s, lo, hi in zip(km["times_days"], km["survival"], km["ci_lower"], km["ci_upper"], strict=True)]


def _km_chart(km: dict[str, Any] | None) -> str | None:
    rows = km_rows(km)
    if len(rows) < 2:
        return None
    from ketaclinic.charts import kaplan_meier_chart, to_svg

    chart = kaplan_meier_chart(rows, width=560, height=200).configure_legend(disable=True)
    return svg_data_uri(to_svg(chart))


def _alert_label(code: str) -> str:
    rule = next((r for r in MONITORING_RULES if r.code == code), None)
    name = code.replace("_", " ")
    return f"{name} ({rule.threshold})" if rule else name


def report_context(cohort: Mapping[str, Any], sessions_started: int, events: list[Any], start: date,
                   end: date) -> dict[str, Any]:
    """What the template shows, from the cohort (outcomes service) and the range's session events."""
    adverse = adverse_event_summary(events)
    overall = cohort["overall"]
    conditions = [responder_row(_condition_name(code), group, small_cells=True)
                  for code, group in sorted(cohort["by_condition"].items(), key=lambda kv: _condition_name(kv[0]))]
    small = [g for g in cohort["by_condition"].values() if int(g["n"]) < SMALL_CELL_BELOW]
    pooled = None
    if 1 < len(small) < len(cohort["by_condition"]):  # the small groups together (when not simply the overall row)
        together = {k: sum(int(g[k]) for g in small) for k in ("n", "responders_30", "responders_50")}
        pooled = responder_row(f"{len(small)} conditions with fewer than {SMALL_CELL_BELOW} patients each, together",
                               together, small_cells=True)
    km = cohort["durability"]
    crps = cohort["by_condition"].get("crps")
    comparators = []
    for c in PUBLISHED_COMPARATORS:
        source = get_source(c.source)
        comparators.append({"who": f"{source.authors.split(',')[0]} {source.year}", "design": c.design, "n": c.n,
                            "regimen": c.regimen, "reported": c.reported, "caveats": c.caveats,
                            "condition": "CRPS" if c.condition == "crps" else "mixed conditions"})
    cited = [ref("immpact2008"), ref("wilson1927"), *(c.source for c in PUBLISHED_COMPARATORS)]
    return {
        "start": start, "end": end,
        "patients": cohort["patients_with_a_course"], "assessable": cohort["assessable"],
        "not_assessable": sorted(cohort["not_assessable"].items(), key=lambda kv: (-kv[1], kv[0])),
        "overall": responder_row("All conditions", overall, small_cells=False) if overall["n"] else None,
        "conditions": conditions,
        "pooled": pooled,
        "any_suppressed": any(r["suppressed"] for r in conditions),
        "small_cell_below": SMALL_CELL_BELOW,
        "moderate_pct": MODERATE_REDUCTION_PCT, "substantial_pct": SUBSTANTIAL_REDUCTION_PCT,
        "km": km, "km_chart": _km_chart(km),
        "crps": responder_row("This clinic, CRPS", crps, small_cells=True) if crps else None,
        "sessions_started": sessions_started,
        "sessions_with_side_effects": adverse.sessions_with_side_effects,
        "sessions_with_alerts": adverse.sessions_with_alerts,
        "side_effects": [{"name": SIDE_EFFECT_NAMES.get(c.code, c.code.replace("_", " ")), "severity": c.severity,
                          "sessions": c.sessions, "reports": c.reports} for c in adverse.side_effects],
        "alerts": [{"name": _alert_label(a.code), "severity": a.severity, "alerts": a.alerts, "sessions": a.sessions}
                   for a in adverse.alerts],
        "comparators": comparators,
        "comparison_caveats": COMPARISON_CAVEATS,
        "service_caveats": cohort["caveats"],
        "definitions": cohort["definitions"],
        "references": [get_source(s).citation() for s in dict.fromkeys(cited)],
        "policy": get_source(CLINIC_POLICY).title,
    }


def outcome_report_document(snapshot: OutcomeReportSnapshot) -> tuple[Frame, dict[str, Any]]:
    """The frame and what ``outcome_report.html`` prints, from the snapshot."""
    context = report_context(snapshot.cohort, snapshot.sessions_started, list(snapshot.events), snapshot.start,
                             snapshot.end)
    context["proms"] = snapshot.proms  # questionnaires (issue 15): PHQ-9/GAD-7 change, MCID share, PGIC responders
    return frame_for(snapshot.issue, title=TITLE), context


def build_outcome_report(snapshot: OutcomeReportSnapshot) -> bytes:
    """The outcome report for the snapshot's range as PDF bytes."""
    return render_pdf(TEMPLATE, *outcome_report_document(snapshot))
