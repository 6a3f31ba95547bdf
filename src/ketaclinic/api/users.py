"""``/api/v1/users``: accounts and roles (admin); portal invitations (admin, coordinator) and password resets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import Cursor, Limit, PathId, if_match, set_etag
from ketaclinic.services import invitations
from ketaclinic.services import users as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[Actor, Depends(allow("admin"))]


@router.get("", response_model=Page[service.UserView], summary="List accounts")
def list_users(request: Request, actor: Admin, limit: Limit = None, cursor: Cursor = None) -> Page[service.UserView]:
    return service.list_users(db_of(request), actor, limit=limit, cursor=cursor)


@router.post("", response_model=service.UserView, status_code=201, summary="Create an account")
def create_user(request: Request, response: Response, actor: Admin,
                body: Annotated[service.UserCreate, Body()]) -> service.UserView:
    view = service.create_user(db_of(request), actor, body)
    set_etag(response, view.version)
    return view


@router.patch("/{user_id}", response_model=service.UserView,
              summary="Change role, deactivate, unlock or reset the password (If-Match)")
def update_user(request: Request, response: Response, user_id: PathId, actor: Admin,
                body: Annotated[service.UserUpdate, Body()],
                expected: Annotated[int | None, Depends(if_match)]) -> service.UserView:
    view = service.update_user(db_of(request), actor, user_id, expected, body)
    set_etag(response, view.version)
    return view


# --- one-time links (issue 12): portal invitations and password resets ----------------------

InviteRoles = Annotated[Actor, Depends(allow(*invitations.INVITE_ROLES))]


@router.post("/invitations", response_model=invitations.LinkIssued, status_code=201,
             summary="Invite a patient to the portal: a one-time link (shown once) to set their password")
def invite_patient(request: Request, actor: InviteRoles,
                   body: Annotated[invitations.InvitationIn, Body()]) -> invitations.LinkIssued:
    return invitations.issue_invitation(db_of(request), actor, body)


@router.post("/{user_id}/password-reset", response_model=invitations.LinkIssued, status_code=201,
             summary="Issue a one-time password reset link (shown once); using it ends the user's sign-ins")
def password_reset(request: Request, user_id: PathId, actor: Admin) -> invitations.LinkIssued:
    return invitations.issue_password_reset(db_of(request), actor, user_id)
