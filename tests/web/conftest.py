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
def web(settings, db):
    app = create_app(settings.model_copy(update={"demo": True}), db=db)
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


# --- the browser journeys ------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory):
    """A migrated SQLite database with the demo clinic (12 patients), shared by the journeys."""
    from tests.web.browser_support import seed

    tmp = tmp_path_factory.mktemp("web-demo")
    url = f"sqlite:///{tmp / 'demo.db'}"
    summary = seed(url, tmp)
    assert summary["seeded"], summary
    return url, tmp, summary


@pytest.fixture(scope="session")
def server(demo_database):
    from tests.web.browser_support import start_server

    url, tmp, _ = demo_database
    running = start_server(url, tmp)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    import os

    from playwright.sync_api import sync_playwright

    from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: run `make test` (scripts/ensure_chromium.sh installs Debian's chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A fresh profile per test (no cookies carried over); CSP bypassed only so axe can be injected."""
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()
