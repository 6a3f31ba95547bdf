"""Exact solution of the linear compartment model for piecewise-constant input.

Why exact: a clinician compares regimens that differ by a few mg/h; a numerical integrator's
step-size error would be noise on top of the model. For a linear model with inputs that are
constant between events (boluses, infusions switching on and off, first-order absorption from
depots), the solution between two events is a sum of exponentials, so it can be evaluated in
closed form at any time.

Method (eigenbasis, as in Gibaldi & Perrier, *Pharmacokinetics*, ch. 3): the rate matrix
``K`` of each subject is diagonalised, ``K = V diag(-λ) V⁻¹``. In modal coordinates
``z = V⁻¹ x`` each mode decays independently, ``dz_i/dt = -λ_i z_i + b_i u(t)`` with
``b = V⁻¹ e_central``. Between two events the infusion rate ``R`` is constant and each depot
``j`` empties as ``a_j e^{-ka_j τ}``, so

    z_i(τ) = b_i R/λ_i + (z_i(0) - b_i R/λ_i) e^{-λ_i τ} + Σ_j b_i ka_j a_j φ(λ_i, ka_j, τ),
    φ(λ, k, τ) = (e^{-kτ} - e^{-λτ}) / (λ - k)

and any output (plasma concentration, compartment amounts) is ``G z`` with ``G = O V``.
Each interval is therefore described by a constant plus weighted exponentials; states are
carried across event times with the stable form of φ. Everything is vectorised over subjects
(arrays of shape ``(n_subjects, ...)``); Python loops run only over dosing events and over
blocks of output times, never over subjects or individual time points.

On a uniform time grid the exponentials factor, ``e^{-ρ(τ0 + (qB + r)h)} = e^{-ρ(τ0+qBh)}·e^{-ρrh}``,
so a block of ``k`` points needs ``~2√k`` exponentials per subject and mode, and the weighted
sum becomes one batched matrix product. This is what makes a population of 10,000 subjects
over 72 h at 1-min resolution take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ketaclinic.pharmacology.disposition import Disposition

MG_PER_L_TO_NG_PER_ML = 1000.0
# Two rates closer than this (relative) are separated by exactly this much, so that the
# closed form never divides by ~0. Such subjects are always within the 1e-4 gap of
# _DEGENERATE_RELATIVE_GAP, so their closed-form values are replaced by the exact fallback; the
# nudge only keeps the discarded arithmetic finite.
_MIN_RELATIVE_RATE_SEPARATION = 1e-7


@dataclass(frozen=True)
class Inputs:
    """Canonical dosing input: times in minutes, amounts in mg, rates in mg/min.

    IV boluses and infusions enter the central compartment. Each extravascular dose is its own
    first-order depot holding the *bioavailable* amount (``F × dose``) that empties into the
    central compartment at ``ka``; depot amounts and rates may differ per subject (shape
    ``(n_subjects or 1, n_depots)``) to carry variability in F and ka.
    """

    bolus_time_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bolus_mg: np.ndarray = field(default_factory=lambda: np.zeros(0))
    infusion_start_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    infusion_end_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    infusion_mg_per_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    depot_time_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    depot_mg: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    depot_ka_per_min: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))

    def event_times(self) -> np.ndarray:
        return np.unique(
            np.concatenate(
                [self.bolus_time_min, self.infusion_start_min, self.infusion_end_min, self.depot_time_min]
            )
        )


def _separate(rates: np.ndarray, from_rates: np.ndarray) -> np.ndarray:
    """Nudge each rate in ``rates`` (n, a) away from every rate in ``from_rates`` (n, b)."""
    out = rates.copy()
    for j in range(from_rates.shape[1]):
        other = from_rates[:, j : j + 1]
        scale = np.maximum(np.abs(out), np.abs(other))
        close = np.abs(out - other) < _MIN_RELATIVE_RATE_SEPARATION * scale
        if np.any(close):
            out = np.where(close, other + _MIN_RELATIVE_RATE_SEPARATION * scale, out)
    return out


def _phi(lam: np.ndarray, k: np.ndarray, tau: np.ndarray | float) -> np.ndarray:
    """(e^{-kτ} - e^{-λτ})/(λ - k), evaluated without cancellation or overflow (→ τe^{-λτ} as k → λ)."""
    slow = np.minimum(lam, k)
    gap = np.abs(lam - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gap > 0, -np.expm1(-gap * tau) / np.where(gap > 0, gap, 1.0), tau)
    return np.exp(-slow * tau) * ratio


#: Subjects with two rates (eigenvalues, absorption rates, ke0) closer than this, relative, are
#: solved by the exact matrix-exponential fallback instead of the sum of exponentials, whose
#: coefficients 1/(λ - k) would lose precision there.
_DEGENERATE_RELATIVE_GAP = 1e-4


def _near_coincident(rates: np.ndarray) -> np.ndarray:
    """(n,) True where any two of a subject's rates (n, r) are within the relative gap."""
    if rates.shape[1] < 2:
        return np.zeros(rates.shape[0], dtype=bool)
    diff = np.abs(rates[:, :, None] - rates[:, None, :])
    scale = np.maximum(np.abs(rates[:, :, None]), np.abs(rates[:, None, :]))
    close = diff < _DEGENERATE_RELATIVE_GAP * scale
    r = rates.shape[1]
    close[:, np.arange(r), np.arange(r)] = False
    return close.any(axis=(1, 2))


#: Depot and ke0 rates within this relative distance of an earlier rate of the same subject are made
#: exactly equal before the matrix exponential (see :func:`_snap_near_equal_rates`).
_SNAP_RELATIVE_GAP = 1e-9


def _snap_near_equal_rates(a: np.ndarray, c: int, d: int) -> None:
    """Make a depot's (or the effect site's) rate exactly equal to an earlier rate it nearly equals.

    scipy.linalg.expm treats a triangular matrix (a one-compartment model with depots) specially and
    loses precision when two diagonal entries differ by a few ulps: ka = 1 + 2e-16 against k10 = 1
    gave a 15 % error (scipy 1.17). Rates within 1e-9 (relative) are set equal, a change far below
    the engine's 1e-6 tolerance; farther apart, expm's error stays below about 3e-8.
    """
    size = a.shape[1]
    for j in range(c, size):
        for i in range(j):
            mine, other = a[:, j, j], a[:, i, i]
            near = (mine != other) & (np.abs(mine - other) < _SNAP_RELATIVE_GAP * np.maximum(np.abs(mine), np.abs(other)))
            if not near.any():
                continue
            factor = np.where(near, other / np.where(mine != 0, mine, 1.0), 1.0)
            a[:, j, j] = np.where(near, other, mine)
            if j < c + d:
                a[:, 0, j] *= factor  # the depot empties into the central compartment at its ka
            else:
                a[:, j, 0] *= factor  # the effect site is driven at ke0


class _ExactFallback:
    """The same model solved with matrix exponentials of the augmented system, for the few
    subjects whose rates coincide (where the closed form's coefficients blow up).

    States: disposition amounts (mg), one depot per extravascular dose (mg), and the effect-site
    concentration (ng/mL) when a ke0 is given. Between events the input is a constant infusion
    rate, so ``[x; 1]`` evolves by ``expm(M τ)`` with ``M = [[A, u], [0, 0]]``; all output times
    of an interval are exponentiated in one stacked call (scipy.linalg.expm takes stacks).
    """

    def __init__(self, disposition: Disposition, inputs: Inputs, subjects: np.ndarray, ka: np.ndarray,
                 ke0: np.ndarray | None, output: str):
        from scipy.linalg import expm

        self._expm = expm
        self.inputs = inputs
        rate = disposition.rate_matrix()[subjects]  # (s, c, c)
        n_sub, c, _ = rate.shape
        d = inputs.depot_time_min.size
        e = 1 if ke0 is not None else 0
        size = c + d + e
        a = np.zeros((n_sub, size, size))
        a[:, :c, :c] = rate
        ka_sub = ka[subjects]
        for j in range(d):
            a[:, 0, c + j] = ka_sub[:, j]
            a[:, c + j, c + j] = -ka_sub[:, j]
        v1 = disposition.v1_l[subjects]
        if e:
            k = ke0[subjects][:, 0]
            a[:, size - 1, 0] = k * MG_PER_L_TO_NG_PER_ML / v1
            a[:, size - 1, size - 1] = -k
        _snap_near_equal_rates(a, c, d)
        self.a, self.c, self.d, self.e, self.size = a, c, d, e, size
        self.v1 = v1
        self.depot_mg = np.broadcast_to(np.atleast_2d(inputs.depot_mg), (disposition.n_subjects, d))[subjects]
        self.output = output
        self.breakpoints = inputs.event_times()

    def _propagate(self, state: np.ndarray, rate_mg_per_min: float, tau: np.ndarray) -> np.ndarray:
        """States at each τ (k,) from ``state`` (s, S) under a constant infusion → (s, k, S)."""
        n_sub, size = state.shape
        m = np.zeros((n_sub, size + 1, size + 1))
        m[:, :size, :size] = self.a
        m[:, 0, size] = rate_mg_per_min
        stacked = self._expm(m[:, None, :, :] * tau[None, :, None, None])  # (s, k, S+1, S+1)
        augmented = np.concatenate([state, np.ones((n_sub, 1))], axis=1)
        return np.einsum("skij,sj->ski", stacked, augmented)[:, :, :size]

    def evaluate(self, times: np.ndarray, effect_site: bool) -> np.ndarray:
        inp = self.inputs
        n_sub = self.a.shape[0]
        n_out = 1 if self.output == "concentration" else self.c
        out = np.zeros((n_sub, times.size, n_out))
        state = np.zeros((n_sub, self.size))
        which = np.searchsorted(self.breakpoints, times, side="right") - 1
        for index, start in enumerate(self.breakpoints):
            state[:, 0] += float(np.sum(inp.bolus_mg[inp.bolus_time_min == start]))
            for j in np.nonzero(inp.depot_time_min == start)[0]:
                state[:, self.c + j] += self.depot_mg[:, j]
            active = (inp.infusion_start_min <= start) & (start < inp.infusion_end_min)
            rate = float(np.sum(inp.infusion_mg_per_min[active]))
            positions = np.nonzero(which == index)[0]
            if positions.size:
                states = self._propagate(state, rate, times[positions] - start)
                if effect_site:
                    out[:, positions, 0] = states[:, :, self.size - 1]
                elif self.output == "concentration":
                    out[:, positions, 0] = states[:, :, 0] * MG_PER_L_TO_NG_PER_ML / self.v1[:, None]
                else:
                    out[:, positions, :] = states[:, :, : self.c]
            if index + 1 < len(self.breakpoints):
                state = self._propagate(state, rate, np.array([self.breakpoints[index + 1] - start]))[:, 0, :]
        return out


@dataclass(frozen=True)
class _Interval:
    start_min: float
    const: np.ndarray  # (n, P)
    weights: np.ndarray  # (n, E, P)
    rates: np.ndarray  # (n, E)


def _is_arithmetic(tau: np.ndarray) -> float | None:
    if tau.size < 32:
        return None
    steps = np.diff(tau)
    h = float(steps[0])
    if h <= 0 or not np.allclose(steps, h, rtol=1e-12, atol=1e-9 * max(1.0, abs(h))):
        return None
    return h


class _FactorCache:
    """Exponential factors reused across calls on the same uniform grid (thread-safe enough:
    a race only computes the same array twice)."""

    def __init__(self) -> None:
        self._store: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def factors(self, key: int, rates: np.ndarray, h: float, n_blocks: int, block: int) -> tuple[np.ndarray, np.ndarray]:
        """(e^{-ρ q B h} for q < Q as (n, Q, E), e^{-ρ r h} for r < B as (n, E, B))."""
        cache_key = (key, round(h, 12), n_blocks, block)
        found = self._store.get(cache_key)
        if found is None:
            coarse = np.exp(-rates[:, None, :] * (np.arange(n_blocks) * block * h)[None, :, None])
            fine = np.exp(-rates[:, :, None] * (np.arange(block) * h)[None, None, :])
            found = (coarse, fine)
            if len(self._store) > 64:
                self._store.clear()
            self._store[cache_key] = found
        return found


def _sum_of_exponentials(
    interval: _Interval, tau: np.ndarray, cache: _FactorCache | None = None, key: int = 0
) -> np.ndarray:
    """Evaluate const + Σ_e w_e e^{-ρ_e τ} at times ``tau`` (k,) → (n, k, P)."""
    n, n_exp, n_out = interval.weights.shape
    k = tau.size
    h = _is_arithmetic(tau)
    if h is None:
        decay = np.exp(-interval.rates[:, None, :] * tau[None, :, None])  # (n, k, E)
        out = np.einsum("nke,nep->nkp", decay, interval.weights)
        return out + interval.const[:, None, :]
    block = int(np.ceil(np.sqrt(k)))
    n_blocks = int(np.ceil(k / block))
    if cache is None:
        cache = _FactorCache()
    steps_coarse, decay_fine = cache.factors(key, interval.rates, h, n_blocks, block)
    start = np.exp(-interval.rates * tau[0])  # (n, E)
    out = np.empty((n, k, n_out))
    for p in range(n_out):
        weighted = steps_coarse * (start * interval.weights[:, :, p])[:, None, :]  # (n, Q, E)
        values = np.matmul(weighted, decay_fine).reshape(n, n_blocks * block)[:, :k]
        out[:, :, p] = values + interval.const[:, p : p + 1]
    return out


class Solution:
    """The closed-form solution of one model (for a batch of subjects) under one set of inputs.

    ``output="concentration"`` gives plasma concentration in ng/mL; ``output="amounts"`` gives
    the amount in each compartment in mg (used to check mass balance).
    """

    def __init__(
        self,
        disposition: Disposition,
        inputs: Inputs,
        output: Literal["concentration", "amounts"] = "concentration",
        ke0_per_min: np.ndarray | float | None = None,
    ):
        if np.any(disposition.plasma_clearance_l_per_min() <= 0) or np.any(disposition.v1_l <= 0):
            raise ValueError("clearance and central volume must be positive")
        self.n_subjects = disposition.n_subjects
        n = self.n_subjects
        rate_matrix = disposition.rate_matrix()
        eigvals, vectors = np.linalg.eig(rate_matrix)
        lam = -eigvals.real
        vectors = vectors.real
        inverse = np.linalg.inv(vectors)
        order = np.argsort(lam, axis=1)
        lam = np.take_along_axis(lam, order, axis=1)
        vectors = np.take_along_axis(vectors, order[:, None, :], axis=2)
        inverse = np.take_along_axis(inverse, order[:, :, None], axis=1)
        self.lam = lam  # (n, m) positive decay rates of the modes, 1/min
        self.b = inverse[:, :, 0]  # (n, m) unit input into the central compartment, in modal coordinates
        c = rate_matrix.shape[1]
        if output == "concentration":
            selector = np.zeros((n, 1, c))
            selector[:, 0, 0] = MG_PER_L_TO_NG_PER_ML / disposition.v1_l
        else:
            selector = np.broadcast_to(np.eye(c), (n, c, c))
        self.g = np.matmul(selector, vectors)  # (n, P, m)
        self.n_outputs = self.g.shape[1]
        self._cache = _FactorCache()

        self.inputs = inputs
        d = inputs.depot_time_min.size
        self.depot_mg = np.broadcast_to(np.atleast_2d(np.asarray(inputs.depot_mg, float)), (n, d))
        ka = np.broadcast_to(np.atleast_2d(np.asarray(inputs.depot_ka_per_min, float)), (n, d))
        if np.any(ka <= 0):
            raise ValueError("absorption rate constants must be positive")
        self.ka = _separate(np.array(ka), lam)
        self.ke0 = None
        original_ke0 = None
        if ke0_per_min is not None:
            if output != "concentration":
                raise ValueError("effect-site concentration needs output='concentration'")
            original_ke0 = np.broadcast_to(np.asarray(ke0_per_min, float).reshape(-1), (n,)).reshape(n, 1)
            self.ke0 = _separate(np.array(original_ke0), np.concatenate([lam, self.ka], axis=1))
        rates = np.concatenate([lam, np.array(ka)] + ([original_ke0] if original_ke0 is not None else []), axis=1)
        self.degenerate = _near_coincident(rates)
        self._exact = (
            _ExactFallback(disposition, inputs, self.degenerate, np.array(ka), original_ke0, output)
            if self.degenerate.any() else None
        )
        self._build_intervals()

    # -- intervals ---------------------------------------------------------------------------
    def _depot_amounts(self, at_min: float) -> np.ndarray:
        """(n, d) amount in each depot at ``at_min`` (doses at exactly ``at_min`` included)."""
        elapsed = at_min - self.inputs.depot_time_min[None, :]
        given = elapsed >= 0
        return np.where(given, self.depot_mg * np.exp(-self.ka * np.where(given, elapsed, 0.0)), 0.0)

    def _infusion_rate(self, at_min: float) -> float:
        inp = self.inputs
        active = (inp.infusion_start_min <= at_min) & (at_min < inp.infusion_end_min)
        return float(np.sum(inp.infusion_mg_per_min[active]))

    def _build_intervals(self) -> None:
        inp = self.inputs
        n, m = self.lam.shape
        self.breakpoints = inp.event_times()
        self.intervals: list[_Interval] = []
        self.effect_intervals: list[_Interval] = []
        z = np.zeros((n, m))
        ce = np.zeros((n, 1))
        for index, start in enumerate(self.breakpoints):
            bolus_here = float(np.sum(inp.bolus_mg[inp.bolus_time_min == start]))
            z = z + self.b * bolus_here
            rate = self._infusion_rate(start)
            depots = self._depot_amounts(start)  # (n, d)
            steady = self.b * rate / self.lam  # (n, m)
            # coupling[n, i, j] = b_i ka_j a_j / (λ_i - ka_j)
            coupling = (self.b[:, :, None] * (self.ka * depots)[:, None, :]) / (
                self.lam[:, :, None] - self.ka[:, None, :]
            )
            mode_weights = z - steady - coupling.sum(axis=2)  # (n, m)
            depot_weights = np.einsum("npm,nmj->njp", self.g, coupling)  # (n, d, P)
            weights = np.concatenate(
                [self.g.transpose(0, 2, 1) * mode_weights[:, :, None], depot_weights], axis=1
            )
            rates = np.concatenate([self.lam, self.ka], axis=1)
            const = np.einsum("npm,nm->np", self.g, steady)
            interval = _Interval(float(start), const, weights, rates)
            self.intervals.append(interval)
            if self.ke0 is not None:
                effect = self._effect_interval(interval, ce)
                self.effect_intervals.append(effect)
            if index + 1 < len(self.breakpoints):
                span = float(self.breakpoints[index + 1] - start)
                z = (
                    steady
                    + (z - steady) * np.exp(-self.lam * span)
                    + np.einsum(
                        "nm,nj,nmj->nm",
                        self.b,
                        self.ka * depots,
                        _phi(self.lam[:, :, None], self.ka[:, None, :], span),
                    )
                )
                if self.ke0 is not None:
                    ce = _sum_of_exponentials(effect, np.array([span]))[:, 0, :]

    def _effect_interval(self, plasma: _Interval, ce_start: np.ndarray) -> _Interval:
        """dCe/dt = ke0 (Cp - Ce): each plasma exponential maps to one effect exponential plus e^{-ke0 τ}."""
        ke0 = self.ke0  # (n, 1)
        gain = ke0 / (ke0 - plasma.rates)  # (n, E)
        weights = plasma.weights * gain[:, :, None]
        remainder = ce_start - plasma.const - weights.sum(axis=1)  # (n, P)
        return _Interval(
            plasma.start_min,
            plasma.const,
            np.concatenate([weights, remainder[:, None, :]], axis=1),
            np.concatenate([plasma.rates, ke0], axis=1),
        )

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, times_min: np.ndarray, effect_site: bool = False) -> np.ndarray:
        """Outputs at ``times_min`` → (n_subjects, n_times, n_outputs). A bolus at t counts at t."""
        out = self._evaluate_modal(times_min, effect_site)
        if self._exact is not None:
            out = np.array(out)
            out[self.degenerate] = self._exact.evaluate(np.asarray(times_min, dtype=float), effect_site)
        return out

    def _evaluate_modal(self, times_min: np.ndarray, effect_site: bool) -> np.ndarray:
        times = np.asarray(times_min, dtype=float)
        if effect_site and self.ke0 is None:
            raise ValueError("this solution was built without ke0")
        intervals = self.effect_intervals if effect_site else self.intervals
        out = np.zeros((self.n_subjects, times.size, self.n_outputs))
        if not intervals:
            return out
        which = np.searchsorted(self.breakpoints, times, side="right") - 1
        if which.size and which[0] >= 0 and which[0] == which[-1] and np.all(which == which[0]):
            index = int(which[0])
            interval = intervals[index]
            return _sum_of_exponentials(
                interval, times - interval.start_min, self._cache, index * 2 + int(effect_site)
            )
        for index in np.unique(which):
            if index < 0:
                continue
            positions = np.nonzero(which == index)[0]
            interval = intervals[index]
            key = int(index) * 2 + int(effect_site)
            out[:, positions, :] = _sum_of_exponentials(
                interval, times[positions] - interval.start_min, self._cache, key
            )
        return out

    def concentration_ng_per_ml(self, times_min: np.ndarray, effect_site: bool = False) -> np.ndarray:
        """(n_subjects, n_times) plasma (or effect-site) concentration in ng/mL."""
        values = self.evaluate(times_min, effect_site=effect_site)[:, :, 0]
        return np.maximum(values, 0.0)
