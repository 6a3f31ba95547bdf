"""What a monitored session's append-only events say, put in the order a document prints them.

Shared by the session record (every event, in time order, with its alerts, acknowledgements and
amendments) and the course letter (one line per session: ketamine given, rate changes, side
effects, alerts and what was done). Pure functions over rows already loaded (no database), so the
two documents can never disagree about a session.

- **Ketamine given** is the pump program as the pump ran it
  (:func:`ketaclinic.pharmacology.regimen.doses_as_given`: the nurse's rate changes, nothing after
  the stop), plus any extra IV ketamine recorded as a medication. A session still running is
  counted up to the time the document is produced.
- **Old → new rate** of a rate change: the previous change's rate, else the programmed infusion rate.
- **Amendments** never hide the original: the original event keeps its values (printed struck
  through) and each correction is listed beside it with its reason, who and when. Side effects are
  counted with the correction applied (``code``/``severity`` of the amendment's ``correction``),
  as :func:`ketaclinic.clinical.outcomes` counts adverse events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ketaclinic.clinical.dosing import program_dosing_weight_kg
from ketaclinic.clinical.record import EventRow, corrections_by_event
from ketaclinic.pharmacology.regimen import KETAMINE_NAMES, MG_PER_UNIT, mg_as_given

SEVERITY_ORDER = {"mild": 0, "moderate": 1, "severe": 2}
KIND_LABELS = {
    "vitals": "Vitals", "rate_change": "Rate change", "side_effect": "Side effect", "medication": "Medication",
    "alert": "ALERT", "alert_ack": "Alert answered", "note": "Note", "amendment": "Amendment",
    "state_change": "Status",
}
STATE_WORDS = {
    "checked_in": "Checked in", "running": "Infusion started", "observing": "Infusion stopped; observation",
    "discharged": "Discharged", "cancelled": "Cancelled", "scheduled": "Scheduled",
}
ACTION_WORDS = {
    "continue": "continue and observe", "reduce_rate": "reduce the rate", "pause_infusion": "pause the infusion",
    "stop_infusion": "stop the infusion", "give_medication": "give medication (per plan)",
    "call_physician": "call the physician",
}


@dataclass(frozen=True)
class RateChange:
    minute: float | None
    at: datetime
    old_mg_per_h: float | None
    new_mg_per_h: float
    old_ml_per_h: float | None
    new_ml_per_h: float | None
    old_mg_per_kg_per_h: float | None
    new_mg_per_kg_per_h: float | None
    reason: str
    override: str | None
    by: str


@dataclass(frozen=True)
class SideEffect:
    code: str
    severity: str
    minute: float | None


@dataclass(frozen=True)
class AlertLine:
    event_id: int
    minute: float | None
    at: datetime
    code: str
    severity: str
    action: str
    message: str
    source: str
    answered_by: str | None = None
    answered_at: datetime | None = None
    action_taken: str | None = None


@dataclass
class Line:
    """One printed row of the session record (an event, in time order)."""

    id: int
    minute: float | None
    at: datetime
    kind: str
    label: str
    text: str
    by: str
    alert: AlertLine | None = None
    corrections: list[dict[str, Any]] = field(default_factory=list)  # amendments of this event
    amends: int | None = None  # this row is an amendment of that event
    cite: str = ""  # the short citation of an alert's rule (filled by the document)


@dataclass(frozen=True)
class SessionSummary:
    """A session in one line of the course letter."""

    total_mg: float
    mg_per_kg: float | None
    infusion_min: float | None
    rate_changes: tuple[RateChange, ...]
    side_effects: tuple[SideEffect, ...]  # worst severity per code, corrections applied
    alerts: tuple[AlertLine, ...]
    extra_ketamine_mg: float
    adjuncts: tuple[str, ...] = ()  # every other drug given, in order ("ondansetron 4 mg IV (PRN)"; issue 14)


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def fmt(value: Any, digits: int = 1) -> str:
    """A number without trailing zeros (``34``, ``27.2``), a dash when missing."""
    number = _num(value)
    if number is None:
        return "—"
    text = f"{number:.{digits}f}"
    if "." in text:  # 240 stays "240"; 27.20 becomes "27.2"
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _infusion_step(program: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return next((s for s in (program or {}).get("program", []) if s.get("kind") == "infusion"), None)


def rate_changes(program: Mapping[str, Any] | None, events: Iterable[EventRow],
                 names: Mapping[int | None, str]) -> list[RateChange]:
    """Each rate change with the rate it replaced (the previous change, else the programmed rate)."""
    step = _infusion_step(program)
    old_mg = _num(step.get("rate_mg_per_h")) if step else None
    old_ml = _num(step.get("rate_ml_per_h")) if step else None
    old_kg = _num(step.get("rate_mg_per_kg_per_h")) if step else None
    out: list[RateChange] = []
    events = list(events)
    fixes = corrections_by_event(events)
    for event in sorted(events, key=lambda e: (e.recorded_at, e.id)):
        if event.kind != "rate_change":
            continue
        p = {**event.payload, **fixes.get(event.id, {})}  # as corrected (clinical.record.corrections_by_event)
        new_mg, new_ml, new_kg = _num(p.get("rate_mg_per_h")) or 0.0, _num(p.get("rate_ml_per_h")), _num(p.get("rate_mg_per_kg_per_h"))
        override = (p.get("override") or {}).get("reason") if isinstance(p.get("override"), Mapping) else None
        out.append(RateChange(event.minute, event.recorded_at, old_mg, new_mg, old_ml, new_ml, old_kg, new_kg,
                              str(p.get("reason") or ""), override, names.get(event.recorded_by, "—")))
        old_mg, old_ml, old_kg = new_mg, new_ml, new_kg
    return out


def extra_ketamine_mg(events: Iterable[EventRow]) -> float:
    """Extra IV ketamine recorded as medication events (in mg)."""
    total = 0.0
    for event in events:
        p = event.payload
        if event.kind == "medication" and str(p.get("drug", "")).strip().lower() in KETAMINE_NAMES \
                and p.get("route") == "iv" and p.get("unit") in MG_PER_UNIT:
            total += float(p.get("dose") or 0) * MG_PER_UNIT[p["unit"]]
    return round(total, 1)


def adjuncts_given(events: Iterable[EventRow]) -> list[str]:
    """Every drug other than ketamine given in the session (PRN doses and the older free-form records), in
    order, as corrected: ``ondansetron 4 mg IV (PRN)``."""
    events = list(events)
    fixes = corrections_by_event(events)
    out = []
    for event in events:
        if event.kind != "medication":
            continue
        p = {**event.payload, **fixes.get(event.id, {})}
        if str(p.get("drug", "")).strip().lower() in KETAMINE_NAMES:
            continue
        out.append(f"{p.get('drug')} {fmt(p.get('dose'), 2)} {p.get('unit')} {str(p.get('route', '')).upper()}"
                   + (" (PRN)" if p.get("prn_order_id") else ""))
    return out


def ketamine_given_mg(program: Mapping[str, Any] | None, changes: list[RateChange], stopped_at_min: float | None) -> float:
    """The program as the pump ran it (rate changes, the stop), in mg."""
    steps = list((program or {}).get("program", []))
    if not steps:
        return 0.0
    return round(mg_as_given(steps, [(c.minute or 0.0, c.new_mg_per_h) for c in changes], stopped_at_min), 1)


def side_effects(events: Iterable[EventRow]) -> list[SideEffect]:
    """Every side effect reported (side-effect events and those noted with vitals), corrections applied,
    worst severity per code, in the order first seen."""
    events = list(events)
    fixes = corrections_by_event(events)
    worst: dict[str, SideEffect] = {}

    def note(code: Any, severity: Any, minute: float | None) -> None:
        if not isinstance(code, str) or severity not in SEVERITY_ORDER:
            return
        seen = worst.get(code)
        if seen is None or SEVERITY_ORDER[severity] > SEVERITY_ORDER[seen.severity]:
            worst[code] = SideEffect(code, str(severity), minute if seen is None else seen.minute)

    for event in sorted(events, key=lambda e: (e.recorded_at, e.id)):
        payload = {**event.payload, **fixes.get(event.id, {})}
        if event.kind == "side_effect":
            note(payload.get("code"), payload.get("severity"), event.minute)
        elif event.kind == "vitals":
            for effect in (payload.get("observation") or {}).get("side_effects") or []:
                note(effect.get("code"), effect.get("severity"), event.minute)
    return list(worst.values())


def alerts(events: Iterable[EventRow], names: Mapping[int | None, str]) -> list[AlertLine]:
    """Every alert raised, with who answered it, when, and what was done (None while open)."""
    events = list(events)
    answers = {e.payload.get("alert_event_id"): e for e in events if e.kind == "alert_ack"}
    out: list[AlertLine] = []
    for event in sorted(events, key=lambda e: (e.recorded_at, e.id)):
        if event.kind != "alert":
            continue
        p = event.payload
        ack = answers.get(event.id)
        out.append(AlertLine(event.id, event.minute, event.recorded_at, str(p.get("code", "")), str(p.get("severity", "")),
                             str(p.get("action", "")), str(p.get("message", "")), str(p.get("source", "")),
                             names.get(ack.recorded_by, "—") if ack else None, ack.recorded_at if ack else None,
                             str(ack.payload.get("action_taken", "")) if ack else None))
    return out


def summarise(program: Mapping[str, Any] | None, weight_kg: float | None, started_at: datetime | None,
              ended_at: datetime | None, events: Iterable[EventRow], names: Mapping[int | None, str],
              now: datetime) -> SessionSummary:
    """One session's ketamine, rate changes, side effects and alerts (course letter, record footer)."""
    events = list(events)
    changes = rate_changes(program, events, names)
    stop = None
    if started_at is not None:
        stop = max(0.0, ((ended_at or now) - started_at).total_seconds() / 60)
    given = ketamine_given_mg(program, changes, stop) if started_at is not None else 0.0
    extra = extra_ketamine_mg(events)
    total = round(given + extra, 1)
    # mg/kg on the dosing weight the program used when it was adjusted or capped (design 4.3 v2)
    adjusted = (program or {}).get("dosing_weight_basis") in ("adjusted", "capped")
    weight = program_dosing_weight_kg(program) if adjusted else (weight_kg or _num((program or {}).get("weight_kg")))
    return SessionSummary(total, round(total / weight, 2) if weight else None, round(stop, 1) if stop is not None else None,
                          tuple(changes), tuple(side_effects(events)), tuple(alerts(events, names)), extra,
                          tuple(adjuncts_given(events)))


# --- the record's rows -------------------------------------------------------------------------


def _words(code: Any) -> str:
    return str(code or "").replace("_", " ")


def vitals_text(observation: Mapping[str, Any]) -> str:
    o = observation
    parts = [f"BP {fmt(o.get('systolic_mmhg'), 0)}/{fmt(o.get('diastolic_mmhg'), 0)} mmHg",
             f"HR {fmt(o.get('heart_rate_bpm'), 0)}/min", f"SpO2 {fmt(o.get('spo2_pct'), 0)} %",
             f"RR {fmt(o.get('respiratory_rate_per_min'), 0)}/min", f"MOAA/S {o.get('moaas', '—')}"]
    effects = [f"{_words(s.get('code'))} ({s.get('severity')})" for s in o.get("side_effects") or []]
    return " · ".join(parts) + (" · side effects: " + ", ".join(effects) if effects else "")


def rate_text(change: RateChange) -> str:
    mg = f"{fmt(change.old_mg_per_h)} → {fmt(change.new_mg_per_h)} mg/h"
    ml = f"{fmt(change.old_ml_per_h)} → {fmt(change.new_ml_per_h)} mL/h"
    per_kg = (f" ({fmt(change.old_mg_per_kg_per_h, 3)} → {fmt(change.new_mg_per_kg_per_h, 3)} mg/kg/h)"
              if change.new_mg_per_kg_per_h is not None else "")
    text = f"{ml} · {mg}{per_kg} · reason: {change.reason}"
    return text + (f" · soft limit overridden: {change.override}" if change.override else "")


def correction_text(correction: Mapping[str, Any]) -> str:
    if not correction:
        return "no values changed"
    return "; ".join(f"{_words(k)}: {_words(v) if isinstance(v, str) else fmt(v, 2) if isinstance(v, int | float) else v}"
                     for k, v in correction.items())


def _text(event: EventRow, changes: Mapping[int, RateChange]) -> str:
    p = event.payload
    kind = event.kind
    if kind == "vitals":
        return vitals_text(p.get("observation") or {})
    if kind == "rate_change":
        change = changes.get(event.id)
        return rate_text(change) if change else f"{fmt(p.get('rate_ml_per_h'))} mL/h · reason: {p.get('reason')}"
    if kind == "side_effect":
        return f"{_words(p.get('code'))} ({p.get('severity')})" + (f" · {p['note']}" if p.get("note") else "")
    if kind == "medication":
        text = f"{p.get('drug')} {fmt(p.get('dose'), 2)} {p.get('unit')} {str(p.get('route', '')).upper()}"
        text += f" · lot {p['lot_number']}" if p.get("lot_number") else ""  # a PRN dose may have none (issue 14)
        if p.get("prn"):
            text += f" · PRN dose {p['prn'].get('number')} of {p['prn'].get('of_max')}"
        return text + (f" · reason: {p['reason']}" if p.get("reason") else "")
    if kind == "alert_ack":
        return f"{_words(p.get('alert_code'))}: {p.get('action_taken')}"
    if kind == "note":
        return str(p.get("text", ""))
    if kind == "amendment":
        return f"Corrects the {_words(p.get('amended_kind'))} entry: {correction_text(p.get('correction') or {})} · reason: {p.get('reason')}"
    if kind == "state_change":
        text = STATE_WORDS.get(str(p.get("to")), _words(p.get("to")))
        if p.get("weight_kg") is not None:
            text += f" · weight {fmt(p['weight_kg'])} kg"
        if p.get("reason"):
            text += f" · reason: {p['reason']}"
        return text
    if kind == "alert":
        return str(p.get("message", ""))
    return ", ".join(f"{k}: {v}" for k, v in p.items())


def record_lines(program: Mapping[str, Any] | None, events: Iterable[EventRow],
                 names: Mapping[int | None, str]) -> list[Line]:
    """Every event in time order; alerts carry their answer, amended events their corrections."""
    events = sorted(events, key=lambda e: (e.recorded_at, e.id))
    changes = {c_event.id: c for c_event, c in zip([e for e in events if e.kind == "rate_change"],
                                                    rate_changes(program, events, names), strict=True)}
    alert_lines = {a.event_id: a for a in alerts(events, names)}
    lines: dict[int, Line] = {}
    for event in events:
        lines[event.id] = Line(event.id, event.minute, event.recorded_at, event.kind, KIND_LABELS.get(event.kind, event.kind),
                               _text(event, changes), names.get(event.recorded_by, "—"),
                               alert=alert_lines.get(event.id), amends=event.amends_event_id)
    for event in events:
        if event.kind == "amendment" and event.amends_event_id in lines:
            lines[event.amends_event_id].corrections.append({
                "id": event.id, "at": event.recorded_at, "by": names.get(event.recorded_by, "—"),
                "reason": str(event.payload.get("reason", "")),
                "text": correction_text(event.payload.get("correction") or {}),
            })
    return list(lines.values())
