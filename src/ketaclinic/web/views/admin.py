"""Admin: users and roles, the drug library (read-only view of its limits), the audit log with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.dosing import DEFAULT_LIBRARY
from ketaclinic.services import audit as audit_service
from ketaclinic.services import users as user_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
ROLES = ("admin", "physician", "nurse", "coordinator", "patient")


def _users_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                status: int = 200) -> Response:
    users = user_service.list_users(db_of(request), actor, limit=200).items
    return render(request, "admin/users.html", {"users": users, "roles": ROLES, "role_options": [(r, r) for r in ROLES], "values": values or {"role": "nurse"},
                                                "errors": errors or {}}, status=status)


@router.get("/admin/users")
def users(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return _users_page(request, actor)


@router.post("/admin/users")
async def create_user(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("username", "role", "password", "patient_id")}
    try:
        data = user_service.UserCreate(username=values["username"], role=values["role"], password=values["password"],
                                       patient_id=int(values["patient_id"]) if values["patient_id"].isdigit() else None)
        user_service.create_user(db_of(request), actor, data)
    except (ValidationError, ServiceError) as exc:
        values["password"] = ""
        return _users_page(request, actor, values, errors_of(exc), 422)
    return redirect(request, "/admin/users", f"Account {values['username']} created.")


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, user_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    change = str(form.get("change") or "")
    data = {"role": {"role": form.get("role")}, "deactivate": {"active": False}, "activate": {"active": True},
            "unlock": {"unlock": True}}.get(change)
    if data is None:
        return _users_page(request, actor, None, {"__all__": "Unknown change."}, 422)
    try:
        user_service.update_user(db_of(request), actor, user_id, int(form.get("version") or 0),
                                 user_service.UserUpdate(**data))
    except (ValidationError, ServiceError) as exc:
        return _users_page(request, actor, None, errors_of(exc), 422)
    return redirect(request, "/admin/users", "Account updated.")


@router.get("/admin/drug-library")
def drug_library(request: Request, actor: Annotated[Actor, Depends(need("admin", "physician"))]) -> Response:
    return render(request, "admin/drug_library.html", {"library": DEFAULT_LIBRARY.as_dict()})


@router.get("/admin/audit")
def audit_log(request: Request, actor: Annotated[Actor, Depends(need("admin"))], username: str | None = None,
              action: str | None = None, record_type: str | None = None, record_id: str | None = None,
              since: str | None = None, cursor: str | None = None) -> Response:
    values = {"username": username or "", "action": action or "", "record_type": record_type or "",
              "record_id": record_id or "", "since": since or ""}
    errors: dict[str, str] = {}
    since_dt = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since)
        except ValueError:
            errors["since"] = "Use a date like 2026-01-31."
    filters = audit_service.AuditFilter(username=username or None, action=action or None, record_type=record_type or None,
                                        record_id=record_id or None, since=since_dt)
    page = audit_service.list_audit(db_of(request), actor, filters, limit=100, cursor=cursor or None)
    return render(request, "admin/audit.html", {"entries": page.items, "next_cursor": page.next_cursor,
                                                "values": values, "errors": errors})
