"""Bands, time in band, peak, target-controlled infusion and the exploratory relief model."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.evidence.sources import get_source
from ketaclinic.pharmacology.disposition import Disposition
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.models import get_model
from ketaclinic.pharmacology.regimen import Infusion, to_inputs
from ketaclinic.pharmacology.relief import LABEL, ONSET_OFFSET_HALF_LIFE_DAYS, predicted_relief
from ketaclinic.pharmacology.targets import BANDS, peak, tci_schedule, time_in_bands


def test_bands_have_sources_and_the_published_levels():
    levels = {b.id: b.low_ng_per_ml for b in BANDS}
    assert levels == {"analgesia": 100.0, "psychedelic": 50.0, "awakening": 640.0, "anaesthesia": 2000.0}
    for band in BANDS:
        for s in band.sources:
            get_source(s)


def test_time_in_band_on_a_known_curve():
    times = np.arange(0.0, 101.0)
    curve = np.where((times >= 20) & (times < 60), 150.0, 20.0)  # 40 min at 150 ng/mL
    spent = time_in_bands(times, curve)
    assert spent["analgesia"] == pytest.approx(40.0, abs=1.0)
    assert spent["psychedelic"] == pytest.approx(40.0, abs=1.0)
    assert spent["awakening"] == 0.0
    assert peak(times, curve) == (150.0, 20.0)


@pytest.mark.parametrize("disposition", [
    get_model("domino1984").disposition(70.0, 40.0),
    Disposition.from_micro_constants(12.0, 0.1, 0.05, 0.02),  # a custom 2-compartment model
])
def test_tci_reaches_and_holds_the_target_within_the_rate_limit(disposition):
    schedule = tci_schedule(disposition, target_ng_per_ml=150.0, duration_min=240.0, max_rate_mg_per_h=120.0)
    assert all(0 <= s.rate_mg_per_h <= 120.0 + 1e-9 for s in schedule.steps)
    doses = [Infusion(kind="infusion", start_min=s.start_min, duration_min=s.duration_min, rate_mg_per_h=s.rate_mg_per_h)
             for s in schedule.steps if s.rate_mg_per_h > 0]
    inputs = to_inputs(doses)
    inputs = Inputs(bolus_time_min=np.array([0.0]), bolus_mg=np.array([schedule.bolus_mg]),
                    infusion_start_min=inputs.infusion_start_min, infusion_end_min=inputs.infusion_end_min,
                    infusion_mg_per_min=inputs.infusion_mg_per_min)
    times = np.arange(0.0, 241.0)
    c = Solution(disposition, inputs).concentration_ng_per_ml(times)[0]
    assert c[0] == pytest.approx(150.0, rel=1e-9)
    assert np.all(np.abs(c[10:] - 150.0) < 150.0 * 0.02)


def test_tci_respects_a_tight_rate_limit_and_says_so_by_undershooting():
    d = get_model("domino1984").disposition(70.0, 40.0)
    schedule = tci_schedule(d, target_ng_per_ml=400.0, duration_min=60.0, max_rate_mg_per_h=10.0, max_bolus_mg=1.0)
    assert schedule.bolus_mg == 1.0
    assert max(s.rate_mg_per_h for s in schedule.steps) == pytest.approx(10.0)
    assert schedule.held_by_rate_limit
    relaxed = tci_schedule(d, target_ng_per_ml=100.0, duration_min=60.0, max_rate_mg_per_h=200.0)
    assert not relaxed.held_by_rate_limit


def test_relief_builds_over_a_series_and_fades_with_the_published_half_life():
    model = get_model("domino1984")
    series = [Infusion(kind="infusion", start_min=day * 24 * 60, duration_min=240, rate_mg_per_h=0.35 * 70)
              for day in range(10)]
    curve = predicted_relief(model, 70.0, 40.0, to_inputs(series), horizon_days=80)
    day = curve.times_day
    relief = curve.relief_fraction
    assert relief[np.searchsorted(day, 9.5)] > relief[np.searchsorted(day, 2.0)] > 0
    # after the course the effect concentration halves every ~10.9 days
    e = curve.effect_s_ketamine_ng_per_ml
    later = e[np.searchsorted(day, 40.0)] / e[np.searchsorted(day, 40.0 + ONSET_OFFSET_HALF_LIFE_DAYS)]
    assert later == pytest.approx(2.0, rel=0.02)
    assert "EXPLORATORY" in LABEL and "Hill" in LABEL and "CRPS" in LABEL


def test_pump_program_becomes_the_regimen_it_delivers():
    from ketaclinic.pharmacology.regimen import Bolus, doses_from_pump_program

    program = [
        {"kind": "bolus", "dose_mg": 14.0, "duration_min": 5.0, "start_min": 0.0},
        {"kind": "infusion", "dose_mg": 140.0, "rate_mg_per_h": 35.0, "duration_min": 240.0},
    ]
    doses, end = doses_from_pump_program(program)
    assert end == 245.0
    push, infusion = doses
    assert isinstance(push, Infusion) and push.duration_min == 5.0 and push.rate_mg_per_h == pytest.approx(168.0)
    assert infusion.start_min == 5.0 and infusion.rate_mg_per_h == 35.0
    oral, end = doses_from_pump_program([{"kind": "oral", "dose_mg": 35.0}, {"kind": "oral", "dose_mg": 35.0}])
    assert [d.at_min for d in oral] == [0.0, 720.0] and all(isinstance(d, Bolus) and d.route == "oral" for d in oral)
    with pytest.raises(ValueError, match="unknown program step kind"):
        doses_from_pump_program([{"kind": "patch", "dose_mg": 1}])


def test_doses_as_given_follow_the_pump_not_the_plan():
    from ketaclinic.pharmacology.regimen import doses_as_given

    program = [
        {"kind": "bolus", "dose_mg": 14.0, "duration_min": 5.0, "start_min": 0.0},
        {"kind": "infusion", "rate_mg_per_h": 35.0, "duration_min": 240.0, "start_min": 5.0},
    ]
    as_planned, end = doses_as_given(program)
    assert end == 245.0 and sum(d.dose_mg for d in as_planned) == pytest.approx(14.0 + 35.0 * 4)
    # the nurse halves the rate at minute 65, then stops at minute 125
    given, end = doses_as_given(program, rate_changes=[(65.0, 17.5)], stopped_at_min=125.0)
    assert end == 125.0
    assert sum(d.dose_mg for d in given) == pytest.approx(14.0 + 35.0 * 1.0 + 17.5 * 1.0)
    rates = sorted((d.start_min, d.rate_mg_per_h) for d in given if isinstance(d, Infusion))
    assert rates == [(0.0, 168.0), (5.0, 35.0), (65.0, 17.5)]
