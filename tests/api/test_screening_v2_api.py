"""Issue 11 through HTTP: evaluations take the 4.2 v2 fields (422 naming the field when wrong), and a
baseline SpO2 of 90 % blocks the start until a physician (not a nurse) records why."""

from datetime import timedelta

from ketaclinic.clock import utcnow
from ketaclinic.services import sessions as ss
from tests.conftest import PASSWORD
from tests.interop.flows import T0, checklist, screening, signed_plan

LOW_SPO2 = {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 90}


def test_an_evaluation_takes_v2_fields_and_shows_the_findings(client, headers, clinic):
    document = screening(history={"coronary": "stable", "mania": "none"},
                         patient={"height_cm": 164, "breastfeeding": True})
    document["medications"] = ["Nardil 15 mg", "Norco 10/325"]
    response = client.post("/api/v1/evaluations", json={"patient_id": clinic.own_patient_id, "screening": document},
                           headers=headers["nurse"])
    assert response.status_code == 201, response.text
    body = response.json()
    kinds = {f["code"]: f["kind"] for f in body["screening_result"]["findings"]}
    assert body["decision"] == "eligible_with_precautions"
    assert kinds["coronary_disease"] == kinds["breastfeeding"] == kinds["interaction_maoi"] == "precaution"
    assert kinds["interaction_opioid"] == "note"
    assert body["screening_input"]["history"]["coronary"] == "stable"
    assert body["screening_input"]["patient"]["height_cm"] == 164


def test_a_bad_v2_value_is_422_naming_the_field(client, headers, clinic):
    document = screening(history={"alcohol_use": "lots"})
    response = client.post("/api/v1/evaluations", json={"patient_id": clinic.own_patient_id, "screening": document},
                           headers=headers["nurse"])
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"].endswith("history.alcohol_use")


def test_spo2_90_blocks_until_a_physician_records_why(client, headers, db, clinic):
    at = T0 + timedelta(days=7)
    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id, scheduled_at=at),
                                now=at - timedelta(days=2))
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn())
    url = f"/api/v1/sessions/{visit.id}"
    facts = checklist(utcnow() - timedelta(minutes=5), baseline_vitals=LOW_SPO2).model_dump(mode="json")
    recorded = client.post(f"{url}/checklist", json=facts, headers={**headers["nurse"], "If-Match": str(visit.version)})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["checklist"]["blocking"] == ["baseline_spo2_low"]
    version = recorded.json()["version"]
    blocked = client.post(f"{url}/start", headers={**headers["nurse"], "If-Match": str(version)})
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "checklist_not_met"
    reason = {"reason": "COPD; 90 % is her usual saturation; oxygen on"}
    refused = client.post(f"{url}/checklist/override", json=reason, headers={**headers["nurse"], "If-Match": str(version)})
    assert refused.status_code == 403
    overridden = client.post(f"{url}/checklist/override", json=reason,
                             headers={**headers["physician"], "If-Match": str(version)})
    assert overridden.status_code == 200, overridden.text
    body = overridden.json()
    assert body["checklist"]["ready"] and body["checklist"]["overrides"][0]["by"] == clinic.actors["physician"].username
    started = client.post(f"{url}/start", json={"double_check": {"username": "physician", "password": PASSWORD}},
                          headers={**headers["nurse"], "If-Match": str(body["version"])})
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "running"
