"""Crash safety of the register (issue 14): SIGKILL the real server while nurses draw from one lot.

``ketaclinic serve`` on a small clinic (SQLite file, built through the services); three clients post 1 mg dispenses for the running
session from the same lot until enough are acknowledged, then the server gets SIGKILL. Started again on the
same file: every dispense acknowledged with 201 is in the register with its amount, nothing is
half-written (``ketaclinic register verify``: every running balance follows the entries and every entry has
its audit entry; ``ketaclinic audit verify``: the chain is intact).
"""

from __future__ import annotations

import json
import threading

import httpx

from tests.api.test_crash_safety import API, Server, _free_port, _run
from tests.conftest import PASSWORD

WRITERS = 3
ACKS_BEFORE_KILL = 45


def _clinic(tmp_path, sqlite_template) -> tuple[dict[str, str], int]:
    """A small clinic on a SQLite file (users, stock, a session running), built through the services."""
    import os
    import shutil
    from datetime import date

    from ketaclinic.records.db import Database
    from ketaclinic.services.patients import PatientIn
    from tests.conftest import build_clinic
    from tests.interop.flows import T0, running, signed_plan
    from tests.services.test_register import stock

    path = tmp_path / "clinic.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        clinic = build_clinic(db, PatientIn(given_name="Synthetic", family_name="Crash", birth_date=date(1970, 1, 2),
                                            sex="female", weight_kg=68.0),
                              PatientIn(given_name="Synthetic", family_name="Other", birth_date=date(1980, 3, 4),
                                        sex="male", weight_kg=80.0))
        stock(db, clinic)
        session_id = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), T0).id
    finally:
        db.dispose()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "KETACLINIC_ENV": "development",
           "KETACLINIC_SECRET_KEY": "crash-test-secret-key-that-is-long-enough-0123456789"}
    return env, session_id


def _login(base: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{base}{API}/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_acknowledged_dispenses_survive_sigkill(tmp_path, sqlite_template):
    env, session_id = _clinic(tmp_path, sqlite_template)
    server = Server(env, _free_port(), tmp_path / "server.log")
    server.start()
    try:
        nurse = _login(server.url, "nurse")
        stock = httpx.get(f"{server.url}{API}/register/balances", params={"drug": "ketamine"}, headers=nurse,
                          timeout=30).json()["items"]
        lot = max(stock, key=lambda i: (i["expiry_date"], i["balance_mg"]))
        body = {"session_id": session_id, "lot_id": lot["lot_id"], "location_id": lot["location_id"], "amount_mg": 1.0}
        acknowledged: set[int] = set()
        lock, enough = threading.Lock(), threading.Event()
        refusals: list[str] = []

        def draw() -> None:
            with httpx.Client(base_url=server.url, headers=nurse, timeout=10) as client:
                for _ in range(10_000):
                    try:
                        response = client.post(f"{API}/register/dispenses", json=body)
                    except httpx.TransportError:
                        return
                    if response.status_code != 201:
                        refusals.append(response.text)
                        return
                    with lock:
                        acknowledged.add(response.json()["id"])
                        if len(acknowledged) >= ACKS_BEFORE_KILL:
                            enough.set()

        threads = [threading.Thread(target=draw, daemon=True) for _ in range(WRITERS)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=120), f"only {len(acknowledged)} acknowledged; {refusals[:2]}"
        server.kill()
        for thread in threads:
            thread.join(timeout=30)
        assert not refusals, refusals[:2]
        at_kill = set(acknowledged)

        server.start()
        state = httpx.get(f"{server.url}{API}/register/sessions/{session_id}", headers=nurse, timeout=30).json()
        stored = {e["id"]: e for e in state["entries"] if e["kind"] == "dispense"}
        missing = sorted(at_kill - set(stored))
        assert not missing, f"acknowledged dispenses lost after SIGKILL: {missing[:10]}"
        assert all(stored[i]["amount_mg"] == 1.0 and stored[i]["lot_id"] == lot["lot_id"] for i in at_kill)
        assert state["drugs"][0]["dispensed_mg"] == float(len(stored))
    finally:
        server.stop()
    register = _run(env, "register", "verify")
    assert register.returncode == 0 and json.loads(register.stdout)["ok"], register.stdout + register.stderr
    chain = _run(env, "audit", "verify")
    assert chain.returncode == 0, chain.stdout + chain.stderr
