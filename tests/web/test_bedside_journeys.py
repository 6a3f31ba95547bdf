"""Issue 12 in a real Chromium: what the pump runs now follows a rate change (bug 3), and an alert
recorded at one bedside reaches the header badge of a nurse on another page without a reload, and the
dashboard (bug 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.interop.flows import EVENT
from tests.web.browser_support import demo_services, settle, start_visit
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def under_way(demo_database) -> tuple[int, object]:
    """A visit on a demo patient's signed IV plan, started 20 minutes ago; and a way to record for it."""
    from ketaclinic.clock import utcnow
    from ketaclinic.services import plans

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = next(p for p in plans.list_plans(db, nurse, status="signed", limit=200).items
                    if p.protocol == "outpatient_infusion")
        visit = start_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(minutes=20),
                            sign_in_as("physician"))
    return visit.id, demo_database


def _record_vitals(demo_database, session_id: int, **vitals: float) -> None:
    from ketaclinic.services import sessions

    with demo_services(demo_database) as (db, sign_in_as):
        body = {"kind": "vitals", "systolic_mmhg": 126, "diastolic_mmhg": 80, "heart_rate_bpm": 72, "spo2_pct": 98,
                "respiratory_rate_per_min": 14, "moaas": 5, **vitals}
        sessions.append_event(db, sign_in_as("nurse"), session_id, EVENT.validate_python(body))


def test_the_pump_now_follows_a_rate_change(page, server, under_way):
    session_id, _ = under_way
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{session_id}")
    planned = page.get_attribute("[data-pump-now-ml-per-h]", "data-pump-now-ml-per-h")
    page.fill("#f-rate_mg_per_kg_per_h", "0.3")
    page.fill("#f-reason", "Dizzy (synthetic)")
    page.click("button:has-text('Change the rate')")
    settle(page)
    now = page.get_attribute("[data-pump-now-ml-per-h]", "data-pump-now-ml-per-h")
    assert float(now) < float(planned)
    row = page.inner_text("tr.current-step")
    assert f"{float(now):.1f}" in row and "now" in row  # the program table shows the running rate
    assert "rate changed" in page.inner_text(".pump-now") and "planned" in page.inner_text(".pump-now")
    check_accessibility(page, "console after a rate change")


def test_an_alert_reaches_the_header_badge_on_another_page_and_the_dashboard(page, server, under_way):
    session_id, demo_database = under_way
    sign_in(page, server, "nurse")
    page.clock.install()  # the page's own timers, under the test's hand: the 15 s poll without 15 s of waiting
    page.goto(f"{server.url}/patients")
    page.wait_for_selector("[data-alert-badge]")
    before = int(page.get_attribute("[data-alert-badge]", "data-alert-badge"))
    _record_vitals(demo_database, session_id, systolic_mmhg=185, diastolic_mmhg=110, spo2_pct=89)
    page.clock.fast_forward("00:16")  # past the badge's "every 15s": its poll fires once, as it would 16 s later
    page.wait_for_selector(f'[data-alert-badge="{before + 2}"]', timeout=25_000)  # polled, no reload
    assert "critical" in page.inner_text("#alert-badge")
    page.goto(f"{server.url}/dashboard")
    assert int(page.get_attribute("[data-open-alerts]", "data-open-alerts")) == before + 2
    assert "No open alerts" not in page.inner_text("main")
    check_accessibility(page, "dashboard with open alerts")
