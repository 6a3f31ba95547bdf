"""Billing (issue 15) in a real Chromium against a real server on the demo clinic: the coordinator invoices a
patient's course, prints its superbill and records a payment."""

from __future__ import annotations

import pytest

from tests.web.browser_support import demo_services, settle, submit
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def course_to_bill(demo_database) -> tuple[int, int]:
    """(patient id, plan id) of a demo course with finished sessions that no invoice bills yet."""
    from ketaclinic.services import billing

    with demo_services(demo_database) as (db, sign_in_as):
        coordinator = sign_in_as("coordinator")
        for unbilled in billing.unbilled_sessions(db, coordinator, limit=50):
            view = billing.patient_billing(db, coordinator, unbilled.patient_id)
            course = next((b for b in view.billable if b.kind == "course" and not b.billed_on), None)
            if course is not None and not any(i.kind == "course" for i in view.invoices):
                return unbilled.patient_id, course.target_id
    pytest.fail("the demo clinic has no course left to bill")


def test_coordinator_prints_a_course_superbill_and_records_a_payment(page, server, course_to_bill):
    patient_id, plan_id = course_to_bill
    sign_in(page, server, "coordinator")
    submit(page, "nav >> text=Billing")
    assert page.url.endswith("/billing") or "/billing?" in page.url
    page.goto(f"{server.url}/billing/patients/{patient_id}")
    page.click(f"#bill-course-{plan_id}")
    settle(page)
    assert "/billing/invoices/" in page.url
    lines = page.inner_text("main")
    assert "96365" in lines and "J3490" in lines and "issued" in lines
    check_accessibility(page, "invoice")

    superbill = page.get_attribute("#superbill-link", "href")
    response = page.request.get(server.url + superbill)
    assert response.status == 200 and response.body().startswith(b"%PDF")
    assert response.headers["content-type"] == "application/pdf"

    balance_before = page.inner_text("#balance")
    page.fill("#f-amount", "50.00")
    page.select_option("#f-method", "cash")
    page.click("#record-payment")
    settle(page)
    assert "Payment recorded: 50.00" in page.inner_text("body")
    assert page.inner_text("#balance") != balance_before
    assert "cash" in page.inner_text("main")
    check_accessibility(page, "invoice after a payment")
