"""The pieces every service uses: one transaction, the audit entry, versions, roles, paging.

A service function is: ``with unit_of_work(db) as session:`` load, check, call the core,
append, ``audit(...)``, and the commit at the end of the block. Database-level refusals
(a stale version, a guard on a signed record) come out as :class:`ServiceError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ketaclinic.records import audit as audit_log
from ketaclinic.records.db import Database
from ketaclinic.records.guards import ImmutableRecordError
from ketaclinic.services import follow_up_summaries  # noqa: F401  (keeps the follow-up summaries on every commit)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, PreconditionRequired, ValidationFailed

T = TypeVar("T")
R = TypeVar("R")

CLINICAL_ROLES = ("physician", "nurse")
STAFF_ROLES = ("admin", "physician", "nurse", "coordinator")
AUDIT_SITE = "ketaclinic.audit_site"  # uow.info key: the site this transaction's audit entries are about
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@contextmanager
def unit_of_work(db: Database) -> Iterator[Session]:
    """One transaction; stale versions and guard refusals become 409."""
    try:
        with db.transaction() as uow:
            yield uow
    except StaleDataError:
        raise Conflict("the record was changed by someone else: reload it and try again") from None
    except ImmutableRecordError as error:
        raise Conflict(str(error), code="immutable_record") from None
    except sa_exc.IntegrityError as error:
        text = str(error.orig).lower()
        if "append-only" in text or "refused" in text or "never changed" in text:
            raise Conflict("signed and append-only records are never changed", code="immutable_record") from None
        raise Conflict("the change conflicts with another record", code="integrity_conflict") from None


def audit(
    uow: Session,
    actor: Actor,
    action: str,
    record_type: str | None = None,
    record_id: int | str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    site_id: int | None = None,
) -> None:
    """Append the audit entry for what ``actor`` just did, in the same transaction.

    The entry's site (issue 17): the site of the chart the transaction loaded (``load_patient`` notes it
    in ``uow.info[AUDIT_SITE]``), else the one site the actor works at for this request, else none;
    ``site_id`` names it outright."""
    site_id = site_id if site_id is not None else uow.info.get(AUDIT_SITE)
    if site_id is None and len(actor.site_ids) == 1:
        site_id = actor.site_ids[0]
    audit_log.append(
        uow,
        action=action,
        user_id=actor.user_id,
        username=actor.username,
        role=actor.role,
        record_type=record_type,
        record_id=record_id,
        ip=actor.ip,
        detail=detail,
        site_id=site_id,
    )


def require_role(actor: Actor, *roles: str) -> None:
    """Defence in depth behind the API's route policy."""
    if actor.role not in roles and actor.role != "system":
        raise Forbidden(f"the {actor.role or 'anonymous'} role may not do this")


def check_version(record: Any, expected_version: int | None) -> None:
    """If-Match: an update must name the version it was based on (428 if not, 409 if stale)."""
    if expected_version is None:
        raise PreconditionRequired("send If-Match with the version you last read")
    if record.version != expected_version:
        raise Conflict(
            f"version {expected_version} is stale: the record is at version {record.version}",
            field="If-Match",
        )


def get_or_404(uow: Session, model: type[R], record_id: int, what: str) -> R:
    record = uow.get(model, record_id)
    if record is None:
        raise NotFound(f"{what} not found")
    return record


# --- paging -------------------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``?cursor=`` for the next one (null: the end)."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not one this server gave out", field="cursor") from None


def cursor_int(cursor: str | None, key: str = "after") -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    value = position.get(key)
    if not isinstance(value, int):
        raise ValidationFailed("cursor is not one this server gave out", field="cursor")
    return value


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def page_of(rows: Sequence[Any], limit: int, view: Any, key: str = "after", attr: str = "id") -> Page[Any]:
    """Rows fetched with ``limit + 1``: the extra row only says whether there is a next page."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor({key: getattr(rows[-1], attr)}) if more and rows else None
    return Page(items=[view(r) for r in rows], next_cursor=next_cursor)
