"""Discharge criteria and the PADSS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.discharge import (
    RULES,
    DischargeFacts,
    PadssInput,
    assess_discharge,
    padss,
    padss_vital_signs_score,
)
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.sources import get_source

BASELINE = Vitals(systolic_mmhg=125, diastolic_mmhg=80, heart_rate_bpm=70, spo2_pct=98)
GOOD_PADSS = {"oriented": True, "steady_gait": True, "pain_nausea_vomiting": "minimal",
              "oral_fluids_tolerated": True, "voided": True}


def discharge(**changes: object) -> DischargeFacts:
    base: dict = {
        "minutes_since_infusion_stopped": 60,
        "baseline": BASELINE.model_dump(),
        "current": {"systolic_mmhg": 130, "diastolic_mmhg": 82, "heart_rate_bpm": 76, "spo2_pct": 97},
        "padss": GOOD_PADSS,
        "ongoing_dissociation": False,
        "escort_present": True,
    }
    base.update(changes)
    return DischargeFacts.model_validate(base)


def criterion(assessment, code: str):
    return next(c for c in assessment.criteria if c.code == code)


def test_a_settled_patient_with_an_escort_may_go_home() -> None:
    assessment = assess_discharge(discharge())
    assert assessment.ready
    assert assessment.unmet == ()
    assert assessment.padss.total == 10
    for c in assessment.criteria:
        get_source(c.source)


@pytest.mark.parametrize(("change_pct", "score"), [(0, 2), (19.9, 2), (20, 2), (20.1, 1), (40, 1), (40.1, 0), (80, 0)])
def test_padss_vital_sign_bands(change_pct: float, score: int) -> None:
    assert padss_vital_signs_score(change_pct) == score


def test_padss_items_and_bleeding_not_applicable() -> None:
    score = padss(BASELINE, BASELINE, PadssInput(oriented=True, steady_gait=False, pain_nausea_vomiting="moderate",
                                                oral_fluids_tolerated=True, voided=False))
    assert (score.vital_signs, score.activity_mental_status, score.pain_nausea_vomiting, score.bleeding, score.intake_output) == (2, 1, 1, 2, 1)
    assert score.total == 7 and not score.fit_for_discharge
    assert any("does not apply" in n for n in score.notes)


@pytest.mark.parametrize(
    ("padss_changes", "total", "fit"),
    [({}, 10, True), ({"voided": False}, 9, True), ({"voided": False, "steady_gait": False}, 8, False),
     ({"pain_nausea_vomiting": "severe"}, 8, False)],
)
def test_padss_threshold_is_nine(padss_changes: dict, total: int, fit: bool) -> None:
    assessment = assess_discharge(discharge(padss={**GOOD_PADSS, **padss_changes}))
    assert assessment.padss.total == total
    assert criterion(assessment, "padss").met is fit
    assert assessment.ready is fit


@pytest.mark.parametrize(("minutes", "met"), [(59, False), (60, True), (120, True)])
def test_minimum_observation_default_60(minutes: float, met: bool) -> None:
    assessment = assess_discharge(discharge(minutes_since_infusion_stopped=minutes))
    assert criterion(assessment, "minimum_observation").met is met


def test_protocol_minimum_observation_can_be_longer() -> None:
    assessment = assess_discharge(discharge(minutes_since_infusion_stopped=90, minimum_observation_min=120))
    obs = criterion(assessment, "minimum_observation")
    assert not obs.met and "30 min to go" in obs.message


@pytest.mark.parametrize(("hr", "met"), [(84, True), (84.1, False), (56, True), (55.9, False)])
def test_vitals_within_20_percent_of_baseline(hr: float, met: bool) -> None:
    current = {"systolic_mmhg": 125, "diastolic_mmhg": 80, "heart_rate_bpm": hr, "spo2_pct": 97}
    assessment = assess_discharge(discharge(current=current))
    assert criterion(assessment, "vitals_within_20pct").met is met
    assert assessment.padss.vital_signs == (2 if met else 1)


def test_dissociation_and_escort_are_each_required() -> None:
    assert not assess_discharge(discharge(ongoing_dissociation=True)).ready
    no_escort = assess_discharge(discharge(escort_present=False))
    assert [c.code for c in no_escort.unmet] == ["escort_present"]


def test_every_unmet_criterion_is_listed() -> None:
    assessment = assess_discharge(discharge(minutes_since_infusion_stopped=10, ongoing_dissociation=True, escort_present=False,
                                            current={"systolic_mmhg": 180, "diastolic_mmhg": 100, "heart_rate_bpm": 110, "spo2_pct": 96}))
    assert {c.code for c in assessment.unmet} == {"minimum_observation", "vitals_within_20pct", "no_ongoing_dissociation",
                                                  "escort_present", "padss"}


@given(hr=st.floats(30, 200), sbp=st.floats(90, 220), extra=st.floats(0, 100))
def test_padss_vital_score_never_rises_as_vitals_move_further_from_baseline(hr: float, sbp: float, extra: float) -> None:
    current = Vitals(systolic_mmhg=sbp, diastolic_mmhg=60, heart_rate_bpm=hr, spo2_pct=97)
    further = Vitals(systolic_mmhg=sbp, diastolic_mmhg=60, heart_rate_bpm=min(250, hr + extra) if hr >= 70 else max(20, hr - extra), spo2_pct=97)
    near = padss(BASELINE, current, PadssInput(**GOOD_PADSS))
    far = padss(BASELINE, further, PadssInput(**GOOD_PADSS))
    assert near.total == near.vital_signs + 8 <= 10
    assert far.vital_signs <= near.vital_signs


def test_rules_name_every_criterion() -> None:
    assert {c.code for c in assess_discharge(discharge()).criteria} <= {r.code for r in RULES}
