"""Design 4.4 v2's machine-readable marks, in-process: the console's ``data-pump-now-ml-per-h`` is what
the pump runs now (rate changes applied, 0 once stopped), and every clinical dashboard's
``data-open-alerts`` counts the open alerts of every session under way (issue 12: the dashboard said
"No open alerts" while the console had four)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ketaclinic.clock import utcnow
from ketaclinic.services import sessions as ss
from tests.interop.flows import event, running, signed_plan
from tests.web.conftest import csrf_of


def _mark(html: str, name: str) -> list[str]:
    return re.findall(rf'{name}="([^"]*)"', html)


@pytest.fixture
def under_way(db, clinic):
    """A visit started 30 minutes ago on the standard plan (68 kg: bolus, then 34 mg/h at 1 mg/mL)."""
    return running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), utcnow() - timedelta(minutes=30))


def test_the_console_shows_what_the_pump_runs_now(signed_in, db, clinic, under_way) -> None:
    client = signed_in("nurse")
    assert _mark(client.get(f"/sessions/{under_way.id}").text, "data-pump-now-ml-per-h") == ["34.0"]
    event(db, clinic.actors["nurse"], under_way.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.3,
                                                     "reason": "dizzy"}, utcnow() - timedelta(minutes=5))
    page = client.get(f"/sessions/{under_way.id}").text
    assert _mark(page, "data-pump-now-ml-per-h") == ["20.4"]  # the new rate, not the planned 34
    assert "planned <s>34.0 mL/h</s>" in page and "rate changed 5 min ago" in page
    row = re.search(r'<tr class="current-step">(.*?)</tr>', page, re.S).group(1)
    assert "<strong>20.4</strong>" in row and "<s" in row and "34" in row  # the program table follows the pump
    assert _mark(client.get(f"/sessions/{under_way.id}/live").text, "data-pump-now-ml-per-h") == ["20.4"]
    visit = ss.get_session(db, clinic.actors["nurse"], under_way.id)
    ss.stop_infusion(db, clinic.actors["nurse"], visit.id, visit.version, now=utcnow())
    assert _mark(client.get(f"/sessions/{under_way.id}").text, "data-pump-now-ml-per-h") == ["0.0"]


def test_every_clinical_dashboard_counts_the_open_alerts(signed_in, db, clinic, under_way) -> None:
    for role in ("nurse", "physician"):
        assert _mark(signed_in(role).get("/dashboard").text, "data-open-alerts") == ["0"]
    recorded = event(db, clinic.actors["nurse"], under_way.id, {
        "kind": "vitals", "systolic_mmhg": 185, "diastolic_mmhg": 110, "heart_rate_bpm": 80, "spo2_pct": 89,
        "respiratory_rate_per_min": 14, "moaas": 5}, utcnow())
    opened = len(recorded.raised)
    assert opened == 2  # one per cause: blood pressure, SpO2
    for role in ("nurse", "physician"):
        page = signed_in(role).get("/dashboard").text
        assert _mark(page, "data-open-alerts") == [str(opened)] and "No open alerts" not in page
        assert "Blood pressure" in page or "blood pressure" in page
    first = recorded.raised[0]
    event(db, clinic.actors["nurse"], under_way.id, {"kind": "alert_ack", "alert_event_id": first.id,
                                                     "action_taken": "paused, physician called"}, utcnow())
    assert _mark(signed_in("nurse").get("/dashboard").text, "data-open-alerts") == [str(opened - 1)]


def test_the_header_counts_open_alerts_on_every_page_for_nurses_and_physicians(signed_in, db, clinic, under_way) -> None:
    nurse = signed_in("nurse")
    assert 'hx-get="/alerts/badge"' in nurse.get("/patients").text  # every page polls the count
    assert _mark(nurse.get("/alerts/badge").text, "data-alert-badge") == ["0"]
    event(db, clinic.actors["nurse"], under_way.id, {
        "kind": "vitals", "systolic_mmhg": 185, "diastolic_mmhg": 110, "heart_rate_bpm": 80, "spo2_pct": 97,
        "respiratory_rate_per_min": 14, "moaas": 5}, utcnow())
    badge = signed_in("physician").get("/alerts/badge").text
    assert _mark(badge, "data-alert-badge") == ["1"] and "1 critical" in badge and "badge critical" in badge
    coordinator = signed_in("coordinator")
    assert 'hx-get="/alerts/badge"' not in coordinator.get("/patients").text
    assert coordinator.get("/alerts/badge").status_code == 403


def test_the_console_says_when_vitals_are_due_and_when_they_are_overdue(signed_in, db, clinic, under_way) -> None:
    nurse = signed_in("nurse")
    assert _mark(nurse.get(f"/sessions/{under_way.id}").text, "data-vitals-due-state") == ["overdue"]  # none in 30 min
    event(db, clinic.actors["nurse"], under_way.id, {
        "kind": "vitals", "systolic_mmhg": 126, "diastolic_mmhg": 80, "heart_rate_bpm": 72, "spo2_pct": 98,
        "respiratory_rate_per_min": 14, "moaas": 5}, utcnow())
    page = nurse.get(f"/sessions/{under_way.id}/live").text
    assert _mark(page, "data-vitals-due-state") == ["ok"] and "next in 15 min" in page


def test_a_rate_change_shows_at_once_on_the_console_it_was_made_from(signed_in, db, clinic, under_way) -> None:
    """The event's minute is stored to 0.01 min: the page drawn a moment later must already show it."""
    client = signed_in("nurse")
    page = client.get(f"/sessions/{under_way.id}").text
    after = client.post(f"/sessions/{under_way.id}/rate", data={"csrf_token": csrf_of(page), "reason": "dizzy",
                                                                 "rate_mg_per_kg_per_h": "0.3"}, follow_redirects=True)
    assert "set the pump to 20.4 mL/h" in after.text
    assert _mark(after.text, "data-pump-now-ml-per-h") == ["20.4"]


def test_the_badge_poll_never_takes_the_next_pages_message(signed_in, db, clinic, under_way) -> None:
    """Found by a Chromium journey: the badge polled between a save and the page it redirects to took
    that page's 'saved' message."""
    client = signed_in("nurse")
    page = client.get(f"/sessions/{under_way.id}").text
    saved = client.post(f"/sessions/{under_way.id}/rate", data={"csrf_token": csrf_of(page), "reason": "dizzy",
                                                                 "rate_mg_per_kg_per_h": "0.3"}, follow_redirects=False)
    assert saved.status_code == 303
    client.get("/alerts/badge", headers={"X-Background": "1", "HX-Request": "true"})
    assert "set the pump to 20.4 mL/h" in client.get(saved.headers["location"]).text


def test_a_saved_message_survives_a_request_that_was_already_in_flight(signed_in, db, clinic, under_way) -> None:
    """Found by a clean-clone journey: an HTMX preview fired by the same click answered after the save and
    rewrote the cookie without the message. The message now travels signed in the redirect's address."""
    client = signed_in("nurse")
    page = client.get(f"/sessions/{under_way.id}").text
    stale_cookie = dict(client.cookies)
    saved = client.post(f"/sessions/{under_way.id}/rate", data={"csrf_token": csrf_of(page), "reason": "dizzy",
                                                                 "rate_mg_per_kg_per_h": "0.3"}, follow_redirects=False)
    location = saved.headers["location"]
    assert "_m=" in location and location.index("_m=") < (location.index("#") if "#" in location else len(location))
    for name, value in stale_cookie.items():  # what the in-flight request would have written back
        client.cookies.set(name, value)
    assert re.search(r'class="flash"[^>]*>[^<]*set the pump to 20.4 mL/h', client.get(location).text)
    forged = location.split("_m=")[0] + "_m=not-a-signed-message"
    assert 'class="flash"' not in client.get(forged).text
