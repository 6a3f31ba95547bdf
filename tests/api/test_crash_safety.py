"""Crash safety: SIGKILL the real server in the middle of a stream of session events.

The real thing, end to end: ``ketaclinic migrate`` and ``ketaclinic demo`` make a clinic on a
temporary SQLite file (the demo has a session running today), ``ketaclinic serve`` serves it, and
nurses' clients stream vitals to the running session from several threads. Once enough events
have been acknowledged the server process gets SIGKILL (no shutdown, no flush), is started again
on the same file, and then:

- every event acknowledged with 201 before the kill is there, with exactly the values sent;
- nothing is half-written: every vitals event stored during the run has its complete observation,
  the alert events its rules raised, and its audit entry (one transaction each), whether or not
  its answer reached the client; and the audit hash chain verifies (``ketaclinic audit verify``
  exits 0);
- the server serves again: a new event is accepted and can be read back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
KETACLINIC = str(BIN / "ketaclinic")
WRITERS = 4
ACKS_BEFORE_KILL = 120
API = "/api/v1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KETACLINIC, *args], env=env, capture_output=True, text=True, timeout=120)


class Server:
    """``ketaclinic serve`` as a child process in its own process group (so a kill reaches only it)."""

    def __init__(self, env: dict[str, str], port: int, log: Path, *extra_args: str):
        self.env, self.port, self.log, self.extra_args = env, port, log, list(extra_args)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([KETACLINIC, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                             *self.extra_args],
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not answer /healthz: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        """SIGTERM to the server's own process group (its workers too), SIGKILL if it lingers."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the group id is the server's pid
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue


def _login(base: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{base}{API}/auth/token", data={"username": username, "password": "demo-clinic"}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _all_events(base: str, headers: dict[str, str], session_id: int) -> list[dict]:
    events, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = httpx.get(f"{base}{API}/sessions/{session_id}/events", params=params, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return events


def _vitals(writer: int, n: int) -> dict:
    """Distinct, plausible values per (writer, n), so a stored event can be matched to what was sent."""
    return {"kind": "vitals", "systolic_mmhg": 110 + writer, "diastolic_mmhg": 70 + n % 20,
            "heart_rate_bpm": 60 + n % 50, "spo2_pct": 97, "respiratory_rate_per_min": 14, "moaas": 5}


def demo_clinic(tmp_path: Path) -> dict[str, str]:
    """``ketaclinic migrate`` + ``ketaclinic demo`` on a new SQLite file; the environment that names it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.db'}", "KETACLINIC_ENV": "development",
           "KETACLINIC_SECRET_KEY": "crash-test-secret-key-that-is-long-enough-0123456789"}
    for args in (("migrate",), ("demo", "--patients", "8")):
        result = _run(env, *args)
        assert result.returncode == 0, result.stdout + result.stderr
    return env


@pytest.fixture
def clinic_env(tmp_path: Path) -> dict[str, str]:
    return demo_clinic(tmp_path)


def test_acknowledged_events_survive_sigkill_and_nothing_is_half_written(clinic_env, tmp_path):
    server = Server(clinic_env, _free_port(), tmp_path / "server.log")
    server.start()
    try:
        nurse = _login(server.url, "nurse")  # tokens are signed with the configured key: they outlive the process
        admin = _login(server.url, "admin")
        running = httpx.get(f"{server.url}{API}/sessions", params={"state": "running"}, headers=nurse, timeout=30)
        assert running.status_code == 200, running.text
        session_id = running.json()["items"][0]["id"]
        before = {event["id"] for event in _all_events(server.url, nurse, session_id)}

        acknowledged: dict[int, dict] = {}  # event id -> what was sent
        lock = threading.Lock()
        enough = threading.Event()
        transport_errors: list[str] = []
        refusals: list[str] = []

        def write(writer: int) -> None:
            with httpx.Client(base_url=server.url, headers=nurse, timeout=10) as client:
                for n in range(100_000):
                    sent = _vitals(writer, n)
                    try:
                        response = client.post(f"{API}/sessions/{session_id}/events", json=sent)
                    except httpx.TransportError as error:  # the kill: connection reset or refused
                        transport_errors.append(type(error).__name__)
                        return
                    if response.status_code != 201:
                        refusals.append(f"{response.status_code} {response.text}")
                        return
                    with lock:
                        acknowledged[response.json()["id"]] = sent
                        if len(acknowledged) >= ACKS_BEFORE_KILL:
                            enough.set()

        threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(WRITERS)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=120), f"only {len(acknowledged)} events acknowledged; refusals: {refusals[:3]}"
        server.kill()  # while the writers are still sending
        for thread in threads:
            thread.join(timeout=30)
        assert not refusals, refusals[:3]
        assert transport_errors, "the writers should have been cut off by the kill"
        acknowledged_at_kill = dict(acknowledged)

        # --- the same database, a new process ------------------------------------------------
        server.start()
        events = _all_events(server.url, nurse, session_id)
        by_id = {event["id"]: event for event in events}

        missing = sorted(set(acknowledged_at_kill) - set(by_id))
        assert not missing, f"{len(missing)} acknowledged events lost after SIGKILL: {missing[:10]}"
        for event_id, sent in acknowledged_at_kill.items():
            stored = by_id[event_id]
            assert stored["kind"] == "vitals"
            observation = stored["payload"]["observation"]
            assert {key: observation[key] for key in sent if key != "kind"} == {k: v for k, v in sent.items() if k != "kind"}

        # every vitals event written in the run (acknowledged or in flight at the kill) is complete
        new = [event for event in events if event["id"] not in before]
        new_vitals = [event for event in new if event["kind"] == "vitals"]
        assert len(new_vitals) >= len(acknowledged_at_kill)
        alerts_by_vitals: dict[int, int] = {}
        for event in new:
            if event["kind"] == "alert":
                alerts_by_vitals[event["payload"]["vitals_event_id"]] = alerts_by_vitals.get(event["payload"]["vitals_event_id"], 0) + 1
        for event in new_vitals:
            observation = event["payload"]["observation"]
            assert {"systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct", "respiratory_rate_per_min",
                    "moaas", "minute"} <= set(observation), event
            assert alerts_by_vitals.get(event["id"], 0) == len(event["payload"]["alerts"]), event
        assert set(alerts_by_vitals) <= {event["id"] for event in new_vitals}, "an alert without its vitals event"

        audited: set[int] = set()
        cursor = None
        while True:
            params = {"action": "session.event.vitals", "record_type": "session", "record_id": str(session_id),
                      "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{server.url}{API}/audit", params=params, headers=admin, timeout=30)
            assert page.status_code == 200, page.text
            body = page.json()
            audited |= {entry["detail"]["event_id"] for entry in body["items"]}
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert {event["id"] for event in new_vitals} <= audited, "a stored event without its audit entry"

        # the server serves again
        again = httpx.post(f"{server.url}{API}/sessions/{session_id}/events", json=_vitals(9, 1), headers=nurse, timeout=30)
        assert again.status_code == 201, again.text
        assert again.json()["id"] in {event["id"] for event in _all_events(server.url, nurse, session_id)}
    finally:
        server.stop()

    verify = _run(clinic_env, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["intact"] is True
