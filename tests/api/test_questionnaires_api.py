"""Questionnaires over the API (issue 15): a patient answers PHQ-9 one question at a time, the physician reads the
alert and acknowledges it; the error shape for bad answers."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine() -> str:
    return "sqlite"


def test_patient_answers_and_physician_acknowledges(client, headers, clinic):
    pid = clinic.own_patient_id
    started = client.post(f"/api/v1/patients/{pid}/questionnaires", json={"instrument": "phq9"},
                          headers=headers["patient"])
    assert started.status_code == 201, started.text
    rid = started.json()["id"]
    for n, value in enumerate([1, 1, 1, 1, 1, 1, 1, 1, 2], start=1):
        saved = client.post(f"/api/v1/questionnaire-responses/{rid}/answers", json={"item": n, "value": value},
                            params={"complete": str(n == 9).lower()}, headers=headers["patient"])
        assert saved.status_code == 201, saved.text
        rid = saved.json()["id"]
    body = saved.json()
    assert (body["status"], body["total"], body["severity"]) == ("complete", 10, "moderate")
    assert [f["code"] for f in body["flags"]] == ["self_harm_thoughts"]
    alerts = client.get("/api/v1/questionnaire-alerts", headers=headers["physician"]).json()["items"]
    assert len(alerts) == 1 and alerts[0]["patient_id"] == pid
    ack = client.post(f"/api/v1/questionnaire-alerts/{alerts[0]['id']}/acknowledge",
                      json={"note": "Phoned the patient; no plan or intent; follow-up tomorrow"},
                      headers=headers["physician"])
    assert ack.status_code == 201
    again = client.post(f"/api/v1/questionnaire-alerts/{alerts[0]['id']}/acknowledge", json={"note": "again"},
                        headers=headers["physician"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "alert_acknowledged"
    chart = client.get(f"/api/v1/patients/{pid}/questionnaires", headers=headers["nurse"]).json()
    assert chart["trends"][0]["points"][0]["total"] == 10
    assert client.get(f"/api/v1/patients/{pid}/questionnaires", headers=headers["coordinator"]).status_code == 403


def test_bad_answers_have_the_error_shape(client, headers, clinic):
    pid = clinic.own_patient_id
    rid = client.post(f"/api/v1/patients/{pid}/questionnaires", json={"instrument": "pgic"},
                      headers=headers["nurse"]).json()["id"]
    bad = client.post(f"/api/v1/questionnaire-responses/{rid}", json={"answers": [9], "complete": True},
                      headers=headers["nurse"])
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "answers[0]"
    missing = client.post(f"/api/v1/questionnaire-responses/{rid}", json={"answers": [None], "complete": True},
                          headers=headers["nurse"])
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "too_many_missing"
    unknown = client.post(f"/api/v1/patients/{pid}/questionnaires", json={"instrument": "bpi"},
                          headers=headers["nurse"])
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "instrument"
    other = client.post(f"/api/v1/patients/{clinic.other_patient_id}/questionnaires", json={"instrument": "phq9"},
                        headers=headers["patient"])
    assert other.status_code == 404
