"""A real server on a temporary SQLite database seeded with the demo clinic, and Debian's Chromium.

The server is ``uvicorn`` in a subprocess on a free loopback port; the browser is Playwright
driving ``/usr/bin/chromium`` headless with a fresh profile. ``make test`` installs Chromium
(scripts/ensure_chromium.sh) when it is missing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECRET = "browser-test-secret-key-0123456789-abcdefghij"
PASSWORD = "demo-clinic"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Nothing of htmx in flight: the page's own "load"-triggered fragments are in. Playwright's "networkidle"
# waits for 500 ms of silence after every page, which cost the page crawl minutes (10 crawls x ~60 pages).
HTMX_SETTLED = "() => !document.querySelector('.htmx-request')"


def settle(page: Any) -> None:
    """Wait until the page has loaded and no htmx request is in flight (htmx marks each with .htmx-request)."""
    page.wait_for_load_state("load")
    page.wait_for_function(HTMX_SETTLED)


HTMX_FORM = ("b => { const f = b.form || b.closest('form'); "
             "return !!(b.closest('[hx-post],[hx-put],[hx-patch],[hx-delete]') || "
             "(f && f.closest('[hx-post],[hx-put],[hx-patch],[hx-delete],[hx-boost=true]'))); }")


def submit(page: Any, target: Any) -> None:
    """Click a form's submit button or a plain link (a selector or a Locator) and wait until the server's answer
    is on screen.

    A plain form's answer is a new document (the 303's target, or the form again with its errors, 422);
    ``settle`` alone could return while the old page still shows, because the old page is "loaded" until
    the new one commits (a count sheet's slow witness check lost that race once on the shared machine).
    An htmx form's answer is a swap, or an ``HX-Redirect`` whose page is awaited by its address."""
    button = page.locator(target).first if isinstance(target, str) else target  # page.click takes the first match too
    if not button.evaluate(HTMX_FORM):
        with page.expect_navigation():
            button.click()
        settle(page)
        return
    with page.expect_response(lambda r: r.request.method != "GET") as answer:
        button.click()
    redirect_to = answer.value.headers.get("hx-redirect")
    if redirect_to:
        page.wait_for_url(urljoin(page.url, redirect_to))
    settle(page)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "KETACLINIC_SECRET_KEY": SECRET, "KETACLINIC_ENV": "test",
           "KETACLINIC_SECRET_KEY_FILE": str(tmp / "secret"), "KETACLINIC_DEMO_PASSWORD": PASSWORD,
           "KETACLINIC_LOGIN_RATE_LIMIT": "1000", "KETACLINIC_INQUIRY_RATE_LIMIT": "1000"}
    env.pop("KETACLINIC_DEMO", None)
    env.update(extra)
    return env


def seed(database_url: str, tmp: Path) -> dict:
    bin_dir = Path(sys.executable).parent
    env = env_for(database_url, tmp)
    subprocess.run([str(bin_dir / "ketaclinic"), "migrate"], env=env, check=True, capture_output=True)
    out = subprocess.run([str(bin_dir / "ketaclinic"), "demo", "--patients", "12"], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(database_url: str, tmp: Path, **extra: str) -> Server:
    port = free_port()
    log = open(tmp / f"server-{port}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ketaclinic.api.app:create_app_from_env", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env_for(database_url, tmp, **extra), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return Server(url, process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start: " + (tmp / f"server-{port}.log").read_text()[-2000:])


@contextmanager
def demo_services(demo_database) -> Iterator[tuple[Any, Callable[[str], Any]]]:
    """The demo clinic's database for the services, and ``sign_in(username)`` for its demo users:
    journeys prepare a visit through the services, then drive it in the browser."""
    from ketaclinic.records.db import Database
    from ketaclinic.services.auth import authenticate
    from ketaclinic.settings import Settings

    url, tmp, _ = demo_database
    settings = Settings(env="test", database_url=url, secret_key="x" * 40, secret_key_file=tmp / "s")
    db = Database(url)
    try:
        yield db, lambda username: authenticate(db, settings, username=username, password=PASSWORD, ip="127.0.0.1")
    finally:
        db.dispose()


def checked_visit(db, nurse, patient_id: int, plan_id: int, start: datetime, **baseline: float) -> Any:
    """Schedule a visit, check it in and record the checklist (a normal baseline unless ``baseline``
    changes it, e.g. ``spo2_pct=90``) at ``start``."""
    from ketaclinic.services import sessions

    v = sessions.schedule_session(db, nurse, sessions.SessionIn(patient_id=patient_id, plan_id=plan_id,
                                                                 scheduled_at=start), now=start - timedelta(days=1))
    v = sessions.check_in(db, nurse, v.id, v.version, sessions.CheckInIn(), now=start)
    vitals = {"systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 70, "spo2_pct": 98, **baseline}
    return sessions.record_checklist(db, nurse, v.id, v.version, sessions.ChecklistIn.model_validate({
        "fasting": {"asked": True, "last_light_meal_at": (start - timedelta(hours=7)).isoformat()},
        "escort_present": True, "consent_signed": True, "baseline_vitals": vitals,
        "baseline_vitals_at": start.isoformat(), "can_become_pregnant": False, "urinary_symptoms": "none",
        "liver_tests": "normal"}), now=start)


def start_visit(db, nurse, patient_id: int, plan_id: int, start: datetime, checker: Any) -> Any:
    """Schedule, check in, pass the checklist (normal baseline) and start a visit at ``start``, the pump
    program double-checked by ``checker`` (a second clinician)."""
    from ketaclinic.services import sessions

    v = checked_visit(db, nurse, patient_id, plan_id, start)
    return sessions.start_session(db, nurse, v.id, v.version, now=start, double_check=checker)
