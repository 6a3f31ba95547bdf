"""PRN pages in-process (issue 14): who may open and post them, and a soft limit asks the physician's reason."""

from __future__ import annotations

from tests.interop.flows import signed_plan
from tests.web.conftest import csrf_of


def test_prn_pages_by_role_and_a_soft_limit_needs_a_reason(signed_in, db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    nurse = signed_in("nurse")
    page = nurse.get(f"/plans/{plan.id}/prn-orders")
    assert page.status_code == 200 and "adjunct-library" in page.text and "add-prn-order" not in page.text
    form = {"csrf_token": csrf_of(page.text), "drug": "ondansetron", "dose_mg": "4", "route": "iv",
            "indication": "nausea_vomiting", "max_doses_per_session": "1"}
    assert nurse.post(f"/plans/{plan.id}/prn-orders", data=form).status_code == 403
    assert signed_in("coordinator").get(f"/plans/{plan.id}/prn-orders").status_code == 403
    physician = signed_in("physician")
    page = physician.get(f"/plans/{plan.id}/prn-orders")
    form["csrf_token"] = csrf_of(page.text)
    soft = physician.post(f"/plans/{plan.id}/prn-orders", data={**form, "dose_mg": "12"})
    assert soft.status_code == 422 and "reason is needed" in soft.text and 'id="e-override_reason"' in soft.text
    made = physician.post(f"/plans/{plan.id}/prn-orders", data={**form, "dose_mg": "12", "override_reason": "big dose ok"})
    assert made.status_code == 200 and "a signed amendment of the plan" in made.text and "soft limit accepted" in made.text
