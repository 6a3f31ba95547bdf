"""Issue 12 in a real Chromium, at the bedside: the patient banner on the console, the independent
double check of the pump program before the start, and the vitals timer that turns due and overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.interop.flows import EVENT
from tests.web.browser_support import PASSWORD, checked_visit, demo_services, start_visit
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _signed_iv_plan(db, nurse):
    from ketaclinic.services import plans

    return next(p for p in plans.list_plans(db, nurse, status="signed", limit=200).items
                if p.protocol == "outpatient_infusion")


@pytest.fixture
def checked_in(demo_database) -> int:
    """A session on a demo patient's signed IV plan, checked in with a passed checklist: ready to start."""
    from ketaclinic.clock import utcnow

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = _signed_iv_plan(db, nurse)
        return checked_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(minutes=5)).id


def test_the_start_needs_a_second_clinicians_password_and_records_who_checked(page, server, checked_in):
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{checked_in}")
    banner = page.inner_text("#patient-banner")
    assert "kg" in banner and "Allergies" in banner and "Consent" in banner  # who is in the chair, at a glance
    page.fill("#ketamine_lot_number", "K-JOURNEY-1")
    page.fill("#double_check_username", "physician")
    page.fill("#double_check_password", "not the password")
    page.click("#start-infusion")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("#session-state", "class").endswith("checked_in")  # a wrong password starts nothing
    assert page.locator("#e-double_check").is_visible()
    page.fill("#ketamine_lot_number", "K-JOURNEY-1")
    page.fill("#double_check_username", "nurse")
    page.fill("#double_check_password", PASSWORD)
    page.click("#start-infusion")
    page.wait_for_load_state("networkidle")
    assert "running" not in page.inner_text("#session-state")  # the nurse cannot check her own program
    page.fill("#ketamine_lot_number", "K-JOURNEY-1")
    page.fill("#double_check_username", "physician")
    page.fill("#double_check_password", PASSWORD)
    page.click("#start-infusion")
    page.wait_for_load_state("networkidle")
    assert "running" in page.inner_text("#session-state")
    assert "double check" in page.inner_text("main").lower()
    check_accessibility(page, "console after a double-checked start")


def test_the_vitals_timer_is_overdue_then_resets_when_vitals_are_recorded(page, server, demo_database):
    from ketaclinic.clock import utcnow
    from ketaclinic.services import sessions

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = _signed_iv_plan(db, nurse)
        session = start_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(minutes=25),
                              sign_in_as("physician"))
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{session.id}")
    timer = page.locator("#vitals-timer")
    assert timer.get_attribute("data-vitals-due-state") == "overdue"  # 25 min and none recorded (every 15 min)
    assert "overdue" in timer.inner_text().lower()
    with demo_services(demo_database) as (db, sign_in_as):
        sessions.append_event(db, sign_in_as("nurse"), session.id, EVENT.validate_python({
            "kind": "vitals", "systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 72, "spo2_pct": 98,
            "respiratory_rate_per_min": 14, "moaas": 5}))
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("#vitals-timer", "data-vitals-due-state") == "ok"
    assert "next in" in page.inner_text("#vitals-timer")
