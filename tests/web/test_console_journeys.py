"""Issue 12 in a real Chromium, at the bedside: the patient banner on the console, the independent
double check of the pump program before the start, and the vitals timer that turns due and overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.interop.flows import EVENT
from tests.web.browser_support import PASSWORD, checked_visit, demo_services, settle, start_visit, submit
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
    settle(page)
    assert page.get_attribute("#session-state", "class").endswith("checked_in")  # a wrong password starts nothing
    assert page.locator("#e-double_check").is_visible()
    page.fill("#ketamine_lot_number", "K-JOURNEY-1")
    page.fill("#double_check_username", "nurse")
    page.fill("#double_check_password", PASSWORD)
    page.click("#start-infusion")
    settle(page)
    assert "running" not in page.inner_text("#session-state")  # the nurse cannot check her own program
    page.fill("#ketamine_lot_number", "K-JOURNEY-1")
    page.fill("#double_check_username", "physician")
    page.fill("#double_check_password", PASSWORD)
    page.click("#start-infusion")
    settle(page)
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
    settle(page)
    assert page.get_attribute("#vitals-timer", "data-vitals-due-state") == "ok"
    assert "next in" in page.inner_text("#vitals-timer")


def test_critical_vitals_raise_red_alerts_that_stay_until_acknowledged(page, server, demo_database):
    """Bug 2: BP 185/110 and SpO2 89 arrive as red alerts with the action in words, never a green banner,
    one per clinical cause, and they stay through a reload until the nurse acknowledges each."""
    from ketaclinic.clock import utcnow

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = _signed_iv_plan(db, nurse)
        session = start_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(minutes=10),
                              sign_in_as("physician"))
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{session.id}")
    for name, value in (("systolic_mmhg", "185"), ("diastolic_mmhg", "110"), ("heart_rate_bpm", "88"),
                        ("spo2_pct", "89"), ("respiratory_rate_per_min", "14"), ("moaas", "5")):
        page.fill(f"#f-{name}", value)
    submit(page, "#vitals-form button[type=submit]")
    assert not page.locator(".flash:has-text('Vitals recorded')").count()  # no green "recorded" over an alert
    critical = page.locator("#alerts .alert.critical[role=alert]")
    assert critical.count() >= 1
    texts = [critical.nth(i).inner_text() for i in range(critical.count())]
    assert all("Action:" in t and "_" not in t.split("Action:")[1] for t in texts)  # the action in words
    causes = page.locator("#alerts [role=alert]").count()
    assert causes == 2  # one for the blood pressure (its most severe tier), one for the SpO2: one per cause
    page.reload()
    settle(page)
    assert page.locator("#alerts [role=alert]").count() == causes  # still there: nothing clears them but the nurse
    page.locator("#alerts [role=alert] button:has-text('Acknowledge')").first.click()
    settle(page)
    assert page.locator("#alerts [role=alert]").count() == causes - 1
    check_accessibility(page, "console with critical alerts")


def test_an_evaluation_booked_by_the_coordinator_shows_on_the_chart_and_the_dashboards(page, server, demo_database):
    """Bug 6: the coordinator books an evaluation from an inquiry in the browser; the physician's dashboard
    lists it, and once the inquiry becomes a patient, the chart shows it."""
    from ketaclinic.clock import utcnow
    from ketaclinic.services import inquiries as iq
    from ketaclinic.services.context import Actor
    from ketaclinic.settings import Settings

    url, tmp, _ = demo_database
    with demo_services(demo_database) as (db, sign_in_as):
        settings = Settings(env="test", database_url=url, secret_key="x" * 40, secret_key_file=tmp / "s")
        iq.submit_inquiry(db, settings, Actor.public("5.5.5.6"), iq.InquiryIn(
            name="Synthetic Journey Booking", phone="+1 555 0143", preferred_contact="phone", condition="crps",
            message="Burning pain since a wrist fracture (synthetic).", consent_to_contact=True))
        inquiry_id = max(i.id for i in iq.list_inquiries(db, sign_in_as("coordinator"), status="new").items)
    tomorrow = (utcnow() + timedelta(days=1)).replace(hour=10, minute=30, second=0, microsecond=0)  # the clinic is UTC
    sign_in(page, server, "coordinator")
    page.goto(f"{server.url}/inquiries/{inquiry_id}")
    page.locator("summary:has-text('Schedule an evaluation')").click()
    page.fill("#f-scheduled_for", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    submit(page, "form[action$='/schedule'] button[type=submit]")
    assert "Evaluation scheduled for" in page.inner_text("body")
    page.context.clear_cookies()
    sign_in(page, server, "physician")
    page.goto(f"{server.url}/dashboard")
    settle(page)  # the dashboard's own fragments answered: none can set the session cookie again after the clear
    assert "Synthetic Journey Booking" in page.inner_text("#evaluations-booked")
    page.context.clear_cookies()
    sign_in(page, server, "coordinator")
    page.goto(f"{server.url}/inquiries/{inquiry_id}")
    page.locator("summary:has-text('Turn into a patient')").click()
    page.fill("#f-given_name", "Synthetic")
    page.fill("#f-family_name", "Journey Booking")
    page.fill("#f-birth_date", "1975-05-05")
    page.select_option("#f-sex", "female")
    submit(page, "form[action$='/convert'] button[type=submit]")
    assert "/patients/" in page.url, page.url
    assert page.locator(".evaluation-booked").count() == 1
    check_accessibility(page, "chart with a booked evaluation")
