"""Issue 17, "many machines": the group deployment is stateless workers over one PostgreSQL.

Two ``ketaclinic serve`` processes (two ports, as two machines would be) share one PostgreSQL. A bounded
mixed load goes through both (loopback only); one is killed with SIGKILL midway. Every write that was
acknowledged is there afterwards, the audit chain verifies, the login rate limit counts attempts on both,
and a token revoked on one is refused by the other at once. (No background job runs yet: the outbox of
design 4.9 will get its own once-only test.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_workers import _env
from tests.conftest import PASSWORD
from tests.web.browser_support import free_port

KETACLINIC = Path(sys.executable).parent / "ketaclinic"
API = "/api/v1"
LOGIN_LIMIT = 6


def _start(database_url: str, tmp: Path, name: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([str(KETACLINIC), "serve", "--port", str(port)],
                               # one day's window: the limit's windows are fixed, so attempts straddling the
                               # end of a 60 s one were counted in two and never refused (flaky on a busy machine)
                               env=_env(database_url, tmp, KETACLINIC_LOGIN_RATE_LIMIT=str(LOGIN_LIMIT),
                                        KETACLINIC_LOGIN_RATE_WINDOW_S="86400"),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return base, process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{name} did not start: " + (tmp / f"{name}.log").read_text()[-2000:])
        time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _token(base: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{base}{API}/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def two_machines(database_url, tmp_path, cheap_password_hashing):
    from ketaclinic.records.db import Database
    from ketaclinic.services.context import Actor
    from ketaclinic.services.users import UserCreate, create_user

    db = Database(database_url)
    try:
        for role in ("physician", "nurse"):
            create_user(db, Actor.system("tests"), UserCreate(username=role, role=role, password=PASSWORD))
    finally:
        db.dispose()
    first, second = _start(database_url, tmp_path, "first"), _start(database_url, tmp_path, "second")
    try:
        yield first, second
    finally:
        for _, process in (first, second):
            _stop(process)


@pytest.mark.parametrize("engine", ["postgresql"])
def test_two_servers_on_one_postgresql_lose_nothing_when_one_is_killed(two_machines, database_url, tmp_path):
    (a, a_process), (b, _) = two_machines
    tokens = {a: _token(a, "physician"), b: _token(b, "physician")}
    acknowledged: dict[int, str] = {}
    for n in range(40):  # a bounded mixed load: writes and reads, alternating between the two machines
        base = a if n % 2 == 0 else b
        if n == 20:
            os.killpg(a_process.pid, signal.SIGKILL)  # the first machine dies midway, without a goodbye
            a_process.wait(timeout=10)
        if n >= 20:
            base = b  # the load balancer takes the dead machine out
        name = f"Synthetic Machine{n:02d}"
        try:
            response = httpx.post(f"{base}{API}/patients", headers=tokens[base], timeout=30, json={
                "given_name": "Synthetic", "family_name": f"Machine{n:02d}", "birth_date": "1970-01-01",
                "sex": "female", "weight_kg": 70})
        except httpx.HTTPError:
            continue  # not acknowledged: the client retries elsewhere; nothing is promised
        assert response.status_code == 201, response.text
        acknowledged[response.json()["id"]] = name
        assert httpx.get(f"{base}{API}/patients", headers=tokens[base], params={"limit": 5},
                         timeout=30).status_code == 200
    assert len(acknowledged) >= 30
    for patient_id, name in acknowledged.items():  # every acknowledged write is there, whole
        chart = httpx.get(f"{b}{API}/patients/{patient_id}", headers=tokens[b], timeout=30)
        assert chart.status_code == 200 and f"{chart.json()['given_name']} {chart.json()['family_name']}" == name
    env = _env(database_url, tmp_path)
    verified = subprocess.run([str(KETACLINIC), "audit", "verify"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert verified.returncode == 0 and json.loads(verified.stdout)["intact"] is True, verified.stdout


@pytest.mark.parametrize("engine", ["postgresql"])
def test_the_login_limit_and_a_revoked_token_hold_across_both_servers(two_machines):
    (a, _), (b, _) = two_machines
    nurse = _token(a, "nurse")
    assert httpx.get(f"{b}{API}/auth/me", headers=nurse, timeout=30).status_code == 200
    assert httpx.post(f"{b}{API}/auth/logout", headers=nurse, timeout=30).status_code == 204
    assert httpx.get(f"{a}{API}/auth/me", headers=nurse, timeout=30).status_code == 401  # revoked on the other, at once

    statuses = []
    for n in range(LOGIN_LIMIT + 2):  # wrong passwords from one address, spread over both machines
        base = a if n % 2 == 0 else b
        statuses.append(httpx.post(f"{base}{API}/auth/token", timeout=30,
                                   data={"username": f"nobody{n}", "password": "wrong password"}).status_code)
    assert 429 in statuses, statuses  # the limit counts the attempts on both machines together
    first_refusal = statuses.index(429)
    assert first_refusal <= LOGIN_LIMIT and all(s == 429 for s in statuses[first_refusal:]), statuses
