"""Responders, loss of relief, Kaplan-Meier durability and published comparators."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketaclinic.clinical.follow_up import DiaryEntry
from ketaclinic.clinical.outcomes import (
    PUBLISHED_COMPARATORS,
    RULES,
    DurabilityRecord,
    PatientOutcome,
    classify_response,
    cohort_summary,
    comparators_for,
    durability_record,
    kaplan_meier,
    time_to_loss_of_relief,
)
from ketaclinic.evidence.sources import get_source

END = date(2025, 1, 1)


@pytest.mark.parametrize(
    ("baseline", "followup", "r30", "r50", "two"),
    [
        (8, 5.6, True, False, True),  # exactly 30 %
        (8, 5.61, False, False, True),
        (8, 4, True, True, True),  # exactly 50 %
        (8, 4.01, True, False, True),
        (5, 3.5, True, False, False),  # 30 % but only 1.5 points
        (10, 8, False, False, True),  # 2 points but 20 %
        (6, 7, False, False, False),  # worse
        (8.2, 6.2, False, False, True),  # 2 points (24 %) although 8.2 - 6.2 = 1.9999999999999991
        (9, 6.3, True, False, True),  # 30 % despite binary floating point
    ],
)
def test_immpact_responder_classes(baseline: float, followup: float, r30: bool, r50: bool, two: bool) -> None:
    r = classify_response(baseline, followup)
    assert (r.responder_30, r.responder_50, r.two_point) == (r30, r50, two)


def test_invalid_scores_are_refused() -> None:
    for bad in ((0, 0), (11, 5), (8, -1), (8, float("nan"))):
        with pytest.raises(ValueError):
            classify_response(*bad)


def series(pains: list[float], start_offset: int = 1) -> list[DiaryEntry]:
    return [DiaryEntry(day=END + timedelta(days=start_offset + i), pain_nrs=p) for i, p in enumerate(pains)]


def test_loss_of_relief_is_the_first_day_of_a_sustained_week() -> None:
    # relief days 1-10, one bad day (11), relief again, then from day 15 pain back for good
    pains = [3] * 10 + [7] + [3] * 3 + [7] * 10
    loss = time_to_loss_of_relief(END, 8, series(pains))
    assert loss.had_relief and loss.first_relief_day == END + timedelta(days=1)
    assert loss.loss_day == END + timedelta(days=15)
    record = durability_record("p1", "crps", END, 8, series(pains))
    assert record == DurabilityRecord("p1", "crps", 15.0, True)


def test_an_unfinished_bad_week_is_censored() -> None:
    pains = [3] * 10 + [7] * 5
    loss = time_to_loss_of_relief(END, 8, series(pains))
    assert loss.loss_day is None
    assert durability_record("p2", "crps", END, 8, series(pains)) == DurabilityRecord("p2", "crps", 15.0, False)


def test_never_relieved_gives_no_durability_record() -> None:
    assert durability_record("p3", "crps", END, 8, series([7] * 20)) is None
    assert time_to_loss_of_relief(END, 8, []).had_relief is False


def test_sparse_bad_week_needs_enough_entries() -> None:
    entries = series([3, 3]) + [DiaryEntry(day=END + timedelta(days=10), pain_nrs=7),
                                DiaryEntry(day=END + timedelta(days=16), pain_nrs=7)]
    assert time_to_loss_of_relief(END, 8, entries).loss_day is None  # only 2 entries in days 10-16
    assert time_to_loss_of_relief(END, 8, entries, min_entries=2).loss_day == END + timedelta(days=10)


def test_kaplan_meier_matches_a_hand_computation() -> None:
    records = [
        DurabilityRecord("a", "crps", 10, True),
        DurabilityRecord("b", "crps", 20, True),
        DurabilityRecord("c", "crps", 20, False),
        DurabilityRecord("d", "crps", 30, True),
    ]
    table = kaplan_meier(records)
    survival = dict(zip(table.times_days, table.survival, strict=True))
    # S(10) = 3/4; S(20) = 3/4 * 2/3 = 1/2; at 20 one censored leaves 1 at risk; S(30) = 0
    assert survival[10.0] == pytest.approx(0.75)
    assert survival[20.0] == pytest.approx(0.5)
    assert survival[30.0] == pytest.approx(0.0)
    assert table.median_days == pytest.approx(20.0)
    assert table.n == 4 and table.events == 3
    assert all(lo <= s <= hi for lo, s, hi in zip(table.ci_lower, table.survival, table.ci_upper, strict=True))
    assert set(table.as_dict()) == {"times_days", "survival", "ci_lower", "ci_upper", "median_days", "n", "events"}


def test_kaplan_meier_without_events_has_no_median() -> None:
    table = kaplan_meier([DurabilityRecord("a", "crps", 10, False), DurabilityRecord("b", "crps", 30, False)])
    assert table.median_days is None
    with pytest.raises(ValueError):
        kaplan_meier([])


def test_cohort_summary_by_condition() -> None:
    summary = cohort_summary([
        PatientOutcome("1", "crps", 8, 3),
        PatientOutcome("2", "crps", 8, 5),
        PatientOutcome("3", "fibromyalgia", 6, 6),
        PatientOutcome("4", "crps", 8, 7),
    ])
    assert summary.overall.n == 4
    assert (summary.overall.responders_30, summary.overall.responders_50) == (2, 1)
    crps = summary.by_condition["crps"]
    assert (crps.n, crps.responders_30, crps.responders_50, crps.pct_30) == (3, 2, 1, 66.7)
    assert summary.by_condition["fibromyalgia"].pct_30 == 0.0


def test_published_comparators_are_cited_and_caveated() -> None:
    ids = {c.source for c in PUBLISHED_COMPARATORS}
    assert ids == {"correll2004", "schwartzman2009", "sigtermans2009_pain", "patil2012"}
    for c in PUBLISHED_COMPARATORS:
        get_source(c.source)
        assert c.caveats and c.reported
    assert "S-ketamine" in next(c for c in PUBLISHED_COMPARATORS if c.source == "sigtermans2009_pain").caveats
    assert {c.source for c in comparators_for("crps")} == ids
    assert {c.source for c in comparators_for("migraine")} == {"patil2012"}


def test_rules() -> None:
    assert {r.code for r in RULES} == {"responder_30", "responder_50", "two_point", "loss_of_relief"}
