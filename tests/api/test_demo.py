"""The synthetic demo clinic (contract 4.6): every feature on show, synthetic everywhere, idempotent, fast."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ketaclinic.api.app import create_app
from ketaclinic.clock import utcnow
from ketaclinic.demo import seed_demo
from ketaclinic.records.audit import AuditEntry, verify_chain
from ketaclinic.records.models import Evaluation, InfusionSession, Inquiry, Patient, Plan, SessionEvent
from ketaclinic.settings import DEFAULT_DEMO_PASSWORD, Settings, SettingsError

KETACLINIC = Path(sys.executable).with_name("ketaclinic")


def _counts(db):
    with db.reading() as session:
        return {model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Patient, Evaluation, Plan, InfusionSession, SessionEvent, AuditEntry)}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_demo_clinic_shows_every_feature(db, settings, cheap_password_hashing):
    started = time.perf_counter()
    summary = seed_demo(db, settings, now=utcnow())
    elapsed = time.perf_counter() - started
    assert summary.seeded and elapsed < 60, elapsed  # ~10 s on an idle 2-core machine; the budget is 30 s
    assert summary.counts["patients"] == 40 and summary.counts["running_sessions"] == 1
    with db.reading() as session:
        patients = session.execute(select(Patient)).scalars().all()
        assert all(p.family_name.endswith("(demo)") and p.given_name == "Synthetic" for p in patients)
        assert all(p.email.endswith("@example.invalid") for p in patients)
        first, last = min(p.created_at for p in patients), max(p.created_at for p in patients)
        assert (last - first).days > 450  # about 18 months of clinic
        evaluations = session.execute(select(Evaluation)).scalars().all()
        decisions = Counter(e.screening_result["decision"] for e in evaluations)
        assert set(decisions) == {"eligible", "eligible_with_precautions", "not_eligible"}
        assert any(e.status == "draft" for e in evaluations) and any(e.amends_id for e in evaluations)
        assert all("Synthetic" in (e.notes or "") for e in evaluations)
        plans = session.execute(select(Plan).where(Plan.status == "signed")).scalars().all()
        assert len({p.protocol_id for p in plans}) >= 5
        states = Counter(s.state for s in session.execute(select(InfusionSession)).scalars())
        assert states["running"] == 1 and states["discharged"] > 50 and states["scheduled"] and states["cancelled"]
        kinds = Counter(e.kind for e in session.execute(select(SessionEvent)).scalars())
        for kind in ("vitals", "alert", "alert_ack", "rate_change", "side_effect", "medication", "note", "state_change"):
            assert kinds[kind] > 0, kind
        assert {i.status for i in session.execute(select(Inquiry)).scalars()} >= {"new", "answered", "scheduled", "closed"}
        assert verify_chain(session).intact

    app = create_app(settings, db=db)
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", data={"username": "patient", "password": DEFAULT_DEMO_PASSWORD}).json()
        me = {"Authorization": f"Bearer {token['access_token']}"}
        assert token["patient_id"] == summary.patient_user_patient_id
        booster = client.get("/api/v1/diary/booster", headers=me).json()
        assert booster["suggest_booster"] is True, booster
        doctor = client.post("/api/v1/auth/token", data={"username": "physician", "password": DEFAULT_DEMO_PASSWORD}).json()
        outcomes = client.get("/api/v1/outcomes", headers={"Authorization": f"Bearer {doctor['access_token']}"}).json()
        assert 0 < outcomes["overall"]["pct_30"] < 100 and outcomes["durability"]["n"] > 5
        doctor_auth = {"Authorization": f"Bearer {doctor['access_token']}"}
        future = client.get("/api/v1/outcomes", params={"start": "2199-01-01"}, headers=doctor_auth).json()
        assert future["assessable"] == 0  # no course ends in that range
        backwards = client.get("/api/v1/outcomes", params={"start": "2026-02-01", "end": "2026-01-01"}, headers=doctor_auth)
        assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "start"
        running = client.get("/api/v1/sessions", params={"state": "running"},
                             headers={"Authorization": f"Bearer {doctor['access_token']}"}).json()["items"][0]
        started = datetime.fromisoformat(running["started_at"].replace("Z", "+00:00"))
        assert timedelta(0) < utcnow() - started < timedelta(hours=2) and running["open_alerts"] is None

    before = _counts(db)
    again = seed_demo(db, settings, now=utcnow())
    assert not again.seeded and again.reason == "the demo clinic is already there"
    assert _counts(db) == before
    assert seed_demo(db, settings, now=utcnow(), if_empty=True).reason == "the database is not empty"


def test_a_small_demo_on_both_engines_is_idempotent(db, settings, cheap_password_hashing):
    now = utcnow()
    summary = seed_demo(db, settings, now=now, patients=10)
    assert summary.seeded and summary.counts["patients"] == 10
    before = _counts(db)
    assert not seed_demo(db, settings, now=now, patients=10).seeded
    assert _counts(db) == before
    with db.reading() as session:
        assert verify_chain(session).intact


def test_production_refuses_the_default_password(database_url, tmp_path):
    production = Settings(env="production", database_url=database_url, secret_key="Zq3v9Xk2-Lm8Rt5Wp1_Yc7Nb4Hd6Gf0Js")
    from ketaclinic.records.db import Database

    db = Database(database_url)
    try:
        with pytest.raises(SettingsError):
            seed_demo(db, production, now=utcnow())
    finally:
        db.dispose()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_demo_command(database_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "KETACLINIC_SECRET_KEY_FILE": str(tmp_path / "key")}
    first = subprocess.run([str(KETACLINIC), "demo", "--if-empty", "--patients", "8"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["seeded"] is True
    second = subprocess.run([str(KETACLINIC), "demo", "--if-empty"], env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(second.stdout) == {"seeded": False, "reason": "the database is not empty", "counts": {},
                                         "users": [], "patient_user_patient_id": None}
    refused = subprocess.run([str(KETACLINIC), "demo"], env={**env, "KETACLINIC_ENV": "production",
                                                             "KETACLINIC_SECRET_KEY": "Zq3v9Xk2-Lm8Rt5Wp1_Yc7Nb4Hd6Gf0Js"},
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and json.loads(refused.stdout)["error"]["code"] == "demo_refused"
