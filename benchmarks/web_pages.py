"""p95 time of every web page on the demo clinic (issue 12 target: under 150 ms).

A real server (uvicorn, one worker) on a temporary SQLite database seeded with ``ketaclinic demo``
(40 patients); each role signs in through the web form, and its pages are the named ones plus
every page its links reach (two examples of each pattern such as ``/patients/{id}``, as the
accessibility crawl in tests/web/test_every_page.py does); each is fetched ``ROUNDS`` times after
one warm-up. Redirects are not followed (a bounce to the sign-in page is a failure, not a 200).
Chart images (``*.svg``) load separately from the page and are reported apart, held to the same target.
Writes ``benchmarks/results/web_pages.json``; ``main()`` returns the same document for run_all.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
RESULT = HERE / "results" / "web_pages.json"
ROUNDS = int(os.environ.get("KETACLINIC_BENCH_ROUNDS", "30"))
TARGET_MS = 150.0
PER_PATTERN = 2
MAX_PAGES_PER_ROLE = 40
SKIP = re.compile(r"(/logout|\.pdf|\.svg|\.csv|\.json|/export|/download|/fhir|\.ics|/static/|/healthz|/api/)")
PAGES = {
    "physician": ["/dashboard", "/patients", "/patients/1", "/evaluations/1", "/plans/1", "/patients/1/evaluations/new",
                  "/patients/1/plans/new", "/inquiries", "/outcomes"],
    "nurse": ["/dashboard", "/sessions/{running}"],
    "coordinator": ["/dashboard", "/inquiries", "/patients"],
    "admin": ["/dashboard", "/admin/users", "/admin/audit"],
    "patient": ["/me", "/me/sessions"],
}
IMAGES = {"physician": ["/patients/1/pain.svg", "/plans/1/preview.svg", "/outcomes/km.svg"], "patient": ["/me/pain.svg"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _sign_in(client: httpx.Client, username: str, password: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 303 and "/login" not in response.headers.get("location", ""), \
        f"{username} could not sign in ({response.status_code})"


def _reachable(client: httpx.Client, seeds: list[str]) -> list[str]:
    """The seeds and every same-origin page their links reach, two of each pattern, breadth first."""
    queue, seen, per_pattern, pages = list(seeds), set(seeds), {}, []
    while queue and len(pages) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        pattern = re.sub(r"/\d+", "/{id}", path.split("?")[0])
        if per_pattern.get(pattern, 0) >= PER_PATTERN:
            continue
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
        pages.append(path)
        for href in re.findall(r'href="(/[^"#]*)"', response.text):
            href = href.replace("&amp;", "&")
            if href not in seen and not SKIP.search(href):
                seen.add(href)
                queue.append(href)
    return pages


def _time(client: httpx.Client, path: str) -> tuple[list[float], int]:
    client.get(path)  # warm-up
    samples = []
    status = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    return samples, status


def main() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kc-bench-web-"))
    password = "demo-clinic"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'demo.db'}", "KETACLINIC_SECRET_KEY": "b" * 48,
           "KETACLINIC_SECRET_KEY_FILE": str(tmp / "secret"), "KETACLINIC_DEMO_PASSWORD": password,
           "KETACLINIC_ENV": "test", "KETACLINIC_LOGIN_RATE_LIMIT": "10000"}
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "ketaclinic"), "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([str(bin_dir / "ketaclinic"), "demo"], env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "ketaclinic.api.app:create_app_from_env", "--factory",
                               "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        pages: dict[str, dict] = {}
        images: dict[str, dict] = {}
        for role, paths in PAGES.items():
            # redirects are not followed: a page that sends the user to /login is a failure, not a 200
            with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
                _sign_in(client, role, password)
                running = "1"
                if role == "nurse":
                    found = re.findall(r'href="/sessions/(\d+)"', client.get("/dashboard").text)
                    running = found[0] if found else "1"
                for path in _reachable(client, [p.format(running=running) for p in paths]):
                    samples, status = _time(client, path)
                    pages[f"{role} {path}"] = {"status": status, "p50_ms": round(statistics.median(samples), 1),
                                               "p95_ms": round(_p95(samples), 1)}
                for path in IMAGES.get(role, []):
                    samples, status = _time(client, path)
                    images[f"{role} {path}"] = {"status": status, "p50_ms": round(statistics.median(samples), 1),
                                                "p95_ms": round(_p95(samples), 1)}
    finally:
        server.terminate()
        server.wait(timeout=10)
    worst = max(pages.values(), key=lambda v: v["p95_ms"])
    result = {
        "rounds": ROUNDS, "target_p95_ms": TARGET_MS, "pages": pages, "chart_images": images,
        "worst_page_p95_ms": worst["p95_ms"],
        "note": "Pages are HTML only; charts load as separate SVG images, reported apart.",
        "targets_met": {
            f"every page p95 < {TARGET_MS:g} ms": all(v["p95_ms"] < TARGET_MS for v in pages.values()),
            "every page answers 200": all(v["status"] == 200 for v in pages.values()),
            f"every chart image p95 < {TARGET_MS:g} ms": all(v["p95_ms"] < TARGET_MS for v in images.values()),
            "every chart image answers 200": all(v["status"] == 200 for v in images.values()),
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
