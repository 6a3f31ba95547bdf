"""Session events as exported rows: the fields each kind may export, every amendment's correction
applied in turn, implausible numbers blanked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ketaclinic.clinical.monitoring import (
    SIDE_EFFECT_CODES,
    SIDE_EFFECT_SEVERITIES,
)
from ketaclinic.clinical.record import EventRow
from ketaclinic.interop.research.rules import (
    ALERT_ACTIONS,
    ALERT_CODES,
    ALERT_SEVERITIES,
    DOSE_UNITS,
    EXPORTED_EVENT_KINDS,
    ROUTES,
    VITAL_FIELDS,
)
from ketaclinic.interop.research.values import (
    as_integer,
    as_number,
    blank_implausible,
    coded,
    medication_name,
    plausible,
)

_VALIDATORS: dict[str, Any] = {
    **{name: as_number for name in VITAL_FIELDS if name != "moaas"},
    "moaas": lambda v: (lambda i: i if i is not None and 0 <= i <= 5 else None)(as_integer(v)),
    "rate_mg_per_h": as_number,
    "rate_mg_per_kg_per_h": as_number,
    "dose": as_number,
    "dose_unit": lambda v: coded(v, DOSE_UNITS),
    "route": lambda v: coded(v, ROUTES),
    "drug": medication_name,
}


def _side_effect_fields(code: Any, severity: Any) -> dict[str, Any]:
    return {"code": coded(code, SIDE_EFFECT_CODES), "severity": coded(severity, SIDE_EFFECT_SEVERITIES)}


def _fields_of(event: EventRow) -> list[dict[str, Any]]:
    """The exportable fields of one event: one row, plus one per side effect within vital signs."""
    p = event.payload or {}
    if event.kind == "vitals":
        obs = p.get("observation") or {}
        rows = [{name: _VALIDATORS[name](obs.get(name)) for name in VITAL_FIELDS}]
        for effect in obs.get("side_effects") or []:
            if isinstance(effect, dict):
                rows.append({"kind": "side_effect", "with_vitals": True,
                             **_side_effect_fields(effect.get("code"), effect.get("severity"))})
        return rows
    if event.kind == "side_effect":
        return [_side_effect_fields(p.get("code"), p.get("severity"))]
    if event.kind == "alert":
        return [{"code": coded(p.get("code"), ALERT_CODES), "severity": coded(p.get("severity"), ALERT_SEVERITIES),
                 "action": coded(p.get("action"), ALERT_ACTIONS)}]
    if event.kind == "alert_ack":
        return [{"code": coded(p.get("alert_code"), ALERT_CODES)}]
    if event.kind == "rate_change":
        return [{"rate_mg_per_h": as_number(p.get("rate_mg_per_h")),
                 "rate_mg_per_kg_per_h": as_number(p.get("rate_mg_per_kg_per_h"))}]
    if event.kind == "medication":
        return [{"drug": medication_name(p.get("drug")), "dose": as_number(p.get("dose")),
                 "dose_unit": coded(p.get("unit"), DOSE_UNITS), "route": coded(p.get("route"), ROUTES)}]
    return []


def _apply_correction(kind: str, rows: list[dict[str, Any]], correction: dict[str, Any], weight_kg: float | None) -> None:
    """Put an amendment's corrected values into the event's fields: a value that does not fit the
    column (a word where a number belongs, a code outside the vocabulary) empties it instead."""
    if not isinstance(correction, dict):
        return
    flat = dict(correction)
    if isinstance(correction.get("observation"), dict):  # a vitals correction may nest like the payload
        flat.update(correction["observation"])
    if "unit" in flat:
        flat["dose_unit"] = flat.pop("unit")
    main = rows[0]
    for name, value in flat.items():
        if kind == "side_effect" and name in ("code", "severity"):
            main[name] = _side_effect_fields(value, value)[name]
        elif name in _VALIDATORS and name in main:
            main[name] = _VALIDATORS[name](value)
    if kind == "rate_change" and weight_kg:
        per_h, per_kg = flat.get("rate_mg_per_h"), flat.get("rate_mg_per_kg_per_h")
        if per_kg is not None and per_h is None and main["rate_mg_per_kg_per_h"] is not None:
            main["rate_mg_per_h"] = round(main["rate_mg_per_kg_per_h"] * weight_kg, 2)
        elif per_h is not None and per_kg is None and main["rate_mg_per_h"] is not None:
            main["rate_mg_per_kg_per_h"] = round(main["rate_mg_per_h"] / weight_kg, 4)
    if kind == "vitals" and isinstance(flat.get("side_effects"), list):
        del rows[1:]
        for effect in flat["side_effects"]:
            if isinstance(effect, dict):
                rows.append({"kind": "side_effect", "with_vitals": True,
                             **_side_effect_fields(effect.get("code"), effect.get("severity"))})


@dataclass
class ExportEvent:
    event: EventRow
    rows: list[dict[str, Any]]
    amended: bool = False
    minute: float | None = None  # the event's minute when plausible
    minute_blanked: bool = False


def corrected_events(events: Iterable[EventRow], weight_of: dict[int, float | None],
                     blanks: Counter[str] | None = None) -> list[ExportEvent]:
    """The exportable events in recording order, with every amendment's correction applied in turn,
    and every implausible number blanked (counted into ``blanks``)."""
    blanks = Counter() if blanks is None else blanks
    ordered = sorted(events, key=lambda e: e.id)
    out: dict[int, ExportEvent] = {}
    for event in ordered:
        if event.kind in EXPORTED_EVENT_KINDS:
            out[event.id] = ExportEvent(event, _fields_of(event))
    for event in ordered:
        if event.kind == "amendment" and event.amends_event_id in out:
            target = out[event.amends_event_id]
            target.amended = True
            _apply_correction(target.event.kind, target.rows, (event.payload or {}).get("correction") or {},
                              weight_of.get(target.event.session_id))
    for item in out.values():
        minute = as_number(item.event.minute)
        if minute is not None and not plausible("minute", minute):
            blanks["events.minute"] += 1
            minute, item.minute_blanked = None, True
        item.minute = minute
        for row in item.rows:
            blank_implausible("events", row, blanks)
    return list(out.values())
