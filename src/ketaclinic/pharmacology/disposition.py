"""Disposition parameters of a mammillary compartment model, for one subject or many.

All models are reduced to one canonical form: central volume ``v1_l``, peripheral volumes
``v2_l``/``v3_l`` (0 when absent), elimination clearance and the two inter-compartmental
clearances in L/min. Arrays of shape ``(n_subjects,)`` let the engine work on a population at
once; a scalar model is simply ``n_subjects = 1``. Micro-constants (k10 = CL/V1, k12 = Q2/V1,
k21 = Q2/V2, ...) follow the usual convention (e.g. opentiva, Shafer's STANPUMP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

    @classmethod
    def from_clearances(
        cls,
        v1_l: float | np.ndarray,
        cl_l_per_min: float | np.ndarray,
        v2_l: float | np.ndarray = 0.0,
        q2_l_per_min: float | np.ndarray = 0.0,
        v3_l: float | np.ndarray = 0.0,
        q3_l_per_min: float | np.ndarray = 0.0,
    ) -> Disposition:
        arrays = [_as_array(x) for x in (v1_l, cl_l_per_min, v2_l, q2_l_per_min, v3_l, q3_l_per_min)]
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

    @property
    def n_compartments(self) -> int:
        """1, 2 or 3: a peripheral compartment counts when any subject has a positive volume and clearance."""
        n = 1
        if np.any(self.q2_l_per_min > 0):
            n = 2
        if np.any(self.q3_l_per_min > 0):
            n = 3
        return n

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
        """The (n, c, c) matrix K of dx/dt = K x for amounts x (central first)."""
        k = self.micro_constants()
        c = self.n_compartments
        n = self.n_subjects
        mat = np.zeros((n, c, c))
        mat[:, 0, 0] = -(k["k10"] + (k["k12"] if c >= 2 else 0.0) + (k["k13"] if c >= 3 else 0.0))
        if c >= 2:
            mat[:, 0, 1] = k["k21"]
            mat[:, 1, 0] = k["k12"]
            mat[:, 1, 1] = -k["k21"]
        if c >= 3:
            mat[:, 0, 2] = k["k31"]
            mat[:, 2, 0] = k["k13"]
            mat[:, 2, 2] = -k["k31"]
        return mat

    def volumes_l(self) -> np.ndarray:
        """(n, c) compartment volumes (for concentrations in each compartment)."""
        return np.stack([self.v1_l, self.v2_l, self.v3_l], axis=1)[:, : self.n_compartments]

    def steady_state_volume_l(self) -> np.ndarray:
        return self.v1_l + self.v2_l + self.v3_l
