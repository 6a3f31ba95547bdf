"""Issue 16 items 5, 7, 9, 11: no 500 on odd dates or text, body limits before parsing, every 422 in words,
plausibility limits. On both engines (the ``client`` fixture is parametrized through ``db``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from ketaclinic.api.limits import DEFAULT_BODY, IMPORT_BODY, SMALL_BODY
from ketaclinic.clinical.monitoring import Observation
from ketaclinic.services.types import Moment, explain, parse_moment

INQUIRY = {"name": "Synthetic Asker", "email": "a@example.org", "preferred_contact": "email", "message": "hello",
           "consent_to_contact": True}
PATIENT = {"given_name": "Synthetic", "family_name": "Edge", "birth_date": "1980-01-01", "sex": "female"}


def _error(response, status, code=None, field=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if code:
        assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    assert "pydantic.dev" not in error["message"]
    return error


# --- item 5: query dates ------------------------------------------------------------------------

ODD_MOMENTS = ["2024-05-01", "2024-05-01T10:00:00", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+02:00",
               "2024-05-01 10:00"]
NONSENSE = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "yesterday", "2024-13-01", "2024-02-30",
            "", "1e9", "2024-05-01T25:00:00"]


@pytest.mark.parametrize("value", ODD_MOMENTS)
@pytest.mark.parametrize("path, names", [("/api/v1/audit", ("since", "until")),
                                         ("/api/v1/sessions", ("scheduled_from", "scheduled_to"))])
def test_date_only_and_naive_query_bounds_are_accepted(client, headers, value, path, names):
    role = "admin" if "audit" in path else "nurse"
    for name in names:
        response = client.get(path, params={name: value}, headers=headers[role])
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", NONSENSE)
@pytest.mark.parametrize("path, names", [("/api/v1/audit", ("since", "until")),
                                         ("/api/v1/sessions", ("scheduled_from", "scheduled_to"))])
def test_nonsense_and_extreme_query_bounds_are_422_naming_the_field(client, headers, value, path, names):
    role = "admin" if "audit" in path else "nurse"
    for name in names:
        error = _error(client.get(path, params={name: value}, headers=headers[role]), 422, "invalid_input", name)
        assert "YYYY-MM-DD" in error["message"] and "1900-01-01" in error["message"]


def test_a_day_is_the_clinics_local_day():
    from zoneinfo import ZoneInfo

    vienna = ZoneInfo("Europe/Vienna")
    day = parse_moment("2024-07-01")
    assert day.start(vienna) == datetime(2024, 6, 30, 22, 0, tzinfo=UTC)
    assert day.end(vienna) == datetime(2024, 7, 1, 22, 0, tzinfo=UTC)
    naive = parse_moment("2024-07-01T10:00:00")
    assert naive.start(vienna) == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    assert Moment(instant=datetime(2024, 7, 1, 10, tzinfo=UTC)).end(vienna) == datetime(2024, 7, 1, 10, tzinfo=UTC)


def test_the_audit_filter_takes_the_whole_local_day(client, headers):
    today = datetime.now(UTC).date()
    seen = client.get("/api/v1/audit", params={"since": today.isoformat(), "until": today.isoformat()},
                      headers=headers["admin"]).json()["items"]
    assert seen, "entries written today fall inside since=today&until=today"
    none = client.get("/api/v1/audit", params={"until": (today - timedelta(days=1)).isoformat()},
                      headers=headers["admin"]).json()["items"]
    assert none == []


# --- item 5: text a database cannot store -------------------------------------------------------

BAD_TEXT = {"nul": "Synthetic\x00Asker", "surrogate": "Synthetic\ud800Asker"}


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
def test_public_inquiry_refuses_nul_and_lone_surrogates_naming_the_field(client, kind):
    body = json.dumps({**INQUIRY, "message": BAD_TEXT[kind]}).encode()  # "\\u0000" / "\\ud800" escapes
    response = client.post("/api/v1/inquiries", content=body, headers={"Content-Type": "application/json"})
    error = _error(response, 422, field="message")
    assert ("NUL" in error["message"]) == (kind == "nul")


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
def test_nested_text_fields_are_refused_too(client, headers, clinic, kind):
    body = json.dumps({**PATIENT, "referring_physician": BAD_TEXT[kind]})
    response = client.post("/api/v1/patients", content=body,
                           headers={**headers["coordinator"], "Content-Type": "application/json"})
    _error(response, 422, field="referring_physician")


def test_nul_in_a_query_parameter_or_a_form_is_422(client, headers):
    _error(client.get("/api/v1/audit", params={"username": "a\x00b"}, headers=headers["admin"]), 422,
           "invalid_text", "username")
    _error(client.post("/api/v1/auth/token", data={"username": "nurse\x00", "password": "x"}), 422,
           "invalid_text", "username")


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
def test_the_text_type_refuses_without_http(kind):
    from ketaclinic.services.inquiries import InquiryIn

    with pytest.raises(ValidationError) as caught:
        InquiryIn(**{**INQUIRY, "name": BAD_TEXT[kind]})
    message, field = explain(caught.value.errors(include_url=False)[0])
    assert field == "name" and ("NUL" in message or "surrogate" in message or "unicode" in message)


def test_deep_json_body_is_422_not_500(client, headers):
    deep = "[" * 20_000 + "]" * 20_000
    response = client.post("/api/v1/inquiries", content=deep.encode(), headers={"Content-Type": "application/json"})
    _error(response, 422, "invalid_json")
    deeper = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/patients", content=deeper.encode(),
                           headers={**headers["coordinator"], "Content-Type": "application/json"})
    _error(response, 422, "invalid_json")


# --- item 7: body limits ------------------------------------------------------------------------

def test_the_public_inquiry_refuses_a_large_body_before_parsing(client):
    big = json.dumps({**INQUIRY, "message": "x" * SMALL_BODY}).encode()
    error = _error(client.post("/api/v1/inquiries", content=big, headers={"Content-Type": "application/json"}),
                   413, "too_large")
    assert "64 kB" in error["message"]


def test_a_body_without_content_length_is_counted_as_it_arrives(client):
    def chunks():
        for _ in range(SMALL_BODY // 1024 + 2):
            yield b"x" * 1024

    response = client.post("/api/v1/inquiries", content=chunks(), headers={"Content-Type": "application/json"})
    _error(response, 413, "too_large")


def test_the_token_form_is_limited_to_64_kb(client):
    _error(client.post("/api/v1/auth/token", data={"username": "nurse", "password": "p" * SMALL_BODY}), 413, "too_large")


def test_imports_may_be_larger_but_not_beyond_5_mb(client, headers):
    roomy = {"resourceType": "Bundle", "type": "collection", "entry": [], "pad": "x" * (2 * DEFAULT_BODY)}
    response = client.post("/api/v1/referrals", json=roomy, headers=headers["coordinator"])
    assert response.status_code != 413
    huge = {**roomy, "pad": "x" * IMPORT_BODY}
    _error(client.post("/api/v1/referrals", json=huge, headers=headers["coordinator"]), 413, "too_large")


def test_the_default_limit_applies_elsewhere(client, headers):
    big = {**PATIENT, "referring_physician": "x" * DEFAULT_BODY}
    _error(client.post("/api/v1/patients", json=big, headers=headers["coordinator"]), 413, "too_large")


def test_the_web_inquiry_form_is_limited_too(client):
    _error(client.post("/request-consultation", data={"message": "x" * SMALL_BODY}), 413, "too_large")


# --- item 9: every 422 in words -----------------------------------------------------------------

def test_a_range_error_names_the_field_and_both_ends(client, headers):
    error = _error(client.post("/api/v1/patients", json={**PATIENT, "weight_kg": 25}, headers=headers["coordinator"]),
                   422, "invalid_input", "weight_kg")
    assert error["message"] == "weight_kg must be from 30 to 250 (got 25)"


def test_a_query_range_error_is_in_words(client, headers):
    error = _error(client.get("/api/v1/patients", params={"limit": 0}, headers=headers["nurse"]), 422, field="limit")
    assert "must be from 1 to" in error["message"]


def test_vitals_out_of_range_name_the_field_and_range(db, clinic):
    from ketaclinic.services import sessions
    from ketaclinic.services.errors import ValidationFailed

    now = datetime.now(UTC)
    vitals = sessions.VitalsEvent(kind="vitals", systolic_mmhg=120, diastolic_mmhg=80, heart_rate_bpm=70, spo2_pct=150,
                                  respiratory_rate_per_min=14, moaas=5)
    with pytest.raises(ValidationFailed) as caught:
        sessions._vitals(None, clinic.actors["nurse"], SimpleNamespace(started_at=now), vitals, now)
    assert caught.value.field == "spo2_pct"
    assert caught.value.message == "spo2_pct must be from 50 to 100 (got 150)"


def test_explain_never_shows_a_url():
    with pytest.raises(ValidationError) as caught:
        Observation(minute=0, systolic_mmhg=120, diastolic_mmhg=130, heart_rate_bpm=70, spo2_pct=97,
                    respiratory_rate_per_min=14, moaas=5)
    message, field = explain(caught.value.errors()[0])
    assert "http" not in message and field is None and "diastolic" in message


# --- item 11: plausibility ----------------------------------------------------------------------

@pytest.mark.parametrize("weight, ok", [(29.9, False), (30, True), (250, True), (250.1, False)])
def test_weights_from_30_to_250_kg(client, headers, weight, ok):
    response = client.post("/api/v1/patients", json={**PATIENT, "weight_kg": weight}, headers=headers["coordinator"])
    assert (response.status_code == 201) == ok, response.text


def test_a_recorded_weight_is_within_30_to_250_kg(client, headers, clinic):
    path = f"/api/v1/patients/{clinic.own_patient_id}/weights"
    _error(client.post(path, json={"weight_kg": 300}, headers=headers["nurse"]), 422, field="weight_kg")
    _error(client.post(path, json={"weight_kg": 70, "measured_at": "2024-05-01T10:00:00"}, headers=headers["nurse"]),
           422, field="measured_at")


def test_scheduled_at_not_before_2000_nor_more_than_two_years_ahead():
    from ketaclinic.services.sessions import SessionIn

    SessionIn(patient_id=1, scheduled_at=datetime.now(UTC) + timedelta(days=30))
    for when, words in [(datetime(1999, 12, 31, tzinfo=UTC), "before 2000"),
                        (datetime.now(UTC) + timedelta(days=800), "2 years ahead")]:
        with pytest.raises(ValidationError) as caught:
            SessionIn(patient_id=1, scheduled_at=when)
        assert words in explain(caught.value.errors()[0])[0]


def test_scheduling_far_ahead_is_422_over_http(client, headers):
    when = (datetime.now(UTC) + timedelta(days=3 * 365)).isoformat()
    _error(client.post("/api/v1/sessions", json={"patient_id": 1, "scheduled_at": when}, headers=headers["coordinator"]),
           422, field="scheduled_at")


def test_diary_days_not_before_birth_nor_in_the_future(db, clinic):
    from ketaclinic.services.diary import DiaryIn, add_entry
    from ketaclinic.services.errors import ValidationFailed

    patient = clinic.actors["patient"]
    with pytest.raises(ValidationFailed) as before_birth:
        add_entry(db, patient, DiaryIn(day=date(1969, 12, 31), pain_nrs=5))
    assert before_birth.value.field == "day" and "1970-01-02" in before_birth.value.message
    with pytest.raises(ValidationFailed) as future:
        add_entry(db, patient, DiaryIn(day=datetime.now(UTC).date() + timedelta(days=2), pain_nrs=5))
    assert future.value.field == "day"
    assert add_entry(db, patient, DiaryIn(day=date(1970, 1, 2), pain_nrs=5)).pain_nrs == 5
