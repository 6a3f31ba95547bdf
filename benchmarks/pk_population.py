"""Population PK benchmark (issue 3): 10,000 subjects × 72 h at 1-min steps (4,321 points) with a
bolus and a continuous infusion, against scipy's solve_ivp per subject and PyTCI.

Run by ``make bench``; writes ``benchmarks/results/pk_population.json``. Targets on the 2-core
reference machine: in process ≥ 50 million subject-points/s including percentiles and
≥ 100× solve_ivp; through the CLI end to end ≥ 50× solve_ivp; the web preview (1,000 subjects ×
8 h at 1 min) under 50 ms; 100,000 subjects × 72 h under 1.5 GB peak memory.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from ketaclinic.pharmacology.disposition import PARAMETERS
from ketaclinic.pharmacology.engine import Inputs
from ketaclinic.pharmacology.models import get_model
from ketaclinic.pharmacology.population import population_percentiles, sample_dispositions

RESULTS = Path(__file__).parent / "results"
MODEL = get_model("domino1984")
WEIGHT_KG = 70.0
BOLUS_MG = 0.2 * WEIGHT_KG
RATE_MG_PER_H = 0.3 * WEIGHT_KG
HORIZON_MIN = 72 * 60
TIMES = np.arange(0.0, HORIZON_MIN + 1.0)  # 4,321 points
PERCENTILES = [5.0, 50.0, 95.0]
INPUTS = Inputs(
    bolus_time_min=np.array([0.0]), bolus_mg=np.array([BOLUS_MG]),
    infusion_start_min=np.array([0.0]), infusion_end_min=np.array([float(HORIZON_MIN)]),
    infusion_mg_per_min=np.array([RATE_MG_PER_H / 60.0]),
)


def population(subjects: int, times: np.ndarray = TIMES, seed: int = 1):
    d = MODEL.disposition(WEIGHT_KG, 40.0)
    typical = {p: float(getattr(d, p)[0]) for p in PARAMETERS}
    dispositions = sample_dispositions(typical, MODEL.variability_cv(), subjects, seed)
    return dispositions, population_percentiles(dispositions, INPUTS, times, PERCENTILES)


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def solve_ivp_seconds_per_subject(dispositions, sample: int = 12) -> float:
    """One subject: integrate the 3-compartment ODE over 72 h with output every minute."""
    k_all = dispositions.rate_matrix()
    v1_all = dispositions.v1_l
    rate = RATE_MG_PER_H / 60.0
    start = time.perf_counter()
    for i in range(sample):
        k = k_all[i]

        def rhs(t, x, k=k):
            dx = k @ x
            dx[0] += rate
            return dx

        x0 = np.zeros(k.shape[0])
        x0[0] = BOLUS_MG
        sol = solve_ivp(rhs, (0.0, float(HORIZON_MIN)), x0, t_eval=TIMES, method="LSODA", rtol=1e-6, atol=1e-9)
        _ = sol.y[0] / v1_all[i] * 1000.0
    return (time.perf_counter() - start) / sample


def pytci_seconds_per_subject(dispositions, sample: int = 3) -> tuple[float | None, str]:
    try:
        from PyTCI.models.base import Three
    except ImportError:
        return None, "PyTCI is not installed (pip install PyTCI)"
    micro = dispositions.micro_constants()
    start = time.perf_counter()
    curves = []
    for i in range(sample):
        m = Three()
        m.v1 = float(dispositions.v1_l[i])
        m.k10, m.k12, m.k13 = float(micro["k10"][i]), float(micro["k12"][i]), float(micro["k13"][i])
        m.k21, m.k31, m.keo = float(micro["k21"][i]), float(micro["k31"][i]), 0.0
        m.setup()
        m.set_integrator("exact")
        m.give_drug(BOLUS_MG)
        curve = [m.x1 * 1000.0]
        for _ in range(HORIZON_MIN):
            curve.append(m.giveoverseconds(RATE_MG_PER_H / 3600.0, 60) * 1000.0)
        curves.append(curve)
    seconds = (time.perf_counter() - start) / sample
    from ketaclinic.pharmacology.disposition import Disposition
    from ketaclinic.pharmacology.engine import Solution

    ours = Solution(
        Disposition.from_clearances(*(getattr(dispositions, p)[:sample] for p in PARAMETERS)), INPUTS
    ).concentration_ng_per_ml(TIMES)
    agreement = float(np.max(np.abs(np.array(curves) - ours) / np.maximum(ours, 1e-9)))
    return seconds, (
        "PyTCI 1.2 'exact' integrator (matrix exponential per 60-s step), same micro-constants; "
        f"max relative difference to KetaClinic {agreement:.1e}"
    )


def cli_seconds(subjects: int) -> float:
    request = {
        "model": MODEL.id,
        "patient": {"weight_kg": WEIGHT_KG, "age_years": 40},
        "doses": [
            {"kind": "bolus", "route": "iv", "at_min": 0, "dose_mg": BOLUS_MG},
            {"kind": "infusion", "route": "iv", "start_min": 0, "duration_min": HORIZON_MIN, "rate_mg_per_h": RATE_MG_PER_H},
        ],
        "times_min": TIMES.tolist(),
        "population": {"subjects": subjects, "seed": 1, "percentiles": PERCENTILES},
    }
    command = [str(Path(sys.executable).with_name("ketaclinic")), "simulate"]
    payload = json.dumps(request)

    def run():
        done = subprocess.run(command, input=payload, capture_output=True, text=True, check=True)
        assert json.loads(done.stdout)["population"]["subjects"] == subjects

    return best_of(run, 2)


def peak_memory_mb(subjects: int) -> float:
    """Peak resident memory of a fresh process simulating ``subjects`` × 72 h at 1 min."""
    code = (
        f"import resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import pk_population as b; "
        f"b.population({subjects}); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> dict:
    subjects = 10_000
    points = subjects * TIMES.size
    population(200)  # warm-up
    in_process = best_of(lambda: population(subjects), 3)
    dispositions, _ = population(subjects)
    ivp = solve_ivp_seconds_per_subject(dispositions)
    ivp_total = ivp * subjects
    pytci, pytci_note = pytci_seconds_per_subject(dispositions)
    cli = cli_seconds(subjects)
    preview_times = np.arange(0.0, 8 * 60 + 1.0)
    population(1000, preview_times)
    preview = best_of(lambda: population(1000, preview_times), 7)
    memory_100k = peak_memory_mb(100_000)
    result = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "case": f"{MODEL.id}, {subjects} subjects x {TIMES.size} points (72 h at 1 min), bolus {BOLUS_MG:g} mg + "
        f"infusion {RATE_MG_PER_H:g} mg/h, percentiles {PERCENTILES}",
        "in_process_seconds": in_process,
        "in_process_subject_points_per_second": points / in_process,
        "solve_ivp_seconds_per_subject": ivp,
        "solve_ivp_estimated_seconds": ivp_total,
        "ratio_in_process_vs_solve_ivp": ivp_total / in_process,
        "pytci_seconds_per_subject": pytci,
        "ratio_in_process_vs_pytci": (pytci * subjects / in_process) if pytci else None,
        "pytci_note": pytci_note,
        "cli_end_to_end_seconds": cli,
        "ratio_cli_vs_solve_ivp": ivp_total / cli,
        "preview_1000_subjects_8h_ms": preview * 1000.0,
        "peak_memory_100k_subjects_72h_mb": memory_100k,
        "targets": {
            "in_process_subject_points_per_second": ">= 5e7",
            "ratio_in_process_vs_solve_ivp": ">= 100",
            "ratio_cli_vs_solve_ivp": ">= 50",
            "preview_1000_subjects_8h_ms": "< 50",
            "peak_memory_100k_subjects_72h_mb": "< 1536",
        },
    }
    result["targets_met"] = {
        "in_process_subject_points_per_second": result["in_process_subject_points_per_second"] >= 5e7,
        "ratio_in_process_vs_solve_ivp": result["ratio_in_process_vs_solve_ivp"] >= 100,
        "ratio_cli_vs_solve_ivp": result["ratio_cli_vs_solve_ivp"] >= 50,
        "preview_1000_subjects_8h_ms": result["preview_1000_subjects_8h_ms"] < 50,
        "peak_memory_100k_subjects_72h_mb": memory_100k < 1536,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pk_population.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
