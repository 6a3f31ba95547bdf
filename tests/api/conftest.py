"""API fixtures: the app on a fresh database, and a bearer token per role (issued as the login would)."""

import pytest
from fastapi.testclient import TestClient

from ketaclinic.api.app import create_app
from ketaclinic.clock import utcnow
from ketaclinic.services.auth import issue_token


@pytest.fixture
def app(settings, db):
    return create_app(settings, db=db)


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def headers(db, clinic):
    """Authorization headers per role (and ``None`` for anonymous)."""
    out = {None: {}}
    for role, actor in clinic.actors.items():
        token, _ = issue_token(db, actor, now=utcnow(), lifetime_s=600)
        out[role] = {"Authorization": f"Bearer {token}"}
    return out


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items):
    """The OpenAPI fuzzing (tests/api/test_openapi_fuzz.py) in one xdist group per engine of its shared app,
    so one worker builds and seeds each app (a mark on the fixture's params does not reach the items)."""
    for item in items:
        engine = item.callspec.params.get("api_schema") if hasattr(item, "callspec") else None
        if engine:
            item.add_marker(pytest.mark.xdist_group(f"fuzz_{engine}"))
