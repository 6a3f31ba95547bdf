"""Discharge (contract 4.7) in a real Chromium against a real server on the demo clinic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.browser_support import demo_services, settle, start_visit
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

VITALS = (("#f-d_systolic_mmhg", "126"), ("#f-d_diastolic_mmhg", "80"), ("#f-d_heart_rate_bpm", "72"),
          ("#f-d_spo2_pct", "98"), ("#f-d_respiratory_rate_per_min", "14"), ("#f-d_moaas", "5"))
YES = ("q_dissociation_resolved", "q_oriented", "q_steady_gait", "q_escort_present")
PADSS = ("padss_vital_signs", "padss_activity", "padss_nausea_vomiting", "padss_pain", "padss_bleeding")


@pytest.fixture
def observed_session(demo_database) -> int:
    """A visit made through the services as the demo nurse, its infusion stopped 70 minutes ago."""
    from ketaclinic.clock import utcnow
    from ketaclinic.services import plans, sessions

    with demo_services(demo_database) as (db, sign_in):
        nurse = sign_in("nurse")
        plan = next(p for p in plans.list_plans(db, nurse, status="signed", limit=200).items
                    if p.pump_program.get("route") == "iv" and any(s["kind"] == "infusion" for s in p.pump_program["program"]))
        v = start_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(hours=3), sign_in("physician"))
        return sessions.stop_infusion(db, nurse, v.id, v.version, now=utcnow() - timedelta(minutes=70)).id


def _answer_all(page, skip: str | None = None) -> None:
    for field, value in VITALS:
        page.fill(field, value)
    for name in YES:
        if name != skip:
            page.check(f"input[name={name}][value=yes]")
    for name in PADSS:
        if name != skip:
            page.check(f"input[name={name}][value='2']")


def test_discharge_is_refused_for_spo2_91_after_70_minutes(page, server, observed_session):
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{observed_session}")
    assert page.locator("#discharge-form input[type=radio]:checked").count() == 0  # nothing answered beforehand
    _answer_all(page)
    page.fill("#f-d_spo2_pct", "91")
    page.click("#discharge")
    settle(page)
    assessment = page.inner_text("#discharge-assessment")
    assert "Not ready for discharge" in assessment and "SpO2 91" in assessment
    assert page.locator("#discharge-unmet [data-unmet=spo2_low]").count() == 1
    assert page.inner_text("#session-state") == "observing"
    check_accessibility(page, "discharge refused")


def test_an_unanswered_padss_item_is_refused(page, server, observed_session):
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{observed_session}")
    _answer_all(page, skip="padss_pain")
    page.click("button:has-text('Check the criteria')")
    settle(page)
    main = page.inner_text("main")
    assert "answer every question" in main and "PADSS: pain" in main
    assert page.locator("#q-padss-pain .error").is_visible()
    assert page.locator("#discharge-assessment").count() == 0  # nothing was judged on a missing answer
    assert page.inner_text("#session-state") == "observing"
    # answering it is enough: the rest of the answers were kept
    page.check("input[name=padss_pain][value='2']")
    page.click("button:has-text('Check the criteria')")
    settle(page)
    assert "Ready for discharge" in page.inner_text("#discharge-assessment")
