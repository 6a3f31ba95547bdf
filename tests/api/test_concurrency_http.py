"""Concurrency over real HTTP, on the served app with two worker processes sharing one SQLite file.

The services tests race two threads inside one process; here the race goes through everything a
clinic runs: ``ketaclinic serve --workers 2`` (stateless workers, design.md section 7), uvicorn,
the If-Match parsing, SQLite locking between processes.

- Two nurses (two accounts) record on the same running session at the same moment: every note
  each of them was told was stored (201) is there, once, under the right name.
- Two physicians PATCH the same draft plan with the same ``If-Match``, released together by a
  barrier, several rounds: each round exactly one 200 and one 409, and the plan holds the
  winner's change.
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from tests.api.test_crash_safety import API, Server, _all_events, _free_port, _login, demo_clinic

PASSWORD = "second-account-password"
NOTES_PER_NURSE = 25
PLAN_ROUNDS = 6


@pytest.fixture
def clinic_env(tmp_path) -> dict[str, str]:
    return demo_clinic(tmp_path)


def _second_account(base: str, admin: dict[str, str], username: str, role: str) -> dict[str, str]:
    created = httpx.post(f"{base}{API}/users", json={"username": username, "role": role, "password": PASSWORD},
                         headers=admin, timeout=30)
    assert created.status_code == 201, created.text
    token = httpx.post(f"{base}{API}/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _together(*calls):
    """Run the calls in threads released at the same instant; their results in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as error:  # re-raised below, in the test's own thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_two_nurses_and_two_physicians_over_http(clinic_env, tmp_path):
    server = Server(clinic_env, _free_port(), tmp_path / "server.log", "--workers", "2")
    server.start()
    try:
        admin = _login(server.url, "admin")
        nurses = {"nurse": _login(server.url, "nurse"), "nurse2": _second_account(server.url, admin, "nurse2", "nurse")}
        physicians = [_login(server.url, "physician"), _second_account(server.url, admin, "physician2", "physician")]

        # --- two nurses, one session ------------------------------------------------------
        running = httpx.get(f"{server.url}{API}/sessions", params={"state": "running"}, headers=nurses["nurse"], timeout=30)
        session_id = running.json()["items"][0]["id"]

        def record(name: str):
            stored = []
            with httpx.Client(base_url=server.url, headers=nurses[name], timeout=30) as client:
                for i in range(NOTES_PER_NURSE):
                    text = f"synthetic note {i} by {name}"
                    response = client.post(f"{API}/sessions/{session_id}/events", json={"kind": "note", "text": text})
                    assert response.status_code == 201, response.text
                    stored.append((response.json()["id"], text))
            return stored

        acknowledged = [item for result in _together(lambda: record("nurse"), lambda: record("nurse2")) for item in result]
        assert len(acknowledged) == 2 * NOTES_PER_NURSE
        events = {event["id"]: event for event in _all_events(server.url, nurses["nurse"], session_id)}
        for event_id, text in acknowledged:
            assert events[event_id]["kind"] == "note" and events[event_id]["payload"]["text"] == text
        texts = Counter(event["payload"]["text"] for event in events.values() if event["kind"] == "note")
        assert all(texts[text] == 1 for _, text in acknowledged), "a note stored twice"
        authors = {events[event_id]["recorded_by"] for event_id, _ in acknowledged}
        assert len(authors) == 2, "each note keeps the nurse who recorded it"

        # --- two physicians, one draft plan ------------------------------------------------
        signed = httpx.get(f"{server.url}{API}/plans", params={"limit": 50}, headers=physicians[0], timeout=30).json()["items"]
        base = next(plan for plan in signed if plan["status"] == "signed")
        draft = httpx.post(f"{server.url}{API}/plans", headers=physicians[0], timeout=30, json={
            "patient_id": base["patient_id"], "evaluation_id": base["evaluation_id"], "protocol": base["protocol"],
            "supersedes_id": base["id"]})
        assert draft.status_code == 201, draft.text
        plan_id, version = draft.json()["id"], draft.json()["version"]
        for round_ in range(PLAN_ROUNDS):
            sessions_by = (3 + round_, 10 + round_)

            def patch(who: int, version=version, sessions_by=sessions_by):
                return httpx.patch(f"{server.url}{API}/plans/{plan_id}", json={"series": {"sessions": sessions_by[who]}},
                                   headers={**physicians[who], "If-Match": str(version)}, timeout=30)

            answers = _together(lambda: patch(0), lambda: patch(1))
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [200, 409], [answer.text for answer in answers]
            loser = next(answer for answer in answers if answer.status_code == 409)
            assert loser.json()["error"]["code"] in ("conflict", "version_conflict", "stale_version"), loser.text
            winner = next(answer for answer in answers if answer.status_code == 200).json()
            assert winner["version"] == version + 1
            now = httpx.get(f"{server.url}{API}/plans/{plan_id}", headers=physicians[0], timeout=30).json()
            assert now["version"] == version + 1 and now["series_rule"]["sessions"] == winner["series_rule"]["sessions"]
            version = now["version"]
    finally:
        server.stop()
