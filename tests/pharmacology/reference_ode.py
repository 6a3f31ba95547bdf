"""An independent reference: the same compartment model integrated numerically with
scipy.integrate.solve_ivp (rtol 1e-10), piece by piece between dose events."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ketaclinic.pharmacology.disposition import Disposition
from ketaclinic.pharmacology.engine import Inputs


def reference_concentration(
    disposition: Disposition, inputs: Inputs, times: np.ndarray, ke0: float | None = None, subject: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(plasma ng/mL, effect-site ng/mL or zeros) at ``times`` for one subject."""
    k = disposition.rate_matrix()[subject]
    c = k.shape[0]
    v1 = float(disposition.v1_l[subject])
    depot_mg = np.broadcast_to(np.atleast_2d(inputs.depot_mg), (disposition.n_subjects, inputs.depot_time_min.size))[subject]
    depot_ka = np.broadcast_to(np.atleast_2d(inputs.depot_ka_per_min), (disposition.n_subjects, inputs.depot_time_min.size))[subject]
    d = depot_ka.size
    ke = ke0 or 0.0

    def rate_at(t: float) -> float:
        active = (inputs.infusion_start_min <= t) & (t < inputs.infusion_end_min)
        return float(np.sum(inputs.infusion_mg_per_min[active]))

    def rhs(t, x, rate):
        dx = np.zeros_like(x)
        dx[:c] = k @ x[:c]
        dx[0] += rate + float(np.dot(depot_ka, x[c : c + d]))
        dx[c : c + d] = -depot_ka * x[c : c + d]
        dx[-1] = ke * (x[0] / v1 * 1000.0 - x[-1])
        return dx

    events = np.unique(np.concatenate([inputs.event_times(), times, [0.0]]))
    x = np.zeros(c + d + 1)
    plasma = {}
    effect = {}
    t_prev = None
    for t in events:
        if t_prev is not None and t > t_prev:
            rate = rate_at(t_prev)
            sol = solve_ivp(rhs, (t_prev, t), x, args=(rate,), method="DOP853", rtol=1e-10, atol=1e-14)
            x = sol.y[:, -1].copy()
        x[0] += float(np.sum(inputs.bolus_mg[inputs.bolus_time_min == t]))
        for j in np.nonzero(inputs.depot_time_min == t)[0]:
            x[c + j] += depot_mg[j]
        plasma[t] = x[0] / v1 * 1000.0
        effect[t] = x[-1]
        t_prev = t
    return np.array([plasma[t] for t in times]), np.array([effect[t] for t in times])
