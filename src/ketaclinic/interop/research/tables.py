"""The six tables of a cohort with identifiers removed, dates shifted and small cells suppressed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from ketaclinic.interop.research.cells import (
    Suppression,
    age_band,
    age_in_years,
    session_count_band,
    suppress_small_cells,
    weight_band,
)
from ketaclinic.interop.research.cohort import (
    Cohort,
    DiaryRow,
    SessionRow,
    diary_day,
    first_session_day,
    local_day,
)
from ketaclinic.interop.research.dictionary import TABLES, typed_row
from ketaclinic.interop.research.doses import rounded, session_doses
from ketaclinic.interop.research.events import ExportEvent, corrected_events
from ketaclinic.interop.research.keys import Keys
from ketaclinic.interop.research.rules import (
    CONDITIONS,
    DEFAULT_K,
    MAX_K,
    MIN_K,
    OUTCOME_STATUSES,
    PROTOCOL_IDS,
    ROUTES,
    SCREENING_DECISIONS,
    SESSION_STATES,
    SEXES,
    CohortEmpty,
    CohortTooSmall,
)
from ketaclinic.interop.research.values import as_integer, as_number, checked, coded, plausible
from ketaclinic.pharmacology.regimen import MG_PER_UNIT

PROM_INSTRUMENTS = ("phq9", "gad7", "pgic")  # issue 15: the shipped instruments
PROM_CONTEXTS = ("baseline", "pre_course", "end_of_course", "monthly", "ad_hoc")
PROM_SEVERITIES = ("minimal", "mild", "moderate", "moderately_severe", "severe", "very_much_improved",
                   "much_improved", "minimally_improved", "no_change", "minimally_worse", "much_worse",
                   "very_much_worse")


@dataclass
class Dataset:
    tables: dict[str, list[dict[str, Any]]]
    suppression: Suppression
    blanked: dict[str, int] = field(default_factory=dict)  # "table.column" -> implausible values blanked


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round(max(0.0, (b - a).total_seconds() / 60), 1)


def deidentify(cohort: Cohort, keys: Keys, *, k: int = DEFAULT_K, as_of: datetime, tz: tzinfo = UTC) -> Dataset:
    """The six tables of ``cohort`` with identifiers removed, dates shifted and small cells suppressed.

    ``as_of`` is the moment the data stands at (a session without a stop time has given its doses
    until then); ``tz`` is the clinic's time zone (dates are its days). Raises
    :class:`CohortEmpty` for no patient and :class:`CohortTooSmall` for 1 to k-1 patients, or when
    small-cell suppression would remove every patient.
    """
    if not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be between {MIN_K} and {MAX_K}")
    if not cohort.patients:
        raise CohortEmpty()
    if len(cohort.patients) < k:
        raise CohortTooSmall(k)
    first = first_session_day(cohort.sessions, tz)
    session_count = Counter(s.patient_id for s in cohort.sessions)

    patients: list[dict[str, Any]] = []
    for p in cohort.patients:
        age = age_in_years(p.birth_date, first[p.patient_id]) if p.patient_id in first else None
        conditions = sorted({c for c in p.conditions if c in CONDITIONS})
        primary = p.conditions[0] if p.conditions and p.conditions[0] in CONDITIONS else None
        patients.append({
            "_pid": p.patient_id,
            "age_band": age_band(age) if age is not None else None,
            "sex": p.sex if p.sex in SEXES else "unknown",
            "condition": primary,
            "conditions": ";".join(conditions) or None,
            "session_count_band": session_count_band(session_count[p.patient_id]),
            "baseline_pain_nrs": p.baseline_pain_nrs,
            "screening_decision": coded(p.screening_decision, SCREENING_DECISIONS),
            "qi_suppressed": "none",
        })
    suppression = suppress_small_cells(patients, k)
    patients = [r for r in patients if r["qi_suppressed"] != "removed"]
    if not patients:
        raise CohortTooSmall(k)
    rid = {r["_pid"]: keys.research_id(r["_pid"]) for r in patients}
    if len(set(rid.values())) != len(rid):  # 64-bit ids: a collision is ~1e-12 for 10^4 patients, but never silent
        raise RuntimeError("research id collision: run the export again")
    shift = {pid: timedelta(days=keys.shift_days(pid)) for pid in rid}
    blanks: Counter[str] = Counter()
    for r in patients:
        pid = r.pop("_pid")
        r.pop("session_count_band")
        r["research_id"] = rid[pid]
        r["baseline_pain_nrs"] = checked("patients", "baseline_pain_nrs", r["baseline_pain_nrs"], blanks)

    # sessions, numbered per patient in time order
    kept_sessions = [s for s in cohort.sessions if s.patient_id in rid]
    by_patient: dict[int, list[SessionRow]] = {}
    for s in sorted(kept_sessions, key=lambda s: (s.started_at or s.scheduled_at, s.session_id)):
        by_patient.setdefault(s.patient_id, []).append(s)
    number = {s.session_id: (pid, n) for pid, rows in by_patient.items() for n, s in enumerate(rows, start=1)}
    sessions_by_id = {s.session_id: s for s in kept_sessions}

    def dosing_weight(s: SessionRow) -> float | None:
        weight = as_number(s.weight_kg) or as_number((s.pump_program or {}).get("weight_kg"))
        return weight if weight is not None and plausible("weight_kg", weight) else None

    weight_of = {s.session_id: dosing_weight(s) for s in kept_sessions}

    events_by_session: dict[int, list[ExportEvent]] = {}
    for item in corrected_events((e for e in cohort.events if e.session_id in sessions_by_id), weight_of, blanks):
        events_by_session.setdefault(item.event.session_id, []).append(item)

    sessions: list[dict[str, Any]] = []
    doses: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for session_id, (pid, n) in number.items():
        s = sessions_by_id[session_id]
        keyed = {"research_id": rid[pid], "session_no": n}
        happened = events_by_session.get(session_id, [])
        given: list[dict[str, Any]] = []
        if s.started_at is not None:
            timed = [item for item in happened if not item.minute_blanked]  # a slip in the minute: not placed
            changes = [(item.minute or 0.0, item.rows[0]["rate_mg_per_h"], item.amended) for item in timed
                       if item.event.kind == "rate_change" and item.rows[0]["rate_mg_per_h"] is not None]
            extra = []
            for item in timed:
                row = item.rows[0]
                if item.event.kind == "medication" and row["drug"] == "ketamine" and row["dose_unit"] in MG_PER_UNIT \
                        and row["dose"] is not None:
                    extra.append((item.minute or 0.0, row["dose"] * MG_PER_UNIT[row["dose_unit"]],
                                  row["route"] or "iv", item.amended))
            stop = _minutes(s.started_at, s.ended_at or as_of)
            given = session_doses(s.pump_program, weight_kg=weight_of[session_id], rate_changes=changes,
                                  extra_boluses=extra, stopped_at_min=stop)
        doses += [{**keyed, "dose_no": i, **row} for i, row in enumerate(given, start=1)]
        program = s.pump_program or {}
        weight = as_number(s.weight_kg)
        if weight is not None and not plausible("weight_kg", weight):
            blanks["sessions.weight_band"] += 1
            weight = None
        sessions.append({
            **keyed,
            "day": local_day(s.started_at or s.scheduled_at, tz) + shift[pid],
            "protocol_id": coded(program.get("protocol") or s.protocol_id, PROTOCOL_IDS),
            "route": coded(program.get("route"), ROUTES),
            "state": coded(s.state, SESSION_STATES),
            "weight_band": weight_band(weight) if weight is not None else None,
            "infusion_min": _minutes(s.started_at, s.ended_at),
            "observation_min": _minutes(s.ended_at, s.discharged_at),
            "planned_dose_mg": checked("sessions", "planned_dose_mg", program.get("total_dose_mg"), blanks),
            "given_dose_mg": round(sum(r["dose_mg"] or 0.0 for r in given), 2) if s.started_at is not None else None,
        })
        event_no = 0
        for item in happened:
            for fields in item.rows:
                event_no += 1
                events.append({**_blank_event(), **keyed, "event_no": event_no, "minute": rounded(item.minute, 2),
                               "kind": item.event.kind, "with_vitals": False, **fields, "amended": item.amended})

    diary: list[dict[str, Any]] = []
    for d in effective_diary(e for e in cohort.diary if e.patient_id in rid):
        u = d.urinary_symptoms or {}
        diary.append({
            "research_id": rid[d.patient_id], "day": diary_day(d) + shift[d.patient_id],
            **{name: checked("diary", name, getattr(d, name), blanks, integer=True)
               for name in ("pain_nrs", "mood", "sleep", "function")},
            "mme_per_day": as_number(d.mme_per_day),
            **{name: u.get(name) is True for name in ("bladder_pain", "blood_in_urine")},
            "urinary_frequency": u.get("frequency") is True, "urinary_urgency": u.get("urgency") is True,
            "amended": d.amends_id is not None,
        })

    questionnaires = [{  # issue 15: shipped instruments only, scored totals (no item answers, no free text)
        "research_id": rid[q.patient_id], "day": local_day(q.completed_at, tz) + shift[q.patient_id],
        "instrument": coded(q.instrument, PROM_INSTRUMENTS), "context": coded(q.context, PROM_CONTEXTS),
        "total": as_integer(q.total), "severity": coded(q.severity, PROM_SEVERITIES),
        "prorated": bool(q.prorated), "self_harm_item": bool(q.self_harm_item)}
        for q in cohort.questionnaires if q.patient_id in rid and q.instrument in PROM_INSTRUMENTS]

    outcomes = []
    for o in cohort.outcomes:
        if o.patient_id not in rid:
            continue
        baseline = checked("outcomes", "baseline_nrs", o.baseline_nrs, blanks)
        followup = checked("outcomes", "followup_nrs", o.followup_nrs, blanks)
        sound = (baseline is not None or o.baseline_nrs is None) and (followup is not None or o.followup_nrs is None)
        outcomes.append({  # a reduction computed from an implausible score is blanked with it
            "research_id": rid[o.patient_id], "status": coded(o.status, OUTCOME_STATUSES),
            "baseline_nrs": baseline,
            "course_end_day": o.course_end + shift[o.patient_id] if o.course_end is not None else None,
            "followup_nrs": followup, "followup_entries": as_integer(o.followup_entries),
            "reduction_pct": as_number(o.reduction_pct) if sound else None,
            "reduction_points": as_number(o.reduction_points) if sound else None,
            "responder_30": o.responder_30 if sound else None, "responder_50": o.responder_50 if sound else None,
            "two_point": o.two_point if sound else None,
            "durability_days": as_number(o.durability_days), "relief_lost": o.relief_lost,
        })

    tables = {
        "patients": sorted(patients, key=lambda r: r["research_id"]),
        "sessions": sorted(sessions, key=lambda r: (r["research_id"], r["session_no"])),
        "doses": sorted(doses, key=lambda r: (r["research_id"], r["session_no"], r["dose_no"])),
        "events": sorted(events, key=lambda r: (r["research_id"], r["session_no"], r["event_no"])),
        "diary": sorted(diary, key=lambda r: (r["research_id"], r["day"])),
        "outcomes": sorted(outcomes, key=lambda r: r["research_id"]),
        "questionnaires": sorted(questionnaires, key=lambda r: (r["research_id"], r["day"], r["instrument"])),
    }
    for name, rows in tables.items():
        tables[name] = [typed_row(name, row) for row in rows]
    return Dataset(tables, suppression, dict(sorted((key, n) for key, n in blanks.items() if n)))


def _blank_event() -> dict[str, Any]:
    return {c.name: None for c in TABLES["events"]}


def effective_diary(entries: Iterable[DiaryRow]) -> list[DiaryRow]:
    """As the outcomes count it: amended entries replaced by their correction, the last entry of a day kept."""
    entries = list(entries)
    replaced = {e.amends_id for e in entries if e.amends_id is not None}
    by_day: dict[tuple[int, date], DiaryRow] = {}
    for e in sorted(entries, key=lambda e: (e.recorded_at, e.entry_id)):
        if e.entry_id not in replaced:
            by_day[(e.patient_id, diary_day(e))] = e
    return list(by_day.values())
