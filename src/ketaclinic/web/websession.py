"""The browser's session: one signed cookie plus a row in the database (design.md 7: stateless workers).

The cookie holds a CSRF token (always, even before sign-in), the id of the server-side web session
opened at sign-in (an ``auth_sessions`` row of kind ``web``, checked on every request by every
worker, so a sign-out or a password change ends it everywhere; never the API bearer token), and
the time of the last user activity. A request more than the idle limit after the last activity
finds the session expired: the session id is dropped and the user signs in again. Requests the page
makes by itself (polling a live chart) send ``X-Background: 1`` and do not count as activity.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketaclinic.web.config import WebConfig

COOKIE = "kc_web"
SALT = "ketaclinic.web-session.v2"  # v1 cookies carried a bearer token; they are not read
MAX_COOKIE_AGE_S = 12 * 3600
PASS_THROUGH = ("/api/", "/static/", "/healthz")


@dataclass
class WebSession:
    csrf: str
    sid: str | None = None  # the server-side web session's id
    last_activity: float = 0.0
    flash: list[str] = field(default_factory=list)
    expired: bool = False  # the session id was dropped on this request for inactivity
    dirty: bool = False
    site: int | None = None  # the site picked in the header (issue 17); None: all of the user's sites

    def as_dict(self) -> dict[str, Any]:
        return {"c": self.csrf, "s": self.sid, "a": int(self.last_activity), "f": self.flash[-3:], "p": self.site}

    def pick_site(self, site_id: int | None) -> None:
        self.site = site_id
        self.dirty = True

    def sign_in(self, sid: str, now: float) -> None:
        self.sid, self.last_activity, self.site = sid, now, None
        self.csrf = secrets.token_urlsafe(24)  # a new token after sign-in (no fixation)
        self.dirty = True

    def sign_out(self) -> None:
        self.sid = None
        self.site = None
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def add_flash(self, message: str) -> None:
        self.flash.append(message)
        self.dirty = True

    def pop_flash(self) -> list[str]:
        messages, self.flash = self.flash, []
        if messages:
            self.dirty = True
        return messages


def serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


FLASH_PARAM = "_m"
FLASH_MAX_AGE_S = 300


def flash_token(secret: bytes, message: str) -> str:
    """A page's one-line message, signed, to travel in the redirect's address.

    In the cookie it could be lost: a request already in flight when the save answered (an HTMX
    preview fired by the same click) rewrites the cookie with the state it started from."""
    return URLSafeTimedSerializer(secret, salt="ketaclinic-flash").dumps(message[:300])


def flash_from(secret: bytes, token: str | None) -> str | None:
    if not token:
        return None
    try:
        message = URLSafeTimedSerializer(secret, salt="ketaclinic-flash").loads(token, max_age=FLASH_MAX_AGE_S)
    except BadSignature:
        return None
    return message if isinstance(message, str) else None


def load(raw: str | None, secret: bytes, now: float, config: WebConfig, *, background: bool) -> WebSession:
    data: dict[str, Any] | None = None
    if raw:
        try:
            data = serializer(secret).loads(raw, max_age=MAX_COOKIE_AGE_S)
        except BadSignature:
            data = None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return WebSession(csrf=secrets.token_urlsafe(24), dirty=True)
    login = WebSession(csrf=data["c"], sid=data.get("s") if isinstance(data.get("s"), str) else None, last_activity=float(data.get("a") or 0),
                         flash=[str(m) for m in data.get("f") or []][:3],
                         site=data["p"] if isinstance(data.get("p"), int) and not isinstance(data.get("p"), bool) else None)
    if login.sid and now - login.last_activity > config.idle_timeout_s:
        login.sid = None
        login.expired = True
        login.dirty = True
    elif login.sid and not background:
        login.last_activity = now
        login.dirty = True
    return login


class WebSessionMiddleware:
    """Load the cookie into ``request.state.web`` for page requests and write it back if changed.

    A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which wraps every request, API calls
    included, in a task group and memory streams): the API, static files and the health check pass
    straight through, and a page's answer gets its cookie and ``Cache-Control`` as it starts."""

    def __init__(self, app: ASGIApp, secret: bytes, config: WebConfig):
        self.app = app
        self.secret = secret
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PASS_THROUGH):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        # Polling and chart images are not user activity, and must not rewrite the cookie: a slow chart
        # answering after the next click would otherwise put back the state it started with.
        background = (request.headers.get("X-Background") == "1" or request.query_params.get("_bg") == "1"
                      or request.url.path.endswith(".svg"))
        login = load(request.cookies.get(COOKIE), self.secret, time.time(), self.config, background=background)
        request.state.web = login  # scope["state"]: every Request made from this scope sees it
        request.state.web_secret = self.secret

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if login.dirty:  # read now: the page has run and may have signed in, out or picked a site
                    cookie = Response()
                    cookie.set_cookie(
                        COOKIE, serializer(self.secret).dumps(login.as_dict()), max_age=MAX_COOKIE_AGE_S,
                        httponly=True, samesite="strict", secure=self.config.cookie_secure, path="/",
                    )
                    headers.append("set-cookie", cookie.headers["set-cookie"])
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_cookie)
