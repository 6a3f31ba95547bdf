"""Issue 11 in a real Chromium: the evaluation form takes a v2 history item and shows its finding; a
nurse's checklist with SpO2 90 % blocks the start until the physician records why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.browser_support import PASSWORD
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
    from ketaclinic.records.db import Database, utcnow
    from ketaclinic.services import plans, sessions
    from ketaclinic.services.auth import authenticate
    from ketaclinic.settings import Settings

    url, tmp, _ = demo_database
    settings = Settings(env="test", database_url=url, secret_key="x" * 40, secret_key_file=tmp / "s")
    db = Database(url)
    try:
        nurse = authenticate(db, settings, username="nurse", password=PASSWORD, ip="127.0.0.1")
        plan = next(p for p in plans.list_plans(db, nurse, status="signed", limit=200).items
                    if p.pump_program.get("route") == "iv")
        now = utcnow()
        v = sessions.schedule_session(db, nurse, sessions.SessionIn(patient_id=plan.patient_id, plan_id=plan.id,
                                                                     scheduled_at=now), now=now - timedelta(days=1))
        v = sessions.check_in(db, nurse, v.id, v.version, sessions.CheckInIn(), now=now)
        facts = sessions.ChecklistIn.model_validate({
            "fasting": {"asked": True, "last_light_meal_at": (now - timedelta(hours=7)).isoformat()},
            "escort_present": True, "consent_signed": True,
            "baseline_vitals": {"systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 70, "spo2_pct": 90},
            "baseline_vitals_at": now.isoformat(), "can_become_pregnant": False, "urinary_symptoms": "none",
            "liver_tests": "normal"})
        return sessions.record_checklist(db, nurse, v.id, v.version, facts, now=now).id
    finally:
        db.dispose()


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
    page.click("#start-infusion")
    assert page.inner_text("#session-state") == "running"
