"""The last line in the application that refuses to change what must never change.

The services never update a signed record or an append-only fact; these mapper events make
sure no code path through the ORM can either (and the migration adds database triggers that
refuse the same changes made with plain SQL). A correction is always a new row (an amendment).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect

from ketaclinic.records.db import Base


class ImmutableRecordError(RuntimeError):
    """An attempt to update or delete a signed record or an append-only fact."""


def _original(target: Any, attribute: str) -> Any:
    history = inspect(target).attrs[attribute].history
    if history.deleted:
        return history.deleted[0]
    return getattr(target, attribute)


def _why_frozen(target: Any) -> str | None:
    if getattr(target, "__append_only__", False):
        return f"{target.__tablename__} rows are append-only"
    sealed = getattr(target, "__sealed__", None)
    if sealed is not None:
        attribute, states = sealed
        original = _original(target, attribute)
        if original in states:
            return f"{target.__tablename__} #{target.id} is {original}: record an amendment instead"
    return None


@event.listens_for(Base, "before_update", propagate=True)
def _refuse_update(_mapper: Any, _connection: Any, target: Any) -> None:
    reason = _why_frozen(target)
    if reason:
        raise ImmutableRecordError(reason)


@event.listens_for(Base, "before_delete", propagate=True)
def _refuse_delete(_mapper: Any, _connection: Any, target: Any) -> None:
    reason = _why_frozen(target)
    if reason:
        raise ImmutableRecordError(reason)
