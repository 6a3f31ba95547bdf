"""The web UI: server-rendered pages (Jinja2 + vendored HTMX) over the services, at ``/``.

``ketaclinic.api.app.create_app`` calls :func:`mount`, which adds the signed-cookie session,
the static files and every page router. The JSON API stays at ``/api/v1``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from ketaclinic.services.errors import ServiceError
from ketaclinic.settings import Settings
from ketaclinic.web.config import WebConfig
from ketaclinic.web.deps import CsrfFailed, LoginRequired, PageForbidden, login_url, render
from ketaclinic.web.route_table import attach, build_route_table
from ketaclinic.web.views import (
    admin,
    auth,
    billing,
    consent,
    dashboard,
    evaluations,
    inquiries,
    medication_orders,
    outcomes,
    patients,
    plans,
    portal,
    public,
    questionnaires,
    referrals,
    register,
    report_letters,
    report_summaries,
    research_export,
    schedule,
    sessions,
)
from ketaclinic.web.websession import WebSessionMiddleware

STATIC = Path(__file__).parent / "static"
VIEW_MODULES = (auth, billing, public, dashboard, inquiries, patients, admin, evaluations, plans, sessions, portal, outcomes,
                report_summaries, research_export, report_letters, referrals, medication_orders, questionnaires,
                register, schedule, consent)


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/healthz")) and hasattr(request.state, "web")


def mount(app: FastAPI, settings: Settings) -> None:
    config = WebConfig.from_settings(settings)
    app.state.web_config = config
    app.add_middleware(WebSessionMiddleware, secret=settings.resolved_secret_key(), config=config)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    attach(app, page_routes())
    _install_page_errors(app)


@cache
def page_routes() -> tuple[BaseRoute, ...]:
    """The pages' route table, analysed once per process (ketaclinic/web/route_table.py says why)."""
    return build_route_table(module.router for module in VIEW_MODULES)


def _install_page_errors(app: FastAPI) -> None:
    """Pages answer errors in HTML; the API keeps its JSON error shape."""
    api_handlers = dict(app.exception_handlers)

    def delegate(exc_class: type[Exception]):
        def handler(request: Request, exc: Exception) -> Any:
            if _is_page(request):
                return _page_error(request, exc)
            return api_handlers[exc_class](request, exc)

        return handler

    for exc_class in (ServiceError, StarletteHTTPException, RequestValidationError, Exception):
        if exc_class in api_handlers:
            app.add_exception_handler(exc_class, delegate(exc_class))

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired) -> Response:
        url = login_url(request, exc.reason)
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=200, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(PageForbidden)
    def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", {"status": 403, "title": "Not available to your role",
                                              "message": f"The {exc.role} role cannot open {exc.what}."}, status=403)

    @app.exception_handler(CsrfFailed)
    def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", {"status": 403, "title": "The form had expired",
                                              "message": "Go back, reload the page and send it again."}, status=403)


def _page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ServiceError):
        status, title, message = exc.status, "That did not work", exc.message
        if exc.status == 404:
            title = "Not found"
        elif exc.status == 403:
            title = "Not available to your role"
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        title = "Not found" if status == 404 else "Request refused"
        message = "There is no page at this address." if status == 404 else str(exc.detail)
    elif isinstance(exc, RequestValidationError):
        status, title, message = 422, "Check the address", "Some part of the address or form is not valid."
    else:
        status, title, message = 500, "Something went wrong", "The error was logged. Nothing you typed was saved."
    return render(request, "error.html", {"status": status, "title": title, "message": message}, status=status)
