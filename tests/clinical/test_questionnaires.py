"""Scoring of every shipped questionnaire against worked examples (issue 15), missing-item rules included.

The examples are the published scoring rules applied by hand: PHQ-9 (Kroenke 2001: sum of nine items 0-3,
bands at 5/10/15/20), GAD-7 (Spitzer 2006: sum of seven items, bands at 5/10/15), PGIC (Farrar 2001 / Guy
1976: one item, 1 very much improved ... 7 very much worse); prorated totals are the mean of the answered items
times the number of items, rounded half up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.clinical.questionnaires import (
    GAD7,
    INSTRUMENTS,
    PGIC,
    PHQ9,
    CourseFacts,
    CustomInstrumentIn,
    DoneFacts,
    QuestionnairePolicy,
    Unscorable,
    change,
    custom_instrument,
    due_questionnaires,
    get_instrument,
    score,
)
from ketaclinic.evidence.sources import get_source


@pytest.mark.parametrize(("answers", "total", "severity"), [
    ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
    ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
    ([2, 2, 1, 1, 1, 1, 1, 0, 0], 9, "mild"),
    ([2, 2, 2, 1, 1, 1, 1, 0, 0], 10, "moderate"),
    ([2, 2, 2, 2, 2, 2, 2, 1, 0], 15, "moderately_severe"),
    ([3, 3, 2, 2, 2, 2, 2, 2, 1], 19, "moderately_severe"),
    ([3, 3, 3, 2, 2, 2, 2, 2, 1], 20, "severe"),
    ([3] * 9, 27, "severe"),
])
def test_phq9_totals_and_every_band_edge(answers, total, severity):
    result = score(PHQ9, answers)
    assert (result.total, result.severity, result.prorated) == (total, severity, False)


def test_phq9_item9_above_zero_is_the_self_harm_flag_with_its_source():
    assert [f.code for f in score(PHQ9, [0] * 8 + [1]).flags] == ["self_harm_thoughts"]
    assert [f.code for f in score(PHQ9, [0] * 8 + [3]).flags] == ["self_harm_thoughts"]
    assert score(PHQ9, [3] * 8 + [0]).flags == ()
    flag = score(PHQ9, [0] * 8 + [2]).flags[0]
    assert get_source(flag.source).year == 2001


def test_phq9_missing_items_are_prorated_up_to_two():
    # one missing: 8 answered summing 11 -> 11 * 9 / 8 = 12.375 -> 12
    one = score(PHQ9, [1, 2, 3, 0, 1, 2, 1, None, 1])
    assert (one.total, one.raw_sum, one.missing, one.prorated, one.severity) == (12, 11, (8,), True, "moderate")
    # two missing: 7 answered summing 7 -> 9.0 -> 9 ("mild", not "moderate")
    two = score(PHQ9, [1, 1, 1, 1, 1, 1, 1, None, None])
    assert (two.total, two.severity) == (9, "mild")
    # rounding half up: 7 answered summing 14.5*7/9... 7 answered summing 7*... 0.5 case: 8 answered summing 4 -> 4.5 -> 5
    half = score(PHQ9, [1, 1, 1, 1, 0, 0, 0, 0, None])
    assert (half.total, half.severity) == (5, "mild")
    with pytest.raises(Unscorable) as err:
        score(PHQ9, [1, 1, 1, 1, 1, 1, None, None, None])
    assert err.value.code == "too_many_missing"


def test_phq9_missing_item9_is_flagged_for_a_direct_question():
    result = score(PHQ9, [1] * 8 + [None])
    assert [f.code for f in result.flags] == ["self_harm_item_unanswered"]
    assert result.total == 9


def test_phq9_takes_the_unscored_difficulty_item_without_counting_it():
    assert score(PHQ9, [1] * 9 + [3]).total == 9


@pytest.mark.parametrize(("answers", "total", "severity"), [
    ([0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
    ([1, 1, 1, 1, 0, 0, 0], 4, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
    ([2, 2, 2, 1, 1, 1, 0], 9, "mild"),
    ([2, 2, 2, 1, 1, 1, 1], 10, "moderate"),
    ([2, 2, 2, 2, 2, 2, 2], 14, "moderate"),
    ([3, 2, 2, 2, 2, 2, 2], 15, "severe"),
    ([3] * 7, 21, "severe"),
])
def test_gad7_totals_and_every_band_edge(answers, total, severity):
    result = score(GAD7, answers)
    assert (result.total, result.severity, result.flags) == (total, severity, ())


def test_gad7_one_missing_item_is_prorated_two_are_not():
    one = score(GAD7, [2, 2, 2, 1, 1, None, 1])  # 9 * 7 / 6 = 10.5 -> 11
    assert (one.total, one.severity, one.missing) == (11, "moderate", (6,))
    low = score(GAD7, [None, 0, 0, 1, 0, 0, 0])  # 1 * 7 / 6 = 1.17 -> 1
    assert low.total == 1
    with pytest.raises(Unscorable):
        score(GAD7, [2, 2, 2, 1, 1, None, None])


@pytest.mark.parametrize(("answer", "severity", "responder"), [
    (1, "very_much_improved", True), (2, "much_improved", True), (3, "minimally_improved", False),
    (4, "no_change", False), (7, "very_much_worse", False),
])
def test_pgic_categories_and_responders(answer, severity, responder):
    result = score(PGIC, [answer])
    assert (result.total, result.severity, result.responder) == (answer, severity, responder)


def test_pgic_has_no_missing_item_rule_and_no_zero():
    with pytest.raises(Unscorable) as err:
        score(PGIC, [None])
    assert err.value.code == "too_many_missing"
    with pytest.raises(Unscorable) as err:
        score(PGIC, [0])
    assert err.value.code == "invalid_answer"


def test_wrong_counts_and_values_are_refused():
    for bad in ([1] * 8, [1] * 11, [1] * 8 + [4], [-1] * 9):
        with pytest.raises(Unscorable):
            score(PHQ9, bad)
    with pytest.raises(Unscorable) as err:
        get_instrument("bpi")
    assert err.value.field == "instrument"
    assert get_instrument("PHQ-9") is PHQ9


def test_every_instrument_cites_registered_sources_and_a_free_use_licence():
    for instrument in INSTRUMENTS.values():
        for source in (instrument.source, instrument.licence_source, instrument.missing_source, instrument.mcid_source):
            if source:
                get_source(source)
        assert "free" in instrument.licence.lower() or "public domain" in instrument.licence.lower()
        assert instrument.bands[0].low == instrument.min_total and instrument.bands[-1].high == instrument.max_total


def test_change_against_the_mcid():
    assert change(PHQ9, 18, 12)["clinically_important_improvement"] is True
    assert change(PHQ9, 18, 14)["clinically_important_improvement"] is False
    assert change(GAD7, 12, 8)["clinically_important_improvement"] is True


def test_a_custom_instrument_scores_with_its_own_rules():
    bpi = custom_instrument(CustomInstrumentIn(
        id="bpi_interference", name="BPI interference (licensed)", licence="Licensed from MD Anderson, 2026",
        items=[{"text": f"Pain interfered with {w}", "options": [{"value": v, "label": str(v)} for v in range(11)]}
               for w in ("activity", "mood", "walking", "work")],
        bands=[{"code": "low", "label": "Low", "min": 0, "max": 19}, {"code": "high", "label": "High", "min": 20, "max": 40}],
        max_missing=1))
    assert score(bpi, [5, 5, 5, 5]).severity == "high"
    assert score(bpi, [2, 2, 2, None]).total == 8
    with pytest.raises(Unscorable):
        score(bpi, [2, 2, None, None])
    with pytest.raises(ValueError):
        CustomInstrumentIn(id="phq9", name="copy", licence="none", items=[{"text": "x", "options": [
            {"value": 0, "label": "a"}, {"value": 1, "label": "b"}]}])
    with pytest.raises(ValueError):
        CustomInstrumentIn(id="overlap", name="overlap", licence="none", items=[{"text": "x", "options": [
            {"value": 0, "label": "a"}, {"value": 1, "label": "b"}]}],
            bands=[{"code": "a", "label": "A", "min": 0, "max": 1}, {"code": "b", "label": "B", "min": 1, "max": 1}])


# --- schedules ------------------------------------------------------------------------------------------------

T = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = QuestionnairePolicy()


def _due(**kwargs):
    return [(d.instrument, d.context) for d in due_questionnaires(POLICY, **kwargs)]


def test_baseline_is_due_after_the_evaluation_until_answered():
    assert _due(evaluated_at=None, courses=[], done=[], now=T) == []
    assert _due(evaluated_at=T, courses=[], done=[], now=T + timedelta(hours=1)) == [("gad7", "baseline"), ("phq9", "baseline")]
    done = [DoneFacts("phq9", "baseline", None, T), DoneFacts("gad7", "baseline", None, T)]
    assert _due(evaluated_at=T, courses=[], done=done, now=T + timedelta(days=3)) == []


def test_before_a_course_then_at_its_end_then_monthly():
    signed = CourseFacts(7, T + timedelta(days=7), None, None)
    assert _due(evaluated_at=T, courses=[signed], done=[], now=T + timedelta(days=8)) == [
        ("gad7", "pre_course"), ("phq9", "pre_course")]
    started = T + timedelta(days=10)
    ended = CourseFacts(7, T + timedelta(days=7), started, started + timedelta(days=12))
    due = _due(evaluated_at=T, courses=[ended], done=[], now=started + timedelta(days=13))
    assert due == [("gad7", "end_of_course"), ("pgic", "end_of_course"), ("phq9", "end_of_course")]
    finished = [DoneFacts(i, "end_of_course", 7, started + timedelta(days=13)) for i in ("phq9", "gad7", "pgic")]
    assert _due(evaluated_at=T, courses=[ended], done=finished, now=started + timedelta(days=30)) == []
    month_later = started + timedelta(days=13 + 30)
    assert _due(evaluated_at=T, courses=[ended], done=finished, now=month_later) == [
        ("gad7", "monthly"), ("pgic", "monthly"), ("phq9", "monthly")]


def test_the_monthly_interval_is_the_clinics():
    started = T + timedelta(days=1)
    course = CourseFacts(1, T, started, None)
    weekly = QuestionnairePolicy(monthly_interval_days=7, monthly=["phq9"])
    assert [d.instrument for d in due_questionnaires(weekly, evaluated_at=T, courses=[course], done=[],
                                                     now=started + timedelta(days=7))] == ["phq9"]
    assert due_questionnaires(weekly, evaluated_at=T, courses=[course], done=[], now=started + timedelta(days=6)) == []
