"""``/api/v1/account``: using a one-time link (issue 12) — accept a portal invitation, or reset a password.

Public: the link's secret is the credential. The answer to a link that cannot be used is the same
404 ``link_invalid`` whatever the reason (unknown, used, expired, replaced); the audit log keeps it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from ketaclinic.api.auth import check_rate, client_ip, db_of, public, settings_of
from ketaclinic.services import invitations as service
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/account", tags=["account"])
Anyone = Annotated[Actor, Depends(public())]


def _rate(request: Request) -> None:
    settings = settings_of(request)
    check_rate(request, "account-link", settings.login_rate_limit, settings.login_rate_window_s)


@router.post("/invitation", response_model=service.LinkInfo, status_code=201,
             summary="Accept a portal invitation: set a password; the patient's portal account is made")
def accept_invitation(request: Request, _caller: Anyone,
                      body: Annotated[service.SetPassword, Body()]) -> service.LinkInfo:
    _rate(request)
    return service.accept_invitation(db_of(request), body, ip=client_ip(request))


@router.post("/password-reset", response_model=service.LinkInfo,
             summary="Set a new password from a reset link; every earlier sign-in of the user ends")
def reset_password(request: Request, _caller: Anyone, body: Annotated[service.SetPassword, Body()]) -> service.LinkInfo:
    _rate(request)
    return service.reset_password(db_of(request), body, ip=client_ip(request))
