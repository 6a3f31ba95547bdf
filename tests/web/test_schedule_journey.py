"""Issue 13 in a real Chromium: a coordinator books a 6-session series, sees it on the day and week views, a
clash is refused with a clear message and the first free times, and one session is moved."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.web.browser_support import demo_services, settle, submit
from tests.web.test_every_page import DUPLICATE_IDS, WIDER_THAN_VIEWPORT
from tests.web.test_journeys import check_accessibility, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _two_patients(demo_database) -> tuple[tuple[int, str], int]:
    """A demo patient with a current signed plan (id, "Family, Given") and another patient's id."""
    from ketaclinic.services import patients, plans

    with demo_services(demo_database) as (db, sign_in_as):
        physician = sign_in_as("physician")
        signed = plans.list_plans(db, physician, status="signed", limit=200).items
        superseded = {p.supersedes_id for p in signed if p.supersedes_id}
        chosen = next(p for p in signed if p.id not in superseded)
        everyone = patients.list_patients(db, physician, limit=200).items
        mine = next(p for p in everyone if p.id == chosen.patient_id)
        other = next(p for p in everyone if p.id != chosen.patient_id)
        return (mine.id, f"{mine.family_name}, {mine.given_name}"), other.id


def test_a_coordinator_books_a_series_sees_it_and_moves_one(page, server, demo_database):
    (patient_id, name), other_id = _two_patients(demo_database)
    today = date.today()
    monday = today + timedelta(days=28 - today.weekday())  # four weeks ahead: clear of the demo's bookings
    sign_in(page, server, "coordinator")
    page.click("nav[aria-label=Main] >> text=Schedule")
    page.click("#book-link")
    page.select_option("#f-patient_id", str(patient_id))
    page.select_option("#f-kind", "infusion")
    page.fill("#f-date", monday.isoformat())
    page.fill("#f-time", "07:00")
    page.select_option("#f-chair_id", label="Chair 4 (chair)")
    page.fill("#f-count", "6")
    page.fill("#f-interval_days", "1")
    page.check("#f-weekdays")
    check_accessibility(page, "booking form")
    submit(page, "#book-submit")
    main = page.inner_text("main")
    assert "6 appointments booked" in main and name in main, main[:800]
    assert page.locator("table.schedule-day td.booked", has_text=name).count() == 1
    check_accessibility(page, "day view")
    shot(page, "schedule-day")
    page.click("#schedule-day >> text=This week")
    settle(page)
    assert page.locator("table.schedule-week li", has_text=name).count() == 5  # Mon-Fri; the 6th is next Monday
    check_accessibility(page, "week view")
    shot(page, "schedule-week")

    page.goto(f"{server.url}/schedule/book")  # another patient on Chair 4 at 08:00 the same Monday: refused
    page.select_option("#f-patient_id", str(other_id))
    page.select_option("#f-kind", "evaluation")
    page.fill("#f-date", monday.isoformat())
    page.fill("#f-time", "08:00")
    page.select_option("#f-chair_id", label="Chair 4 (chair)")
    submit(page, "#book-submit")
    clash = page.inner_text("#clash")
    assert "Not booked." in clash and "the chair is booked" in clash and "First free" in clash
    assert page.locator("a.proposal").count() >= 1
    check_accessibility(page, "clash and free times")

    page.goto(f"{server.url}/schedule/day?date={monday.isoformat()}")
    page.click(f"table.schedule-day td.booked a:has-text('{name}')")
    settle(page)
    appointment_url = page.url
    page.fill("#f-time", "12:00")
    submit(page, "#move-submit")
    assert "Appointment moved to" in page.inner_text("main") and "12:00" in page.inner_text("main")
    assert page.locator("table.schedule-day td.booked", has_text="12:00").count() == 1

    page.set_viewport_size({"width": 390, "height": 844})  # every schedule page fits a phone, ids unique
    for path in (f"/schedule/day?date={monday.isoformat()}", f"/schedule/week?date={monday.isoformat()}",
                 "/schedule/book", "/schedule/waiting", "/schedule/resources", appointment_url.replace(server.url, "")):
        page.goto(server.url + path)
        assert page.evaluate(WIDER_THAN_VIEWPORT) == [], path
        assert page.evaluate(DUPLICATE_IDS) == [], path
    check_accessibility(page, "appointment page")
