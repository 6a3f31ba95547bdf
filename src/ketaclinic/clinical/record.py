"""How the session record is read: one event row, and the one rule for amendments.

A session's events are append-only (design.md section 3, "event"): a correction is a new
``amendment`` event whose ``payload.correction`` names the fields it fixes and whose
``amends_event_id`` points at the original. Every reader of the record (the console, the
documents, FHIR, the outcome counts, the research export) must apply amendments the same way,
so the rule lives here, in the pure core, and the shell passes plain rows in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class EventRow:
    """One stored session event, copied out of the database (keyword arguments only, so two
    readers can never swap ``minute`` and ``session_id`` by position)."""

    id: int
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    session_id: int | None = None
    minute: float | None = None
    recorded_at: datetime | None = None
    recorded_by: int | None = None
    amends_event_id: int | None = None


class EventLike(Protocol):
    """What the amendment rule reads from an event: an :class:`EventRow` or a stored record."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Any: ...
    @property
    def minute(self) -> float | None: ...
    @property
    def amends_event_id(self) -> int | None: ...


def corrections_by_event(events: Iterable[EventLike]) -> dict[int, dict[str, Any]]:
    """The merged ``correction`` of every amended event, keyed by the amended event's id.

    Amendments apply in recording order (ascending id), field by field: a later amendment wins
    for the fields it names and leaves the others as the earlier one set them."""
    merged: dict[int, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e.id):
        if event.kind == "amendment" and event.amends_event_id is not None:
            fix = dict((event.payload or {}).get("correction") or {})
            merged[event.amends_event_id] = {**merged.get(event.amends_event_id, {}), **fix}
    return merged


def as_corrected(event: EventLike, corrections: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The event's payload with its amendments applied (``corrections`` from :func:`corrections_by_event`)."""
    return {**(event.payload or {}), **corrections.get(event.id, {})}


def rate_changes_given(events: Iterable[EventLike]) -> list[tuple[float, float]]:
    """``(minute, rate_mg_per_h)`` of every rate change, as corrected, in recording order: what
    :func:`ketaclinic.pharmacology.regimen.doses_as_given` needs to say what the pump gave."""
    events = list(events)
    fixes = corrections_by_event(events)
    out = []
    for event in sorted(events, key=lambda e: e.id):
        if event.kind == "rate_change":
            rate = as_corrected(event, fixes).get("rate_mg_per_h")
            if rate is not None:
                out.append((float(event.minute or 0.0), float(rate)))
    return out
