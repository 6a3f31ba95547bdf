"""The schedule over HTTP exactly as design.md 4.9 says: chairs, booking (one, a series), clash codes, listing."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.services.schedule_support import ready_clinic

SQLITE = pytest.mark.parametrize("engine", ["sqlite"])


def _monday_in(weeks: int) -> datetime:
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 * weeks - today.weekday())
    return datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=UTC)


@SQLITE
def test_book_list_and_clash_over_the_contract(client, headers, clinic, db):
    ready = ready_clinic(db, clinic)
    chairs = client.get("/api/v1/chairs", headers=headers["nurse"])
    assert chairs.status_code == 200
    assert [{k: c[k] for k in ("id", "name", "site_id")} for c in chairs.json()["items"]] == \
        [{"id": ready.chairs[0], "name": "Chair 1", "site_id": ready.site_id},
         {"id": ready.chairs[1], "name": "Chair 2", "site_id": ready.site_id}]
    start = _monday_in(2)
    one = client.post("/api/v1/appointments", headers=headers["coordinator"], json={
        "patient_id": clinic.own_patient_id, "kind": "infusion", "start": start.isoformat(), "chair_id": ready.chairs[0],
        "nurse_id": ready.nurse_id, "plan_id": ready.plan_id})
    assert one.status_code == 201, one.text
    body = one.json()
    assert {"id", "start", "end", "chair_id", "kind", "patient_id"} <= set(body)
    assert body["chair_id"] == ready.chairs[0] and body["kind"] == "infusion" and body["session_id"]
    busy = client.post("/api/v1/appointments", headers=headers["physician"], json={
        "patient_id": clinic.other_patient_id, "kind": "evaluation", "start": (start + timedelta(hours=1)).isoformat(),
        "chair_id": ready.chairs[0]})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "chair_busy"
    nurse = client.post("/api/v1/appointments", headers=headers["physician"], json={
        "patient_id": clinic.other_patient_id, "kind": "evaluation", "start": (start + timedelta(hours=1)).isoformat(),
        "chair_id": ready.room, "nurse_id": ready.nurse_id})
    assert nurse.status_code == 409 and nurse.json()["error"]["code"] == "nurse_busy"
    series = client.post("/api/v1/appointments", headers=headers["coordinator"], json={
        "patient_id": clinic.other_patient_id, "kind": "follow_up", "start": (start + timedelta(days=1)).isoformat(),
        "chair_id": ready.room, "series": {"count": 6, "interval_days": 2, "weekdays_only": True}})
    assert series.status_code == 201 and len(series.json()["items"]) == 6
    listed = client.get("/api/v1/appointments", headers=headers["nurse"],
                        params={"from": start.date().isoformat(), "to": (start + timedelta(days=30)).date().isoformat()})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 7
    by_chair = client.get("/api/v1/appointments", headers=headers["nurse"], params={"chair_id": ready.chairs[0]})
    assert [a["id"] for a in by_chair.json()["items"]] == [body["id"]]
    for bad in ({"from": "2027-13-45"}, {"to": "yesterday"}, {"from": "0001-01-01"}):
        assert client.get("/api/v1/appointments", headers=headers["nurse"], params=bad).status_code == 422
    assert client.post("/api/v1/appointments", headers=headers["nurse"], json={
        "patient_id": clinic.own_patient_id, "kind": "follow_up", "start": start.isoformat()}).status_code == 403
    mine = client.get("/api/v1/appointments", headers=headers["patient"]).json()["items"]
    assert {a["patient_id"] for a in mine} == {clinic.own_patient_id}


@SQLITE
def test_series_clash_books_nothing_and_names_free_starts(client, headers, clinic, db):
    ready = ready_clinic(db, clinic)
    start = _monday_in(2)
    client.post("/api/v1/appointments", headers=headers["coordinator"], json={
        "patient_id": clinic.other_patient_id, "kind": "evaluation", "start": (start + timedelta(days=2)).isoformat(),
        "chair_id": ready.room})
    request = {"patient_id": clinic.own_patient_id, "kind": "follow_up", "start": start.isoformat(),
               "chair_id": ready.room, "series": {"count": 3, "interval_days": 1}}
    refused = client.post("/api/v1/appointments", headers=headers["coordinator"], json=request)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "chair_busy" and "First free" in error["message"] and error["field"] == "chair_id"
    assert client.get("/api/v1/appointments", headers=headers["coordinator"],
                      params={"patient_id": clinic.own_patient_id}).json()["items"] == []
    offered = client.post("/api/v1/appointments/proposals", headers=headers["coordinator"], json=request).json()
    assert offered["clashes"][0]["code"] == "chair_busy" and len(offered["items"]) == 3
    past = client.post("/api/v1/appointments", headers=headers["coordinator"], json={
        **request, "start": "2020-01-06T09:00:00Z", "series": None})
    assert past.status_code == 422 and past.json()["error"]["code"] == "start_in_past"
    naive = client.post("/api/v1/appointments", headers=headers["coordinator"], json={**request, "start": "2030-01-06T09:00"})
    assert naive.status_code == 422


@SQLITE
def test_reschedule_and_cancel_over_http_with_if_match(client, headers, clinic, db):
    ready = ready_clinic(db, clinic)
    start = _monday_in(2)
    made = client.post("/api/v1/appointments", headers=headers["coordinator"], json={
        "patient_id": clinic.own_patient_id, "kind": "infusion", "start": start.isoformat()}).json()
    url = f"/api/v1/appointments/{made['id']}"
    later = (start + timedelta(days=1, hours=1)).isoformat()
    assert client.post(url + "/reschedule", headers=headers["coordinator"], json={"start": later}).status_code == 428
    moved = client.post(url + "/reschedule", headers={**headers["coordinator"], "If-Match": str(made["version"])},
                        json={"start": later})
    assert moved.status_code == 200 and moved.json()["start"].startswith(later[:16])
    session = client.get(f"/api/v1/sessions/{made['session_id']}", headers=headers["nurse"]).json()
    assert session["scheduled_at"].startswith(later[:16])
    cancelled = client.post(url + "/cancel", headers={**headers["coordinator"], "If-Match": str(moved.json()["version"])},
                            json={"reason": "patient asked"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert ready.chairs
