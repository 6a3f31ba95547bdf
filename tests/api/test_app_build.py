"""Many apps in one process (every API and page test builds one): the route tables are analysed once and
shared, and everything that belongs to an app stays its own (src/ketaclinic/web/route_table.py says why)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from ketaclinic.api.app import API_PREFIX, api_routes, create_app, iter_api_routes
from ketaclinic.web import page_routes
from ketaclinic.web.route_table import RouterHooksNotShared, build_route_table
from tests.conftest import PASSWORD, module_database


def _paths(app) -> set[str]:
    return {path for path, _ in iter_api_routes(app.routes)}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_route_tables_are_analysed_once_and_shared(settings, db):
    first, second = create_app(settings, db=db), create_app(settings, db=db)
    for table in (api_routes(), page_routes()):
        assert all(any(entry is route for route in first.routes) for entry in table)
        assert all(any(entry is route for route in second.routes) for entry in table)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_each_app_keeps_its_own_route_list_settings_and_database(settings, db, clinic, sqlite_template, tmp_path):
    other_settings, other_db = module_database(tmp_path, sqlite_template, "other.db")  # migrated, no users
    try:
        first, second = create_app(settings, db=db), create_app(other_settings, db=other_db)
        extra = APIRouter(prefix=API_PREFIX)

        @extra.get("/only-in-the-first-app")
        def only() -> dict:
            return {}

        first.include_router(extra)
        third = create_app(settings, db=db)
        assert "/api/v1/only-in-the-first-app" in _paths(first)
        assert "/api/v1/only-in-the-first-app" not in _paths(second) | _paths(third)
        assert (first.state.db, first.state.settings) == (db, settings)
        assert (second.state.db, second.state.settings) == (other_db, other_settings)

        login = {"username": "physician", "password": PASSWORD}
        with TestClient(first) as one, TestClient(second) as other:
            assert one.post("/api/v1/auth/token", data=login).status_code == 200
            assert other.post("/api/v1/auth/token", data=login).status_code == 401  # its database has no users
            assert one.get("/api/v1/only-in-the-first-app").status_code == 200
            assert other.get("/api/v1/only-in-the-first-app").status_code == 404
    finally:
        other_db.dispose()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_access_rule_is_written_once_however_many_apps_are_built(settings, db):
    """Each app used to append "Allowed: ..." again to the shared routes: the n-th app's OpenAPI had n copies."""
    for _ in range(3):
        app = create_app(settings, db=db)
    for path, route in iter_api_routes(app.routes):
        if path.startswith(API_PREFIX):
            assert route.description.count("Allowed:") == 1, path
    for context in iter_route_contexts(app.routes):  # what the OpenAPI document is written from
        if context.path.startswith(API_PREFIX) and context.path != f"{API_PREFIX}/openapi.json":
            assert context.description.count("Allowed:") == 1, context.path


def test_a_router_with_startup_handlers_is_not_put_in_a_shared_table():
    hooked = APIRouter(prefix="/hooked", on_startup=[lambda: None])
    with pytest.raises(RouterHooksNotShared):
        build_route_table([hooked])
