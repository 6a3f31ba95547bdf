"""What every page needs: who is asking, may they, the CSRF check, and rendering a template.

Pages call services only (never the ORM); the services repeat the role checks (defence in depth).
"""

from __future__ import annotations

import base64
import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup

from ketaclinic import timefmt
from ketaclinic.records.db import Database
from ketaclinic.services import auth as auth_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError, Unauthenticated
from ketaclinic.services.sites import SiteNotYours
from ketaclinic.settings import Settings
from ketaclinic.web.config import WebConfig
from ketaclinic.web.websession import FLASH_PARAM, WebSession, flash_from, flash_token

TEMPLATES = Path(__file__).parent / "templates"
CLINICAL = ("physician", "nurse")
STAFF = ("admin", "physician", "nurse", "coordinator")
DISCLAIMER = ("Decision support only: every number here is computed from published models and the clinic's "
              "policy, and must be checked by the treating clinician before it is used.")

NAV: dict[str, list[tuple[str, str]]] = {
    "physician": [("/dashboard", "Dashboard"), ("/schedule/day", "Schedule"), ("/patients", "Patients"), ("/inquiries", "Inquiries"),
                  ("/outcomes", "Outcomes"), ("/register", "Register")],
    "nurse": [("/dashboard", "Dashboard"), ("/schedule/day", "Schedule"), ("/patients", "Patients"), ("/outcomes", "Outcomes"),
              ("/register", "Register")],
    "coordinator": [("/dashboard", "Dashboard"), ("/schedule/day", "Schedule"), ("/inquiries", "Inquiries"), ("/patients", "Patients"),
                    ("/billing", "Billing")],
    "admin": [("/dashboard", "Dashboard"), ("/admin/users", "Users"), ("/admin/sites", "Sites"), ("/schedule/resources", "Chairs & hours"),
              ("/admin/drug-library", "Drug library"), ("/admin/questionnaires", "Questionnaires"), ("/register", "Register"),
              ("/admin/settings", "Clinic settings"), ("/admin/price-list", "Prices"), ("/admin/audit", "Audit log"),
              ("/admin/research-export", "Research export"), ("/admin/outbox", "Messages")],
    "patient": [("/me", "My diary"), ("/me/questionnaires", "Questionnaires"), ("/me/sessions", "My sessions"), ("/me/consent", "Consent"),
                ("/me/billing", "My bills")],
}


class LoginRequired(Exception):
    def __init__(self, reason: str | None = None):
        self.reason = reason


class PageForbidden(Exception):
    def __init__(self, role: str | None, what: str = "this page"):
        self.role, self.what = role, what


class CsrfFailed(Exception):
    pass


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "svg"]),
                  trim_blocks=True, lstrip_blocks=True)


def svg_img(svg: str, alt: str, css_class: str = "chart") -> Markup:
    """An SVG chart as an image (data URI): the page's strict CSP stays on, the chart keeps its styles."""
    data = base64.b64encode(svg.encode()).decode()
    return Markup('<img class="{}" alt="{}" src="data:image/svg+xml;base64,{}">').format(css_class, alt, Markup(data))


@pass_context
def fmt_dt(ctx: Any, value: Any, style: str = "datetime") -> str:
    """A date or time in the clinic's zone and the one format (``ketaclinic.timefmt``): ``|dt``,
    ``|dt("date")``, ``|dt("time")``, ``|dt("seconds")``, ``|dt("appointment")``."""
    return timefmt.formatted(value, ctx.get("tz"), style)


def fmt_num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{float(value):.{digits}f}"


env.globals["svg_img"] = svg_img
env.globals["DISCLAIMER"] = DISCLAIMER
env.filters["dt"] = fmt_dt
env.filters["num"] = fmt_num
env.filters["label"] = lambda s: str(s).replace("_", " ") if s is not None else "—"


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def db_of(request: Request) -> Database:
    return request.app.state.db


def config_of(request: Request) -> WebConfig:
    return request.app.state.web_config


def web_session(request: Request) -> WebSession:
    return request.state.web


def client_ip(request: Request) -> str | None:
    """The peer, or what a trusted proxy forwarded (api.security.ProxyHeadersMiddleware)."""
    return request.client.host if request.client else None


def current_actor(request: Request) -> Actor | None:
    """The signed-in user as the database has them now, or None."""
    if hasattr(request.state, "actor"):
        return request.state.actor
    login = web_session(request)
    actor = None
    if login.sid:
        try:
            try:
                actor = auth_service.actor_from_token(db_of(request), login.sid, ip=client_ip(request), kind="web",
                                                      site_id=login.site)
            except SiteNotYours:  # taken off that site since it was picked: back to all of their sites
                login.pick_site(None)
                actor = auth_service.actor_from_token(db_of(request), login.sid, ip=client_ip(request), kind="web")
        except Unauthenticated:
            login.sign_out()
    request.state.actor = actor
    return actor


def need(*roles: str):
    """Dependency: the actor, if signed in with one of ``roles``; otherwise sign-in or a 403 page."""

    def dependency(request: Request) -> Actor:
        actor = current_actor(request)
        if actor is None:
            raise LoginRequired("idle" if web_session(request).expired else None)
        if actor.role not in roles:
            raise PageForbidden(actor.role)
        return actor

    dependency.allowed_roles = frozenset(roles)  # read by the route × role access test
    return dependency


async def check_csrf(request: Request) -> None:
    """Every state-changing request carries the session's CSRF token (form field or HTMX header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("X-CSRF-Token")
    if not sent:
        form = await request.form()
        sent = form.get("csrf_token")
    expected = web_session(request).csrf
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


def demo_active(request: Request) -> bool:
    if settings_of(request).env == "production":
        return False  # production never serves the demo clinic (it refuses to start on one), so no banner
    config = config_of(request)
    if config.demo_banner is not None:
        return config.demo_banner
    cached = getattr(request.app.state, "web_demo_cache", None)
    now = time.monotonic()
    if cached and now - cached[0] < 30:
        return cached[1]
    value = False
    try:
        from ketaclinic.services.patients import has_demo

        value = bool(has_demo(db_of(request)))
    except Exception:  # noqa: BLE001 - the banner must never break a page
        value = False
    request.app.state.web_demo_cache = (now, value)
    return value


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    login = web_session(request)
    actor = current_actor(request)
    config = config_of(request)
    partial = template.rsplit("/", 1)[-1].startswith("_")
    ctx = {
        "request": request,
        "actor": actor,
        "nav": NAV.get(actor.role, []) if actor else [],
        "path": request.url.path,
        "csrf_token": login.csrf,
        "csrf_input": Markup('<input type="hidden" name="csrf_token" value="{}">').format(login.csrf),
        "demo": demo_active(request),
        "idle_timeout_s": config.idle_timeout_s if actor else 0,
        "idle_warning_s": config.idle_warning_s,
        # a partial or a background poll (the header's alert count) must not take the next page's message
        "flashes": [] if partial or request.headers.get("X-Background") == "1" else _flashes(request, login),
        "errors": {},
        "values": {},
        "tz": settings_of(request).timezone,  # every date on the page reads in the clinic's zone
    }
    ctx.update(context or {})
    if "banner" not in ctx and not partial:
        ctx["banner"] = _banner_for(request, actor, ctx.get("patient"))
    html = env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status, headers=headers)


def _banner_for(request: Request, actor: Actor | None, patient: Any) -> Any:
    """The patient banner (issue 12) on every full page about one patient, for physicians and nurses."""
    patient_id = getattr(patient, "id", None)
    if actor is None or actor.role not in CLINICAL or not isinstance(patient_id, int):
        return None
    from ketaclinic.services.banner import patient_banner

    try:
        return patient_banner(db_of(request), actor, patient_id)
    except ServiceError:
        return None


def _flashes(request: Request, login: WebSession) -> list[str]:
    """The page's messages: the one signed into its address by :func:`redirect`, and any left in the session."""
    secret = getattr(request.state, "web_secret", None)
    carried = flash_from(secret, request.query_params.get(FLASH_PARAM)) if secret else None
    return [*login.pop_flash(), *([carried] if carried else [])]


def redirect(request: Request, url: str, flash: str | None = None) -> Response:
    """303 to ``url`` (an HTMX request gets ``HX-Redirect`` so the whole page changes); a ``flash``
    message travels signed in the address (:func:`~ketaclinic.web.websession.flash_token`)."""
    secret = getattr(request.state, "web_secret", None)
    if flash and secret:
        path, hash_mark, fragment = url.partition("#")  # the message goes in the query, before any #fragment
        url = path + ("&" if "?" in path else "?") + f"{FLASH_PARAM}={flash_token(secret, flash)}" + hash_mark + fragment
    elif flash:
        web_session(request).add_flash(flash)
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def login_url(request: Request, reason: str | None) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(target, safe='')}"
    return url + (f"&reason={reason}" if reason else "")


def errors_of(exc: Exception) -> dict[str, str]:
    """Field → message, from a pydantic ValidationError or a ServiceError with a field."""
    from pydantic import ValidationError

    from ketaclinic.services.errors import ServiceError

    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "__all__"
            message = err["msg"].removeprefix("Value error, ")
            out.setdefault(loc, message)
    elif isinstance(exc, ServiceError):
        out[exc.field or "__all__"] = exc.message
    else:
        out["__all__"] = str(exc)
    return out


def rate_limit(request: Request, name: str, limit: int, window_s: int) -> bool:
    """Count one request against the shared (database) rate limit; False when over it."""
    from ketaclinic.services import ratelimit

    return ratelimit.hit(db_of(request), f"web-{name}:{client_ip(request)}", limit=limit, window_s=window_s).allowed


def cite(source_id: str | None) -> str:
    """The full citation of an evidence id (shown on hover and in the evidence lists)."""
    if not source_id:
        return ""
    from ketaclinic.evidence.sources import UnknownSourceError, get_source

    try:
        return get_source(source_id).citation()
    except UnknownSourceError:
        return source_id


env.globals["cite"] = cite
