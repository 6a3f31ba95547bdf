"""Design 4.3 v2 in a real Chromium against a real server on the demo clinic (issue 11): the dosing
weight from the height on the patient record, shown beside every mg/kg figure; a soft session total
needs the physician's reason, in the plan builder and at the bedside."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.web.browser_support import demo_services, settle, start_visit
from tests.web.test_journeys import check_accessibility, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _wait_preview(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#plan-preview').textContent.includes(t)", arg=text)


def _evaluate_and_sign(page) -> None:
    """A short eligible evaluation, saved and signed (as the physician)."""
    page.click("text=New evaluation")
    page.check("input[name=conditions][value=crps]")
    page.fill("#f-duration_weeks", "40")
    page.check("input[name=prior_treatments][value=gabapentinoid]")
    for field, value in (("#f-systolic_mmhg", "128"), ("#f-diastolic_mmhg", "80"), ("#f-heart_rate_bpm", "72"),
                         ("#f-spo2_pct", "98")):
        page.fill(field, value)
    page.locator("#decision").wait_for()
    page.click("button:has-text('Save the evaluation')")
    page.click("#sign-evaluation")
    assert "Evaluation signed" in page.inner_text("main")


def test_an_obese_patients_plan_runs_on_the_adjusted_dosing_weight(page, server):
    sign_in(page, server, "physician")
    page.goto(server.url + "/patients/new")
    page.fill("#f-given_name", "Synthetic Obese")
    page.fill("#f-family_name", "Dosing (demo)")
    page.fill("#f-birth_date", "1972-03-04")
    page.select_option("#f-sex", "female")
    page.fill("#f-weight_kg", "130")
    page.fill("#f-height_cm", "16.5")  # metres in the cm box: said in words, nothing saved
    page.click("button:has-text('Save')")
    assert "120–230 cm" in page.inner_text("#e-height_cm")
    assert page.input_value("#f-given_name") == "Synthetic Obese"
    check_accessibility(page, "patient form with a bad height")
    page.fill("#f-height_cm", "165")
    page.click("button:has-text('Save')")
    assert re.search(r"/patients/\d+(\?|$)", page.url)
    details = page.inner_text("#patient-height")
    assert "165 cm" in details and "BMI 47.8" in details
    assert "dosing weight 86.2 kg (adjusted for BMI 47.8)" in page.inner_text("#patient-dosing-weight")
    _evaluate_and_sign(page)
    page.click("text=Write a plan")
    # IBW 45.5 + 0.91 x (165 - 152.4) = 56.97 kg; 56.97 + 0.4 x (130 - 56.97) = 86.2 kg
    dosing = page.inner_text("#plan-dosing-weight")
    assert "Dosing weight 86.2 kg" in dosing and "adjusted for BMI 47.8" in dosing and "actual 130.0 kg" in dosing
    assert page.get_attribute("#plan-dosing-weight", "data-dosing-weight-basis") == "adjusted"
    assert "dosing weight 86.2 kg (adjusted for BMI 47.8)" in page.inner_text("#dosing-weight-legend")
    program = page.inner_text("#plan-preview table.program")
    assert "per kg × 86.2 kg dosing weight" in program and "0.20 mg/kg" in program
    assert "43.1" in program and "17.2" in program  # 0.5 mg/kg/h x 86.2 = 43.1 mg/h; 0.2 mg/kg x 86.2 = 17.2 mg
    assert "65.0" not in program  # never 0.5 x the actual 130 kg
    assert re.search(r"Session total [\d.]+ mg = [\d.]+ mg/kg of the 86\.2 kg dosing weight", page.inner_text("#session-total"))
    assert "low-dose" in page.inner_text("#plan-profile")
    # a rate typed now is applied to the dosing weight as the preview redraws
    page.fill("#s1r", "0.6")
    _wait_preview(page, "51.7")  # 0.6 x 86.2 = 51.72 mg/h -> 51.7 mL/h at 1 mg/mL
    check_accessibility(page, "plan builder on the adjusted weight")
    shot(page, "plan-builder-dosing-weight")
    page.click("#save-plan")
    assert "Plan saved as a draft" in page.inner_text("main")
    assert page.get_attribute("#plan-dosing-weight", "data-dosing-weight-kg") == "86.2"
    page.click("#sign-plan")
    assert "Plan signed" in page.inner_text("main")
    assert "low-dose" in page.inner_text("#plan-profile")


@pytest.fixture
def demo_patient(demo_database) -> int:
    """A demo patient with a signed, eligible evaluation (one who already has a signed IV plan)."""
    from ketaclinic.services import plans

    with demo_services(demo_database) as (db, sign_in):
        plan = next(p for p in plans.list_plans(db, sign_in("nurse"), status="signed", limit=200).items
                    if p.pump_program.get("route") == "iv")
        return plan.patient_id


STEPS = (("bolus", "0.35", None, None), ("bolus", "0.35", None, None), ("infusion", None, "0.7", "240"),
         ("bolus", "0.35", None, None), ("bolus", "0.35", None, None))  # each within its soft limit; 4.2 mg/kg in all


def test_a_soft_session_total_needs_the_physicians_reason_in_the_builder(page, server, demo_patient):
    sign_in(page, server, "physician")
    page.goto(f"{server.url}/patients/{demo_patient}/plans/new?protocol=custom_iv")
    page.click("#more-steps summary")
    for i, (kind, dose, rate, minutes) in enumerate(STEPS):
        page.select_option(f"#s{i}k", kind)
        if dose:
            page.fill(f"#s{i}d", dose)
        if rate:
            page.fill(f"#s{i}r", rate)
        if minutes:
            page.fill(f"#s{i}t", minutes)
    page.wait_for_function("document.querySelector('#limit-stop') && "
                           "document.querySelector('#limit-stop').textContent.includes('session total 4.2')")
    stop = page.inner_text("#limit-stop")
    assert "Soft limit: a physician's reason is needed" in stop and "above the soft maximum of 4 mg/kg" in stop
    assert page.locator("#f-override_reason").is_visible()  # the physician's reason box, beside the limit
    check_accessibility(page, "plan builder with a soft session total")
    page.click("#save-plan")  # without a reason: refused, with the reason box named
    assert "A physician must give a reason" in page.inner_text("#e-override_reason")
    assert page.input_value("#s4d") == "0.35"  # every step typed is kept
    page.fill("#f-override_reason", "Tolerated 4.2 mg/kg in the last course (synthetic).")
    _wait_preview(page, "accepted with the physician")
    assert "Session total" in page.inner_text("#session-total") and "4.20 mg/kg" in page.inner_text("#session-total")
    page.click("#save-plan")
    main = page.inner_text("main")
    assert "Soft-limit override recorded" in main and "Tolerated 4.2 mg/kg in the last course" in main
    assert "4.20 mg/kg" in page.inner_text("#session-total")


@pytest.fixture
def running_near_the_total(demo_database, demo_patient) -> int:
    """A custom IV session (3 x 0.35 mg/kg + 0.7 mg/kg/h for 4 h = 3.85 mg/kg) started 30 min ago."""
    from ketaclinic.clock import utcnow
    from ketaclinic.services import evaluations, plans

    with demo_services(demo_database) as (db, sign_in):
        physician, nurse = sign_in("physician"), sign_in("nurse")
        signed = [e for e in evaluations.list_evaluations(db, physician, patient_id=demo_patient, status="signed",
                                                          limit=200).items]
        draft = plans.create_plan(db, physician, plans.PlanIn.model_validate({
            "patient_id": demo_patient, "evaluation_id": signed[-1].id, "protocol": "custom_iv",
            "weight_change_acknowledged": True,
            "steps": [{"kind": "bolus", "dose_mg_per_kg": 0.35}] * 3
            + [{"kind": "infusion", "rate_mg_per_kg_per_h": 0.7, "duration_min": 240}]}))
        plan = plans.sign_plan(db, physician, draft.id, draft.version)
        return start_visit(db, nurse, demo_patient, plan.id, utcnow() - timedelta(minutes=30), physician).id


def test_a_rate_change_past_the_session_total_waits_for_the_physician(page, server, running_near_the_total):
    visit = running_near_the_total
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{visit}")
    pump = page.inner_text("section[aria-labelledby=h-pump] .dosing-line")
    assert "Dosing weight" in pump and "care profile: low-dose" in pump
    assert "mg/kg/h" in page.inner_text("section[aria-labelledby=h-pump] table.program")
    assert "3.85 mg/kg" in page.inner_text("#session-total")
    # 0.75 mg/kg/h for the rest of the 4 h: about 4.05 mg/kg in the session, past the soft total of 4
    page.fill("#f-rate_mg_per_kg_per_h", "0.75")
    page.fill("#f-reason", "Pain 7/10 (synthetic)")
    page.click("button:has-text('Change the rate')")
    settle(page)
    error = page.inner_text("#e-rate_mg_per_kg_per_h")
    assert "session total" in error and "A physician must give a reason" in error
    assert page.locator("#f-override_reason").count() == 0  # a nurse cannot override
    assert "Rate change not given" in page.inner_text("main")
    check_accessibility(page, "console with a refused rate change")

    page.context.clear_cookies()
    sign_in(page, server, "physician")
    page.goto(f"{server.url}/sessions/{visit}")
    page.fill("#f-rate_mg_per_kg_per_h", "0.75")
    page.fill("#f-reason", "Pain 7/10 (synthetic)")
    page.fill("#f-override_reason", "Reviewed at the bedside: comfortable, vitals normal (synthetic).")
    page.click("button:has-text('Change the rate')")
    settle(page)
    main = page.inner_text("main")
    assert re.search(r"set the pump to [\d.]+ mL/h\. Soft limit accepted with the physician's reason", main)
    assert "Reviewed at the bedside" in page.inner_text("section[aria-labelledby=h-pump]")
