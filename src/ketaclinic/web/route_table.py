"""Route tables analysed once per process and attached to every app that ``create_app`` builds.

Why: FastAPI (0.165) keeps an included router as one entry and analyses each of its routes again for
every inclusion (dependency graph, a pydantic TypeAdapter per parameter and response model): with a
new app per inclusion, every ``create_app`` paid ~0.2 s for the 164 API routes and its first page
request another ~0.2 s for the API and page routes again, and ~1,200 tests build an app
(docs/decisions.md, "create_app cost": now ~1 ms per app after the process's first).

A table is the routers included under one parent router built here, with every route's analysis
done now; each app appends the same entries to its own route list. The entries hold no per-app
state: the endpoints reach the app's database and settings through ``request.app.state``, the
middleware, exception handlers, static mount and state stay per app. The parent router has no
``dependency_overrides_provider``, so ``app.dependency_overrides`` does not reach these routes
(nothing in the project uses it: the tests use real parts).
"""

from __future__ import annotations

from collections.abc import Iterable

import fastapi.routing
from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute


class RouterHooksNotShared(ValueError):
    """A router with startup/shutdown handlers cannot be in a shared table: the app would not run them."""


def build_route_table(routers: Iterable[APIRouter]) -> tuple[BaseRoute, ...]:
    """The routers' routes included under one fresh parent router, analysed now rather than at a first request."""
    parent = APIRouter()
    for router in routers:
        if router.on_startup or router.on_shutdown:
            # app.include_router would have merged these into the app's lifespan; a shared table cannot
            raise RouterHooksNotShared(f"router {router.prefix or '/'} has startup/shutdown handlers; "
                                       "include it with app.include_router instead")
        parent.include_router(router)
    _analyse_now(parent.routes)
    return tuple(parent.routes)


def _analyse_now(routes: list[BaseRoute]) -> None:
    """Build FastAPI's per-inclusion route analysis (its "route contexts") once, under its own lock.

    FastAPI before 0.16x copied included routes and analysed them at ``include_router``; it has no
    ``iter_route_contexts`` and nothing is left to do.
    """
    iter_route_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_route_contexts is not None:
        for _ in iter_route_contexts(routes):
            pass


def attach(app: FastAPI, table: tuple[BaseRoute, ...]) -> None:
    """Append a table's entries to the app's own route list (after the routes it already has, as include_router)."""
    app.router.routes.extend(table)
