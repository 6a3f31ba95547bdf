"""The FastAPI application: ``create_app(settings)``; the API lives under ``/api/v1``.

Deny by default: ``create_app`` refuses to build an app in which any ``/api/v1`` route lacks
an :class:`~ketaclinic.api.auth.Allow` dependency, and each route's rule is written into the
OpenAPI document (``x-roles``). Other parts (the web UI) attach themselves through
``ketaclinic.web.mount(app, settings)`` when that function exists.

The API's routes are analysed once per process (:func:`api_routes`, ``route_table.py`` says why);
each app gets its own route list, middleware, handlers, settings and database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from ketaclinic.api import (
    account_links,
    allergies,
    appointments,
    audit,
    auth,
    billing,
    chairs,
    clinic_settings,
    consent,
    diary,
    evaluations,
    fhir,
    inquiries,
    medication_orders,
    outcomes,
    patients,
    plans,
    questionnaires,
    referrals,
    register,
    report_letters,
    report_summaries,
    research_export,
    sessions,
    sites,
    users,
)
from ketaclinic.api.errors import ERROR_SCHEMA, install_error_handlers
from ketaclinic.api.limits import RequestLimitsMiddleware
from ketaclinic.api.security import ProxyHeadersMiddleware, SecurityHeadersMiddleware
from ketaclinic.records.db import Database
from ketaclinic.settings import Settings
from ketaclinic.web.route_table import attach, build_route_table

API_PREFIX = "/api/v1"
ROUTERS = [auth.router, patients.router, inquiries.router, audit.router, users.router,
           appointments.router, chairs.router,
           evaluations.router, plans.router, sessions.router, diary.router, outcomes.router, fhir.router,
           clinic_settings.router, research_export.router, report_summaries.router,
           referrals.router, referrals.patient_router, report_letters.router,
           allergies.router, account_links.router, sites.router, billing.router,
           register.router,
           medication_orders.router,
           questionnaires.router,
           consent.router]


class UndeclaredRouteError(RuntimeError):
    """A route under /api/v1 does not say who may call it."""


def route_rule(route: APIRoute) -> auth.Allow | None:
    """The Allow dependency of a route, wherever it sits in the dependency tree's first level."""
    for dependency in route.dependant.dependencies:
        if isinstance(dependency.call, auth.Allow):
            return dependency.call
    return None


def iter_api_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, through included routers.

    Older FastAPI copies included routes into ``app.routes``; newer versions keep an included
    router as one entry that points to the original router and its prefix. Both are walked.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        original = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if original is not None and context is not None:
            yield from iter_api_routes(original.routes, prefix + getattr(context, "prefix", ""))


def _enforce_policy(app: FastAPI) -> None:
    _declare_rules(iter_api_routes(app.routes))


def _declare_rules(routes: Iterable[tuple[str, APIRoute]]) -> None:
    """Refuse a route under /api/v1 without a rule; write each rule into the route's OpenAPI operation.

    Idempotent: the routes are module-level objects shared by every app of the process, and the
    route analysis copies the description once (route_table.py), so the second app must change
    nothing (before, each app appended "Allowed: ..." again: the n-th app's document had n copies).
    """
    for path, route in routes:
        if not path.startswith(API_PREFIX):
            continue
        rule = route_rule(route)
        if rule is None:
            raise UndeclaredRouteError(f"{sorted(route.methods)} {path} declares no access rule")
        roles = "public" if rule.public else sorted(rule.roles)
        if (route.openapi_extra or {}).get("x-roles") != roles:
            route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": roles}
        allowed = f"\n\nAllowed: {rule.describe()}."
        if not (route.description or "").endswith(allowed):
            route.description = (route.description or "") + allowed


@cache
def api_routes() -> tuple[BaseRoute, ...]:
    """The /api/v1 route table, with its rules declared and its routes analysed, built once per process."""
    # 413: the request-limits middleware refuses any body over its path's limit, on every route
    v1 = APIRouter(prefix=API_PREFIX,
                   responses={code: ERROR_SCHEMA for code in (400, 401, 403, 404, 409, 413, 422, 428, 429)})
    for router in ROUTERS:
        v1.include_router(router)
    _declare_rules(iter_api_routes(v1.routes))  # before the analysis copies the descriptions
    return build_route_table([v1])


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.resolved_secret_key()  # fail at start, not at the first login

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the request handlers' thread pool of this event loop (settings.request_threads says why it is small)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="KetaClinic API",
        version="1",
        description="Decision support for low-dose ketamine infusion clinics. JSON only; "
        "errors are `{\"error\": {\"code\", \"message\", \"field\"}}`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the Swagger page loads scripts from a CDN, which the CSP (and policy) forbids
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    auth.auth_service.refuse_demo_database_in_production(app.state.db, settings)  # design.md 4.10
    install_error_handlers(app)
    app.add_middleware(RequestLimitsMiddleware)  # body sizes (413) and unstorable text (422) before parsing
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted=settings.trusted_proxy_networks)  # KETACLINIC_TRUSTED_PROXIES

    attach(app, api_routes())

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers and the database is reachable")
    def healthz(request: Request) -> dict[str, Any]:
        request.app.state.db.ping()
        return {"status": "ok"}

    _mount_extensions(app, settings)
    _enforce_policy(app)
    return app


def _mount_extensions(app: FastAPI, settings: Settings) -> None:
    """Add the web UI's pages (imported here, not at the top: the web pages import the API's helpers)."""
    from ketaclinic.web import mount

    mount(app, settings)


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` / ``ketaclinic serve``: settings from the environment."""
    return create_app(Settings())


