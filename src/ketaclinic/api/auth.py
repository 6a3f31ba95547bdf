"""Authentication and the route policy: deny by default, one dependency per route.

Every route under ``/api/v1`` takes its actor from :func:`allow` (a set of roles) or
:func:`public`. ``create_app`` refuses to start if a route has neither, and the table-driven
test in ``tests/api/test_access.py`` checks every route against every role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel

from ketaclinic.clock import utcnow
from ketaclinic.http import MAX_ID
from ketaclinic.records.db import Database
from ketaclinic.services import auth as auth_service
from ketaclinic.services import ratelimit
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Forbidden, RateLimited, Unauthenticated
from ketaclinic.settings import Settings

ALL_ROLES = ("admin", "physician", "nurse", "coordinator", "patient")
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
SITE_HEADER = ("Work at one site for this request (issue 17): only that site's patients, sessions and lists, with "
               "your role at that site. Absent: all the sites where you hold your account's role (a single-site "
               "user always works at their site). A site you do not work at: 403 site_not_yours.")


def client_ip(request: Request) -> str | None:
    """The caller's address: the peer, or what a trusted proxy forwarded (``KETACLINIC_TRUSTED_PROXIES``,
    applied by :class:`~ketaclinic.api.security.ProxyHeadersMiddleware`)."""
    return request.client.host if request.client else None


def db_of(request: Request) -> Database:
    return request.app.state.db


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


class Allow:
    """The dependency that states who may call a route; it returns the calling :class:`Actor`."""

    def __init__(self, roles: tuple[str, ...], *, public: bool = False):
        unknown = set(roles) - set(ALL_ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        self.roles = frozenset(roles)
        self.public = public

    def __call__(self, request: Request, token: Annotated[str | None, Depends(bearer)],
                 site: Annotated[int | None, Header(alias="X-Site-Id", ge=1, le=MAX_ID, description=SITE_HEADER)]
                 = None) -> Actor:
        ip = client_ip(request)
        if token is None:
            if self.public:
                return Actor.public(ip)
            raise Unauthenticated("log in first (Authorization: Bearer <token>)")
        try:
            actor = auth_service.actor_from_token(db_of(request), token, ip=ip, kind="api", site_id=site)
        except Unauthenticated:
            if self.public:
                return Actor.public(ip)
            raise
        if actor.role not in self.roles and not self.public:
            raise Forbidden(f"the {actor.role} role may not do this")
        return actor

    def describe(self) -> str:
        return "public" if self.public else ", ".join(sorted(self.roles))


def allow(*roles: str) -> Allow:
    return Allow(roles)


def public() -> Allow:
    return Allow((), public=True)


# --- routes -------------------------------------------------------------------------------

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: int
    username: str
    role: str
    patient_id: int | None


class MeOut(BaseModel):
    user_id: int
    username: str
    role: str
    patient_id: int | None


def check_rate(request: Request, name: str, limit: int, window_s: int) -> None:
    decision = ratelimit.hit(db_of(request), f"{name}:{client_ip(request)}", limit=limit, window_s=window_s)
    if not decision.allowed:
        raise RateLimited("too many requests: wait and try again", retry_after_s=decision.retry_after_s)


@router.post("/token", response_model=TokenOut, summary="Log in (OAuth2 password flow) and get a bearer token")
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    _caller: Annotated[Actor, Depends(public())],
) -> TokenOut:
    settings = settings_of(request)
    check_rate(request, "login", settings.login_rate_limit, settings.login_rate_window_s)
    now = utcnow()
    signed = auth_service.sign_in(db_of(request), settings, username=form.username.strip().lower(),
                                  password=form.password, ip=client_ip(request), kind="api", now=now)
    actor = signed.actor
    assert actor.user_id is not None and actor.username and actor.role
    return TokenOut(access_token=signed.token, expires_in=int((signed.expires_at - now).total_seconds()),
                    user_id=actor.user_id, username=actor.username, role=actor.role, patient_id=actor.patient_id)


@router.post("/logout", status_code=204, response_class=Response,
             summary="Log out: end this token and every earlier sign-in of the same user")
def logout(request: Request, token: Annotated[str | None, Depends(bearer)],
           actor: Annotated[Actor, Depends(allow(*ALL_ROLES))]) -> Response:
    assert token is not None  # allow() has checked it
    auth_service.logout(db_of(request), token, ip=client_ip(request), kind="api")
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="Who the token belongs to")
def me(actor: Annotated[Actor, Depends(allow(*ALL_ROLES))]) -> MeOut:
    assert actor.user_id is not None and actor.username and actor.role
    return MeOut(user_id=actor.user_id, username=actor.username, role=actor.role, patient_id=actor.patient_id)
