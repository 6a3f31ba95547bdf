"""Issue 16 (design 4.10): sign-ins that end when they should, the throttle, the last admin, the demo in
production, the secret's entropy and the trusted proxies. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ketaclinic.api.app import create_app
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.users import AuthSession, User
from ketaclinic.services import auth as auth_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, RateLimited, Unauthenticated
from ketaclinic.services.users import UserCreate, UserUpdate, create_user, update_user
from ketaclinic.settings import Settings, SettingsError
from tests.conftest import PASSWORD
from tests.web.conftest import csrf_of

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "another-long-passphrase"


def _login(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _bearer(client, username, password=PASSWORD) -> dict[str, str]:
    response = _login(client, username, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _me(client, headers) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


def _web_sign_in(app, username, password=PASSWORD) -> TestClient:
    web = TestClient(app, base_url="http://testserver")
    page = web.get("/login")
    response = web.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
                        follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    return web


def _web_signed_in(web: TestClient) -> bool:
    response = web.get("/dashboard", follow_redirects=False)
    return response.status_code == 200


def _version(db, user_id: int) -> int:
    with db.reading() as session:
        return session.get(User, user_id).version


# --- logout and the events that end sign-ins ----------------------------------------------------


def test_logout_kills_the_token_and_every_earlier_sign_in(client, clinic, app):
    first, second = _bearer(client, "nurse"), _bearer(client, "nurse")
    web = _web_sign_in(app, "nurse")
    other = _bearer(client, "physician")
    assert _me(client, first) == _me(client, second) == 200 and _web_signed_in(web)
    assert client.post("/api/v1/auth/logout", headers=second).status_code == 204
    assert _me(client, second) == 401
    assert _me(client, first) == 401  # design 4.10: logout ends every earlier sign-in of the user
    assert not _web_signed_in(web)
    assert _me(client, other) == 200  # another user keeps theirs
    assert client.post("/api/v1/auth/logout", headers=second).status_code == 401
    assert _me(client, _bearer(client, "nurse")) == 200  # signing in again works


@pytest.mark.parametrize("change", ["password", "role", "deactivate"])
def test_password_role_and_deactivation_end_tokens_and_web_sessions(client, clinic, app, db, change):
    token = _bearer(client, "nurse")
    web = _web_sign_in(app, "nurse")
    assert _me(client, token) == 200 and _web_signed_in(web)
    nurse_id = clinic.actors["nurse"].user_id
    update = {"password": UserUpdate(password=NEW_PASSWORD), "role": UserUpdate(role="coordinator"),
              "deactivate": UserUpdate(active=False)}[change]
    view = update_user(db, clinic.actors["admin"], nurse_id, _version(db, nurse_id), update)
    assert _me(client, token) == 401
    assert not _web_signed_in(web)
    if change == "deactivate":  # reactivating does not bring the old sign-ins back
        update_user(db, clinic.actors["admin"], nurse_id, view.version, UserUpdate(active=True))
        assert _me(client, token) == 401 and not _web_signed_in(web)
    password = NEW_PASSWORD if change == "password" else PASSWORD
    assert _me(client, _bearer(client, "nurse", password)) == 200


def test_the_api_user_update_ends_the_sign_ins_too(client, clinic, headers, db):
    token = _bearer(client, "physician")
    user_id = clinic.actors["physician"].user_id
    response = client.patch(f"/api/v1/users/{user_id}", json={"password": NEW_PASSWORD},
                            headers={**headers["admin"], "If-Match": str(_version(db, user_id))})
    assert response.status_code == 200, response.text
    assert _me(client, token) == 401


def test_two_logins_in_the_same_second_differ(db, settings, clinic):
    first = auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip="1.2.3.4", now=NOW)
    second = auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip="1.2.3.4", now=NOW)
    assert first.token != second.token
    assert auth_service.actor_from_token(db, first.token, ip=None, now=NOW).username == "nurse"
    with db.reading() as session:  # the database keeps only digests, never the token itself
        ids = set(session.scalars(select(AuthSession.id)))
    assert first.token not in ids and second.token not in ids and len(ids) == 2


def test_a_web_session_id_is_no_bearer_token_and_back(db, settings, clinic):
    web = auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip=None, kind="web", now=NOW)
    api = auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip=None, kind="api", now=NOW)
    with pytest.raises(Unauthenticated):
        auth_service.actor_from_token(db, web.token, ip=None, kind="api", now=NOW)
    with pytest.raises(Unauthenticated):
        auth_service.actor_from_token(db, api.token, ip=None, kind="web", now=NOW)


def test_logging_in_does_not_change_the_record_version(client, clinic, db):
    """Issue 16.11: an admin who reads their record, signs in again and saves it gets no 409."""
    admin_id = clinic.actors["admin"].user_id
    before = _version(db, admin_id)
    admin = _bearer(client, "admin")
    _login(client, "admin", "wrong-password")
    assert _version(db, admin_id) == before
    response = client.patch(f"/api/v1/users/{admin_id}", json={"password": NEW_PASSWORD},
                            headers={**admin, "If-Match": str(before)})
    assert response.status_code == 200, response.text


# --- the last admin -------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [UserUpdate(role="physician"), UserUpdate(active=False)], ids=["demote", "deactivate"])
def test_the_last_active_admin_cannot_leave(db, clinic, change):
    admin = clinic.actors["admin"]
    version = _version(db, admin.user_id)
    with pytest.raises(Conflict) as refused:
        update_user(db, admin, admin.user_id, version, change)
    assert refused.value.code == "last_admin"
    with db.reading() as session:
        user = session.get(User, admin.user_id)
        assert (user.role, user.active) == ("admin", True)


def test_the_last_admin_409_over_http_and_a_second_admin_lifts_it(client, clinic, headers, db):
    admin_id = clinic.actors["admin"].user_id
    url = f"/api/v1/users/{admin_id}"
    refused = client.patch(url, json={"role": "nurse"}, headers={**headers["admin"], "If-Match": str(_version(db, admin_id))})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "last_admin"
    create_user(db, Actor.system("tests"), UserCreate(username="second-admin", role="admin", password=PASSWORD))
    allowed = client.patch(url, json={"role": "nurse"}, headers={**headers["admin"], "If-Match": str(_version(db, admin_id))})
    assert allowed.status_code == 200 and allowed.json()["role"] == "nurse"


def test_an_inactive_admin_does_not_count(db, clinic):
    admin = clinic.actors["admin"]
    spare = create_user(db, Actor.system("tests"), UserCreate(username="spare-admin", role="admin", password=PASSWORD))
    update_user(db, admin, spare.id, spare.version, UserUpdate(active=False))
    with pytest.raises(Conflict):
        update_user(db, admin, admin.user_id, _version(db, admin.user_id), UserUpdate(role="coordinator"))


# --- the throttle ---------------------------------------------------------------------------------


def _fail(db, settings, username, ip, now, password="wrong-password"):
    with pytest.raises((Unauthenticated, RateLimited)) as failed:
        auth_service.sign_in(db, settings, username=username, password=password, ip=ip, now=now)
    return failed.value


def test_account_throttle_delays_grow_and_are_capped(db, settings, clinic):
    settings = settings.model_copy(update={"login_free_failures": 2, "login_delay_max_s": 8, "login_ip_free_failures": 1000})
    now, waits = NOW, []
    for _ in range(7):
        error = _fail(db, settings, "nurse", "10.0.0.1", now)
        assert isinstance(error, Unauthenticated), error
        until = auth_service.throttle_until(db, "nurse")
        if until is not None and until > now:
            throttled = _fail(db, settings, "nurse", "10.0.0.2", now, password=PASSWORD)  # the right password waits too
            assert isinstance(throttled, RateLimited) and throttled.code == "login_throttled"
            waits.append(throttled.retry_after_s)
            now = until
    assert waits == [2, 3, 5, 9, 9]  # 1, 2, 4, 8, 8 s (rounded up)
    assert auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip="10.0.0.1", now=now).actor.role == "nurse"
    _fail(db, settings, "nurse", "10.0.0.1", now)  # a success starts the count again: no wait after one failure
    assert auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip="10.0.0.1", now=now)


def test_failures_are_forgotten_after_a_quiet_while(db, settings, clinic):
    settings = settings.model_copy(update={"login_free_failures": 1, "login_throttle_reset_s": 60})
    _fail(db, settings, "nurse", "10.0.0.1", NOW)
    _fail(db, settings, "nurse", "10.0.0.1", NOW)
    assert isinstance(_fail(db, settings, "nurse", "10.0.0.1", NOW, PASSWORD), RateLimited)
    later = NOW + timedelta(seconds=120)
    assert isinstance(_fail(db, settings, "nurse", "10.0.0.1", later), Unauthenticated)
    assert auth_service.sign_in(db, settings, username="nurse", password=PASSWORD, ip="10.0.0.1", now=later)


def test_ip_throttle_spans_usernames(db, settings, clinic):
    settings = settings.model_copy(update={"login_ip_free_failures": 3, "login_free_failures": 100})
    for name in ("nurse", "physician", "nobody"):
        assert isinstance(_fail(db, settings, name, "10.9.9.9", NOW), Unauthenticated)
    assert isinstance(_fail(db, settings, "admin", "10.9.9.9", NOW), Unauthenticated)  # the 4th earns the wait
    assert isinstance(_fail(db, settings, "coordinator", "10.9.9.9", NOW, PASSWORD), RateLimited)
    assert auth_service.sign_in(db, settings, username="coordinator", password=PASSWORD, ip="10.1.1.1", now=NOW)


def test_unknown_and_known_names_get_the_same_answers(db, clinic, settings):
    """No oracle: a known and an unknown name answer alike, failure for failure, throttle included."""
    slow = settings.model_copy(update={"login_delay_base_s": 60})  # Retry-After does not drift with the clock
    client = TestClient(create_app(slow, db=db))

    def answers(username):
        out = []
        for _ in range(settings.login_free_failures + 2):
            response = _login(client, username, "wrong-password")
            out.append((response.status_code, response.json(), response.headers.get("Retry-After")))
        return out

    assert answers("nurse") == answers("no-such-user")
    assert answers("nurse")[-1][0] == 429


def test_unknown_and_known_names_cost_the_same_hash_work(db, settings, clinic, monkeypatch):
    calls = []
    real = auth_service.verify_password
    monkeypatch.setattr(auth_service, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    for name in ("nurse", "no-such-user"):
        _fail(db, settings, name, f"10.0.0.{len(calls)}", NOW)
    assert len(calls) == 2 and calls[1] == auth_service._DUMMY_HASH


def test_each_throttle_is_audited_and_an_admin_unlocks(client, clinic, headers, db, settings):
    for _ in range(settings.login_free_failures + 2):
        _login(client, "nurse", "wrong-password")
    assert _login(client, "nurse").status_code == 429
    with db.reading() as session:
        throttles = session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.throttled")).all()
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login_throttled")).all()
    # the 4th failure sets a wait (one auth.throttled); the 5th and the right password come within it (refused)
    details = [json.loads(e.detail) if isinstance(e.detail, str) else e.detail for e in throttles]
    assert len(throttles) == 1 and details[0]["username"] == "nurse" and details[0]["throttle"] == "account"
    assert len(refused) == 2
    nurse_id = clinic.actors["nurse"].user_id
    users = client.get("/api/v1/users", headers=headers["admin"]).json()["items"]
    assert next(u for u in users if u["id"] == nurse_id)["locked_until"] is not None
    unlocked = client.patch(f"/api/v1/users/{nurse_id}", json={"unlock": True},
                            headers={**headers["admin"], "If-Match": str(_version(db, nurse_id))})
    assert unlocked.status_code == 200 and unlocked.json()["locked_until"] is None
    assert _login(client, "nurse").status_code == 200


# --- production ------------------------------------------------------------------------------------

PROD_SECRET = "Zq3v9Xk2-Lm8Rt5Wp1_Yc7Nb4Hd6Gf0Js"


def _production(settings: Settings) -> Settings:
    return settings.model_copy(update={"env": "production", "secret_key": Settings(secret_key=PROD_SECRET).secret_key})


def test_production_refuses_the_demo_password_at_sign_in(db, settings, clinic):
    production = _production(settings)
    create_user(db, Actor.system("tests"), UserCreate(username="dr-real", role="physician", password="demo-clinic"))
    with pytest.raises(Unauthenticated) as refused:
        auth_service.sign_in(db, production, username="dr-real", password="demo-clinic", ip=None, now=NOW)
    assert refused.value.code == "demo_refused" and "ketaclinic users create" in refused.value.message
    assert auth_service.sign_in(db, settings, username="dr-real", password="demo-clinic", ip=None, now=NOW)  # not in test
    assert auth_service.sign_in(db, production, username="nurse", password=PASSWORD, ip=None, now=NOW)


def test_production_refuses_demo_users_and_to_start_on_a_demo_database(db, settings, cheap_password_hashing):
    from ketaclinic.demo import seed_demo

    seed_demo(db, settings, now=NOW, patients=8)
    production = _production(settings)
    with pytest.raises(SettingsError) as refused:
        create_app(production, db=db)
    message = str(refused.value)
    assert "\n" not in message and "ketaclinic users create" in message
    demo_password = settings.demo_password.get_secret_value()
    with pytest.raises(Unauthenticated) as at_sign_in:
        auth_service.sign_in(db, production, username="physician", password=demo_password, ip=None, now=NOW)
    assert at_sign_in.value.code == "demo_refused"
    create_app(settings, db=db)  # development and test serve the demo


def test_production_shows_no_demo_banner(db, settings, clinic):
    production = _production(settings).model_copy(update={"demo": True, "web_secure_cookie": False})
    with TestClient(create_app(production, db=db), base_url="http://testserver") as web:
        assert "synthetic" not in web.get("/login").text.lower()
    with TestClient(create_app(settings.model_copy(update={"demo": True}), db=db), base_url="http://testserver") as web:
        assert "synthetic" in web.get("/login").text.lower()


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("secret", ["a" * 32, "ab" * 24, "password" * 5, "0123456789" * 4])
def test_production_refuses_a_secret_with_too_little_entropy(secret, engine):
    with pytest.raises((SettingsError, ValueError)) as refused:
        Settings(env="production", secret_key=secret)
    assert "entropy" in str(refused.value)
    assert Settings(env="production", secret_key=PROD_SECRET).env == "production"
    assert Settings(env="test", secret_key=secret).env == "test"  # only production insists


# --- trusted proxies -------------------------------------------------------------------------------


def _audited_ips(db, action):
    with db.reading() as session:
        return [e.ip for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


@pytest.mark.parametrize("trusted,expected", [("", "10.1.2.3"), ("10.1.2.3", "203.0.113.9"),
                                               ("10.0.0.0/8", "203.0.113.9")])
def test_forwarded_for_is_believed_only_from_trusted_proxies(db, settings, clinic, trusted, expected):
    app = create_app(settings.model_copy(update={"trusted_proxies": trusted}), db=db)
    with TestClient(app, client=("10.1.2.3", 5000)) as client:
        response = client.post("/api/v1/auth/token", data={"username": "nurse", "password": "wrong-password"},
                               headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
    assert response.status_code == 401
    assert _audited_ips(db, "auth.login_failed") == [expected]


def test_a_spoofed_forwarded_for_cannot_escape_the_rate_limit(db, settings, clinic):
    tight = settings.model_copy(update={"login_rate_limit": 2})
    with TestClient(create_app(tight, db=db), client=("127.0.0.1", 5000)) as client:
        codes = [client.post("/api/v1/auth/token", data={"username": "x", "password": "y"},
                             headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code for n in range(3)]
    assert codes == [401, 401, 429]


def test_the_proxy_middleware_walks_from_the_right():
    from ipaddress import ip_network

    from ketaclinic.api.security import ProxyHeadersMiddleware

    middleware = ProxyHeadersMiddleware(None, (ip_network("10.0.0.0/8"),))
    assert middleware.client_of("10.0.0.1", "1.1.1.1, 2.2.2.2, 10.0.0.5") == "2.2.2.2"
    assert middleware.client_of("10.0.0.1", "10.0.0.9") == "10.0.0.9"
    assert middleware.client_of("10.0.0.1", "not-an-ip") == "10.0.0.1"
    assert Settings(trusted_proxies="10.0.0.0/8, ::1").trusted_proxy_networks == (ip_network("10.0.0.0/8"), ip_network("::1"))
    with pytest.raises(ValueError):
        Settings(trusted_proxies="proxy.example")
