"""Variability: seeded, reproducible, the published spread, percentiles in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.pharmacology.disposition import PARAMETERS
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.models import get_model
from ketaclinic.pharmacology.population import (
    block_size_for,
    omega_from_cv,
    population_percentiles,
    sample_dispositions,
)

INPUTS = Inputs(bolus_time_min=np.array([0.0]), bolus_mg=np.array([20.0]),
                infusion_start_min=np.array([0.0]), infusion_end_min=np.array([240.0]), infusion_mg_per_min=np.array([0.5]))


def _typical(model_id="herd2007"):
    d = get_model(model_id).disposition(30.0, 8.0)
    return {p: float(getattr(d, p)[0]) for p in PARAMETERS}, get_model(model_id).variability_cv()


def test_same_seed_same_subjects_other_seed_other_subjects():
    typical, cv = _typical()
    a = sample_dispositions(typical, cv, 500, seed=7)
    b = sample_dispositions(typical, cv, 500, seed=7)
    c = sample_dispositions(typical, cv, 500, seed=8)
    assert np.array_equal(a.cl_l_per_min, b.cl_l_per_min)
    assert not np.array_equal(a.cl_l_per_min, c.cl_l_per_min)


def test_sampled_spread_matches_the_published_cv():
    typical, cv = _typical()
    d = sample_dispositions(typical, cv, 200_000, seed=1)
    for name, attr in (("v1_l", d.v1_l), ("cl_l_per_min", d.cl_l_per_min)):
        log_sd = np.std(np.log(attr / typical[name]))
        assert log_sd == pytest.approx(omega_from_cv(cv[name]), rel=0.01)
        assert np.median(attr) == pytest.approx(typical[name], rel=0.01)


def test_zero_cv_keeps_the_parameter_fixed():
    typical, _ = _typical()
    d = sample_dispositions(typical, {"cl_l_per_min": 0.3}, 100, seed=2)
    assert np.all(d.v1_l == typical["v1_l"])
    assert np.std(d.cl_l_per_min) > 0


def test_percentiles_are_ordered_and_bracket_the_typical_curve():
    typical, cv = _typical()
    d = sample_dispositions(typical, cv, 4000, seed=3)
    times = np.arange(0.0, 600.0, 2.0)
    p = population_percentiles(d, INPUTS, times, [5, 50, 95])
    assert np.all(p[0] <= p[1]) and np.all(p[1] <= p[2])
    assert np.all(p[2][1:] > p[0][1:])
    typical_curve = Solution(get_model("herd2007").disposition(30.0, 8.0), INPUTS).concentration_ng_per_ml(times)[0]
    inside = (typical_curve[1:] >= p[0][1:]) & (typical_curve[1:] <= p[2][1:])
    assert inside.all()


def test_percentiles_equal_numpy_on_the_full_matrix():
    """Blocking over time and threads changes nothing beyond the float32 rounding of the
    order statistics (relative 6e-8)."""
    typical, cv = _typical()
    d = sample_dispositions(typical, cv, 3000, seed=4)
    times = np.arange(0.0, 1000.0)
    blocked = population_percentiles(d, INPUTS, times, [2.5, 50, 97.5], threads=2)
    full = np.percentile(Solution(d, INPUTS).concentration_ng_per_ml(times), [2.5, 50, 97.5], axis=0)
    assert np.allclose(blocked, full, rtol=1e-6, atol=1e-9)


def test_block_size_keeps_memory_bounded():
    assert block_size_for(100_000) * 100_000 * 8 <= 25_000_000
    assert block_size_for(1000) == 256
