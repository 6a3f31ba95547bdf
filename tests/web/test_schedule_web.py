"""The schedule pages in-process (issue 13): day and week views, booking with a clash and its free starts,
moving, the waiting list, chairs and hours, the dashboard's today-by-chair and the portal's instructions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ketaclinic.services import appointments as ap
from tests.services.schedule_support import ready_clinic
from tests.web.conftest import csrf_of


def _monday_in(weeks: int) -> datetime:
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 * weeks - today.weekday())
    return datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=UTC)


def _unique_ids(html: str) -> bool:
    ids = re.findall(r' id="([^"]+)"', html)
    return len(ids) == len(set(ids))


def test_book_a_series_see_it_move_it(signed_in, db, clinic):
    ready = ready_clinic(db, clinic)
    monday = _monday_in(2)
    coordinator = signed_in("coordinator")
    form = coordinator.get(f"/schedule/book?patient_id={clinic.own_patient_id}")
    assert form.status_code == 200 and _unique_ids(form.text) and "Own, Synthetic" in form.text
    data = {"csrf_token": csrf_of(form.text), "site_id": str(ready.site_id), "patient_id": str(clinic.own_patient_id),
            "kind": "infusion", "date": monday.date().isoformat(), "time": "08:00", "chair_id": str(ready.chairs[0]),
            "nurse_id": "", "count": "6", "interval_days": "1", "weekdays_only": "on"}
    booked = coordinator.post("/schedule/book", data=data)
    assert booked.status_code == 200 and "6 appointments booked" in booked.text
    day = booked.text
    assert "Chair 1" in day and "Chair 2" in day and "Room A" in day and "Own, Synthetic" in day and "1/6" in day
    assert _unique_ids(day)
    week = coordinator.get(f"/schedule/week?date={monday.date().isoformat()}").text
    assert week.count("Own, Synthetic") == 5 and "6/6" not in week  # Mon-Fri this week, the 6th next Monday
    clash = coordinator.post("/schedule/book", data={**data, "patient_id": str(clinic.other_patient_id),
                                                     "kind": "evaluation", "count": "1", "time": "10:00"})
    assert clash.status_code == 409 and "Not booked." in clash.text and "the chair is booked" in clash.text
    assert "First free times" in clash.text and _unique_ids(clash.text)
    first = ap.list_appointments(db, clinic.actors["coordinator"], patient_id=clinic.own_patient_id).items[0]
    page = coordinator.get(f"/schedule/appointments/{first.id}")
    assert page.status_code == 200 and "Move" in page.text and _unique_ids(page.text)
    later = (monday + timedelta(days=5)).date().isoformat()  # the Saturday: closed
    closed = coordinator.post(f"/schedule/appointments/{first.id}/reschedule", data={
        "csrf_token": csrf_of(page.text), "version": str(first.version), "date": later, "time": "08:00", "chair_id": ""})
    assert closed.status_code == 409 and "closed" in closed.text
    moved = coordinator.post(f"/schedule/appointments/{first.id}/reschedule", data={
        "csrf_token": csrf_of(page.text), "version": str(first.version), "date": monday.date().isoformat(),
        "time": "11:00", "chair_id": str(ready.chairs[1])})
    assert moved.status_code == 200 and "Appointment moved" in moved.text
    dashboard = coordinator.get("/dashboard")
    assert dashboard.status_code == 200 and "Today by chair" in dashboard.text


def test_pages_for_each_role(signed_in, db, clinic):
    ready = ready_clinic(db, clinic)
    ap.book(db, clinic.actors["coordinator"], ap.AppointmentIn.model_validate({
        "patient_id": clinic.own_patient_id, "kind": "infusion", "start": _monday_in(1).isoformat(),
        "chair_id": ready.chairs[0]}))
    nurse = signed_in("nurse")
    day = nurse.get(f"/schedule/day?date={_monday_in(1).date().isoformat()}")
    assert day.status_code == 200 and "Open session" in day.text and "Book an appointment" not in day.text
    assert nurse.get("/schedule/book").status_code == 403
    assert nurse.get("/schedule/resources").status_code == 403
    grid = nurse.get(f"/schedule/day?date={_monday_in(1).date().isoformat()}",
                     headers={"HX-Request": "true", "HX-Target": "schedule-day"})
    assert grid.status_code == 200 and "<html" not in grid.text and "Own, Synthetic" in grid.text
    admin = signed_in("admin")
    resources = admin.get("/schedule/resources")
    assert resources.status_code == 200 and "Chair 1" in resources.text and _unique_ids(resources.text)
    added = admin.post("/schedule/resources/chairs", data={"csrf_token": csrf_of(resources.text), "site_id": str(ready.site_id),
                                                           "name": "Chair 3", "kind": "chair", "position": "3"})
    assert "Place added." in added.text and "Chair 3" in added.text
    hours = admin.post(f"/schedule/resources/hours/{ready.nurse_id}", data={
        "csrf_token": csrf_of(resources.text), "site_id": str(ready.site_id), "start_0": "08:00", "end_0": "07:00"})
    assert hours.status_code == 422
    coordinator = signed_in("coordinator")
    waiting = coordinator.get("/schedule/waiting")
    added = coordinator.post("/schedule/waiting", data={"csrf_token": csrf_of(waiting.text),
                                                        "patient_id": str(clinic.other_patient_id), "kind": "evaluation"})
    assert "Added to the waiting list." in added.text and "Other, Synthetic" in added.text
    patient = signed_in("patient")
    mine = patient.get("/me/sessions")
    assert mine.status_code == 200 and "My appointments" in mine.text and "Escort" in mine.text


def test_the_admin_sets_the_schedule_rules(signed_in, db, clinic):
    ready_clinic(db, clinic, plan=False)
    admin = signed_in("admin")
    page = admin.get("/schedule/resources")
    assert "Schedule rules" in page.text and _unique_ids(page.text)
    saved = admin.post("/schedule/resources/rules", data={
        "csrf_token": csrf_of(page.text), "version": "0", "evaluation_min": "45", "follow_up_min": "30",
        "turnover_min": "20", "infusions_per_nurse": "2", "physician_on_site": "on"})
    assert "Schedule rules saved" in saved.text
    too_many = admin.post("/schedule/resources/rules", data={
        "csrf_token": csrf_of(page.text), "version": "1", "evaluation_min": "45", "follow_up_min": "30",
        "turnover_min": "20", "infusions_per_nurse": "3"})
    assert too_many.status_code == 422
    from ketaclinic.services import clinic_settings as cs

    assert cs.get_settings(db, clinic.actors["admin"]).data.schedule.infusions_per_nurse == 2
    assert "Schedule rules" not in signed_in("coordinator").get("/schedule/resources").text
