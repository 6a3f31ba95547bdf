"""Sign-in, sign-out, the idle keep-alive, and the one-time links: a portal invitation, a password reset."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ketaclinic.services import auth as auth_service
from ketaclinic.services import invitations as invitation_service
from ketaclinic.services import ratelimit
from ketaclinic.services.errors import NotFound, RateLimited, ServiceError, Unauthenticated
from ketaclinic.services.users import MIN_PASSWORD_LENGTH
from ketaclinic.web.deps import (
    check_csrf,
    client_ip,
    current_actor,
    db_of,
    rate_limit,
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
    login = web_session(request)
    if login.sid:
        auth_service.logout(db_of(request), login.sid, ip=client_ip(request), kind="web")
    login.sign_out()
    request.state.actor = None
    return redirect(request, "/login?reason=signed_out")


@router.post("/session/keepalive")
def keepalive(request: Request) -> Response:
    """The "stay signed in" button: any user request counts as activity; this one only says so."""
    actor = current_actor(request)
    if actor is None:
        return JSONResponse({"signed_in": False}, status_code=401)
    return JSONResponse({"signed_in": True, "idle_timeout_s": request.app.state.web_config.idle_timeout_s})


# --- one-time links (issue 12): a portal invitation, a password reset -----------------------

LINK_KINDS = {"invitation": "invitation", "reset": "password_reset"}
NO_STORE = {"Cache-Control": "no-store"}


def _link_page(request: Request, kind: str, token: str, info=None, errors: dict | None = None,
               status: int = 200) -> Response:
    return render(request, "auth/set_password.html", {"kind": kind, "token": token, "info": info,
                                                       "errors": errors or {}}, status=status, headers=NO_STORE)


def _invalid_page(request: Request, kind: str, message: str) -> Response:
    return render(request, "auth/link_invalid.html", {"kind": kind, "message": message}, status=404, headers=NO_STORE)


@router.get("/account/{which}/{token}")
def link_page(request: Request, which: str, token: str) -> Response:
    kind = LINK_KINDS.get(which)
    if kind is None:
        return render(request, "error.html", {"title": "Not found", "message": "No such page."}, status=404)
    try:
        info = invitation_service.link_info(db_of(request), kind, token, ip=client_ip(request))
    except NotFound as exc:
        return _invalid_page(request, kind, exc.message)
    return _link_page(request, kind, token, info)


@router.post("/account/{which}/{token}")
def use_link(request: Request, which: str, token: str, password: Annotated[str, Form()] = "",
             password_again: Annotated[str, Form()] = "") -> Response:
    kind = LINK_KINDS.get(which)
    if kind is None:
        return render(request, "error.html", {"title": "Not found", "message": "No such page."}, status=404)
    settings = settings_of(request)
    db = db_of(request)
    if not rate_limit(request, "account-link", settings.login_rate_limit, settings.login_rate_window_s):
        return _link_page(request, kind, token, None, {"__all__": "Too many attempts from this device. Wait a "
                                                                  "minute and try again."}, 429)
    try:
        info = invitation_service.link_info(db, kind, token, ip=client_ip(request))
    except NotFound as exc:
        return _invalid_page(request, kind, exc.message)
    try:
        invitation_service.check_password_pair(password, password_again)
        data = invitation_service.SetPassword(token=token, password=password)
        use = invitation_service.accept_invitation if kind == "invitation" else invitation_service.reset_password
        done = use(db, data, ip=client_ip(request))
    except NotFound as exc:
        return _invalid_page(request, kind, exc.message)
    except ValidationError as exc:
        short = any(e["type"] == "string_too_short" for e in exc.errors())
        message = (f"Choose a password of {MIN_PASSWORD_LENGTH} characters or more." if short
                   else "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
        return _link_page(request, kind, token, info, {"password": message}, 422)
    except ServiceError as exc:
        return _link_page(request, kind, token, info, {exc.field or "__all__": exc.message[:1].upper() + exc.message[1:]
                                                       + "."}, exc.status)
    web_session(request).sign_out()  # whoever was signed in on this browser, the new password is signed in fresh
    request.state.actor = None
    done_words = ("Your portal account is ready" if kind == "invitation" else "Your new password is set")
    return redirect(request, "/login", f"{done_words}: sign in as {done.username}.")
