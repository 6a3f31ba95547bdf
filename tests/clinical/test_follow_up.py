"""Booster rule, long-term risk checks and MME."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.follow_up import (
    MME_FACTORS,
    RULES,
    BoosterPolicy,
    DiaryEntry,
    OpioidDose,
    PlannedCourse,
    UnknownOpioidError,
    booster_advice,
    daily_mme,
    liver_tests_needed,
    reduction_pct,
    risk_checks_due,
)
from ketaclinic.evidence.sources import get_source

LAST_SESSION = date(2025, 1, 1)
TODAY = date(2025, 2, 1)
BASELINE = 8.0  # 30 % below is 5.6


def diary(pains: dict[int, float]) -> list[DiaryEntry]:
    """Entries ``days_before_today -> pain``."""
    return [DiaryEntry(day=TODAY - timedelta(days=d), pain_nrs=p) for d, p in pains.items()]


RELIEF_EARLIER = {20: 3.0, 15: 4.0}


def test_relief_faded_for_a_week_suggests_a_booster() -> None:
    entries = diary({**RELIEF_EARLIER, 6: 6.0, 4: 7.0, 2: 6.5, 0: 7.5})
    advice = booster_advice(BASELINE, entries, LAST_SESSION, TODAY)
    assert advice.suggest_booster and advice.relief_faded and advice.had_relief
    assert advice.entries_in_window == 4
    get_source(advice.source)


def test_booster_trigger_is_clinic_policy_not_immpact() -> None:
    """IMMPACT interprets trials; it does not set retreatment, so neither the advice nor the rule cites it."""
    entries = diary({**RELIEF_EARLIER, 6: 6.0, 4: 7.0, 2: 6.5, 0: 7.5})
    assert booster_advice(BASELINE, entries, LAST_SESSION, TODAY).source == "clinic_policy"
    assert booster_advice(BASELINE, diary({0: 7.0}), LAST_SESSION, TODAY).source == "clinic_policy"
    rules = {r.code: r for r in RULES}
    assert rules["booster_relief_faded"].source == "clinic_policy"
    assert "IMMPACT" in rules["booster_relief_faded"].threshold  # kept only as context for the 30 %
    assert rules["booster_min_interval"].source == "clinic_policy"


@pytest.mark.parametrize(("pain", "faded"), [(5.6, False), (5.61, True), (5.0, False)])
def test_thirty_percent_boundary_on_one_day(pain: float, faded: bool) -> None:
    # one entry exactly at a 30 % reduction means relief still holds on that day
    entries = diary({**RELIEF_EARLIER, 6: 7.0, 4: 7.0, 2: pain, 0: 7.0})
    advice = booster_advice(BASELINE, entries, LAST_SESSION, TODAY)
    assert advice.relief_faded is faded
    assert advice.suggest_booster is faded


def test_too_few_entries_do_not_trigger() -> None:
    advice = booster_advice(BASELINE, diary({**RELIEF_EARLIER, 4: 7.0, 2: 7.0, 0: 7.0}), LAST_SESSION, TODAY)
    assert not advice.suggest_booster and not advice.relief_faded
    assert "Only 3" in advice.message


def test_entries_older_than_the_window_do_not_count() -> None:
    # day 7 before today is outside a 7-day window that includes today
    advice = booster_advice(BASELINE, diary({**RELIEF_EARLIER, 7: 7.0, 4: 7.0, 2: 7.0, 0: 7.0}), LAST_SESSION, TODAY)
    assert advice.entries_in_window == 3 and not advice.suggest_booster


@pytest.mark.parametrize(("days_after_session", "suggest"), [(13, False), (14, True)])
def test_never_sooner_than_the_minimum_interval(days_after_session: int, suggest: bool) -> None:
    last = TODAY - timedelta(days=days_after_session)
    entries = [DiaryEntry(day=last + timedelta(days=1), pain_nrs=2.0)] + diary({6: 7.0, 4: 7.0, 2: 7.0, 0: 7.0})
    advice = booster_advice(BASELINE, entries, last, TODAY)
    assert advice.relief_faded
    assert advice.suggest_booster is suggest
    assert advice.earliest_booster_day == last + timedelta(days=14)
    if not suggest:
        assert advice.earliest_booster_day.isoformat() in advice.message


def test_no_relief_to_lose_is_not_a_booster() -> None:
    advice = booster_advice(BASELINE, diary({20: 7.5, 6: 7.0, 4: 7.0, 2: 7.0, 0: 7.0}), LAST_SESSION, TODAY)
    assert advice.relief_faded and not advice.had_relief and not advice.suggest_booster
    assert "physician review" in advice.message


def test_booster_policy_is_configurable_and_inputs_are_checked() -> None:
    entries = diary({**RELIEF_EARLIER, 2: 7.0, 0: 7.0})
    assert booster_advice(BASELINE, entries, LAST_SESSION, TODAY, BoosterPolicy(min_entries_in_window=2)).suggest_booster
    with pytest.raises(ValueError):
        booster_advice(0, entries, LAST_SESSION, TODAY)
    with pytest.raises(ValueError, match="after today"):
        booster_advice(BASELINE, diary({-1: 7.0}), LAST_SESSION, TODAY)
    with pytest.raises(ValueError):
        DiaryEntry(day=TODAY, pain_nrs=11)


@given(pains=st.lists(st.floats(0, 10), min_size=4, max_size=7), drop=st.floats(0, 10))
def test_lower_pain_never_turns_relief_into_a_booster(pains: list[float], drop: float) -> None:
    entries = diary({**RELIEF_EARLIER, **{i: p for i, p in enumerate(pains)}})
    better = diary({**RELIEF_EARLIER, **{i: max(0.0, p - drop) for i, p in enumerate(pains)}})
    if not booster_advice(BASELINE, entries, LAST_SESSION, TODAY).suggest_booster:
        assert not booster_advice(BASELINE, better, LAST_SESSION, TODAY).suggest_booster


# --------------------------------------------------------------------------- risk checks


@pytest.mark.parametrize(
    ("gap_days", "multi_day", "needed"),
    [(27, False, True), (28, False, False), (60, True, True), (16, True, True)],
)
def test_liver_tests_before_close_or_multi_day_repeat_courses(gap_days: int, multi_day: bool, needed: bool) -> None:
    previous_end = date(2025, 1, 1)
    course = PlannedCourse(start_day=previous_end + timedelta(days=gap_days), multi_day=multi_day)
    assert liver_tests_needed(course, previous_end) is needed
    assert liver_tests_needed(course, None) is False  # a first course is not a repeat


def test_liver_check_is_satisfied_only_by_fresh_tests_after_the_last_course() -> None:
    previous_end = date(2025, 1, 1)
    course = PlannedCourse(start_day=date(2025, 1, 20), multi_day=False)

    def liver(last: date | None):
        checks = risk_checks_due(date(2025, 1, 15), next_course=course, previous_course_end=previous_end, last_liver_tests_on=last)
        return next(c for c in checks if c.code == "liver_tests")

    assert liver(None).due
    assert liver(date(2024, 12, 20)).due  # before the last course ended
    assert not liver(date(2025, 1, 10)).due
    assert liver(None).source == "noppers2011"


def test_urinary_symptoms_asked_every_visit_and_three_monthly_checks() -> None:
    today = date(2025, 6, 1)
    checks = {c.code: c for c in risk_checks_due(today, last_cognition_check_on=today - timedelta(days=89),
                                                 last_misuse_check_on=today - timedelta(days=90))}
    assert checks["urinary_symptoms"].due and checks["urinary_symptoms"].source == "chan2022_uropathy"
    assert not checks["cognition_check"].due
    assert checks["cognition_check"].due_on == today + timedelta(days=1)
    assert checks["misuse_check"].due and checks["misuse_check"].source == "asra2018"
    assert not checks["liver_tests"].due
    never = {c.code: c for c in risk_checks_due(today)}
    assert never["cognition_check"].due and never["misuse_check"].due
    with pytest.raises(ValueError):
        risk_checks_due(today, last_misuse_check_on=today + timedelta(days=1))


# --------------------------------------------------------------------------- MME


@pytest.mark.parametrize(
    ("opioid", "dose", "mme"),
    [
        ("oxycodone", 20, 30.0),
        ("hydrocodone", 20, 20.0),
        ("morphine", 60, 60.0),
        ("codeine", 240, 36.0),
        ("hydromorphone", 8, 40.0),
        ("methadone", 10, 47.0),
        ("oxymorphone", 20, 60.0),
        ("tapentadol", 200, 80.0),
        ("tramadol", 200, 40.0),
    ],
)
def test_cdc_factors(opioid: str, dose: float, mme: float) -> None:
    result = daily_mme([OpioidDose(opioid=opioid, daily_dose_mg=dose)])
    assert result.total_mme_per_day == pytest.approx(mme)
    assert result.source == "cdc2022_opioids"


def test_fentanyl_patch_uses_mcg_per_hour_and_totals_add() -> None:
    result = daily_mme([OpioidDose(opioid="fentanyl_transdermal", patch_mcg_per_h=25),
                        OpioidDose(opioid="Oxycodone", daily_dose_mg=10)])
    assert result.total_mme_per_day == pytest.approx(60 + 15)
    assert [line.unit for line in result.lines] == ["mcg/h", "mg/day"]
    with pytest.raises(UnknownOpioidError, match="patch_mcg_per_h"):
        daily_mme([OpioidDose(opioid="fentanyl_transdermal", daily_dose_mg=25)])
    with pytest.raises(UnknownOpioidError, match="daily_dose_mg"):
        daily_mme([OpioidDose(opioid="morphine", patch_mcg_per_h=25)])


@pytest.mark.parametrize(("name", "hint"), [("fentanyl", "fentanyl_transdermal"), ("buprenorphine", "no factor"), ("kratom", "allowed")])
def test_unknown_opioids_are_refused_clearly(name: str, hint: str) -> None:
    with pytest.raises(UnknownOpioidError, match=hint):
        daily_mme([OpioidDose(opioid=name, daily_dose_mg=10)])


def test_methadone_carries_a_caution() -> None:
    notes = daily_mme([OpioidDose(opioid="methadone", daily_dose_mg=20)]).notes
    assert any("Methadone" in n for n in notes)
    assert daily_mme([]).total_mme_per_day == 0


def test_factor_table_is_the_cdc_table() -> None:
    assert MME_FACTORS == {"codeine": 0.15, "fentanyl_transdermal": 2.4, "hydrocodone": 1.0, "hydromorphone": 5.0,
                           "methadone": 4.7, "morphine": 1.0, "oxycodone": 1.5, "oxymorphone": 3.0,
                           "tapentadol": 0.4, "tramadol": 0.2}
    assert reduction_pct(8, 4) == 50
    assert {r.domain for r in RULES} == {"follow_up"}
