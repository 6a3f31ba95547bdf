"""The API contract (design.md 4.5): login, errors, If-Match, isolation, limits, headers, audit."""

from ketaclinic.api.app import create_app
from tests.conftest import PASSWORD


def _login(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    return body["error"]


def test_login_gives_a_working_token(client, clinic):
    response = _login(client, "nurse")
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer" and token["role"] == "nurse"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.json()["username"] == "nurse"


def test_wrong_credentials_401_and_throttle(client, clinic, settings):
    wrong = _login(client, "nurse", "wrong-password")
    _error(wrong, 401, "invalid_credentials")
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    for _ in range(settings.login_free_failures):
        _login(client, "nurse", "wrong-password")
    throttled = _login(client, "nurse")
    _error(throttled, 429, "login_throttled")
    assert int(throttled.headers["Retry-After"]) > 0
    _error(client.get("/api/v1/auth/me", headers={"Authorization": "Bearer forged"}), 401, "invalid_token")


def test_login_and_inquiry_are_rate_limited(settings, db, clinic):
    from fastapi.testclient import TestClient

    tight = settings.model_copy(update={"login_rate_limit": 2, "inquiry_rate_limit": 1})
    with TestClient(create_app(tight, db=db)) as client:
        assert [_login(client, "nobody").status_code for _ in range(3)] == [401, 401, 429]
        form = {"name": "Synthetic", "email": "s@example.org", "preferred_contact": "email", "consent_to_contact": True}
        assert client.post("/api/v1/inquiries", json=form).status_code == 201
        limited = client.post("/api/v1/inquiries", json=form)
        _error(limited, 429, "rate_limited")
        assert "Retry-After" in limited.headers


def test_patch_needs_if_match(client, headers, clinic):
    url = f"/api/v1/patients/{clinic.own_patient_id}"
    nurse = headers["nurse"]
    read = client.get(url, headers=nurse)
    assert read.headers["ETag"] == '"1"'
    _error(client.patch(url, json={"phone": "1"}, headers=nurse), 428, "if_match_required")
    changed = client.patch(url, json={"phone": "+1 555 0102", "weight_kg": 69.5}, headers={**nurse, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["version"] == 2 and changed.json()["weight_kg"] == 69.5
    _error(client.patch(url, json={"phone": "3"}, headers={**nurse, "If-Match": "1"}), 409, "stale_version")
    _error(client.patch(url, json={"shoe_size": 44}, headers={**nurse, "If-Match": "2"}), 422, "unknown_field")


def test_patient_gets_404_for_any_other_chart(client, headers, clinic):
    me = headers["patient"]
    assert client.get(f"/api/v1/patients/{clinic.own_patient_id}", headers=me).status_code == 200
    other = client.get(f"/api/v1/patients/{clinic.other_patient_id}", headers=me)
    missing = client.get("/api/v1/patients/999999", headers=me)
    assert _error(other, 404, "not_found") == _error(missing, 404, "not_found")
    listed = client.get("/api/v1/patients", headers=me).json()
    assert [p["id"] for p in listed["items"]] == [clinic.own_patient_id]


def test_cursor_paging(client, headers, clinic):
    first = client.get("/api/v1/patients?limit=1", headers=headers["physician"]).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = client.get(f"/api/v1/patients?limit=1&cursor={first['next_cursor']}", headers=headers["physician"]).json()
    assert second["items"][0]["id"] != first["items"][0]["id"] and second["next_cursor"] is None
    _error(client.get("/api/v1/patients?cursor=@@@", headers=headers["physician"]), 422, "invalid_input")


def test_create_patient_and_inquiry_conversion(client, headers):
    body = {"given_name": "Synthetic", "family_name": "Api", "birth_date": "1966-06-06", "sex": "male", "weight_kg": 81}
    created = client.post("/api/v1/patients", json=body, headers=headers["coordinator"])
    assert created.status_code == 201 and created.json()["version"] == 1 and created.json()["created_by"]
    receipt = client.post("/api/v1/inquiries", json={"name": "Synthetic Form", "phone": "+1 555 0111",
                                                     "preferred_contact": "phone", "consent_to_contact": True})
    assert receipt.status_code == 201 and set(receipt.json()) == {"status", "answer_by"}
    queue = client.get("/api/v1/inquiries?status=new", headers=headers["coordinator"]).json()["items"]
    converted = client.post(f"/api/v1/inquiries/{queue[0]['id']}/convert", headers={**headers["coordinator"], "If-Match": "1"},
                            json={"patient": {"given_name": "Synthetic", "family_name": "Form", "birth_date": "1980-01-01",
                                              "sex": "female"}})
    assert converted.status_code == 201 and converted.json()["patient"]["phone"] == "+1 555 0111"


def test_errors_have_one_shape(client, headers):
    _error(client.get("/api/v1/nothing-here"), 404, "not_found")
    _error(client.get("/api/v1/patients"), 401, "not_authenticated")
    _error(client.get("/api/v1/audit", headers=headers["physician"]), 403, "forbidden")
    _error(client.post("/api/v1/patients", json={"given_name": "x"}, headers=headers["physician"]), 422, "missing_field")


def test_security_headers_and_openapi(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and "/api/v1/patients" in response.json()["paths"]
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert name in response.headers
    assert response.headers["X-Frame-Options"] == "DENY" and "Strict-Transport-Security" not in response.headers
    secure = client.get("https://testserver/healthz")
    assert secure.json() == {"status": "ok"} and secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_admin_reads_the_audit_log_with_filters(client, headers, clinic):
    client.get(f"/api/v1/patients/{clinic.own_patient_id}", headers=headers["nurse"])
    entries = client.get("/api/v1/audit?action=patient.read&username=nurse", headers=headers["admin"]).json()["items"]
    assert entries and all(e["action"] == "patient.read" and e["username"] == "nurse" for e in entries)
    assert entries[0]["ip"] == "testclient" and entries[0]["record_id"] == str(clinic.own_patient_id)
    assert client.get("/api/v1/audit/verify", headers=headers["admin"]).json()["intact"] is True
