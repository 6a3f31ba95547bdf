"""Sign-in, CSRF, idle time-out, headers and the public consultation form, in process."""

from __future__ import annotations

import time

from ketaclinic.web.websession import COOKIE
from tests.web.conftest import csrf_of, sign_in


def test_pages_keep_the_security_headers_and_the_demo_banner(web):
    page = web.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Demo clinic — all data is synthetic" in page.text
    assert web.get("/static/vendor/htmx.min.js").status_code == 200


def test_signed_in_pages_need_a_sign_in(web):
    response = web.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fdashboard")


def test_sign_in_with_a_wrong_password_keeps_the_username(web, clinic):
    page = web.get("/login")
    response = web.post("/login", data={"username": "nurse", "password": "wrong-password", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert 'value="nurse"' in response.text


def test_a_post_without_the_csrf_token_is_refused(web, clinic):
    response = web.post("/login", data={"username": "nurse", "password": "correct-horse-battery"})
    assert response.status_code == 403
    assert "/dashboard" not in response.headers.get("location", "")


def test_the_csrf_token_changes_at_sign_in(web, clinic):
    before = csrf_of(web.get("/login").text)
    sign_in(web, "nurse")
    after = csrf_of(web.get("/dashboard").text)
    assert before != after


def test_an_idle_session_is_signed_out(settings, db, clinic):
    from fastapi.testclient import TestClient

    from ketaclinic.api.app import create_app

    short = settings.model_copy(update={"web_idle_timeout_s": 2, "web_idle_warning_s": 1})
    with TestClient(create_app(short, db=db)) as client:
        sign_in(client, "nurse")
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
        time.sleep(3.1)
        response = client.get("/dashboard", follow_redirects=False)
        assert response.status_code == 303
        assert "reason=idle" in response.headers["location"]
        assert "inactivity" in client.get(response.headers["location"]).text


def test_background_polling_does_not_keep_a_session_alive(settings, db, clinic):
    from fastapi.testclient import TestClient

    from ketaclinic.api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"web_idle_timeout_s": 2}), db=db)) as client:
        sign_in(client, "nurse")
        for _ in range(3):
            time.sleep(0.9)
            client.get("/dashboard", headers={"X-Background": "1"}, follow_redirects=False)
        assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_consultation_request_with_problems_keeps_what_was_typed(web):
    token = csrf_of(web.get("/request-consultation").text)
    response = web.post("/request-consultation", data={
        "csrf_token": token, "name": "Synthetic Person", "preferred_contact": "email", "phone": "",
        "email": "", "message": "Burning pain in my left foot for two years"})
    assert response.status_code == 422
    assert "Give an e-mail address" in response.text
    assert "We can only answer if you agree to be contacted" in response.text
    assert "Burning pain in my left foot for two years" in response.text
    assert 'value="Synthetic Person"' in response.text


def test_a_consultation_request_is_stored_and_promises_a_call_back(web, clinic, db):
    from ketaclinic.services.inquiries import list_inquiries

    token = csrf_of(web.get("/request-consultation").text)
    response = web.post("/request-consultation", data={
        "csrf_token": token, "name": "Synthetic Person", "preferred_contact": "phone", "phone": "+1 555 0100 200",
        "condition": "Fibromyalgia (widespread muscle pain)", "consent_to_contact": "yes"})
    assert response.status_code == 200
    assert "within one business day" in response.text
    stored = list_inquiries(db, clinic.actors["coordinator"]).items
    assert [(i.name, i.phone, i.status) for i in stored] == [("Synthetic Person", "+1 555 0100 200", "new")]


def test_clinical_pages_refuse_the_coordinator_and_the_patient(signed_in, clinic):
    for role in ("coordinator", "patient", "admin"):
        client = signed_in(role)
        for path in (f"/patients/{clinic.own_patient_id}/evaluations/new", f"/patients/{clinic.own_patient_id}/plans/new",
                     "/outcomes"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 403, (role, path)
            assert "Not available to your role" in response.text


def test_the_live_screening_uses_the_core_and_names_sources(signed_in):
    from tests.web.conftest import csrf_of

    client = signed_in("physician")
    token = csrf_of(client.get("/dashboard").text)
    form = {"age_years": "16", "sex": "female", "weight_kg": "60", "conditions": ["crps"], "duration_weeks": "8",
            "prior_treatments": [], "systolic_mmhg": "120", "diastolic_mmhg": "80", "heart_rate_bpm": "70",
            "spo2_pct": "98", "cardiovascular": "none", "hypertension": "none", "intracranial_pressure": "normal",
            "intraocular_pressure": "normal", "psychosis": "none", "hepatic_impairment": "none", "substance_use": "none"}
    response = client.post("/evaluations/screen", data=form, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert 'id="decision">not eligible' in response.text
    for kind in ("contraindication", "unmet requirement"):
        assert kind in response.text
    assert "[clinic_policy]" in response.text or "[seed_chronic_definition]" in response.text
    missing = client.post("/evaluations/screen", data={**form, "systolic_mmhg": ""}, headers={"X-CSRF-Token": token})
    assert "Screening appears when the form is complete" in missing.text
    assert "systolic mmhg" in missing.text


def test_an_htmx_post_without_the_csrf_header_is_refused(signed_in):
    client = signed_in("physician")
    response = client.post("/evaluations/screen", data={"age_years": "50"}, headers={"HX-Request": "true"})
    assert response.status_code == 403


def test_the_session_cookie_is_set_on_pages_only_and_pages_are_never_cached(web, clinic):
    """The web-session middleware (a plain ASGI one since issue 17): a page's answer carries the signed,
    HttpOnly, SameSite=strict cookie and ``Cache-Control: no-store``; the API and static files pass
    straight through (no cookie), and a page that sets its own caching keeps it."""
    login = web.get("/login")
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert login.headers["cache-control"] == "no-store"
    signed = sign_in(web, "nurse")
    assert signed.headers["set-cookie"].startswith(f"{COOKIE}=")  # the sign-in rewrote the cookie
    api = web.get("/api/v1/openapi.json")
    assert api.status_code == 200 and "set-cookie" not in api.headers
    static = web.get("/static/css/app.css")
    assert static.status_code == 200 and "set-cookie" not in static.headers
