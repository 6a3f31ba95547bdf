"""schemathesis over the published OpenAPI: no generated input may make the server answer 5xx.

Every operation of ``/api/v1/openapi.json`` is called in process (ASGI) on a fresh SQLite
database that holds one user per role and a small clinic, with inputs Hypothesis generates from
the schema: valid ones (positive) and ones that break it (negative). Each call carries a bearer
token of a role the route allows (``x-roles`` in the document), so the generated data reaches the
handler instead of stopping at 401/403; routes patients may call run a second time as the patient,
because that role takes the "own records only" branches.

Checks: ``not_a_server_error`` always; the response must also conform to the documented status
codes, content type and body schema. Bounded (``MAX_EXAMPLES`` per engine, operation and mode, no
deadline) so the module stays well under two minutes on two cores.

The operations are listed at collection time from an app that is never served (building the
document needs no database), so each one is its own test and xdist spreads them.
(schemathesis' own ``from_fixture`` parametrisation does not run under pytest 9, hence the
explicit strategies.)
"""

from __future__ import annotations

import os
import shutil

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from ketaclinic.api.app import create_app
from ketaclinic.clock import utcnow
from ketaclinic.demo import seed_demo
from ketaclinic.records.db import Database
from ketaclinic.records.users import User
from ketaclinic.services.auth import actor_for, issue_token
from ketaclinic.settings import Settings
from tests.conftest import database_from_template

# Examples per operation and mode. SQLite runs the full property; PostgreSQL's pass looks for what only it
# refuses (a NUL byte, an integer past 32 bits), and Hypothesis draws such boundary values among its first few
# examples, so it runs fewer: the module was a quarter of the suite's CPU time at 20 on both.
MAX_EXAMPLES = {"sqlite": 20, "postgresql": 8}
# Which role a route is called as: the first it allows, in this order.
ROLE_PREFERENCE = ("physician", "admin", "coordinator", "nurse", "patient")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _document() -> dict:
    offline = Settings(env="test", database_url="sqlite://", secret_key="collection-only-secret-key-0123456789abcdef")
    return create_app(offline).openapi()


DOCUMENT = _document()
# Logging out ends every sign-in of the caller (design 4.10): fuzzing it would sign the shared tokens out
# for every later test of the module. tests/api/test_tokens.py covers it.
UNFUZZED = {("POST", "/api/v1/auth/logout")}
OPERATIONS = sorted((method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item
                    if method in HTTP_METHODS and (method.upper(), path) not in UNFUZZED)


def _takes_input(method: str, path: str) -> bool:
    definition = DOCUMENT["paths"][path][method.lower()]
    return bool(definition.get("parameters") or definition.get("requestBody"))


# Negative data needs something to break: operations without parameters or body run positive only.
CASES = [(method, path, mode) for method, path in OPERATIONS
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or _takes_input(method, path)]


def roles_for(definition: dict) -> list[str | None]:
    """The roles an operation is called as: its preferred allowed role, plus the patient when allowed."""
    allowed = definition.get("x-roles")
    if allowed is None or allowed == "public":
        return [None]
    roles: list[str | None] = [next(role for role in ROLE_PREFERENCE if role in allowed)]
    if "patient" in allowed and roles[0] != "patient":
        roles.append("patient")
    return roles


@pytest.fixture(scope="session")
def fuzz_apps(request, tmp_path_factory, sqlite_template, cheap_password_hashing):
    """One app per worker and engine on a copy of the migrated template seeded with a small demo clinic,
    built the first time a test asks for that engine and kept for the whole run.

    Shared by the module's tests: the property (no 5xx) does not depend on what earlier calls
    changed, and seeding once keeps the module fast. The demo gives every kind of record (running
    session, events, signed plans, diaries), so small generated ids hit real rows. Both engines
    (issue 16): PostgreSQL refuses what SQLite stores (a NUL byte), so a 500 may hide on one only.
    Kept per session, not per module parameter: xdist hands a worker the two engines' tests
    interleaved, and a module-scoped parameter then tore the app down and seeded it again (7-8 s)
    at every switch.
    """
    built: dict[str, tuple] = {}
    databases: list[Database] = []

    def app_for(engine: str) -> tuple:
        if engine in built:
            return built[engine]
        if engine == "sqlite":
            path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
            shutil.copyfile(sqlite_template, path)
            url = f"sqlite:///{path}"
        else:
            server = request.getfixturevalue("postgres_server")
            name = f"kc_fuzz_{os.getpid()}"
            server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            database_from_template(server, request.getfixturevalue("postgres_template"), name)
            url = server.url(name)
        settings = Settings(env="test", database_url=url, secret_key="fuzz-secret-key-that-is-long-enough-0123456789",
                            login_rate_limit=10_000, inquiry_rate_limit=10_000)
        db = Database(settings.database_url)
        databases.append(db)
        seed_demo(db, settings, now=utcnow(), patients=8)
        tokens: dict[str | None, str | None] = {None: None}
        with db.reading() as session:
            actors = [actor_for(user, "127.0.0.1") for user in session.scalars(select(User))]
        for actor in actors:
            tokens[actor.role], _ = issue_token(db, actor, now=utcnow(), lifetime_s=3600)
        app = create_app(settings, db=db)
        built[engine] = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app), tokens
        return built[engine]

    yield app_for
    for db in databases:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def api_schema(request, fuzz_apps):
    """(schema, tokens, engine) of the engine's shared app (:func:`fuzz_apps`).

    Its tests form one xdist group per engine (tests/api/conftest.py), so one worker builds and seeds each
    engine's app: ungrouped, both workers built both (four demo seeds of 12-17 s each on the shared machine)."""
    return (*fuzz_apps(request.param), request.param)


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_no_server_error_on_any_generated_input(api_schema, method, path, mode):
    schema, tokens, engine = api_schema
    operation = schema[path][method]
    roles = roles_for(DOCUMENT["paths"][path][method.lower()])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES[engine], deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    def call_every_role(case):
        for role in roles:
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else None
            case.call_and_validate(headers=headers, checks=CHECKS)

    call_every_role()


# --- regressions for what the fuzzing found -----------------------------------------------------

ID_PATHS = sorted(path for path in DOCUMENT["paths"] if "get" in DOCUMENT["paths"][path] and "_id}" in path)
BODY_OPERATIONS = [(method, path) for method, path in OPERATIONS
                   if "requestBody" in DOCUMENT["paths"][path][method.lower()]]


def _client(api_schema) -> tuple[TestClient, dict]:
    schema, tokens, _ = api_schema
    return TestClient(schema.app, raise_server_exceptions=False), tokens


def _as_allowed_role(tokens: dict, method: str, path: str) -> dict[str, str]:
    role = roles_for(DOCUMENT["paths"][path][method.lower()])[0]
    return {"Authorization": f"Bearer {tokens[role]}"} if role else {}


@pytest.mark.parametrize("too_big", [2**31, 2**63], ids=["beyond-postgres-integer", "beyond-64-bits"])
@pytest.mark.parametrize("path", ID_PATHS)
def test_an_id_beyond_64_bits_is_refused_not_a_crash(api_schema, path, too_big):
    """2**63 does not fit an SQLite INTEGER and 2**31 not a PostgreSQL one (found by fuzzing on PostgreSQL):
    either must be 404 or 422, not an overflow (500)."""
    client, tokens = _client(api_schema)
    url = path
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        url = url.replace("{" + name + "}", str(too_big))
    response = client.get(url, headers=_as_allowed_role(tokens, "GET", path))
    assert response.status_code in (404, 422), (path, response.status_code, response.text)
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("body", [b'{"not": json', b"\xff\xfe{"], ids=["bad-json", "not-utf8"])
@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=[f"{m} {p}" for m, p in BODY_OPERATIONS])
def test_a_body_that_is_not_json_gets_a_documented_error(api_schema, method, path, body):
    """Malformed JSON is a client error in the one error shape, and its status is in the OpenAPI document.

    (Starlette answers 400 "error parsing the body" to bytes that are not UTF-8, 422 to bad JSON.)
    """
    client, tokens = _client(api_schema)
    url = path
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        url = url.replace("{" + name + "}", "1")
    headers = {**_as_allowed_role(tokens, method, path), "Content-Type": "application/json", "If-Match": "1"}
    response = client.request(method, url, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"error"}
    documented = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in documented, (
        f"{method} {path} answers {response.status_code}, documented: {sorted(documented)}")
