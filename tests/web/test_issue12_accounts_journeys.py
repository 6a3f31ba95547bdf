"""Issue 12 in a real Chromium: allergies on the chart reach the banner of the plan and the session; staff sign
with their names and credentials; the audit log reads in words with pickers; a patient makes their portal
account from a one-time invitation, and a password reset link works once."""

from __future__ import annotations

from datetime import date

import pytest

from tests.web.browser_support import PASSWORD, demo_services, settle, submit
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _sign_in_as(page, server, username: str, password: str) -> None:
    page.goto(server.url + "/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    submit(page, "button[type=submit]")
    assert "/login" not in page.url, page.content()[:1000]


@pytest.fixture
def patient_with_a_visit(demo_database) -> tuple[int, int, int]:
    """A demo patient with a signed plan and a visit under it: (patient, plan, session)."""
    from ketaclinic.services import plans, sessions

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        visits = sessions.list_sessions(db, nurse, limit=200).items
        signed = {p.id: p for p in plans.list_plans(db, nurse, status="signed", limit=200).items}
        visit = next(v for v in visits if v.plan_id in signed)
        return visit.patient_id, visit.plan_id, visit.id


def test_a_ketamine_allergy_on_the_chart_reaches_the_plan_and_the_session(page, server, patient_with_a_visit):
    patient_id, plan_id, session_id = patient_with_a_visit
    sign_in(page, server, "physician")
    page.goto(f"{server.url}/patients/{patient_id}")
    page.fill("#al-substance", "Ketamine")
    page.fill("#al-reaction", "hives (synthetic)")
    page.select_option("#al-severity", "severe")
    submit(page, "#allergy-form button[type=submit]")
    assert "Allergy recorded: Ketamine" in page.inner_text("main")
    check_accessibility(page, "chart with allergies")
    for path in (f"/plans/{plan_id}", f"/sessions/{session_id}"):
        page.goto(server.url + path)
        first = page.inner_text("#patient-banner .allergies .badge.critical")
        assert first.startswith("Ketamine"), path  # ketamine first, in red
    # entered in error: a new version; the banner no longer warns, the history keeps the original
    page.goto(f"{server.url}/patients/{patient_id}")
    item = page.locator("li.ketamine").first
    item.locator("summary").click()
    item.locator("input[value=entered_in_error]").check()
    item.locator("input[name=note]").fill("recorded on the wrong chart (synthetic)")
    item.locator("button[type=submit]").click()
    settle(page)
    assert "Marked entered in error" in page.inner_text("main")
    assert page.locator("#patient-banner .allergies .badge.critical").count() == 0
    page.locator("details.history summary").click()
    assert "entered in error" in page.inner_text(".allergy-history")


def test_staff_sign_with_their_name_and_credentials(page, server):
    sign_in(page, server, "admin")
    page.goto(server.url + "/admin/users")
    page.fill("#f-username", "journey.np")
    page.fill("#f-full_name", "Jordan Synthetic (demo)")
    page.fill("#f-credentials", "N.P.!")
    page.select_option("#f-role", "nurse")
    page.fill("#f-password", "journey-password-1")
    page.click("section[aria-labelledby=h-new-account] button[type=submit]")
    assert "is not a credential" in page.inner_text("#e-credentials")  # next to the field, in words
    assert page.input_value("#f-full_name") == "Jordan Synthetic (demo)"
    page.fill("#f-credentials", "np")
    page.fill("#f-password", "journey-password-1")
    submit(page, "section[aria-labelledby=h-new-account] button[type=submit]")
    row = page.locator("tr", has_text="journey.np")
    assert "Jordan Synthetic (demo), NP" in row.inner_text()
    check_accessibility(page, "users and roles")
    page.context.clear_cookies()
    _sign_in_as(page, server, "journey.np", "journey-password-1")
    page.goto(server.url + "/dashboard")
    assert "Jordan Synthetic (demo), NP" in page.inner_text("h1")


def test_the_audit_log_reads_in_words_with_pickers(page, server, demo_database):
    from ketaclinic.services.staff import staff_names

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        with db.reading() as uow:
            nurse_name = staff_names(uow, [nurse.user_id])[nurse.user_id]
    sign_in(page, server, "nurse")
    page.goto(server.url + "/patients")
    submit(page, page.locator("main a[href^='/patients/']").first)
    page.context.clear_cookies()
    sign_in(page, server, "admin")
    page.goto(server.url + "/admin/audit")
    assert page.get_attribute("#f-since", "type") == "date"
    page.select_option("#f-user_id", label=f"{nurse_name} (nurse)")
    page.select_option("#f-action", label="Opened the chart")
    page.fill("#f-since", date.today().isoformat())
    page.fill("#f-until", date.today().isoformat())
    submit(page, "#audit-filters button[type=submit]")
    rows = page.locator("#audit-entries tbody tr")
    assert rows.count() >= 1
    first = rows.first.inner_text()
    assert nurse_name in first and "Opened the chart" in first and "patient.read" not in first
    link = rows.first.locator("a").get_attribute("href")
    assert link and link.startswith("/admin/audit?patient_id=")  # the patient's trail: an admin opens no chart
    page.goto(server.url + link)
    assert page.locator("#audit-entries tbody tr").count() >= 1
    check_accessibility(page, "audit log")


def test_a_patient_makes_their_portal_account_from_an_invitation_once(page, server, demo_database, browser):
    from ketaclinic.services.patients import PatientIn, create_patient

    with demo_services(demo_database) as (db, sign_in_as):
        patient = create_patient(db, sign_in_as("coordinator"), PatientIn(
            given_name="Synthetic", family_name="Journey (demo)", birth_date=date(1979, 4, 5), sex="female"))
    sign_in(page, server, "coordinator")
    page.goto(f"{server.url}/patients/{patient.id}")
    page.click("#invite-to-portal")
    assert page.input_value("#f-patient_id") == str(patient.id)
    submit(page, "main button[type=submit]")
    link = page.input_value("[data-link-url]")
    assert "/account/invitation/" in link and "Shown once" in page.inner_text("main")
    check_accessibility(page, "invitation shown once")
    visitor = browser.new_context(viewport={"width": 390, "height": 844})  # the patient's phone
    try:
        tab = visitor.new_page()
        tab.goto(link)
        assert "synthetic.journey.demo" in tab.inner_text("#link-username")
        tab.fill("#f-password", "my-portal-password")
        tab.fill("#f-password_again", "my-portal-password")
        submit(tab, "main button[type=submit]")
        assert "/login" in tab.url and "Your portal account is ready" in tab.inner_text("main")
        _sign_in_as(tab, server, "synthetic.journey.demo", "my-portal-password")
        assert "/me" in tab.url
        tab.goto(link)  # the link works once
        assert "cannot be used" in tab.inner_text("h1")
    finally:
        visitor.close()


def test_a_password_reset_link_works_once(page, server, demo_database, browser):
    from ketaclinic.services.users import UserCreate, create_user

    with demo_services(demo_database) as (db, sign_in_as):
        create_user(db, sign_in_as("admin"), UserCreate(username="journey.reset", role="coordinator",
                                                        password="old-password-123", full_name="Sam Reset (demo)"))
    sign_in(page, server, "admin")
    page.goto(server.url + "/admin/users")
    page.click("button[aria-label='Password reset link for journey.reset']")
    settle(page)
    link = page.input_value("[data-link-url]")
    assert "/account/reset/" in link
    visitor = browser.new_context()
    try:
        tab = visitor.new_page()
        tab.goto(link)
        tab.fill("#f-password", "new-password-456")
        tab.fill("#f-password_again", "new-password-456")
        submit(tab, "main button[type=submit]")
        assert "Your new password is set" in tab.inner_text("main")
        _sign_in_as(tab, server, "journey.reset", "new-password-456")
        tab.goto(link)
        assert "cannot be used" in tab.inner_text("h1")
    finally:
        visitor.close()
    assert PASSWORD  # the demo accounts were not touched
