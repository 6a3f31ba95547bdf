"""Issue 16 / design 4.10 and 7 on a real server: ``ketaclinic serve --workers 2`` over one database.

A logout answered by one worker ends the token on the other: the connections are pinned to known
workers by looking up, in ``/proc``, which worker process holds each accepted socket. Also: ``serve``
refuses (exit 2, one line naming ``ketaclinic users create``) to start in production on the demo.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.web.browser_support import SECRET, free_port

KETACLINIC = Path(sys.executable).parent / "ketaclinic"


def _env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "KETACLINIC_SECRET_KEY": SECRET, "KETACLINIC_ENV": "test",
           "KETACLINIC_SECRET_KEY_FILE": str(tmp / "secret"), "KETACLINIC_LOGIN_RATE_LIMIT": "1000"}
    env.pop("KETACLINIC_TRUSTED_PROXIES", None)
    env.update(extra)
    return env


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _worker_of(conn: http.client.HTTPConnection, server_port: int, pids: set[int]) -> int | None:
    """The worker process that accepted this (kept-alive) connection."""
    client_port = conn.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local_port, remote_port = int(parts[1].split(":")[1], 16), int(parts[2].split(":")[1], 16)
        if local_port == server_port and remote_port == client_port:
            inode = parts[9]
    if inode is None:
        return None
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


def _call(conn, method, path, body=None, headers=None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


@pytest.fixture
def served(database_url, tmp_path, cheap_password_hashing):
    from ketaclinic.records.db import Database
    from ketaclinic.services.context import Actor
    from ketaclinic.services.users import UserCreate, create_user

    db = Database(database_url)
    try:
        create_user(db, Actor.system("tests"), UserCreate(username="nurse", role="nurse", password=PASSWORD))
    finally:
        db.dispose()
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(KETACLINIC), "serve", "--workers", "2", "--port", str(port)],
                               env=_env(database_url, tmp_path), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if _call(conn, "GET", "/healthz")[0] == 200 and len(_descendants(process.pid)) >= 2:
                    conn.close()
                    break
                conn.close()
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("serve did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
            time.sleep(0.3)
        yield port, process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the server we started and its workers
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_a_logout_on_one_worker_kills_the_token_on_the_other(served):
    port, process = served
    pids = _descendants(process.pid)
    by_worker: dict[int, http.client.HTTPConnection] = {}
    spare = []
    for _ in range(60):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert _call(conn, "GET", "/healthz")[0] == 200
        worker = _worker_of(conn, port, pids)
        if worker is not None and worker not in by_worker:
            by_worker[worker] = conn
        else:
            spare.append(conn)
        if len(by_worker) == 2:
            break
    for conn in spare:
        conn.close()
    assert len(by_worker) == 2, "two workers answer"
    one, other = by_worker.values()

    form = urllib.parse.urlencode({"username": "nurse", "password": PASSWORD})
    status, body = _call(one, "POST", "/api/v1/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    bearer = {"Authorization": f"Bearer {json.loads(body)['access_token']}"}
    assert _call(other, "GET", "/api/v1/auth/me", headers=bearer)[0] == 200  # the other worker knows it
    assert _call(one, "POST", "/api/v1/auth/logout", headers=bearer)[0] == 204
    assert _call(other, "GET", "/api/v1/auth/me", headers=bearer)[0] == 401  # at once, not after a cache expires
    assert _call(one, "GET", "/api/v1/auth/me", headers=bearer)[0] == 401
    for conn in (one, other):
        conn.close()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_serve_refuses_the_demo_database_in_production(database_url, tmp_path, settings):
    from ketaclinic.clock import utcnow
    from ketaclinic.demo import seed_demo
    from ketaclinic.records.db import Database

    db = Database(database_url)
    try:
        seed_demo(db, settings, now=utcnow(), patients=8)
    finally:
        db.dispose()
    env = _env(database_url, tmp_path, KETACLINIC_ENV="production",
               KETACLINIC_SECRET_KEY="Zq3v9Xk2-Lm8Rt5Wp1_Yc7Nb4Hd6Gf0Js", KETACLINIC_DEMO_PASSWORD="a-custom-demo-pass")
    refused = subprocess.run([str(KETACLINIC), "serve", "--port", str(free_port())], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "ketaclinic users create" in refused.stderr
    assert json.loads(refused.stdout)["error"]["code"] == "demo_database_refused"
