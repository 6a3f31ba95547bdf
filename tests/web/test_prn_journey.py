"""Issue 14 in a real Chromium: a physician signs a plan with a PRN ondansetron order, a nausea alert at the
bedside offers it, the nurse gives it in two clicks (pick, confirm), and a second dose over the order's
maximum per session is refused with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.interop.flows import EVENT
from tests.web.browser_support import demo_services, start_visit
from tests.web.test_journeys import check_accessibility, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def draft_plan(demo_database) -> int:
    """A new draft IV plan for a demo patient who has a signed evaluation (as if just written)."""
    from ketaclinic.services import plans

    with demo_services(demo_database) as (db, sign_in_as):
        physician = sign_in_as("physician")
        signed = next(p for p in plans.list_plans(db, physician, status="signed", limit=200).items
                      if p.protocol == "outpatient_infusion")
        draft = plans.create_plan(db, physician, plans.PlanIn(patient_id=signed.patient_id, evaluation_id=signed.evaluation_id,
                                                              protocol="outpatient_infusion"))
        return draft.id


def test_a_prn_order_signed_with_the_plan_is_offered_by_the_nausea_alert_and_given_in_two_clicks(page, server,
                                                                                                  demo_database, draft_plan):
    from ketaclinic.clock import utcnow
    from ketaclinic.services import plans, sessions

    # the physician writes the order on the draft and signs the plan with it
    sign_in(page, server, "physician")
    page.goto(f"{server.url}/plans/{draft_plan}")
    page.click("#manage-prn-orders")
    page.select_option("#f-drug", "ondansetron")
    page.fill("#f-dose_mg", "40")  # a ten-fold slip: above the label's 16 mg, refused, nothing ordered
    page.select_option("#f-route", "iv")
    page.select_option("#f-indication", "nausea_vomiting")
    page.fill("#f-max_doses_per_session", "1")
    page.click("#add-prn-order")
    assert "hard maximum of 16 mg" in page.inner_text("main") and "No PRN order on this plan" in page.inner_text("main")
    page.fill("#f-dose_mg", "4")
    page.click("#add-prn-order")
    assert "PRN order added (signed with the plan)" in page.inner_text("main")
    check_accessibility(page, "PRN orders page")
    page.click("text=← Plan")
    assert page.get_attribute("#prn-orders li", "data-prn-status") == "draft"
    page.click("#sign-plan")
    assert "Plan signed" in page.inner_text("main")
    assert page.get_attribute("#prn-orders li", "data-prn-status") == "active"

    # the visit: started 20 min ago; moderate nausea raises the alert whose action is give_medication
    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = plans.get_plan(db, nurse, draft_plan)
        visit = start_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(minutes=20), sign_in_as("physician"))
        sessions.append_event(db, nurse, visit.id, EVENT.validate_python({
            "kind": "vitals", "systolic_mmhg": 126, "diastolic_mmhg": 80, "heart_rate_bpm": 76, "spo2_pct": 98,
            "respiratory_rate_per_min": 14, "moaas": 5, "side_effects": [{"code": "nausea", "severity": "moderate"}]}))

    page.context.clear_cookies()
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{visit.id}")
    offer = page.locator("#alerts a[id^=alert-][id*=-prn-]")
    assert offer.count() == 1 and "Give Ondansetron 4 mg IV" in offer.inner_text()
    offer.click()  # click 1: pick the order the alert offers
    assert "1 of 1" not in page.inner_text("#prn-confirm-facts") and "0 of 1" in page.inner_text("#prn-confirm-facts")
    check_accessibility(page, "PRN dose confirmation")
    shot(page, "prn-confirm")
    page.click("#confirm-prn-dose")  # click 2: confirm
    assert "Given: Ondansetron 4 mg IV (dose 1 of 1 this session). The alert is answered." in page.inner_text("main")
    assert page.locator("#alerts [role=alert]").count() == 0  # the nausea alert was answered by the dose
    row = page.locator("#prn-row-" + page.get_attribute("#prn li[id^=prn-row-]", "id").split("-")[-1])
    assert row.get_attribute("data-prn-can-give") == "no" and "allows 1 dose" in row.inner_text()
    assert "Ondansetron 4 mg IV" in page.inner_text("#prn-doses")

    # a second dose over the maximum: the confirmation refuses it and says why; nothing is recorded
    order_id = row.get_attribute("id").split("-")[-1]
    page.goto(f"{server.url}/sessions/{visit.id}/prn/{order_id}")
    refusal = page.locator("#prn-refusal")
    assert refusal.get_attribute("data-refusal-code") == "order_max_reached" and "call the physician" in refusal.inner_text()
    assert page.locator("#confirm-prn-dose").count() == 0
    response = page.request.post(f"{server.url}/sessions/{visit.id}/prn/{order_id}",
                                 form={"csrf_token": page.get_attribute("input[name=csrf_token]", "value") or ""})
    assert response.status == 422 and "Not given" in response.text()
    with demo_services(demo_database) as (db, sign_in_as):
        from ketaclinic.services import medication_orders

        assert len(medication_orders.session_prn(db, sign_in_as("nurse"), visit.id).doses) == 1
