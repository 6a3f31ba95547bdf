"""Sign-in, sign-out and the idle keep-alive."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from ketaclinic.services import auth as auth_service
from ketaclinic.services import ratelimit
from ketaclinic.services.errors import RateLimited, Unauthenticated
from ketaclinic.web.deps import (
    check_csrf,
    client_ip,
    current_actor,
    db_of,
    redirect,
    render,
    settings_of,
    web_session,
)

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

HOME = {"patient": "/me"}
REASONS = {"idle": "You were signed out after a period of inactivity. Nothing was lost that had been saved.",
           "signed_out": "You are signed out."}


def home_for(role: str | None) -> str:
    return HOME.get(role or "", "/dashboard")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no open redirect)."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@router.get("/")
def index(request: Request) -> Response:
    actor = current_actor(request)
    if actor is not None:
        return redirect(request, home_for(actor.role))
    return render(request, "index.html")


@router.get("/login")
def login_page(request: Request, next: str | None = None, reason: str | None = None) -> Response:
    actor = current_actor(request)
    if actor is not None:
        return redirect(request, _safe_next(next) or home_for(actor.role))
    notice = REASONS.get(reason or "") or (REASONS["idle"] if web_session(request).expired else None)
    return render(request, "auth/login.html", {"next": _safe_next(next) or "", "notice": notice})


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "") -> Response:
    settings = settings_of(request)
    db = db_of(request)
    values = {"username": username}
    error = None
    try:
        if not username.strip() or not password:
            raise Unauthenticated("enter your username and password")
        decision = ratelimit.hit(db, f"web-login:{client_ip(request)}", limit=settings.login_rate_limit,
                                 window_s=settings.login_rate_window_s)
        if not decision.allowed:
            raise RateLimited("too many attempts", retry_after_s=decision.retry_after_s)
        signed = auth_service.sign_in(db, settings, username=username.strip().lower(), password=password,
                                      ip=client_ip(request), kind="web")
    except RateLimited as exc:
        if exc.code == "login_throttled":
            error = (f"Too many failed sign-ins. Wait {exc.retry_after_s} s and try again "
                     "(the clinic's administrator can lift the wait).")
        else:
            error = "Too many attempts from this device. Wait a minute and try again."
    except Unauthenticated as exc:
        error = "Wrong username or password." if exc.code == "invalid_credentials" else exc.message.capitalize() + "."
    if error:
        return render(request, "auth/login.html", {"next": next, "values": values, "error": error}, status=401)
    web_session(request).sign_in(signed.token, time.time())
    request.state.actor = signed.actor
    return redirect(request, _safe_next(next) or home_for(signed.actor.role))


@router.post("/logout")
def logout(request: Request) -> Response:
    """Sign out: the server-side session ends (with every earlier sign-in of the user, design.md 4.10)."""
    session = web_session(request)
    if session.sid:
        auth_service.logout(db_of(request), session.sid, ip=client_ip(request), kind="web")
    session.sign_out()
    request.state.actor = None
    return redirect(request, "/login?reason=signed_out")


@router.post("/session/keepalive")
def keepalive(request: Request) -> Response:
    """The "stay signed in" button: any user request counts as activity; this one only says so."""
    actor = current_actor(request)
    if actor is None:
        return JSONResponse({"signed_in": False}, status_code=401)
    return JSONResponse({"signed_in": True, "idle_timeout_s": request.app.state.web_config.idle_timeout_s})
