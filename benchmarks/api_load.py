"""API load check (issue 5): 50 clinicians reading charts and recording vitals for 60 s, on SQLite.

Run by ``make bench`` (not a timed test); loopback only. Writes ``benchmarks/results/api_load.json``.

Set-up, as a clinic would run it: a new SQLite file, ``ketaclinic migrate``, ``ketaclinic demo``
(the synthetic clinic: 40 patients, a session running today), ``ketaclinic serve`` (one process,
as ``make serve`` runs it). Then 50 simulated clinicians (half logged in as the nurse, half as the
physician), each one an asyncio task over one ``aiohttp.ClientSession``, repeat for 60 s:

- read a chart: ``GET /patients/{id}``, ``GET /sessions?patient_id={id}``, then the events of the
  patient's latest visit (``GET /sessions/{id}/events``); every read is audited, so each one is
  also a write to the audit chain;
- every other round, record vitals on the running session (``POST /sessions/{id}/events``: the
  alert rules run and their alerts are stored with the event, plus the audit entry).

Each clinician pauses ``THINK_S`` (uniform, seeded) between requests: a person at a keyboard, far
busier than a real nurse who records vitals every 5-15 minutes. All writes go to the demo's one
running session; SQLite serialises writers across the whole file, so one session or many gives
the same write contention.

Targets: zero errors (any transport error or status other than the one expected), p95 < 200 ms
for reads and < 100 ms for recording an event.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

RESULTS = Path(__file__).parent / "results"
KETACLINIC = str(Path(sys.executable).parent / "ketaclinic")
CLINICIANS = 50
DURATION_S = 60.0
THINK_S = (0.5, 1.5)
DEMO_PATIENTS = 40
SEED = 5
API = "/api/v1"
PASSWORD = "demo-clinic"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ketaclinic(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([KETACLINIC, *args], env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"ketaclinic {' '.join(args)} failed: {result.stdout}{result.stderr}")


def _start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as handle:
        process = subprocess.Popen([KETACLINIC, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                   stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not answer /healthz")


def _stop_server(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def percentile_ms(samples: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of latencies in seconds, in milliseconds."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank] * 1000, 2)


def summary(samples: list[float]) -> dict[str, float | int | None]:
    return {"requests": len(samples), "p50_ms": percentile_ms(samples, 50), "p95_ms": percentile_ms(samples, 95),
            "p99_ms": percentile_ms(samples, 99), "max_ms": round(max(samples) * 1000, 2) if samples else None}


class Load:
    """The clinicians' shared counters: latencies by kind of request, and every error with its reason."""

    def __init__(self) -> None:
        self.reads: list[float] = []
        self.writes: list[float] = []
        self.errors: list[str] = []

    async def call(self, client: aiohttp.ClientSession, kind: str, method: str, url: str, expected: int,
                   params: dict | None = None, **kwargs) -> dict | None:
        start = time.perf_counter()
        query = {key: str(value) for key, value in (params or {}).items()}
        try:
            async with client.request(method, url, params=query, **kwargs) as response:
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as error:
            self.errors.append(f"{method} {url}: {type(error).__name__} {error}")
            return None
        elapsed = time.perf_counter() - start
        if response.status != expected:
            self.errors.append(f"{method} {url}: {response.status} {body[:200].decode(errors='replace')}")
            return None
        (self.reads if kind == "read" else self.writes).append(elapsed)
        return json.loads(body)


def vitals(rng: random.Random) -> dict:
    """Plausible vitals of a calm patient (mostly no alert; now and then a low SpO2 that raises one)."""
    return {"kind": "vitals", "systolic_mmhg": rng.randint(112, 138), "diastolic_mmhg": rng.randint(68, 86),
            "heart_rate_bpm": rng.randint(60, 92), "spo2_pct": rng.choice([96, 97, 98, 99, 99, 93]),
            "respiratory_rate_per_min": rng.randint(12, 18), "moaas": rng.choice([5, 5, 5, 4])}


async def clinician(index: int, client: aiohttp.ClientSession, token: str, patients: list[int], running_id: int,
                    load: Load, stop_at: float) -> int:
    rng = random.Random(SEED * 1000 + index)
    headers = {"Authorization": f"Bearer {token}"}
    rounds = 0

    async def think() -> None:
        await asyncio.sleep(rng.uniform(*THINK_S))

    await asyncio.sleep(rng.uniform(0, THINK_S[1]))  # do not all start on the same tick
    while time.monotonic() < stop_at:
        patient_id = rng.choice(patients)
        await load.call(client, "read", "GET", f"{API}/patients/{patient_id}", 200, headers=headers)
        await think()
        visits = await load.call(client, "read", "GET", f"{API}/sessions", 200, headers=headers,
                                 params={"patient_id": patient_id, "limit": 50})
        await think()
        if visits and visits["items"]:
            latest = max(visits["items"], key=lambda v: v["scheduled_at"])
            await load.call(client, "read", "GET", f"{API}/sessions/{latest['id']}/events", 200, headers=headers,
                            params={"limit": 50})
            await think()
        if rounds % 2 == index % 2:
            await load.call(client, "write", "POST", f"{API}/sessions/{running_id}/events", 201, headers=headers,
                            json=vitals(rng))
            await think()
        rounds += 1
    return rounds


async def run_load(base_url: str, tokens: list[str], patients: list[int], running_id: int) -> tuple[Load, float, int]:
    load = Load()
    # aiohttp, not httpx, for the simulated clinicians: the load generator shares the machine's cores with the
    # server and PostgreSQL, and httpx spent about as much CPU per request as PostgreSQL did (issue 17's
    # saturation run); set-up calls stay on httpx.
    connector = aiohttp.TCPConnector(limit=CLINICIANS + 10)
    async with aiohttp.ClientSession(base_url=base_url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as client:
        start = time.monotonic()
        stop_at = start + DURATION_S
        rounds = await asyncio.gather(*(clinician(i, client, tokens[i % len(tokens)], patients, running_id, load, stop_at)
                                        for i in range(CLINICIANS)))
        elapsed = time.monotonic() - start
    return load, elapsed, sum(rounds)


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="ketaclinic-load-") as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{Path(tmp) / 'clinic.db'}", "KETACLINIC_ENV": "development",
               "KETACLINIC_SECRET_KEY": "load-benchmark-secret-key-that-is-long-enough-0123456789"}
        _ketaclinic(env, "migrate")
        _ketaclinic(env, "demo", "--patients", str(DEMO_PATIENTS))
        port = _free_port()
        server = _start_server(env, port, Path(tmp) / "server.log")
        base_url = f"http://127.0.0.1:{port}"
        try:
            tokens = []
            for username in ("nurse", "physician"):
                login = httpx.post(f"{base_url}{API}/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
                login.raise_for_status()
                tokens.append(login.json()["access_token"])
            headers = {"Authorization": f"Bearer {tokens[1]}"}
            patients = [p["id"] for p in httpx.get(f"{base_url}{API}/patients", params={"limit": 200}, headers=headers,
                                                    timeout=30).json()["items"]]
            running = httpx.get(f"{base_url}{API}/sessions", params={"state": "running"}, headers=headers, timeout=30).json()
            running_id = running["items"][0]["id"]
            load, elapsed, rounds = asyncio.run(run_load(base_url, tokens, patients, running_id))
        finally:
            _stop_server(server)
    total = len(load.reads) + len(load.writes) + len(load.errors)
    reads, writes = summary(load.reads), summary(load.writes)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "case": (f"{CLINICIANS} clinicians for {DURATION_S:g} s on SQLite (one `ketaclinic serve` process, loopback), "
                 f"demo clinic of {DEMO_PATIENTS} patients; think time {THINK_S[0]}-{THINK_S[1]} s between requests; "
                 "chart read = GET patient + GET sessions + GET events; write = POST vitals on the running session"),
        "duration_s": round(elapsed, 2),
        "chart_rounds": rounds,
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "errors": len(load.errors),
        "error_samples": load.errors[:10],
        "reads": reads,
        "event_writes": writes,
        "targets": {"errors": "== 0", "reads_p95_ms": "< 200", "event_writes_p95_ms": "< 100"},
    }
    result["targets_met"] = {
        "errors": not load.errors,
        "reads_p95_ms": reads["p95_ms"] is not None and reads["p95_ms"] < 200,
        "event_writes_p95_ms": writes["p95_ms"] is not None and writes["p95_ms"] < 100,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api_load.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
