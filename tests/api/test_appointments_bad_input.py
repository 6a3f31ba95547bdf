"""Issue 13's "bad input" over HTTP: a series crossing a closed day, a start in the past, a chair at another site
and a nurse off shift are a 409 or 422 in the one error shape, naming the problem and the field, for a booking, a
series, a proposal and a reschedule; nothing is written. Odd values (dates out of range, counts, ids) are 422."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ketaclinic.records.schedule import Appointment
from ketaclinic.records.sessions import InfusionSession
from tests.api.test_appointments_api import _monday_in
from tests.services.schedule_support import ready_clinic

SQLITE = pytest.mark.parametrize("engine", ["sqlite"])


def _rows(db) -> tuple[int, int]:
    with db.reading() as uow:
        return (uow.execute(select(func.count()).select_from(Appointment)).scalar_one(),
                uow.execute(select(func.count()).select_from(InfusionSession)).scalar_one())


@pytest.fixture
def setting(client, headers, clinic, db):
    from ketaclinic.services import chairs as ch
    from ketaclinic.services import sites as st

    ready = ready_clinic(db, clinic)
    north = st.create_site(db, clinic.actors["admin"], st.SiteIn(name="North", code="NORTH"))
    far_chair = ch.create_chair(db, clinic.actors["admin"], ch.ChairIn(site_id=north.id, name="Chair N1")).id
    monday = _monday_in(2)
    base = {"patient_id": clinic.own_patient_id, "kind": "follow_up", "chair_id": ready.room}
    cases = {  # name: (body, status, code, field, words in the message)
        "series crossing a closed day": (
            {**base, "start": (monday + timedelta(days=3)).isoformat(),  # Thursday, Friday, then Saturday
             "series": {"count": 3, "interval_days": 1, "weekdays_only": False}},
            409, "site_closed", "start", ("session 3 of 3", "closed on Sat", "Nothing was booked")),
        "start in the past": (
            {**base, "start": (datetime.now(UTC) - timedelta(hours=2)).isoformat()},
            422, "start_in_past", "start", ("in the past",)),
        "chair at another site": (
            {**base, "start": monday.isoformat(), "chair_id": far_chair},
            422, "chair_other_site", "chair_id", ("site",)),
        "nurse off shift": (
            {**base, "start": (monday + timedelta(hours=10, minutes=45)).isoformat(), "nurse_id": ready.nurse_id},
            409, "nurse_off_shift", "nurse_id", ("not on shift", "18:45")),
        "a physician named as the nurse": (
            {**base, "start": monday.isoformat(), "nurse_id": ready.physician_id},
            422, "not_a_nurse", "nurse_id", ("nurse",)),
    }
    return ready, monday, base, cases


def _refused(response, status, code, field, words):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["field"] == field, error
    for word in words:
        assert word in error["message"], (word, error["message"])


@SQLITE
def test_booking_bad_input_names_the_problem_and_books_nothing(client, headers, db, setting):
    _ready, _monday, _base, cases = setting
    before = _rows(db)
    for name, (body, status, code, field, words) in cases.items():
        _refused(client.post("/api/v1/appointments", headers=headers["coordinator"], json=body), status, code, field,
                 words)
        proposals = client.post("/api/v1/appointments/proposals", headers=headers["coordinator"], json=body)
        assert proposals.status_code in (200, 409, 422), (name, proposals.text)  # never a 500
    assert _rows(db) == before


@SQLITE
def test_rescheduling_into_bad_input_is_refused_the_same_way(client, headers, db, setting):
    _ready, monday, base, cases = setting
    made = client.post("/api/v1/appointments", headers=headers["coordinator"], json={
        **base, "start": (monday + timedelta(hours=1)).isoformat()}).json()
    url = f"/api/v1/appointments/{made['id']}/reschedule"
    for body, status, code, field, words in cases.values():
        if "series" in body:
            body = {"start": (monday + timedelta(days=5)).isoformat()}  # to the Saturday itself
            status, field, words = 409, "start", ("closed on Sat",)
        moved = client.post(url, headers={**headers["coordinator"], "If-Match": str(made["version"])},
                            json={k: v for k, v in body.items() if k in ("start", "chair_id", "nurse_id")})
        _refused(moved, status, code, field, words)
    kept = client.get(f"/api/v1/appointments/{made['id']}", headers=headers["coordinator"]).json()
    assert kept["start"] == made["start"] and kept["version"] == made["version"]


@SQLITE
@pytest.mark.parametrize(("start", "series", "field"), [
    ("9999-12-31T23:00:00+00:00", None, "start"), ("0001-01-01T00:30:00+14:00", None, "start"),
    ("2027-02-30T08:00:00Z", None, "start"), ("2027-01-04T08:00:00", None, "start"),
    (None, {"count": 0, "interval_days": 1}, "series.count"), (None, {"count": 10**6, "interval_days": 1}, "series.count"),
    (None, {"count": 2, "interval_days": 10**9}, "series.interval_days")])
def test_odd_values_are_422(client, headers, clinic, db, start, series, field):
    ready = ready_clinic(db, clinic, plan=False)
    body = {"patient_id": clinic.own_patient_id, "kind": "follow_up", "chair_id": ready.room,
            "start": start or _monday_in(2).isoformat()}
    if series:
        body["series"] = series
    answer = client.post("/api/v1/appointments", headers=headers["coordinator"], json=body)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text
