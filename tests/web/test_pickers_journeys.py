"""Issue 17 in a real Chromium: the invitation form and the audit log find the patient by a search (no
<select> of the whole clinic), the matches and the choice are accessible and fit a phone."""

from __future__ import annotations

import pytest

from tests.web.browser_support import settle, submit
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_a_coordinator_finds_the_patient_to_invite_and_an_admin_the_patient_of_an_audit_trail(page, server):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, server, "coordinator")
    page.goto(server.url + "/invitations/new")
    assert page.locator("main select").count() == 0
    page.fill("#f-patient_q", "patient 1")
    submit(page, "#find-patient button[type=submit]")
    matches = page.locator("#patient-matches a[data-patient-id]")
    assert 1 <= matches.count() <= 20
    check_accessibility(page, "invitation: patients found")
    chosen_id = matches.first.get_attribute("data-patient-id")
    matches.first.click()
    settle(page)
    assert page.input_value("#f-patient_id") == chosen_id and page.is_visible("#chosen-patient")
    check_accessibility(page, "invitation: the patient chosen")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.clear_cookies()
    sign_in(page, server, "admin")
    page.goto(server.url + "/admin/audit")
    page.fill("#f-patient_q", "patient")
    submit(page, "#audit-filters button[type=submit]")
    assert page.is_visible("#choose-patient") and 2 <= page.locator("#patient-matches a[data-patient-id]").count() <= 20
    check_accessibility(page, "audit log: patients found")
    page.locator("#patient-matches a[data-patient-id]").first.click()
    settle(page)
    assert page.is_visible("#chosen-patient") and page.locator("#audit-entries tbody tr").count() >= 1
    check_accessibility(page, "audit log: a patient's trail")
