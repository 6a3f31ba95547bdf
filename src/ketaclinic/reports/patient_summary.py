"""The patient's summary: their treatment and how they have been since, in plain words, as a PDF.

Written for the patient (the portal's "Download my summary"), and printed by physicians and nurses
to hand over. Short sentences, everyday words, numbers explained where they appear: "pain score
(0 = no pain, 10 = worst pain imaginable)", not NRS; a "responder" explained as the share by
which pain fell. What it holds:

- **the treatment**: each completed session's date, how the medicine was given, how long the
  drip ran and the amount of ketamine it delivered (the program with the nurse's rate changes and
  the stop; mg/kg is left out), and the total;
- **how things changed**, from the diary: the average pain, mood, sleep, daily activities and
  opioid painkillers (as mg of morphine a day, CDC 2022 factors) in the 4 weeks before the first
  session against the last 4 weeks of diary after it, the pain diary as a chart, and the
  response after the course as the outcomes service measures it (IMMPACT, ``immpact2008``);
- **what happens next**: the next booked session, or the booster advice of
  :mod:`ketaclinic.services.follow_up` (in the snapshot); the safety checks due (the clinic's risk-check rules);
- **when to call the clinic**: only symptoms the clinic's own rules act on (:data:`WHEN_TO_CALL`,
  each with the rule and source behind it);
- that it is a summary of the records, not medical advice, and that questions go to the care team.

A pure builder of a :class:`~ketaclinic.reports.snapshots.PatientSummarySnapshot`:
:mod:`ketaclinic.services.documents` loads it, lets physicians, nurses and the patient themselves read
it (anyone else's chart answers 404, exactly like every chart read) and audits every generation
(``report.patient_summary``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from statistics import fmean
from typing import Any

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.follow_up import OpioidDose, daily_mme
from ketaclinic.clinical.outcomes import (
    MODERATE_REDUCTION_PCT,
    SUBSTANTIAL_REDUCTION_PCT,
    adverse_event_summary,
    classify_response,
)
from ketaclinic.clinical.protocols import UnknownProtocolError, get_protocol
from ketaclinic.clinical.record import EventRow, rate_changes_given
from ketaclinic.evidence.sources import CLINIC_POLICY, get_source, ref
from ketaclinic.pharmacology.regimen import mg_as_given
from ketaclinic.reports.frame import frame_for
from ketaclinic.reports.pdf import Frame, render_pdf, svg_data_uri
from ketaclinic.reports.questionnaires import prom_context
from ketaclinic.reports.snapshots import (
    CourseFacts,
    DiaryDay,
    FollowUpFacts,
    PatientSummarySnapshot,
    SessionSnapshot,
)

TEMPLATE = "patient_summary.html"
TITLE = "Treatment summary"  # the page header; the page itself says "Your treatment summary"
WINDOW_DAYS = 28  # "before the course" and "the last weeks": four weeks of diary each
UPCOMING = ("scheduled", "checked_in")


@dataclass(frozen=True)
class CallReason:
    """A symptom the clinic wants to hear about, in the patient's words, and the rule behind it."""

    symptoms: str
    why: str
    rules: tuple[str, ...]  # rule codes in docs/clinical-rules.md
    source: str


#: When to call the clinic: only what the clinic's own rules act on (docs/clinical-rules.md).
WHEN_TO_CALL: tuple[CallReason, ...] = (
    CallReason("Blood in your urine, pain or burning when you pass urine, pain in your bladder, or needing to pass "
               "urine much more often or more urgently than usual.",
               "Ketamine can irritate the bladder. The clinic stops ketamine and checks your urine when this happens.",
               ("urinary_symptoms",), ref("chan2022_uropathy")),
    CallReason("Seeing or hearing things that are not there, feeling strange or cut off from yourself, or confusion "
               "that has not gone away by the morning after a session.",
               "These feelings should wear off within hours. You should only go home once they have.",
               ("dissociation_unresolved", "psychomimetic_distress"), ref(CLINIC_POLICY)),
    CallReason("Chest pain, a pounding or racing heartbeat, or a sudden severe headache.",
               "Ketamine can raise blood pressure and heart rate. The clinic watches both during every session.",
               ("bp_critical", "bp_rise_from_baseline", "tachycardia"), ref("spravato_label_bp")),
    CallReason("Yellow skin or eyes, very dark urine, or pain in the upper right side of your belly.",
               "Rarely, repeated courses of ketamine have affected the liver. The clinic checks liver blood tests "
               "before some repeat courses.",
               ("liver_tests",), ref("noppers2011")),
)

#: Side effects in everyday words (codes from the monitoring rules).
SIDE_EFFECT_WORDS = {
    "nausea": "feeling sick", "vomiting": "being sick", "dizziness": "dizziness", "blurred_vision": "blurred vision",
    "headache": "headache", "fatigue": "tiredness", "dissociation": "feeling detached or 'floaty'",
    "hallucinations": "seeing or hearing things that were not there", "vivid_dreams": "vivid dreams",
    "anxiety": "feeling anxious", "hypersalivation": "extra saliva", "nystagmus": "jerky eye movements",
}
ROUTE_WORDS = {"oral": "by mouth", "intranasal": "as a nasal spray", "im": "as an injection into a muscle"}
CHECK_WORDS = {
    "liver_tests": "A blood test of your liver is needed before your next course",
    "misuse_check": "A routine review of your pain medicines is due (the clinic does this every 3 months for "
                    "everyone)",
    "cognition_check": "A short memory and concentration check is due (every 3 months)",
}


# --------------------------------------------------------------------------- plain words


def how_given(route: str, kinds: list[str]) -> str:
    """How the medicine went in, in words, from the protocol's route and the program's step kinds."""
    if route != "iv":
        return ROUTE_WORDS.get(route, route)
    if "bolus" in kinds and "infusion" in kinds:
        return "a small first dose injected slowly into a vein, then a slow drip into the vein"
    if "infusion" in kinds:
        return "a slow drip into a vein"
    return "slow injections into a vein"


def change_words(before: float | None, after: float | None, *, lower_is_better: bool, unit: str = "") -> str:
    """"2 points lower: better" — the change in a measure, and whether that is good for the patient."""
    if before is None or after is None:
        return "Not enough diary entries to compare."
    diff = round(after - before, 1)
    if abs(diff) < 0.5:
        return "About the same."
    amount = f"{abs(diff):g}{unit}"
    direction = "lower" if diff < 0 else "higher"
    better = (diff < 0) == lower_is_better
    return f"{amount} {direction}: {'better' if better else 'worse'}."


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None


def _mme(doses: Iterable[Any] | None) -> float:
    if not doses:
        return 0.0
    return daily_mme([OpioidDose.model_validate(d) for d in doses]).total_mme_per_day


@dataclass(frozen=True)
class Window:
    label: str
    first: date | None
    last: date | None
    days: int
    pain: float | None
    mood: float | None
    sleep: float | None
    function: float | None
    mme: float | None


def window_of(label: str, entries: list[DiaryDay]) -> Window:
    def avg(name: str) -> float | None:
        return _mean([float(getattr(e, name)) for e in entries if getattr(e, name) is not None])

    return Window(label, entries[0].recorded_at.date() if entries else None,
                  entries[-1].recorded_at.date() if entries else None, len(entries), avg("pain_nrs"), avg("mood"),
                  avg("sleep"), avg("function"), _mean([_mme(e.opioid_doses) for e in entries]))


# --------------------------------------------------------------------------- gathering


def _local(moment: datetime | None, tz: tzinfo) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz)


def _sessions(sessions: Iterable[SessionSnapshot], events: Iterable[EventRow],
              tz: tzinfo) -> tuple[list[dict[str, Any]], list[SessionSnapshot]]:
    """The completed sessions as the summary lists them, and the booked ones still to come."""
    sessions = list(sessions)
    discharged = {session.id for session in sessions if session.state == "discharged"}
    by_session: dict[int, list[EventRow]] = {}
    for event in events:
        if event.session_id in discharged and event.kind in ("rate_change", "amendment"):
            by_session.setdefault(event.session_id, []).append(event)
    changes = {sid: rate_changes_given(rows) for sid, rows in by_session.items()}
    done: list[dict[str, Any]] = []
    upcoming: list[SessionSnapshot] = []
    for session in sessions:
        if session.state in UPCOMING:
            upcoming.append(session)
        if session.state != "discharged":
            continue
        program = session.pump_program or {}
        try:
            route = get_protocol(session.protocol_id or "").route
        except UnknownProtocolError:
            route = "iv"
        started, ended = _local(session.started_at, tz), _local(session.ended_at, tz)
        minutes = (ended - started).total_seconds() / 60 if started and ended else None
        done.append({"id": session.id, "day": (started or _local(session.scheduled_at, tz)).date(),  # type: ignore[union-attr]
                     "how": how_given(route, [s.get("kind") for s in program.get("program", [])]),
                     "minutes": minutes, "given_mg": given_mg(program, changes.get(session.id, []), minutes)})
    return done, upcoming


def given_mg(program: Mapping[str, Any], rate_changes: list[tuple[float, float]],
             stopped_at_min: float | None) -> float | None:
    """The ketamine a session delivered: the program with the nurse's rate changes and the stop
    (:func:`ketaclinic.pharmacology.regimen.doses_as_given`, what the session console draws); the
    program's planned total when it cannot be worked out."""
    try:
        return round(mg_as_given(program.get("program", []), rate_changes, stopped_at_min), 1)
    except (ValueError, KeyError, TypeError):
        planned = program.get("total_dose_mg")
        return float(planned) if planned is not None else None


def _duration_words(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    if minutes < 90:
        return f"about {round(minutes / 5) * 5:g} minutes"
    hours = round(minutes / 30) / 2
    return f"about {hours:g} hour{'s' if hours != 1 else ''}"


def _condition_names(screening_input: Mapping[str, Any] | None) -> list[str]:
    pain = (screening_input or {}).get("pain") or {}
    names = []
    for code in pain.get("conditions") or []:
        condition = CONDITIONS.get(code)
        names.append(condition.name if condition else str(code).replace("_", " "))
    return names


def _response(course: CourseFacts | str) -> dict[str, Any] | None:
    """The response after the course in words (IMMPACT thresholds), or None when the diary is too short."""
    if isinstance(course, str) or course.followup_nrs is None:
        return None
    r = classify_response(course.baseline_nrs, course.followup_nrs)
    pct = int(r.reduction_pct + 0.5)  # a whole percentage for a reader; the class uses the exact value
    if r.responder_50:
        verdict = (f"Your pain fell by half or more ({pct} %). Doctors call this a large improvement: "
                   "you count as a \"responder\".")
    elif r.responder_30:
        verdict = (f"Your pain fell by about a third or more ({pct} %). Doctors call this a worthwhile "
                   "improvement: you count as a \"responder\".")
    elif r.reduction_pct > 0:
        verdict = (f"Your pain fell by {pct} %. That is less than the fall of about a third that doctors "
                   "call a worthwhile improvement.")
    else:
        verdict = "Your pain did not fall after the course."
    durability = None
    if course.durability is not None:
        days = int(course.durability.duration_days)
        durability = (f"Your relief lasted about {days} days after the course, then your pain came back to near "
                      "where it started." if course.durability.event_observed else
                      f"Your relief was still there at your last diary entry, {days} days after the course.")
    return {"baseline": course.baseline_nrs, "followup": course.followup_nrs, "days": course.followup_days,
            "course_end": course.course_end, "reduction_pct": r.reduction_pct, "verdict": verdict,
            "durability": durability}


def _pain_chart(entries: list[DiaryDay], session_days: list[date], baseline: float | None) -> str | None:
    if len(entries) < 2:
        return None
    from ketaclinic.charts import pain_trend_chart, to_svg

    points = [{"day": e.recorded_at.date().isoformat(), "pain_nrs": e.pain_nrs} for e in entries]
    chart = pain_trend_chart(points, [d.isoformat() for d in session_days], width=600, height=150,
                             baseline_nrs=baseline)
    chart = chart.configure_axisX(labelOverlap="greedy", tickCount=8, labelAngle=0)
    return svg_data_uri(to_svg(chart))


def _next_steps(follow_up: FollowUpFacts, upcoming: list[SessionSnapshot], done: list[dict[str, Any]], today: date,
                tz: tzinfo) -> dict[str, Any]:
    booked = [when for when in (_local(v.scheduled_at, tz) for v in upcoming) if when and when.date() >= today]
    if booked:
        when = booked[0]
        next_text = (f"Your next session is booked for {when:%A %d %B %Y} at {when:%H:%M}. "
                     "Come with someone who can take you home: you must not drive until the next day, after a "
                     "night's sleep.")
    elif not done:
        next_text = "No session has been booked yet. The clinic will contact you."
    elif follow_up.booster_due:
        next_text = ("Your diary shows that your pain relief has worn off over the last week. A top-up session "
                     "(a \"booster\") may help. The clinic will contact you, or call to talk about it; your doctor "
                     "decides with you.")
    else:
        next_text = ("No session is booked. Keep filling in your diary: if your pain comes back and stays back for "
                     "a week, the clinic can offer a top-up session (a \"booster\").")
        if follow_up.earliest_booster_day and follow_up.earliest_booster_day > today:
            next_text += (f" A booster is not given before {follow_up.earliest_booster_day:%d %B %Y}, "
                          "two weeks after your last session.")
    checks: list[str] = []
    for check in follow_up.checks:
        if check.code == "urinary_symptoms":
            if check.overdue:
                checks.append("You reported bladder symptoms in your diary. The clinic will talk to you about them "
                              "before you have any more ketamine.")
            checks.append("At every visit we ask about your bladder: passing urine more often, sudden urges, "
                          "bladder pain or blood in your urine.")
        elif check.due and check.code in CHECK_WORDS:
            when = f" (by {check.due_on:%d %B %Y})" if check.code == "liver_tests" and check.due_on else ""
            checks.append(CHECK_WORDS[check.code] + when + ".")
    return {"text": next_text, "checks": checks}


def _side_effects(events: Iterable[EventRow], session_ids: list[int]) -> list[str]:
    if not session_ids:
        return []
    ids = set(session_ids)
    summary = adverse_event_summary([e for e in events if e.session_id in ids
                                     and e.kind in ("side_effect", "vitals", "amendment")])
    out = []
    for c in summary.side_effects:
        if c.sessions:
            out.append(f"{c.severity} {SIDE_EFFECT_WORDS.get(c.code, c.code.replace('_', ' '))} "
                       f"({c.sessions} session{'s' if c.sessions != 1 else ''})")
    return out


def _windows(entries: list[DiaryDay], first_day: date | None) -> tuple[Window | None, Window | None]:
    """The 4 weeks of diary before the first session and the last 4 weeks after it (None before any session)."""
    if first_day is None:
        return None, None
    before_entries = [e for e in entries if first_day - timedelta(days=WINDOW_DAYS) <= e.recorded_at.date() < first_day]
    since = [e for e in entries if e.recorded_at.date() > first_day]
    last = since[-1].recorded_at.date() if since else None
    after_entries = [e for e in since if last and e.recorded_at.date() > last - timedelta(days=WINDOW_DAYS)]
    return window_of("before", before_entries), window_of("after", after_entries)


def summary_counts(snapshot: PatientSummarySnapshot) -> tuple[int, int]:
    """How many sessions the summary lists, and how many diary days its "after" column averages."""
    today = snapshot.issue.now.astimezone(snapshot.issue.tz).date()
    done, _ = _sessions(snapshot.sessions, snapshot.events, snapshot.issue.tz)
    entries = [e for e in snapshot.diary if e.recorded_at.date() <= today]
    _, after = _windows(entries, done[0]["day"] if done else None)
    return len(done), after.days if after else 0


def summary_context(snapshot: PatientSummarySnapshot) -> dict[str, Any]:
    """Everything the template shows, from the snapshot of one patient's records."""
    patient, now, tz = snapshot.patient, snapshot.issue.now, snapshot.issue.tz
    today = now.astimezone(tz).date()
    done, upcoming = _sessions(snapshot.sessions, snapshot.events, tz)
    entries = [e for e in snapshot.diary if e.recorded_at.date() <= today]
    session_days = [s["day"] for s in done]
    first_day = session_days[0] if session_days else None
    baseline_nrs = ((snapshot.screening_input or {}).get("pain") or {}).get("nrs_now")
    before, after = _windows(entries, first_day)
    course, follow_up = snapshot.course, snapshot.follow_up
    given = [s["given_mg"] for s in done if s["given_mg"] is not None]
    rows = []
    if before is not None and after is not None:
        pain_before = before.pain if before.pain is not None else (float(baseline_nrs) if baseline_nrs else None)
        rows = [
            {"what": "Pain score", "scale": "0 = no pain, 10 = worst pain imaginable", "before": pain_before,
             "after": after.pain, "change": change_words(pain_before, after.pain, lower_is_better=True, unit=" points")},
            {"what": "Mood", "scale": "0 = worst, 10 = best", "before": before.mood, "after": after.mood,
             "change": change_words(before.mood, after.mood, lower_is_better=False, unit=" points")},
            {"what": "Sleep", "scale": "0 = worst, 10 = best", "before": before.sleep, "after": after.sleep,
             "change": change_words(before.sleep, after.sleep, lower_is_better=False, unit=" points")},
            {"what": "Daily activities", "scale": "0 = worst, 10 = best", "before": before.function,
             "after": after.function,
             "change": change_words(before.function, after.function, lower_is_better=False, unit=" points")},
        ]
        took_opioids = any(_mme(e.opioid_doses) for e in entries)
        if took_opioids:
            rows.append({"what": "Opioid painkillers", "scale": "as mg of morphine a day", "before": before.mme, "after": after.mme,
                         "change": change_words(before.mme, after.mme, lower_is_better=True, unit=" mg a day")})
    return {
        "name": f"{patient.given_name} {patient.family_name}",
        "birth_date": patient.birth_date,
        "today": today,
        "conditions": _condition_names(snapshot.screening_input),
        "assessment_nrs": baseline_nrs,
        "sessions": [{**s, "duration": _duration_words(s["minutes"])} for s in done],
        "total_mg": round(sum(given)) if given else None,
        "side_effects": _side_effects(snapshot.events, [s["id"] for s in done]),
        "before": before,
        "after": after,
        "rows": rows,
        "response": _response(course),
        "follow_up_days": snapshot.follow_up_days,
        "moderate_pct": MODERATE_REDUCTION_PCT,
        "substantial_pct": SUBSTANTIAL_REDUCTION_PCT,
        "chart": _pain_chart(entries, session_days, float(baseline_nrs) if baseline_nrs else None),
        "questionnaires": prom_context(snapshot.questionnaires),  # issue 15
        "questionnaires_title": "Your questionnaires",
        "next": _next_steps(follow_up, upcoming, done, today, tz),
        "when_to_call": WHEN_TO_CALL,
        "sources": [get_source(s).citation() for s in dict.fromkeys(
            [ref("immpact2008"), ref("cdc2022_opioids"), *(r.source for r in WHEN_TO_CALL)]) if s != CLINIC_POLICY],
    }


def patient_summary_document(snapshot: PatientSummarySnapshot) -> tuple[Frame, dict[str, Any]]:
    """The frame and what ``patient_summary.html`` prints, from the snapshot."""
    frame = frame_for(snapshot.issue, title=TITLE, patient_id=snapshot.patient.id)
    return frame, summary_context(snapshot)


def build_patient_summary(snapshot: PatientSummarySnapshot) -> bytes:
    """The patient's summary as PDF bytes."""
    return render_pdf(TEMPLATE, *patient_summary_document(snapshot))
