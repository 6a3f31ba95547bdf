"""The clinical routes over HTTP: the whole pathway, If-Match (428/409), refusals, role denials, 404 isolation, audit."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from tests.conftest import PASSWORD
from tests.interop.flows import DISCHARGE, NORMAL_VITALS, SCREENING


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "field"} and body["error"]["code"] == code, body
    return body["error"]


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def _if_match(headers, version):
    return {**headers, "If-Match": f'"{version}"'}


def test_the_pathway_over_http(client, headers, clinic, db):
    nurse, physician = headers["nurse"], headers["physician"]
    pid = clinic.own_patient_id
    evaluation = _ok(client.post("/api/v1/evaluations", json={"patient_id": pid, "screening": SCREENING}, headers=nurse), 201)
    assert evaluation["decision"] == "eligible" and client.get(f"/api/v1/evaluations/{evaluation['id']}",
                                                                headers=nurse).headers["ETag"] == '"1"'
    _error(client.post(f"/api/v1/evaluations/{evaluation['id']}/sign", headers=physician), 428, "if_match_required")
    _error(client.post(f"/api/v1/evaluations/{evaluation['id']}/sign", headers=nurse), 403, "forbidden")
    _ok(client.post(f"/api/v1/evaluations/{evaluation['id']}/sign", headers=_if_match(physician, 1)))

    plan = _ok(client.post("/api/v1/plans", json={"patient_id": pid, "evaluation_id": evaluation["id"],
                                                  "protocol": "outpatient_infusion"}, headers=nurse), 201)
    _error(client.post("/api/v1/plans", json={"patient_id": pid, "evaluation_id": evaluation["id"], "protocol": "custom_iv",
                                              "steps": [{"kind": "infusion", "rate_mg_per_kg_per_h": 3,
                                                         "duration_min": 60}]}, headers=physician), 422, "hard_limit")
    _error(client.patch(f"/api/v1/plans/{plan['id']}", json={"series": {"sessions": 4}}, headers=physician),
           428, "if_match_required")
    edited = _ok(client.patch(f"/api/v1/plans/{plan['id']}", json={"series": {"sessions": 4}},
                              headers=_if_match(physician, plan["version"])))
    _error(client.patch(f"/api/v1/plans/{plan['id']}", json={"series": {"sessions": 5}},
                        headers=_if_match(physician, plan["version"])), 409, "stale_version")
    scheduled_at = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    _error(client.post("/api/v1/sessions", json={"patient_id": pid, "plan_id": plan["id"], "scheduled_at": scheduled_at},
                       headers=nurse), 409, "plan_not_signed")
    _ok(client.post(f"/api/v1/plans/{plan['id']}/sign", headers=_if_match(physician, edited["version"])))
    preview = _ok(client.get(f"/api/v1/plans/{plan['id']}/preview", headers=nurse))
    assert max(preview["plasma_ng_per_ml"]) > 0

    visit = _ok(client.post("/api/v1/sessions", json={"patient_id": pid, "scheduled_at": scheduled_at},
                            headers=headers["coordinator"]), 201)
    assert visit["view"] == "schedule" and visit["plan_id"] == plan["id"]
    sid = visit["id"]
    visit = _ok(client.post(f"/api/v1/sessions/{sid}/check-in", json={"weight_kg": 68.4}, headers=_if_match(nurse, 1)))
    now = datetime.now(UTC)
    facts = {"fasting": {"asked": True, "last_light_meal_at": (now - timedelta(hours=8)).isoformat()},
             "escort_present": True, "consent_signed": True, "baseline_vitals": SCREENING["vitals"],
             "baseline_vitals_at": (now - timedelta(minutes=5)).isoformat(), "can_become_pregnant": False,
             "urinary_symptoms": "none"}
    visit = _ok(client.post(f"/api/v1/sessions/{sid}/checklist", json=facts, headers=_if_match(nurse, visit["version"])))
    unchecked = client.post(f"/api/v1/sessions/{sid}/start", headers=_if_match(nurse, visit["version"]))
    assert unchecked.status_code == 409 and unchecked.json()["error"]["code"] == "double_check_required"
    check = {"double_check": {"username": "physician", "password": PASSWORD}}
    visit = _ok(client.post(f"/api/v1/sessions/{sid}/start", json=check, headers=_if_match(nurse, visit["version"])))
    assert visit["pump_program"]["double_checked_by"] == "physician"
    assert visit["state"] == "running" and visit["pump_program"]["plan_id"] == plan["id"]
    alert = _ok(client.post(f"/api/v1/sessions/{sid}/events", json={**NORMAL_VITALS, "spo2_pct": 91}, headers=nurse), 201)
    assert alert["payload"]["alerts"][0]["action"] == "reduce_rate" and alert["raised"][0]["kind"] == "alert"
    _ok(client.post(f"/api/v1/sessions/{sid}/events", json={"kind": "alert_ack", "alert_event_id": alert["raised"][0]["id"],
                                                            "action_taken": "rate reduced"}, headers=nurse), 201)
    _error(client.post(f"/api/v1/sessions/{sid}/events", json={"kind": "vitals", "systolic_mmhg": 120}, headers=nurse),
           422, "missing_field")
    _error(client.post(f"/api/v1/sessions/{sid}/events", json={"kind": "teleport"}, headers=nurse), 422, "invalid_input")
    visit = _ok(client.get(f"/api/v1/sessions/{sid}", headers=nurse))
    visit = _ok(client.post(f"/api/v1/sessions/{sid}/stop", headers=_if_match(nurse, visit["version"])))
    refused = _error(client.post(f"/api/v1/sessions/{sid}/discharge", json=DISCHARGE,
                                 headers=_if_match(nurse, visit["version"])), 409, "discharge_criteria_unmet")
    assert "observation_time" in refused["message"]
    events = _ok(client.get(f"/api/v1/sessions/{sid}/events?limit=3", headers=physician))
    assert len(events["items"]) == 3 and events["next_cursor"]
    rest = _ok(client.get(f"/api/v1/sessions/{sid}/events", params={"cursor": events["next_cursor"]}, headers=physician))
    kinds = [e["kind"] for e in events["items"] + rest["items"]]
    assert kinds.count("vitals") == 1 and kinds.count("alert_ack") == 1 and kinds[-1] == "note"
    with db.reading() as session:
        actions = set(session.execute(select(AuditEntry.action)).scalars())
    assert {"evaluation.read", "plan.sign", "session.start", "session.event.vitals", "session.discharge_refused",
            "session.events.read"} <= actions


def test_a_patient_reaches_only_their_own_records(client, headers, clinic):
    me = headers["patient"]
    own = _ok(client.post("/api/v1/diary", json={"pain_nrs": 4, "mood": 6}, headers=me), 201)
    assert own["patient_id"] == clinic.own_patient_id
    assert [e["id"] for e in _ok(client.get("/api/v1/diary", headers=me))["items"]] == [own["id"]]
    _error(client.get("/api/v1/diary", params={"patient_id": clinic.other_patient_id}, headers=me), 404, "not_found")
    _error(client.post("/api/v1/diary", json={"patient_id": clinic.other_patient_id, "pain_nrs": 3}, headers=me),
           404, "not_found")
    _error(client.get("/api/v1/diary/booster", params={"patient_id": clinic.other_patient_id}, headers=me), 404, "not_found")
    _error(client.get(f"/api/v1/outcomes/patients/{clinic.other_patient_id}", headers=me), 404, "not_found")
    _error(client.get(f"/api/v1/patients/{clinic.other_patient_id}/fhir", headers=me), 404, "not_found")
    assert _ok(client.get("/api/v1/diary/booster", headers=me))["suggest_booster"] is False
    _error(client.get("/api/v1/evaluations", headers=me), 403, "forbidden")
    _error(client.get("/api/v1/outcomes", headers=me), 403, "forbidden")
    _error(client.post("/api/v1/diary", json={"pain_nrs": 12}, headers=me), 422, "invalid_input")


def test_roles_that_may_not(client, headers, clinic):
    pid = clinic.own_patient_id
    body = {"patient_id": pid, "screening": SCREENING}
    _error(client.post("/api/v1/evaluations", json=body, headers=headers["admin"]), 403, "forbidden")
    _error(client.post("/api/v1/evaluations", json=body, headers=headers["coordinator"]), 403, "forbidden")
    _error(client.post("/api/v1/evaluations", json=body, headers=headers[None]), 401, "not_authenticated")
    _error(client.get("/api/v1/plans", headers=headers["coordinator"]), 403, "forbidden")
    _error(client.get("/api/v1/diary", params={"patient_id": pid}, headers=headers["coordinator"]), 403, "forbidden")
    _error(client.post("/api/v1/sessions/1/events", json={"kind": "note", "text": "x"}, headers=headers["admin"]),
           403, "forbidden")
    evaluation = _ok(client.post("/api/v1/evaluations", json=body, headers=headers["nurse"]), 201)
    _ok(client.post(f"/api/v1/evaluations/{evaluation['id']}/sign", headers=_if_match(headers["physician"], 1)))
    soft = {"patient_id": pid, "evaluation_id": evaluation["id"], "protocol": "custom_iv",
            "steps": [{"kind": "bolus", "dose_mg_per_kg": 0.5}], "override": {"reason": "nurse tries"}}
    _error(client.post("/api/v1/plans", json=soft, headers=headers["nurse"]), 403, "override_needs_physician")
    plan = _ok(client.post("/api/v1/plans", json={**soft, "override": {"reason": "physician accepts"}},
                           headers=headers["physician"]), 201)
    assert plan["overrides"][0]["reason"] == "physician accepts"
