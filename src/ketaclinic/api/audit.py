"""``/api/v1/audit``: the admin reads the log and checks its chain. Nobody changes it through the app."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.http import MAX_ID, Cursor, Limit
from ketaclinic.services import audit as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor
from ketaclinic.services.types import MOMENT_WORDS, QueryMoment, bound

router = APIRouter(prefix="/audit", tags=["audit"])
Admin = Annotated[Actor, Depends(allow("admin"))]


@router.get("", response_model=Page[service.AuditEntryView], summary="Audit entries, newest first")
def list_entries(
    request: Request, actor: Admin,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    record_type: Annotated[str | None, Query(max_length=32)] = None,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[QueryMoment | None, Query(description=f"From (inclusive): {MOMENT_WORDS}")] = None,
    until: Annotated[QueryMoment | None, Query(description=f"Until (exclusive; a day: to its end): {MOMENT_WORDS}")] = None,
    site_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only the entries about this site")] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page[service.AuditEntryView]:
    tz = settings_of(request).timezone
    filters = service.AuditFilter(user_id=user_id, username=username, action=action, record_type=record_type,
                                  record_id=record_id, since=bound(since, tz), until=bound(until, tz, upper=True),
                                  site_id=site_id)
    return service.list_audit(db_of(request), actor, filters, limit=limit, cursor=cursor)


@router.get("/verify", summary="Check the hash chain (first broken entry, if any)")
def verify(request: Request, actor: Admin) -> dict[str, Any]:
    return service.verify_as(db_of(request), actor).as_dict()
