"""The schedule (issue 13): the day view of a 12-chair clinic with 60 appointments, and booking a 10-session series.

Targets (issue 13): the day view renders in < 150 ms p95 (the whole page over HTTP, in-process, signed in as
the coordinator); booking a 10-session infusion series (ten sessions made with their appointments, every
clash check) in < 300 ms p95. On SQLite, the demo clinic (40 patients) plus eight more chairs, on a day three
weeks ahead: twelve infusions in the morning, 48 evaluations and follow-ups in the afternoon.
Writes ``benchmarks/results/schedule.json``; ``main()`` returns the same document for run_all.py.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
RESULT = HERE / "results" / "schedule.json"
TARGET_DAY_MS = 150.0
TARGET_SERIES_MS = 300.0


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 1), "p95_ms": round(_p95(samples), 1)}


def _weekday(weeks: int, weekday: int) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 * weeks - today.weekday() + weekday)


def main() -> dict:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from ketaclinic.api.app import create_app
    from ketaclinic.records.db import Database
    from ketaclinic.records.patients import Patient
    from ketaclinic.records.plans import Plan
    from ketaclinic.services import appointments as ap
    from ketaclinic.services import chairs as ch
    from ketaclinic.services.context import Actor
    from ketaclinic.services.sites import default_site_id
    from ketaclinic.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="kc-bench-schedule-"))
    env = {**os.environ, "KETACLINIC_SECRET_KEY": "s" * 48, "KETACLINIC_SECRET_KEY_FILE": str(tmp / "secret"),
           "KETACLINIC_DEMO_PASSWORD": "demo-clinic", "KETACLINIC_ENV": "test"}
    url = f"sqlite:///{tmp / 'demo.db'}"
    ketaclinic = str(Path(sys.executable).parent / "ketaclinic")
    subprocess.run([ketaclinic, "migrate"], env={**env, "DATABASE_URL": url}, check=True, capture_output=True)
    subprocess.run([ketaclinic, "demo"], env={**env, "DATABASE_URL": url}, check=True, capture_output=True)
    db = Database(url)
    system = Actor.system("bench")
    with db.reading() as uow:
        site = default_site_id(uow)
        newest = select(Plan.patient_id, func.max(Plan.id)).where(Plan.status == "signed").group_by(Plan.patient_id)
        planned = [(p, plan) for p, plan in uow.execute(newest).all()]
        patients = list(uow.execute(select(Patient.id).order_by(Patient.id)).scalars())
    for n in range(5, 13):
        ch.create_chair(db, system, ch.ChairIn(site_id=site, name=f"Chair {n}", position=n))
    chairs = [c.id for c in ch.list_chairs(db, system, site_id=site).items]
    day = _weekday(3, 1)  # a Tuesday three weeks ahead
    booked = 0
    for k, chair in enumerate(chairs):  # twelve infusions from 07:00
        patient, plan = planned[k]
        ap.book(db, system, ap.AppointmentIn(patient_id=patient, kind="infusion", plan_id=plan, chair_id=chair,
                                             start=datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC)))
        booked += 1
    for slot in range(4):  # 48 evaluations and follow-ups from 13:00, 90 minutes apart
        for k, chair in enumerate(chairs):
            patient = patients[(slot * 12 + k + 13) % len(patients)]
            start = datetime(day.year, day.month, day.day, 13, 0, tzinfo=UTC) + timedelta(minutes=90 * slot)
            ap.book(db, system, ap.AppointmentIn(patient_id=patient, kind="evaluation" if k % 2 else "follow_up",
                                                 chair_id=chair, start=start))
            booked += 1

    settings = Settings(env="test", database_url=url, secret_key="s" * 48, secret_key_file=tmp / "secret",
                        login_rate_limit=1000)
    app = create_app(settings, db=db)
    day_samples: list[float] = []
    with TestClient(app, base_url="http://testserver") as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "coordinator", "password": "demo-clinic", "csrf_token": token})
        address = f"/schedule/day?date={day.isoformat()}"
        first = client.get(address)
        assert first.status_code == 200 and first.text.count('class="booked') == booked, "the day view shows all 60"
        for _ in range(40):
            start = time.perf_counter()
            response = client.get(address)
            day_samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200

    series_samples: list[float] = []
    coordinator = system
    for k in range(12):  # each a different patient and chair, weeks ahead of everything else
        patient, plan = planned[12 + k]
        monday = _weekday(6 + 2 * (k // 6), 0)
        start = datetime(monday.year, monday.month, monday.day, 7, 0, tzinfo=UTC)
        data = ap.AppointmentIn(patient_id=patient, kind="infusion", plan_id=plan, chair_id=chairs[k % len(chairs)],
                                start=start, series={"count": 10, "interval_days": 1, "weekdays_only": True})
        began = time.perf_counter()
        made = ap.book(db, coordinator, data)
        series_samples.append((time.perf_counter() - began) * 1000)
        assert len(made.items) == 10
    series_samples = series_samples[1:]  # the first is the warm-up
    db.dispose()

    day_view, series = _summary(day_samples), _summary(series_samples)
    result = {
        "what": "issue 13 schedule: day view of 12 chairs / 60 appointments (HTTP, in-process); a 10-session "
                "infusion series booked (service call), SQLite, demo clinic",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "day_view_12_chairs_60_appointments": day_view,
        "book_series_of_10": series,
        "targets_met": {
            f"day view p95 < {TARGET_DAY_MS:.0f} ms": day_view["p95_ms"] < TARGET_DAY_MS,
            f"10-session series p95 < {TARGET_SERIES_MS:.0f} ms": series["p95_ms"] < TARGET_SERIES_MS,
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
