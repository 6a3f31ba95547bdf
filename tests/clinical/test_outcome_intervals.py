"""The outcome report's arithmetic: Wilson intervals, the small-cell rule, adverse events counted from events."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from ketaclinic.clinical.outcomes import adverse_event_summary, small_cell, wilson_interval
from ketaclinic.clinical.record import EventRow
from ketaclinic.evidence.sources import get_source


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 5), (3, 7), (5, 5), (12, 40), (1, 2), (37, 38), (250, 1000)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-6) and high == pytest.approx(expected.high, abs=1e-6)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_edges_and_refusals() -> None:
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(4, 8) == pytest.approx((0.215216, 0.784784), abs=1e-6)  # symmetric about one half
    for bad in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    assert get_source("wilson1927").doi == "10.1080/01621459.1927.10502953"


def test_small_cells_hide_counts_below_five() -> None:
    assert [small_cell(n) for n in (0, 1, 4, 5, 12)] == ["<5", "<5", "<5", "5", "12"]


def _vitals(event_id: int, session_id: int, *effects: tuple[str, str]) -> EventRow:
    return EventRow(id=event_id, session_id=session_id, kind="vitals",
                    payload={"observation": {"side_effects": [{"code": c, "severity": s} for c, s in effects]}, "alerts": []})


def test_side_effects_count_once_per_session_at_the_worst_severity() -> None:
    rows = [
        _vitals(1, 10, ("nausea", "mild")),
        _vitals(2, 10, ("nausea", "moderate"), ("dizziness", "mild")),
        EventRow(id=3, session_id=10, kind="side_effect", payload={"code": "nausea", "severity": "mild"}),
        _vitals(4, 11, ("nausea", "mild")),
        EventRow(id=5, session_id=11, kind="alert", payload={"code": "spo2_low", "severity": "warning", "action": "reduce_rate"}),
        EventRow(id=6, session_id=11, kind="alert", payload={"code": "spo2_low", "severity": "warning", "action": "reduce_rate"}),
        EventRow(id=7, session_id=12, kind="alert", payload={"code": "bp_critical", "severity": "critical", "action": "pause_infusion"}),
        EventRow(id=8, session_id=13, kind="note", payload={"text": "nothing to count"}),
    ]
    summary = adverse_event_summary(rows)
    by = {(c.code, c.severity): (c.sessions, c.reports) for c in summary.side_effects}
    assert by[("nausea", "moderate")] == (1, 1)  # session 10's worst
    assert by[("nausea", "mild")] == (1, 3)  # session 11 only; noted three times in all
    assert by[("dizziness", "mild")] == (1, 1)
    alerts = {a.code: (a.alerts, a.sessions, a.severity) for a in summary.alerts}
    assert alerts == {"spo2_low": (2, 1, "warning"), "bp_critical": (1, 1, "critical")}
    assert (summary.sessions_with_events, summary.sessions_with_side_effects, summary.sessions_with_alerts) == (4, 2, 2)


def test_an_amendment_corrects_the_side_effect_it_names() -> None:
    rows = [EventRow(id=1, session_id=20, kind="side_effect", payload={"code": "hallucinations", "severity": "severe"}),
            EventRow(id=2, session_id=20, kind="amendment", payload={"reason": "wrong code", "correction": {"code": "vivid_dreams",
                                                                                "severity": "mild"}}, amends_event_id=1)]
    summary = adverse_event_summary(rows)
    assert [(c.code, c.severity, c.sessions) for c in summary.side_effects] == [("vivid_dreams", "mild", 1)]
    assert adverse_event_summary([]).side_effects == () and adverse_event_summary([]).sessions_with_events == 0
