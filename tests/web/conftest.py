"""Web fixtures: in-process page tests on SQLite (the browser journeys start a real server)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ketaclinic.api.app import create_app
from tests.conftest import PASSWORD


@pytest.fixture
def engine() -> str:
    """Pages are engine-independent (the services are tested on both); run them on SQLite."""
    return "sqlite"


@pytest.fixture
def web(settings, db, monkeypatch):
    monkeypatch.setenv("KETACLINIC_DEMO", "1")
    app = create_app(settings, db=db)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    return response


@pytest.fixture
def signed_in(web, clinic):
    def as_role(role: str) -> TestClient:
        web.cookies.clear()
        sign_in(web, role)
        return web

    return as_role
