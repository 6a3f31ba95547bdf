"""Issue 11 in a real Chromium: the evaluation form takes a v2 history item and shows its finding; a
nurse's checklist with SpO2 90 % blocks the start until the physician records why."""

from __future__ import annotations

import pytest

from tests.web.browser_support import PASSWORD, checked_visit, demo_services
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_the_evaluation_form_takes_a_v2_history_item_and_shows_its_finding(page, server):
    sign_in(page, server, "physician")
    page.goto(server.url + "/patients/1/evaluations/new")
    page.check("input[name=conditions][value=crps]")
    page.fill("#f-duration_weeks", "40")
    page.check("input[name=prior_treatments][value=gabapentinoid]")
    page.fill("#f-systolic_mmhg", "128")
    page.fill("#f-diastolic_mmhg", "80")
    page.select_option("#f-coronary", "stable")
    page.wait_for_function("document.querySelector('#decision') && "
                           "document.querySelector('#decision').textContent === 'eligible with precautions'")
    assert "Stable coronary artery disease" in page.inner_text("#screening-result")
    page.select_option("#f-coronary", "recent_event")
    page.wait_for_function("document.querySelector('#decision') && "
                           "document.querySelector('#decision').textContent === 'not eligible'")
    check_accessibility(page, "evaluation v2")


@pytest.fixture
def blocked_session(demo_database):
    """A checked-in visit whose nurse checklist has a baseline SpO2 of 90 %."""
    from ketaclinic.clock import utcnow
    from ketaclinic.services import plans

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = next(p for p in plans.list_plans(db, nurse, status="signed", limit=200).items
                    if p.pump_program.get("route") == "iv")
        return checked_visit(db, nurse, plan.patient_id, plan.id, utcnow(), spo2_pct=90).id


def test_spo2_90_blocks_the_nurse_until_the_physician_records_why(page, server, blocked_session):
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{blocked_session}")
    assert "The checklist blocks the start" in page.inner_text("main")
    assert page.locator("#override-needs-physician").is_visible()
    assert page.locator("#start-infusion").count() == 0
    page.click("button:has-text('Sign out')")
    sign_in(page, server, "physician")
    page.goto(f"{server.url}/sessions/{blocked_session}")
    page.fill("#f-override_reason", "COPD; 90 % is her usual saturation; oxygen on (synthetic)")
    page.click("#record-override")
    assert "Override recorded" in page.inner_text("main")
    assert "Overridden by physician" in page.inner_text("#checklist-baseline_spo2_low")
    check_accessibility(page, "checklist override")
    page.click("button:has-text('Sign out')")
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{blocked_session}")
    page.fill("#double_check_username", "physician")
    page.fill("#double_check_password", PASSWORD)
    page.click("#start-infusion")
    assert page.inner_text("#session-state") == "running"
