"""The printable record of one monitored session: what the chart holds about the visit, on paper.

It prints, from the stored rows only: the patient; the plan and protocol the pump program came
from (and who signed it); the weight on the day; the pre-infusion checklist with each item's
result and source; the pump program as snapshotted at the start (concentration, and for each step
mg/kg, mg, mg/h, mL/h, minutes; the ketamine lot); every event in time order
(:func:`ketaclinic.reports.session_facts.record_lines`) with each alert's level, message and
recommended action beside its acknowledgement (who, when, what was done); amendments beside the
original, the original struck through but never hidden; the ketamine the pump actually gave; the
discharge criteria (PADSS items, result, who discharged and when); and the signatures (who checked
in, started, stopped and discharged). The record is "as of" the moment it was produced: a session
still running prints what has happened so far.

A pure builder of a :class:`~ketaclinic.reports.snapshots.SessionRecordSnapshot`:
:mod:`ketaclinic.services.documents` loads it, lets physicians and nurses (the session console's
readers) print it, and audits every print (``report.session_record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any

from ketaclinic.clinical.dosing import program_weight_text
from ketaclinic.clinical.record import EventRow
from ketaclinic.reports.frame import frame_for
from ketaclinic.reports.letters import plan_summary
from ketaclinic.reports.lookup import Citations, identity, local
from ketaclinic.reports.pdf import Frame, render_html, render_pdf
from ketaclinic.reports.session_facts import ACTION_WORDS, fmt, record_lines, summarise
from ketaclinic.reports.snapshots import Names, SessionRecordSnapshot

TEMPLATE = "session_record.html"
PADSS_ITEMS = (("vital_signs", "Vital signs"), ("activity", "Activity"), ("nausea_vomiting", "Nausea, vomiting"),
               ("pain", "Pain"), ("bleeding", "Bleeding"))  # the modified PADSS of contract 4.7
# discharges recorded before 4.7 kept the original PADSS items
PADSS_ITEMS_V1 = (("vital_signs", "Vital signs"), ("activity_mental_status", "Activity and mental status"),
                  ("pain_nausea_vomiting", "Pain, nausea, vomiting"), ("bleeding", "Bleeding"),
                  ("intake_output", "Intake and output"))
STATE_WORDS = {"scheduled": "Scheduled", "checked_in": "Checked in", "running": "Infusion running",
               "observing": "Observing after the infusion", "discharged": "Discharged", "cancelled": "Cancelled"}


def _program_rows(program: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for step in program.get("program", []):
        kind = step.get("kind")
        if kind == "infusion":
            ordered = f"{fmt(step.get('rate_mg_per_kg_per_h'), 3)} mg/kg/h" if step.get("rate_mg_per_kg_per_h") else "—"
        else:
            ordered = f"{fmt(step.get('dose_mg_per_kg'), 3)} mg/kg" if step.get("dose_mg_per_kg") else "—"
        rows.append({"step": step.get("step"), "label": step.get("label") or kind, "kind": kind, "ordered": ordered,
                     "dose_mg": step.get("dose_mg"), "rate_mg_per_h": step.get("rate_mg_per_h"),
                     "rate_ml_per_h": step.get("rate_ml_per_h"), "duration_min": step.get("duration_min"),
                     "volume_ml": step.get("volume_ml"), "start_min": step.get("start_min")})
    return rows


def _signatures(events: list[EventRow], names: Names) -> list[dict[str, Any]]:
    """Who moved the session on, and when (from its state-change events)."""
    words = {"checked_in": "Checked in", "running": "Started the infusion", "observing": "Stopped the infusion",
             "discharged": "Discharged", "cancelled": "Cancelled"}
    return [{"what": words[str(e.payload.get("to"))], "by": names.get(e.recorded_by, "—"), "at": e.recorded_at}
            for e in events if e.kind == "state_change" and e.payload.get("to") in words]


def _discharge(record: Mapping[str, Any] | None, tz: tzinfo, cite: Citations) -> dict[str, Any] | None:
    if not record:
        return None
    padss = record.get("padss") or {}
    assessed = record.get("assessed_at")
    return {
        "ready": record.get("ready"),
        "criteria": [{**c, "cite": cite(c.get("source"))} for c in record.get("criteria") or []],
        "padss": [{"label": label, "score": padss.get(key)}
                  for key, label in (PADSS_ITEMS_V1 if "intake_output" in padss else PADSS_ITEMS)],
        "padss_total": padss.get("total", record.get("padss_total")), "padss_notes": padss.get("notes") or [],
        "minutes_since_stop": record.get("minutes_since_infusion_stopped"),
        "minimum_min": record.get("minimum_observation_min"),
        "assessed_at": local(datetime.fromisoformat(assessed), tz) if assessed else None,
    }


def session_record_document(snapshot: SessionRecordSnapshot) -> tuple[Frame, dict[str, Any]]:
    """The frame and what ``session_record.html`` prints, from the snapshot."""
    issue, patient, session, names = snapshot.issue, snapshot.patient, snapshot.session, snapshot.names
    now, tz = issue.now, issue.tz
    cite = Citations()
    plan = plan_summary(snapshot.plan)
    frame = frame_for(issue, title=f"Session record #{session.id}", generated_at=local(now, tz), patient_id=patient.id)
    events = [replace(e, recorded_at=local(e.recorded_at, tz)) for e in snapshot.events]
    started = session.pump_program is not None
    program = session.pump_program if started else snapshot.plan.pump_program
    summary = summarise(program, session.weight_kg, session.started_at, session.ended_at, events, names, now)
    lines = record_lines(program, events, names)
    for line in lines:
        if line.alert is not None:
            line.cite = cite(line.alert.source)
    checklist = session.checklist or {}
    checked_at = checklist.get("checked_at")
    context = {
        "patient": identity(patient, local(now, tz).date()),
        "session": {"id": session.id, "state": STATE_WORDS.get(session.state, session.state), "raw_state": session.state,
                  "scheduled_at": local(session.scheduled_at, tz), "started_at": local(session.started_at, tz),
                  "ended_at": local(session.ended_at, tz), "discharged_at": local(session.discharged_at, tz),
                  "weight_kg": session.weight_kg, "scheduled_by": names.get(session.created_by, "—")},
        "plan": plan,
        "program": {"started": started, "rows": _program_rows(program or {}),
                    "concentration_mg_per_ml": (program or {}).get("concentration_mg_per_ml"),
                    "weight_kg": (program or {}).get("weight_kg"), "total_mg": (program or {}).get("total_dose_mg"),
                    "dosed_for": program_weight_text(program),
                    "total_ml": (program or {}).get("total_volume_ml"),
                    "lot": (program or {}).get("ketamine_lot_number"),
                    "titration": ((program or {}).get("titration") or {}).get("description"),
                    "limits": (program or {}).get("limits") or []},
        "checklist": {"items": [{**i, "cite": cite(i.get("source"))} for i in checklist.get("items") or []],
                      "ready": checklist.get("ready"),
                      "checked_at": local(datetime.fromisoformat(checked_at), tz) if checked_at else None,
                      "facts": checklist.get("facts") or {}},
        "lines": lines,
        "summary": summary,
        "actions": ACTION_WORDS,
        "discharge": _discharge(session.discharge, tz, cite),
        "signatures": _signatures(events, names),
        "as_of": local(now, tz), "timezone": str(tz),
    }
    context["sources"] = cite.listing()
    return frame, context


def build_session_record(snapshot: SessionRecordSnapshot) -> bytes:
    """The monitored-session record as PDF bytes."""
    return render_pdf(TEMPLATE, *session_record_document(snapshot))


def build_session_record_html(snapshot: SessionRecordSnapshot) -> str:
    """The same record as HTML (what the PDF is drawn from; the markup shows what text cannot: the strike)."""
    return render_html(TEMPLATE, *session_record_document(snapshot))
