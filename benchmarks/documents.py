"""Time to produce each document on the demo clinic (40 patients): FHIR export and import, and the PDFs.

Targets (issue 7, a clinician waiting at the screen): a FHIR export or a referral import of one
chart p95 under 1 s; each PDF (letters, session record, patient summary) p95 under 2 s and the
clinic outcome report under 5 s. In-process (no HTTP), on SQLite, after one warm-up.
Writes ``benchmarks/results/documents.json``; ``main()`` returns the same document for run_all.py.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
RESULT = HERE / "results" / "documents.json"
TARGET_FHIR_MS = 1000.0
TARGET_PDF_MS = 2000.0
TARGET_COHORT_PDF_MS = 5000.0


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    calls[0]()  # warm-up (templates, fonts, imports)
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 1), "p95_ms": round(_p95(samples), 1)}


def main() -> dict:
    from sqlalchemy import select

    from ketaclinic.records.db import Database
    from ketaclinic.records.evaluations import Evaluation
    from ketaclinic.records.patients import Patient
    from ketaclinic.records.sessions import InfusionSession
    from ketaclinic.records.users import User
    from ketaclinic.services.auth import actor_for
    from ketaclinic.services.documents import course_letter, evaluation_letter, session_record
    from ketaclinic.services.documents import outcome_report as outcome_report_pdf
    from ketaclinic.services.documents import patient_summary as patient_summary_pdf
    from ketaclinic.services.fhir import export_patient
    from ketaclinic.services.referrals import import_referral

    tmp = Path(tempfile.mkdtemp(prefix="kc-bench-docs-"))
    env = {**os.environ, "KETACLINIC_SECRET_KEY": "d" * 48, "KETACLINIC_SECRET_KEY_FILE": str(tmp / "secret"),
           "KETACLINIC_DEMO_PASSWORD": "demo-clinic", "KETACLINIC_ENV": "test"}
    ketaclinic = str(Path(sys.executable).parent / "ketaclinic")
    urls = {name: f"sqlite:///{tmp / (name + '.db')}" for name in ("demo", "empty")}
    for url in urls.values():
        subprocess.run([ketaclinic, "migrate"], env={**env, "DATABASE_URL": url}, check=True, capture_output=True)
    subprocess.run([ketaclinic, "demo"], env={**env, "DATABASE_URL": urls["demo"]}, check=True, capture_output=True)
    demo, empty = Database(urls["demo"]), Database(urls["empty"])
    now = datetime.now(UTC)
    with demo.reading() as session:
        physician = actor_for(session.execute(select(User).where(User.username == "physician")).scalar_one(), "bench")
        patients = list(session.execute(select(Patient.id).order_by(Patient.id)).scalars())
        evaluations = list(session.execute(select(Evaluation.id).where(Evaluation.status == "signed")).scalars())
        visits = list(session.execute(select(InfusionSession.id).where(InfusionSession.started_at.is_not(None))).scalars())
    from ketaclinic.services.context import Actor
    from ketaclinic.services.users import UserCreate, create_user

    create_user(empty, Actor.system("bench"), UserCreate(username="receiver", role="physician",
                                                         password="a long benchmark password"))
    with empty.reading() as session:
        receiver = actor_for(session.execute(select(User).where(User.username == "receiver")).scalar_one(), "bench")
    bundles = {pid: export_patient(demo, physician, pid, now=now) for pid in patients}
    result = {
        "fhir_export": _timed([lambda p=p: export_patient(demo, physician, p, now=now) for p in patients]),
        "fhir_import": _timed([lambda b=b: import_referral(empty, receiver, b, now=now, confirm_new_chart=True)  # warm-up repeats one
                               for b in bundles.values()]),
        "bundle_entries_max": max(len(b["entry"]) for b in bundles.values()),
        "evaluation_letter": _timed([lambda e=e: evaluation_letter(demo, physician, e, now=now) for e in evaluations[:12]]),
        "course_letter": _timed([lambda p=p: course_letter(demo, physician, p, now=now) for p in patients[:12]]),
        "session_record": _timed([lambda v=v: session_record(demo, physician, v, now=now) for v in visits[:12]]),
        "patient_summary": _timed([lambda p=p: patient_summary_pdf(demo, physician, p, now=now) for p in patients[:12]]),
        "outcome_report": _timed([lambda: outcome_report_pdf(demo, physician, now=now)] * 4),
    }
    demo.dispose()
    empty.dispose()
    result["targets_met"] = {
        f"FHIR export p95 < {TARGET_FHIR_MS:.0f} ms": result["fhir_export"]["p95_ms"] < TARGET_FHIR_MS,
        f"referral import p95 < {TARGET_FHIR_MS:.0f} ms": result["fhir_import"]["p95_ms"] < TARGET_FHIR_MS,
        **{f"{name} PDF p95 < {TARGET_PDF_MS:.0f} ms": result[name]["p95_ms"] < TARGET_PDF_MS
           for name in ("evaluation_letter", "course_letter", "session_record", "patient_summary")},
        f"outcome report PDF p95 < {TARGET_COHORT_PDF_MS:.0f} ms": result["outcome_report"]["p95_ms"] < TARGET_COHORT_PDF_MS,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
