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
