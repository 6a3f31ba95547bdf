"""Issue 16 / design 4.10 in the web UI: the cookie holds a server-side session id (never the bearer
token), a sign-out ends it for good (a replayed cookie finds nothing), and the throttle's message."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ketaclinic.web.websession import COOKIE, serializer
from tests.conftest import PASSWORD
from tests.web.conftest import csrf_of, sign_in


def _cookie_data(settings, client: TestClient) -> dict:
    return serializer(settings.resolved_secret_key()).loads(client.cookies[COOKIE])


def test_the_cookie_holds_a_session_id_that_is_no_bearer_token(web, clinic, settings):
    sign_in(web, "nurse")
    data = _cookie_data(settings, web)
    assert set(data) == {"c", "s", "a", "f", "p"} and isinstance(data["s"], str)
    assert data["p"] is None  # the site picked in the header (issue 17): none yet, all of the user's sites
    assert web.get("/dashboard", follow_redirects=False).status_code == 200
    as_bearer = web.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {data['s']}"})
    assert as_bearer.status_code == 401


def test_a_replayed_cookie_fails_after_sign_out(web, clinic):
    sign_in(web, "physician")
    stolen = web.cookies[COOKIE]
    csrf = csrf_of(web.get("/dashboard").text)
    assert web.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with TestClient(web.app, base_url="http://testserver") as attacker:
        attacker.cookies.set(COOKIE, stolen)
        response = attacker.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_sign_out_on_the_web_ends_the_api_tokens_too(web, clinic):
    token = web.post("/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD}).json()["access_token"]
    sign_in(web, "nurse")
    csrf = csrf_of(web.get("/dashboard").text)
    web.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert web.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_throttle_says_wait_and_is_the_same_for_unknown_names(web, clinic, settings):
    def attempts(username):
        out = []
        for _ in range(settings.login_free_failures + 2):
            page = web.get("/login")
            response = web.post("/login", data={"username": username, "password": "wrong-password",
                                                "csrf_token": csrf_of(page.text)})
            out.append((response.status_code, "Wrong username or password" in response.text,
                        "Too many failed sign-ins" in response.text))
        return out

    known, unknown = attempts("nurse"), attempts("no-such-user")
    assert known == unknown and known[-1] == (401, False, True)


def test_no_demo_banner_in_production(settings, db, clinic):
    from ketaclinic.api.app import create_app

    production = settings.model_copy(update={"env": "production", "demo": True, "web_secure_cookie": False})
    with TestClient(create_app(production, db=db), base_url="http://testserver") as client:
        page = client.get("/login").text
    assert 'class="demo-banner"' not in page and "synthetic" not in page.lower()
