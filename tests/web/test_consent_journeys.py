"""Issue 13 in a real Chromium: a patient signs the consent in the portal (a mark drawn on the signature pad
and the typed name), the signed PDF opens, and only then can the nurse start the course's first infusion."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from tests.web.browser_support import PASSWORD, checked_visit, demo_services, settle
from tests.web.test_journeys import check_accessibility, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def new_course(demo_database) -> SimpleNamespace:
    """A new synthetic patient with a portal account, a signed plan and a first session checked in: no consent yet."""
    from ketaclinic.clock import utcnow
    from ketaclinic.services.context import Actor
    from ketaclinic.services.patients import PatientIn, create_patient
    from ketaclinic.services.users import UserCreate, create_user
    from tests.interop.flows import signed_plan

    with demo_services(demo_database) as (db, sign_in_as):
        actors = {role: sign_in_as(role) for role in ("nurse", "physician", "coordinator")}
        patient = create_patient(db, actors["coordinator"], PatientIn(
            given_name="Synthetic", family_name="Consent Journey (demo)", birth_date=date(1979, 4, 5), sex="female",
            weight_kg=68.0, email="consent.journey@example.invalid"))
        create_user(db, Actor.system("tests"), UserCreate(username="consentjourney", role="patient", password=PASSWORD,
                                                         patient_id=patient.id))
        plan = signed_plan(db, SimpleNamespace(actors=actors), patient.id, now=utcnow() - timedelta(days=3))
        visit = checked_visit(db, actors["nurse"], patient.id, plan.id, utcnow() - timedelta(minutes=5))
        return SimpleNamespace(patient_id=patient.id, session_id=visit.id)


def _try_start(page, server, session_id: int) -> None:
    page.goto(f"{server.url}/sessions/{session_id}")
    page.fill("#ketamine_lot_number", "K-CONSENT-1")
    page.fill("#double_check_username", "physician")
    page.fill("#double_check_password", PASSWORD)
    page.click("#start-infusion")
    settle(page)


def test_a_patient_signs_in_the_portal_then_the_first_infusion_starts(browser, page, server, new_course):
    sign_in(page, server, "nurse")
    page.goto(f"{server.url}/sessions/{new_course.session_id}")
    assert "checked in" in page.inner_text("#session-state").lower()
    # no consent: the checklist says so (read from the signatures, no box to tick) and the start is not offered
    assert "Consent required" in page.inner_text("#checklist-consent_signed")
    assert "Consent required" in page.inner_text("#checklist-consent-state")
    assert page.locator("#start-infusion").count() == 0 and page.locator("input[name=consent_signed]").count() == 0
    assert "not signed" in page.inner_text("#banner-consent")
    check_accessibility(page, "the console's checklist asking for consent")

    portal = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)  # the patient's phone
    tab = portal.new_page()
    try:
        sign_in(tab, server, "consentjourney")
        tab.goto(f"{server.url}/me/consent")
        assert "cystitis" in tab.inner_text("main") and "Not signed" in tab.inner_text("#consent-state")
        check_accessibility(tab, "the portal's consent page")
        tab.fill("#f-typed_name", "Synthetic Consent Journey")
        tab.click("#consent-sign")  # nothing drawn yet: the form says so and sends nothing
        assert tab.locator("#signature-missing").is_visible() and tab.url.endswith("/me/consent")
        box = tab.locator("#signature-pad").bounding_box()
        tab.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
        tab.mouse.down()
        for step in range(1, 12):
            tab.mouse.move(box["x"] + 20 + step * 22, box["y"] + box["height"] * (0.3 if step % 2 else 0.7), steps=3)
        tab.mouse.up()
        tab.click("#consent-sign")
        settle(tab)
        assert "Signed (current version)" in tab.inner_text("#consent-state")
        link = tab.locator("a[id^=signed-pdf-]").first
        pdf = portal.request.get(server.url + link.get_attribute("href"))
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
        with tab.expect_response(lambda r: "/signed.pdf" in r.url) as opened:
            tab.evaluate("href => { window.location.href = href; }", link.get_attribute("href"))
        assert opened.value.status == 200  # the PDF opens from the link
    finally:
        portal.close()

    page.goto(f"{server.url}/sessions/{new_course.session_id}")
    assert "Consent signed: version 1" in page.inner_text("#checklist-consent_signed")  # signed: the list holds
    _try_start(page, server, new_course.session_id)
    assert "running" in page.inner_text("#session-state")
    assert "signed" in page.inner_text("#banner-consent")
