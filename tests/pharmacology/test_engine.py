"""The closed-form engine against an ODE solver, and the physics it must respect."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from ketaclinic.pharmacology.disposition import Disposition
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.models import MODELS

from .reference_ode import reference_concentration

DOMINO = Disposition.from_micro_constants(0.063 * 70, 0.4381, 0.5921, 0.2470, 0.5900, 0.0146)


@st.composite
def regimens(draw):
    n_bolus = draw(st.integers(0, 3))
    n_inf = draw(st.integers(0 if n_bolus else 1, 3))
    n_depot = draw(st.integers(0, 2))
    time = st.floats(0, 600, allow_nan=False)
    bolus_t = [draw(time) for _ in range(n_bolus)]
    bolus_mg = [draw(st.floats(0.5, 100)) for _ in range(n_bolus)]
    starts = [draw(time) for _ in range(n_inf)]
    durations = [draw(st.floats(1, 600)) for _ in range(n_inf)]
    rates = [draw(st.floats(0.01, 3)) for _ in range(n_inf)]
    depot_t = [draw(time) for _ in range(n_depot)]
    depot_mg = [draw(st.floats(1, 200)) for _ in range(n_depot)]
    depot_ka = [draw(st.floats(0.002, 2)) for _ in range(n_depot)]
    return Inputs(
        bolus_time_min=np.array(bolus_t),
        bolus_mg=np.array(bolus_mg),
        infusion_start_min=np.array(starts),
        infusion_end_min=np.array(starts) + np.array(durations),
        infusion_mg_per_min=np.array(rates),
        depot_time_min=np.array(depot_t),
        depot_mg=np.array([depot_mg]).reshape(1, n_depot),
        depot_ka_per_min=np.array([depot_ka]).reshape(1, n_depot),
    )


@st.composite
def dispositions(draw):
    """A published model at a random weight, or random micro-constants (1 to 3 compartments)."""
    if draw(st.booleans()):
        model = MODELS[draw(st.sampled_from(sorted(MODELS)))]
        return model.disposition(draw(st.floats(20, 150)), 40.0)
    n = draw(st.integers(1, 3))
    rate = st.floats(0.001, 2)
    k12, k21 = (draw(rate), draw(rate)) if n >= 2 else (0.0, 0.0)
    k13, k31 = (draw(rate), draw(rate)) if n >= 3 else (0.0, 0.0)
    return Disposition.from_micro_constants(draw(st.floats(1, 200)), draw(rate), k12, k21, k13, k31)


def _relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """Relative error, with a floor of 1e-3 of the curve's maximum (plus 1e-9 ng/mL, the
    reference solver's own absolute noise at atol 1e-14): 1e-6 relative is demanded wherever the
    concentration is at least 1/1000 of its peak, and 1e-9 of the peak elsewhere."""
    scale = np.maximum(np.abs(ref), 1e-3 * np.max(np.abs(ref)) + 1e-9)
    return float(np.max(np.abs(ours - ref) / scale))


@settings(max_examples=40, deadline=None)
@given(disposition=dispositions(), inputs=regimens(), ke0=st.one_of(st.none(), st.floats(0.01, 5)))
def test_agrees_with_solve_ivp_on_random_regimens(disposition, inputs, ke0):
    # a fine grid after every event, so the peaks (and the 1e-3-of-peak floor) are seen
    after_events = (inputs.event_times()[:, None] + np.linspace(0, 30, 31)[None, :]).ravel()
    times = np.unique(np.concatenate([np.linspace(0, 1500, 61), inputs.event_times(), after_events]))
    note(f"{disposition!r}\n{inputs!r}\nke0={ke0!r}")
    solution = Solution(disposition, inputs, ke0_per_min=ke0)
    ours = solution.concentration_ng_per_ml(times)[0]
    ref_plasma, ref_effect = reference_concentration(disposition, inputs, times, ke0)
    assert _relative_error(ours, ref_plasma) < 1e-6
    if ke0 is not None:
        assert _relative_error(solution.concentration_ng_per_ml(times, effect_site=True)[0], ref_effect) < 1e-6


def test_absorption_rate_equal_to_a_disposition_rate_is_handled():
    """ka exactly equal to an eigenvalue is the degenerate case of the closed form."""
    lam = Solution(DOMINO, Inputs()).lam[0]
    for ka in lam:
        inputs = Inputs(depot_time_min=np.array([0.0]), depot_mg=np.array([[50.0]]), depot_ka_per_min=np.array([[ka]]))
        times = np.linspace(0, 900, 181)
        ours = Solution(DOMINO, inputs).concentration_ng_per_ml(times)[0]
        ref, _ = reference_concentration(DOMINO, inputs, times)
        assert _relative_error(ours, ref) < 1e-6


def test_uniform_grid_fast_path_equals_direct_evaluation():
    inputs = Inputs(bolus_time_min=np.array([0.0]), bolus_mg=np.array([20.0]),
                    infusion_start_min=np.array([0.0]), infusion_end_min=np.array([240.0]),
                    infusion_mg_per_min=np.array([0.6]))
    grid = np.arange(0.0, 721.0)  # arithmetic: factorised path
    jittered = grid + np.r_[0.0, np.full(grid.size - 2, 1e-7), 0.0]  # not arithmetic: direct path
    solution = Solution(DOMINO, inputs)
    fast = solution.concentration_ng_per_ml(grid)[0]
    direct = solution.concentration_ng_per_ml(jittered)[0]
    assert np.allclose(fast, direct, rtol=1e-6)


def test_bolus_counts_at_its_own_time():
    inputs = Inputs(bolus_time_min=np.array([30.0]), bolus_mg=np.array([20.0]))
    c = Solution(DOMINO, inputs).concentration_ng_per_ml(np.array([29.999, 30.0]))[0]
    assert c[0] == 0.0
    assert np.isclose(c[1], 20.0 / (0.063 * 70) * 1000.0)


def test_steady_state_is_rate_over_clearance():
    rate_mg_per_min = 0.5
    inputs = Inputs(infusion_start_min=np.array([0.0]), infusion_end_min=np.array([1e6]),
                    infusion_mg_per_min=np.array([rate_mg_per_min]))
    for model in MODELS.values():
        d = model.disposition(70.0, 40.0)
        c = Solution(d, inputs).concentration_ng_per_ml(np.array([5e5]))[0, 0]
        assert np.isclose(c, rate_mg_per_min / d.plasma_clearance_l_per_min()[0] * 1000.0, rtol=1e-9), model.id


def test_mass_is_conserved():
    """Amount in the body + amount eliminated (CL·∫C) = amount given, at every time."""
    inputs = Inputs(bolus_time_min=np.array([0.0, 50.0]), bolus_mg=np.array([20.0, 10.0]),
                    infusion_start_min=np.array([10.0]), infusion_end_min=np.array([130.0]),
                    infusion_mg_per_min=np.array([0.8]),
                    depot_time_min=np.array([20.0]), depot_mg=np.array([[30.0]]), depot_ka_per_min=np.array([[0.05]]))
    amounts = Solution(DOMINO, inputs, output="amounts")
    plasma = Solution(DOMINO, inputs)
    cl = DOMINO.cl_l_per_min[0]
    for t in (5.0, 49.0, 60.0, 200.0, 1000.0):
        in_body = amounts.evaluate(np.array([t]))[0, 0].sum()
        in_depot = 30.0 * np.exp(-0.05 * (t - 20.0)) if t >= 20 else 0.0
        breakpoints = [p for p in (10.0, 20.0, 50.0, 130.0) if p < t]
        auc, _ = quad(lambda s: plasma.evaluate(np.array([s]))[0, 0, 0] / 1000.0, 0, t, points=breakpoints or None, limit=200, epsabs=1e-12, epsrel=1e-12)
        given = 20.0 + (10.0 if t >= 50 else 0.0) + 0.8 * (min(t, 130.0) - 10.0 if t > 10 else 0.0) + (30.0 if t >= 20 else 0.0)
        assert np.isclose(in_body + in_depot + cl * auc, given, rtol=1e-8), t


@settings(max_examples=25, deadline=None)
@given(a=regimens(), b=regimens())
def test_superposition(a, b):
    both = Inputs(
        bolus_time_min=np.r_[a.bolus_time_min, b.bolus_time_min], bolus_mg=np.r_[a.bolus_mg, b.bolus_mg],
        infusion_start_min=np.r_[a.infusion_start_min, b.infusion_start_min],
        infusion_end_min=np.r_[a.infusion_end_min, b.infusion_end_min],
        infusion_mg_per_min=np.r_[a.infusion_mg_per_min, b.infusion_mg_per_min],
        depot_time_min=np.r_[a.depot_time_min, b.depot_time_min],
        depot_mg=np.concatenate([a.depot_mg, b.depot_mg], axis=1),
        depot_ka_per_min=np.concatenate([a.depot_ka_per_min, b.depot_ka_per_min], axis=1),
    )
    times = np.linspace(0, 1500, 301)
    sum_ = Solution(DOMINO, a).concentration_ng_per_ml(times) + Solution(DOMINO, b).concentration_ng_per_ml(times)
    together = Solution(DOMINO, both).concentration_ng_per_ml(times)
    assert np.allclose(together, sum_, rtol=1e-9, atol=1e-9 * float(np.max(sum_)))


def test_batch_of_subjects_equals_each_subject_alone():
    rng = np.random.default_rng(3)
    factors = np.exp(rng.normal(0, 0.3, (50, 6)))
    batch = Disposition.from_micro_constants(4.41 * factors[:, 0], 0.4381 * factors[:, 1], 0.5921 * factors[:, 2],
                                             0.2470 * factors[:, 3], 0.5900 * factors[:, 4], 0.0146 * factors[:, 5])
    inputs = Inputs(bolus_time_min=np.array([0.0]), bolus_mg=np.array([20.0]),
                    infusion_start_min=np.array([0.0]), infusion_end_min=np.array([40.0]), infusion_mg_per_min=np.array([0.875]))
    times = np.arange(0.0, 300.0)
    together = Solution(batch, inputs).concentration_ng_per_ml(times)
    for i in (0, 17, 49):
        alone = Disposition.from_clearances(**batch.typical_parameters(i))
        assert np.allclose(Solution(alone, inputs).concentration_ng_per_ml(times)[0], together[i], rtol=1e-10)


def test_rejects_non_positive_clearance():
    with pytest.raises(ValueError, match="clearance"):
        Solution(Disposition.from_clearances(5.0, 0.0), Inputs())


def test_ke0_equal_to_a_disposition_rate_is_handled():
    """Found by hypothesis: a 1-compartment model with k10 = ke0 = 1/min (the t·e^{-t} limit)."""
    disposition = Disposition.from_clearances(1.0, 1.0)
    inputs = Inputs(bolus_time_min=np.array([0.0]), bolus_mg=np.array([1.0]))
    times = np.unique(np.concatenate([np.linspace(0, 60, 241), np.linspace(0, 1500, 61)]))
    solution = Solution(disposition, inputs, ke0_per_min=1.0)
    _, ref_effect = reference_concentration(disposition, inputs, times, 1.0)
    assert _relative_error(solution.concentration_ng_per_ml(times, effect_site=True)[0], ref_effect) < 1e-6
    assert solution.concentration_ng_per_ml(np.array([1.0]), effect_site=True)[0, 0] == pytest.approx(1000 * np.exp(-1), rel=1e-6)


def test_coinciding_rates_use_the_exact_fallback_for_those_subjects_only():
    """k10 = ka = ke0 (found by hypothesis) in one subject of a batch; the others keep the closed form."""
    batch = Disposition.from_clearances(np.array([1.0, 1.0, 2.0]), np.array([1.0, 1.3, 1.0]))
    inputs = Inputs(infusion_start_min=np.array([0.0]), infusion_end_min=np.array([1.0]), infusion_mg_per_min=np.array([1.0]),
                    depot_time_min=np.array([0.0]), depot_mg=np.array([[1.0]]), depot_ka_per_min=np.array([[1.0]]))
    ke0 = np.array([1.0, 0.7, 0.7])
    solution = Solution(batch, inputs, ke0_per_min=ke0)
    assert solution.degenerate.tolist() == [True, False, False]
    times = np.linspace(0, 20, 81)
    for subject in range(3):
        ref_plasma, ref_effect = reference_concentration(batch, inputs, times, ke0[subject], subject=subject)
        assert _relative_error(solution.concentration_ng_per_ml(times)[subject], ref_plasma) < 1e-6
        assert _relative_error(solution.concentration_ng_per_ml(times, effect_site=True)[subject], ref_effect) < 1e-6
