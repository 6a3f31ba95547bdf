"""Disposition parameters of a compartment model, for one subject or many.

All models are reduced to one canonical form: central volume ``v1_l``, peripheral volumes
``v2_l``/``v3_l`` (0 when absent), elimination clearance and the two inter-compartmental
clearances in L/min, and optionally a hepato-portal compartment (``vh_l`` exchanging with the
central compartment at hepatic blood flow ``qh_l_per_min``, eliminating at ``kel_h_per_min`` +
``kmet_h_per_min``), the well-stirred first-pass structure of Perez-Ruixo 2021. Arrays of shape ``(n_subjects,)`` let the engine work on a population at
once; a scalar model is simply ``n_subjects = 1``. Micro-constants (k10 = CL/V1, k12 = Q2/V1,
k21 = Q2/V2, ...) follow the usual convention (e.g. opentiva, Shafer's STANPUMP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Canonical parameter names, in the order used for variability draws.
PARAMETERS = (
    "v1_l", "cl_l_per_min", "v2_l", "q2_l_per_min", "v3_l", "q3_l_per_min",
    "vh_l", "qh_l_per_min", "kel_h_per_min", "kmet_h_per_min",
)


def _as_array(value: float | np.ndarray) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=float))


@dataclass(frozen=True)
class Disposition:
    """Volumes in litres and clearances in litres per minute, each an array over subjects."""

    v1_l: np.ndarray
    cl_l_per_min: np.ndarray
    v2_l: np.ndarray
    q2_l_per_min: np.ndarray
    v3_l: np.ndarray
    q3_l_per_min: np.ndarray
    vh_l: np.ndarray
    qh_l_per_min: np.ndarray
    kel_h_per_min: np.ndarray
    kmet_h_per_min: np.ndarray

    @classmethod
    def from_clearances(
        cls,
        v1_l: float | np.ndarray,
        cl_l_per_min: float | np.ndarray,
        v2_l: float | np.ndarray = 0.0,
        q2_l_per_min: float | np.ndarray = 0.0,
        v3_l: float | np.ndarray = 0.0,
        q3_l_per_min: float | np.ndarray = 0.0,
        vh_l: float | np.ndarray = 0.0,
        qh_l_per_min: float | np.ndarray = 0.0,
        kel_h_per_min: float | np.ndarray = 0.0,
        kmet_h_per_min: float | np.ndarray = 0.0,
    ) -> Disposition:
        arrays = [
            _as_array(x)
            for x in (v1_l, cl_l_per_min, v2_l, q2_l_per_min, v3_l, q3_l_per_min, vh_l, qh_l_per_min, kel_h_per_min, kmet_h_per_min)
        ]
        arrays = np.broadcast_arrays(*arrays)
        return cls(*(np.array(a, dtype=float) for a in arrays))

    @classmethod
    def from_micro_constants(
        cls,
        v1_l: float | np.ndarray,
        k10_per_min: float | np.ndarray,
        k12_per_min: float | np.ndarray = 0.0,
        k21_per_min: float | np.ndarray = 0.0,
        k13_per_min: float | np.ndarray = 0.0,
        k31_per_min: float | np.ndarray = 0.0,
    ) -> Disposition:
        """From V1 and micro-constants: CL = V1·k10, Q2 = V1·k12, V2 = V1·k12/k21 (same for 3)."""
        v1 = _as_array(v1_l)
        k10, k12, k21, k13, k31 = (_as_array(k) for k in (k10_per_min, k12_per_min, k21_per_min, k13_per_min, k31_per_min))
        with np.errstate(divide="ignore", invalid="ignore"):
            v2 = np.where(k12 > 0, v1 * k12 / np.where(k21 > 0, k21, 1.0), 0.0)
            v3 = np.where(k13 > 0, v1 * k13 / np.where(k31 > 0, k31, 1.0), 0.0)
        return cls.from_clearances(v1, v1 * k10, v2, v1 * k12, v3, v1 * k13)

    @property
    def n_subjects(self) -> int:
        return int(self.v1_l.shape[0])

    def compartments(self) -> list[int]:
        """Indices (0 central, 1 and 2 peripheral, 3 hepatic) of the compartments any subject has."""
        present = [0]
        for index, flow in ((1, self.q2_l_per_min), (2, self.q3_l_per_min), (3, self.qh_l_per_min)):
            if np.any(flow > 0):
                present.append(index)
        return present

    def typical_parameters(self, subject: int = 0) -> dict[str, float]:
        return {name: float(getattr(self, name)[subject]) for name in PARAMETERS}

    def plasma_clearance_l_per_min(self) -> np.ndarray:
        """Central elimination plus hepatic extraction: Qh·CLint/(Qh + CLint), CLint = Vh·(kel + kmet)."""
        intrinsic = self.vh_l * (self.kel_h_per_min + self.kmet_h_per_min)
        with np.errstate(divide="ignore", invalid="ignore"):
            hepatic = np.where(self.qh_l_per_min > 0, self.qh_l_per_min * intrinsic / (self.qh_l_per_min + intrinsic), 0.0)
        return self.cl_l_per_min + hepatic

    def micro_constants(self) -> dict[str, np.ndarray]:
        """k10, k12, k21, k13, k31 in 1/min (k21/k31 are 0 where the compartment is absent)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            k21 = np.where(self.v2_l > 0, self.q2_l_per_min / np.where(self.v2_l > 0, self.v2_l, 1.0), 0.0)
            k31 = np.where(self.v3_l > 0, self.q3_l_per_min / np.where(self.v3_l > 0, self.v3_l, 1.0), 0.0)
        return {
            "k10": self.cl_l_per_min / self.v1_l,
            "k12": self.q2_l_per_min / self.v1_l,
            "k21": k21,
            "k13": self.q3_l_per_min / self.v1_l,
            "k31": k31,
        }

    def rate_matrix(self) -> np.ndarray:
        """The (n, c, c) matrix K of dx/dt = K x for amounts x (central first, then the
        compartments of :meth:`compartments`)."""
        k = self.micro_constants()
        with np.errstate(divide="ignore", invalid="ignore"):
            k1h = self.qh_l_per_min / self.v1_l
            kh1 = np.where(self.vh_l > 0, self.qh_l_per_min / np.where(self.vh_l > 0, self.vh_l, 1.0), 0.0)
        n = self.n_subjects
        full = np.zeros((n, 4, 4))
        full[:, 0, 0] = -(k["k10"] + k["k12"] + k["k13"] + k1h)
        full[:, 0, 1], full[:, 1, 0], full[:, 1, 1] = k["k21"], k["k12"], -k["k21"]
        full[:, 0, 2], full[:, 2, 0], full[:, 2, 2] = k["k31"], k["k13"], -k["k31"]
        full[:, 0, 3], full[:, 3, 0] = kh1, k1h
        full[:, 3, 3] = -(kh1 + self.kel_h_per_min + self.kmet_h_per_min)
        keep = self.compartments()
        return full[:, keep][:, :, keep]
