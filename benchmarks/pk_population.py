"""Population PK benchmark (issue 3): 10,000 subjects × 72 h at 1-min steps (4,321 points) with a
bolus and a continuous infusion, against scipy's solve_ivp per subject and PyTCI.

Run by ``make bench``; writes ``benchmarks/results/pk_population.json``. Like with like: both
engines warm, each measured in a fresh process, on one core and on all cores; solve_ivp is measured
over 1,000 subjects, never extrapolated from a few. Targets on the 2-core reference machine: in
process ≥ 50 million subject-points/s including percentiles and ≥ 100× solve_ivp per core and on
all cores; through the CLI end to end ≥ 50× solve_ivp; the web preview (1,000 subjects ×
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


def population(subjects: int, times: np.ndarray = TIMES, seed: int = 1, threads: int | None = None):
    d = MODEL.disposition(WEIGHT_KG, 40.0)
    typical = {p: float(getattr(d, p)[0]) for p in PARAMETERS}
    dispositions = sample_dispositions(typical, MODEL.variability_cv(), subjects, seed)
    return dispositions, population_percentiles(dispositions, INPUTS, times, PERCENTILES, threads=threads)


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _solve_ivp_subject(k: np.ndarray, v1_l: float) -> np.ndarray:
    """One subject: integrate the 3-compartment ODE over 72 h with output every minute (LSODA)."""
    rate = RATE_MG_PER_H / 60.0

    def rhs(t, x):
        dx = k @ x
        dx[0] += rate
        return dx

    x0 = np.zeros(k.shape[0])
    x0[0] = BOLUS_MG
    sol = solve_ivp(rhs, (0.0, float(HORIZON_MIN)), x0, t_eval=TIMES, method="LSODA", rtol=1e-6, atol=1e-9)
    return sol.y[0] / v1_l * 1000.0


def _solve_ivp_chunk(bounds: tuple[int, int]) -> int:
    dispositions, _ = _IVP_POPULATION
    k_all, v1_all = dispositions.rate_matrix(), dispositions.v1_l
    for i in range(*bounds):
        _solve_ivp_subject(k_all[i], float(v1_all[i]))
    return bounds[1] - bounds[0]


_IVP_POPULATION: tuple = ()


def solve_ivp_subjects_per_second(subjects: int, workers: int) -> float:
    """Measured (not extrapolated): ``subjects`` solved after a warm-up, split over ``workers`` processes
    (one BLAS thread each); subjects per second of wall time."""
    global _IVP_POPULATION
    from multiprocessing import get_context

    _IVP_POPULATION = population(subjects)
    _solve_ivp_chunk((0, 2))  # warm-up in this process (imports, LSODA set-up)
    step = -(-subjects // workers)
    chunks = [(i, min(subjects, i + step)) for i in range(0, subjects, step)]
    with get_context("fork").Pool(workers) as pool:
        pool.map(_solve_ivp_chunk, [(0, 2)] * workers)  # warm every worker
        start = time.perf_counter()
        done = sum(pool.map(_solve_ivp_chunk, chunks))
        seconds = time.perf_counter() - start
    assert done == subjects
    return subjects / seconds


def _measure_in_child(part: str, threads: int, **options: int) -> float:
    """Run one measurement in a fresh process with ``threads`` BLAS/OpenMP threads (like with like)."""
    env = {**__import__("os").environ, **{v: str(threads) for v in (
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}}
    args = [sys.executable, __file__, "--part", part, *[f"--{k}={v}" for k, v in options.items()]]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def ours_subjects_per_second(subjects: int, threads: int) -> float:
    """KetaClinic's population engine on ``threads`` threads (its own pool and BLAS), warm (one untimed
    run), best of 3: subjects per second."""
    population(200, threads=threads)
    return subjects / best_of(lambda: population(subjects, threads=threads), 3)


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
    ivp_subjects = 1_000
    points = subjects * TIMES.size
    cores = __import__("os").cpu_count() or 1
    # like with like: both warm, in fresh processes, on one core, then on every core (threads for the
    # vectorised engine, processes for solve_ivp, which solves one subject at a time)
    ours_1 = _measure_in_child("ours", 1, subjects=subjects, workers=1)
    ours_all = _measure_in_child("ours", cores, subjects=subjects, workers=cores)
    ivp_1 = _measure_in_child("ivp", 1, subjects=ivp_subjects, workers=1)
    ivp_all = _measure_in_child("ivp", 1, subjects=ivp_subjects, workers=cores)
    in_process = subjects / ours_all
    population(200)  # warm-up for the measurements below, in this process
    dispositions, _ = population(subjects)
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
        "method": "both warm (an untimed run first), each in a fresh process; KetaClinic best of 3 over "
                  f"{subjects} subjects; solve_ivp measured over {ivp_subjects} subjects (not extrapolated); "
                  f"one core (1 thread / 1 process) and all {cores} cores (threads / processes)",
        "in_process_seconds": in_process,
        "in_process_subject_points_per_second": points / in_process,
        "ketaclinic_subjects_per_second_one_core": ours_1,
        "ketaclinic_subjects_per_second_all_cores": ours_all,
        "solve_ivp_subjects_measured": ivp_subjects,
        "solve_ivp_subjects_per_second_one_core": ivp_1,
        "solve_ivp_subjects_per_second_all_cores": ivp_all,
        "ratio_vs_solve_ivp_one_core": ours_1 / ivp_1,
        "ratio_vs_solve_ivp_all_cores": ours_all / ivp_all,
        "pytci_seconds_per_subject": pytci,
        "ratio_in_process_vs_pytci": (pytci * subjects / in_process) if pytci else None,
        "pytci_note": pytci_note,
        "cli_end_to_end_seconds": cli,
        "ratio_cli_vs_solve_ivp_all_cores": (subjects / ivp_all) / cli,
        "preview_1000_subjects_8h_ms": preview * 1000.0,
        "peak_memory_100k_subjects_72h_mb": memory_100k,
        "targets": {
            "in_process_subject_points_per_second": ">= 5e7",
            "ratio_vs_solve_ivp_one_core": ">= 100",
            "ratio_vs_solve_ivp_all_cores": ">= 100",
            "ratio_cli_vs_solve_ivp_all_cores": ">= 50",
            "preview_1000_subjects_8h_ms": "< 50",
            "peak_memory_100k_subjects_72h_mb": "< 1536",
        },
    }
    result["targets_met"] = {
        "in_process_subject_points_per_second": result["in_process_subject_points_per_second"] >= 5e7,
        "ratio_vs_solve_ivp_one_core": result["ratio_vs_solve_ivp_one_core"] >= 100,
        "ratio_vs_solve_ivp_all_cores": result["ratio_vs_solve_ivp_all_cores"] >= 100,
        "ratio_cli_vs_solve_ivp_all_cores": result["ratio_cli_vs_solve_ivp_all_cores"] >= 50,
        "preview_1000_subjects_8h_ms": result["preview_1000_subjects_8h_ms"] < 50,
        "peak_memory_100k_subjects_72h_mb": memory_100k < 1536,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pk_population.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if "--part" in sys.argv:  # one measurement in a child process (see _measure_in_child)
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--part", choices=["ours", "ivp"])
        parser.add_argument("--subjects", type=int)
        parser.add_argument("--workers", type=int, default=1)
        args = parser.parse_args()
        value = (ours_subjects_per_second(args.subjects, args.workers) if args.part == "ours"
                 else solve_ivp_subjects_per_second(args.subjects, args.workers))
        print(value)
    else:
        print(json.dumps(main(), indent=2))
