"""Letters to the referring physician: after the evaluation, and after a course.

Both are addressed to the physician named on the patient's record (``referring_physician`` and
``referring_physician_contact``; "Dear colleague" when none is recorded), identify the patient
(name, date of birth, clinic number), and cite each clinical statement briefly, with the full
references at the end.

- **Evaluation letter** (:func:`build_evaluation_letter`): the diagnosis with its ICD-10-CM codes
  (:mod:`ketaclinic.clinical.conditions`), the screening decision with every finding, its reason
  and its source exactly as the stored screening result gives them (the result the physician
  signed, never a re-run), the signed plan made from this evaluation (protocol, dose per kg, mg
  per session, duration, sessions in the series), what happens next, and the signature of the
  physician who signed the evaluation. A draft evaluation gives a letter marked
  "DRAFT — NOT SIGNED" on every page.
- **Course letter** (:func:`build_course_letter`): a three-line summary, then the sessions given
  (ketamine as the pump ran it, duration, rate changes, side effects, alerts and what was done;
  :mod:`ketaclinic.reports.session_facts`), pain and daily activities before and after
  (baseline = the evaluation's NRS, follow-up = the diary in the 28 days after the course;
  :func:`ketaclinic.services.outcomes.patient_course`, in the snapshot; IMMPACT responder classes from
  :func:`ketaclinic.clinical.outcomes.classify_response`), opioid use in MME per day from the
  diary (CDC 2022 factors, :func:`ketaclinic.clinical.follow_up.daily_mme`), and the clinic's
  recommendation: booster advice, follow-on therapy and the long-term risk checks due
  (:mod:`ketaclinic.services.follow_up`, in the snapshot). Missing data are named, never left blank.

Pure builders: :mod:`ketaclinic.services.documents` loads the snapshot
(:class:`~ketaclinic.reports.snapshots.EvaluationLetterSnapshot`,
:class:`~ketaclinic.reports.snapshots.CourseLetterSnapshot`), decides who may read a letter (physicians
and nurses; a patient their own once signed) and audits it (``report.letter.evaluation`` /
``report.letter.course``); these functions only turn the snapshot into the letter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from statistics import mean
from typing import Any

from ketaclinic.clinical.conditions import ConditionId, CrpsDetail, get_condition, icd10cm_for
from ketaclinic.clinical.dosing import program_dosing_weight_kg, program_weight_text
from ketaclinic.clinical.follow_up import OpioidDose, UnknownOpioidError, daily_mme
from ketaclinic.clinical.outcomes import MODERATE_REDUCTION_PCT, SUBSTANTIAL_REDUCTION_PCT, classify_response
from ketaclinic.clinical.protocols import UnknownProtocolError, get_protocol
from ketaclinic.clinical.record import EventRow
from ketaclinic.evidence.sources import CLINIC_POLICY
from ketaclinic.reports.frame import frame_for
from ketaclinic.reports.lookup import Citations, identity, local
from ketaclinic.reports.pdf import Frame, render_pdf, svg_data_uri
from ketaclinic.reports.questionnaires import prom_context
from ketaclinic.reports.session_facts import ACTION_WORDS, SessionSummary, fmt, summarise
from ketaclinic.reports.snapshots import (
    CourseFacts,
    CourseLetterSnapshot,
    EvaluationLetterSnapshot,
    FollowUpWindow,
    PatientIdentity,
    PlanSnapshot,
    SessionSnapshot,
)

LETTER_TITLE = "Letter to the referrer"  # the running header and the PDF's title
EVALUATION_TEMPLATE = "letter_evaluation.html"
COURSE_TEMPLATE = "letter_course.html"
PRE_COURSE_DAYS = 28  # the diary window before the first session that "before" is read from (clinic policy)
DECISION_WORDS = {
    "eligible": "Eligible",
    "eligible_with_precautions": "Eligible with precautions",
    "not_eligible": "Not eligible",
}
KIND_WORDS = {"contraindication": "Contraindication", "unmet_requirement": "Requirement not met",
              "precaution": "Precaution", "note": "Note"}
TREATMENT_WORDS = {"physical_therapy": "physiotherapy", "nsaid": "NSAID", "spinal_cord_stimulator": "spinal cord stimulator"}


def _words(code: Any) -> str:
    return str(code or "").replace("_", " ")


def _days_between(first: date, last: date) -> str:
    return first.strftime("%d %b %Y") if first == last else f"{first.strftime('%d %b')} – {last.strftime('%d %b %Y')}"


# --- shared parts ----------------------------------------------------------------------------


def _protocol_name(protocol_id: str) -> str:
    try:
        return get_protocol(protocol_id).name
    except UnknownProtocolError:
        return _words(protocol_id)


def _step_text(step: dict[str, Any]) -> str:
    """One program step in a physician's words: ``maintenance infusion 0.5 mg/kg/h (34 mg/h) for 240 min``."""
    label = step.get("label") or step.get("kind")
    if step.get("kind") == "infusion":
        per_kg = f"{fmt(step.get('rate_mg_per_kg_per_h'), 3)} mg/kg/h " if step.get("rate_mg_per_kg_per_h") else ""
        return f"{label}: {per_kg}({fmt(step.get('rate_mg_per_h'))} mg/h) for {fmt(step.get('duration_min'), 0)} min"
    per_kg = f"{fmt(step.get('dose_mg_per_kg'), 3)} mg/kg " if step.get("dose_mg_per_kg") else ""
    over = f" over {fmt(step.get('duration_min'), 0)} min" if step.get("kind") == "bolus" and step.get("duration_min") else ""
    return f"{label}: {per_kg}({fmt(step.get('dose_mg'))} mg){over}"


def plan_summary(plan: PlanSnapshot) -> dict[str, Any]:
    """A signed plan as the letters (and the session record) state it."""
    program = plan.pump_program or {}
    steps = list(program.get("program", []))
    iv_minutes = sum(float(s.get("duration_min") or 0) for s in steps if s.get("kind") != "oral")
    series = plan.series_rule or {}
    interval = None
    if series.get("interval_days_min") is not None:
        low, high = fmt(series.get("interval_days_min"), 0), fmt(series.get("interval_days_max"), 0)
        interval = f"{low} day(s) apart" if low == high else f"{low}–{high} days apart"
    return {
        "id": plan.id, "protocol": _protocol_name(plan.protocol_id), "protocol_id": plan.protocol_id,
        "route": program.get("route", "iv"), "weight_kg": plan.weight_kg,
        "dosed_for": program_weight_text(program, plan.weight_kg), "profile": program.get("profile", "low_dose"),
        "concentration_mg_per_ml": plan.concentration_mg_per_ml, "steps": [_step_text(s) for s in steps],
        "total_mg": program.get("total_dose_mg"),
        "total_mg_per_kg": round(float(program["total_dose_mg"]) / dosing_kg, 2)
        if program.get("total_dose_mg") and (dosing_kg := program_dosing_weight_kg(program, plan.weight_kg)) else None,
        "duration_min": iv_minutes or None, "sessions": series.get("sessions"), "interval": interval,
        "series_source": series.get("source"),
        "signed_by": plan.signed_by, "signed_at": plan.signed_at,
        "overrides": [{"code": o.code, "message": o.message, "reason": o.reason, "by": o.by} for o in plan.overrides],
    }


def _referrer(patient: PatientIdentity) -> dict[str, Any]:
    name = (patient.referring_physician or "").strip()
    contact = (patient.referring_physician_contact or "").strip()
    return {"name": name or None, "contact_lines": [line.strip() for line in contact.splitlines() if line.strip()],
            "salutation": f"Dear {name}" if name else "Dear colleague"}


# --- the evaluation letter ------------------------------------------------------------------


def _diagnosis(screening_input: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    pain = screening_input.get("pain") or {}
    for code in pain.get("conditions") or []:
        try:
            condition = get_condition(code)
        except KeyError:
            out.append({"name": _words(code), "icd": [], "evidence": None})
            continue
        detail = CrpsDetail.of(pain.get("crps")) if condition.id is ConditionId.CRPS else None
        out.append({"name": condition.name + (f" ({detail.words()})" if detail and detail.words() else ""),
                    "icd": [{"code": c.code, "display": c.display} for c in icd10cm_for(code, pain)],
                    "evidence": {"level": _words(condition.evidence.level.value),
                                 "grade": str(condition.evidence.grade) if condition.evidence.grade else None,
                                 "source": condition.evidence.source}})
    return out


def _next_steps(decision: str | None, signed: bool, plan: dict[str, Any] | None, first_session: datetime | None,
                findings: list[dict[str, Any]]) -> list[str]:
    if not signed:
        return ["This letter is a draft: the evaluation has not been signed by a physician, and nothing in it is final."]
    if decision == "not_eligible":
        reasons = [f["message"] for f in findings if f["kind"] in ("contraindication", "unmet_requirement")]
        return ["We are not offering ketamine infusions at present"
                + (f" ({'; '.join(r.rstrip('.') for r in reasons[:2])})." if reasons else "."),
                "We have explained this to the patient. Their pain care stays with you; we are glad to assess again "
                "if the findings above change."]
    steps = []
    if plan:
        count = plan.get("sessions")
        series = ("one session" if count == 1 else f"a series of {count} sessions") if count else "sessions"
        steps.append(f"The patient starts {series} ({plan['protocol']})"
                     + (f", {plan['interval']}" if plan.get("interval") else "") + ".")
        if first_session is not None:
            steps.append(f"The first session is booked for {first_session.strftime('%d %b %Y at %H:%M')}.")
        steps.append("Each session is monitored (vital signs, sedation, side effects) with a physician available, and "
                     "the patient goes home with an escort. Please do not add or stop sedating medicines without "
                     "telling us.")
    else:
        steps.append("The treating physician will write and sign a treatment plan; the patient will be offered the "
                     "first session once it is signed.")
    if decision == "eligible_with_precautions":
        steps.append("The precautions above are checked again before and during every session.")
    steps.append("We will write again when the course ends, with pain, daily activities and opioid use before and after.")
    return steps


def evaluation_letter_document(snapshot: EvaluationLetterSnapshot) -> tuple[Frame, dict[str, Any]]:
    """The frame and what ``letter_evaluation.html`` prints, from the snapshot."""
    issue, patient, evaluation = snapshot.issue, snapshot.patient, snapshot.evaluation
    now, tz = issue.now, issue.tz
    cite = Citations()
    signed = evaluation.status == "signed"
    plan = plan_summary(snapshot.plan) if snapshot.plan is not None else None
    frame = frame_for(issue, title=LETTER_TITLE, generated_at=local(now, tz), patient_id=patient.id)
    screening_input = evaluation.screening_input or {}
    result = evaluation.screening_result or {}
    decision = result.get("decision")
    findings = [{"kind": f.get("kind"), "kind_words": KIND_WORDS.get(f.get("kind"), _words(f.get("kind"))),
                 "code": f.get("code"), "message": f.get("message"), "source": f.get("source"),
                 "cite": cite(f.get("source"))} for f in result.get("findings") or []]
    diagnosis = _diagnosis(screening_input)
    for d in diagnosis:
        if d["evidence"]:
            d["evidence"]["cite"] = cite(d["evidence"]["source"])
    pain = screening_input.get("pain") or {}
    context = {
        "patient": identity(patient, local(now, tz).date()),
        "referrer": _referrer(patient),
        "letter_date": local(now, tz),
        "evaluation": {"id": evaluation.id, "status": evaluation.status, "signed": signed,
                       "assessed_at": local(evaluation.created_at, tz), "signed_at": local(evaluation.signed_at, tz),
                       "signed_by": evaluation.signed_by if signed else None,
                       "drafted_by": evaluation.drafted_by, "rule_version": evaluation.rule_version,
                       "amends_id": evaluation.amends_id,
                       "replaced_by": evaluation.replaced_by},
        "diagnosis": diagnosis,
        "pain": {"nrs_now": pain.get("nrs_now"), "duration_weeks": pain.get("duration_weeks"),
                 "prior_treatments": [TREATMENT_WORDS.get(t, _words(t)) for t in pain.get("prior_treatments") or []]},
        "medications": list(screening_input.get("medications") or []),
        "allergies": list(screening_input.get("allergies") or []),
        "vitals": screening_input.get("vitals") or {},
        "weight_kg": (screening_input.get("patient") or {}).get("weight_kg"),
        "decision": decision, "decision_words": DECISION_WORDS.get(decision or "", "Needs review (not screened)"),
        "findings": findings,
        "plan": plan, "plan_cite": cite(plan["series_source"]) if plan else "",
        "next_steps": _next_steps(decision, signed, plan, local(snapshot.first_session, tz), findings),
    }
    context["sources"] = cite.listing()
    return frame, context


def build_evaluation_letter(snapshot: EvaluationLetterSnapshot) -> bytes:
    """The letter to the referring physician after an evaluation, as PDF bytes."""
    return render_pdf(EVALUATION_TEMPLATE, *evaluation_letter_document(snapshot))


# --- the course letter ----------------------------------------------------------------------


@dataclass(frozen=True)
class WindowMeans:
    """The diary over a window of days: how many days, and the mean of each measure."""

    days: int
    pain: float | None
    function: float | None
    function_days: int
    mme: float | None  # mean MME/day over the days (a day without an opioid counts 0)
    opioid_days: int  # days with an opioid recorded


def _mme_of(doses: list[dict[str, Any]]) -> float:
    if not doses:
        return 0.0
    try:
        return daily_mme([OpioidDose.model_validate(d) for d in doses]).total_mme_per_day
    except (UnknownOpioidError, ValueError):
        return 0.0  # stored entries were checked when written; an unreadable one adds nothing


def window_means(by_day: dict[date, Any], first: date, last: date) -> WindowMeans:
    """The diary days from ``first`` to ``last`` (inclusive)."""
    days = [e for d, e in sorted(by_day.items()) if first <= d <= last]
    functions = [e.function for e in days if e.function is not None]
    mmes = [_mme_of(e.opioid_doses or []) for e in days]
    return WindowMeans(len(days), round(mean(e.pain_nrs for e in days), 1) if days else None,
                       round(mean(functions), 1) if functions else None, len(functions),
                       round(mean(mmes), 1) if days else None, sum(1 for m in mmes if m > 0))


def _session_line(session: SessionSnapshot, summary: SessionSummary, booster: bool, tz: tzinfo) -> dict[str, Any]:
    program = session.pump_program or {}
    return {
        "id": session.id, "day": local(session.started_at or session.scheduled_at, tz), "booster": booster,
        "protocol": _protocol_name(str(program.get("protocol", ""))).split(",")[0] if program.get("protocol") else "—",
        "total_mg": summary.total_mg, "mg_per_kg": summary.mg_per_kg, "infusion_min": summary.infusion_min,
        "rate_changes": [f"{fmt(c.old_mg_per_h)}→{fmt(c.new_mg_per_h)} mg/h ({c.reason})" for c in summary.rate_changes],
        "side_effects": [f"{_words(s.code)} ({s.severity})" for s in summary.side_effects],
        "adjuncts": list(summary.adjuncts),  # every other medicine given (issue 14)
        "alerts": [{"severity": a.severity, "what": _words(a.code), "advised": ACTION_WORDS.get(a.action, _words(a.action)),
                    "done": a.action_taken} for a in summary.alerts],
    }


def _outcome(course: CourseFacts | str, before: WindowMeans, after: WindowMeans, course_end: date,
             today: date, window: FollowUpWindow) -> dict[str, Any]:
    """Pain, daily activities and MME before and after, the responder classes, and what is missing."""
    window_end = course_end + timedelta(days=window.days)
    missing: list[str] = []
    response = None
    baseline = followup = None
    if isinstance(course, str):
        missing.append(f"Pain outcome not judged: {course}.")
    else:
        baseline, followup = course.baseline_nrs, course.followup_nrs
        if followup is None:
            still = f" (the follow-up window runs to {window_end.strftime('%d %b %Y')})" if today < window_end else ""
            missing.append(f"Follow-up diary too short to judge: {course.followup_days} of the {window.min_entries} "
                           f"diary days needed in the {window.days} days after the course{still}.")
        else:
            r = classify_response(baseline, followup)
            response = {"reduction_pct": r.reduction_pct, "reduction_points": r.reduction_points,
                        "responder_30": r.responder_30, "responder_50": r.responder_50, "two_point": r.two_point}
    if before.days == 0:
        missing.append(f"No diary before the course (the {PRE_COURSE_DAYS} days before the first session): "
                       "daily activities and opioid use before are unknown.")
    if after.days == 0 and not missing:
        missing.append(f"No diary in the {window.days} days after the course.")
    opioids_recorded = before.opioid_days + after.opioid_days > 0
    return {"baseline_nrs": baseline, "followup_nrs": followup, "response": response, "before": before, "after": after,
            "missing": missing, "window_end": window_end, "opioids_recorded": opioids_recorded,
            "mme_change": round(after.mme - before.mme, 1) if after.mme is not None and before.mme is not None else None}


def _follow_on(response: dict[str, Any] | None, cite: Citations) -> str:
    if response is None:
        return "Judged once the follow-up diary allows: see above."
    if response["responder_30"]:
        return (f"Pain fell by {fmt(response['reduction_pct'])} % (at least {MODERATE_REDUCTION_PCT:g} %): for a responder the "
                f"guideline names oral ketamine or dextromethorphan (B, Low) or intranasal ketamine (B, Moderate) as "
                f"follow-on treatment instead of serial infusions [{cite('asra2018')}]; boosters only when relief fades "
                f"(rule above). Ketamine sits within a multidisciplinary plan: please continue physiotherapy and "
                f"psychological support [{cite('asa2023_ketamine_statement')}].")
    return (f"Pain fell by less than {MODERATE_REDUCTION_PCT:g} %: by the clinic's rule this is no response "
            f"[{cite('immpact2008')}], and further ketamine infusions are not suggested without physician review. "
            f"We suggest continuing the multidisciplinary plan and other options with you "
            f"[{cite('asa2023_ketamine_statement')}].")


def _adjuncts_text(given: list[str]) -> str:
    """``; other medicines: ondansetron 4 mg IV ×2, midazolam 1 mg IV`` (issue 14), or nothing."""
    counts: dict[str, int] = {}
    for text in given:
        key = text.removesuffix(" (PRN)")
        counts[key] = counts.get(key, 0) + 1
    return ("; other medicines: " + ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in counts.items())) if counts else ""


def _summary_lines(sessions: list[dict[str, Any]], outcome: dict[str, Any], booster: str, checks_due: list[dict[str, Any]],
                   course_days: tuple[date, date], protocol: str) -> list[tuple[str, str]]:
    given = [s for s in sessions if not s["booster"]]
    boosters = len(sessions) - len(given)
    totals = [s["total_mg"] for s in sessions]
    per_kg = [s["mg_per_kg"] for s in sessions if s["mg_per_kg"] is not None]
    alerts = [a for s in sessions for a in s["alerts"]]
    unanswered = [a for a in alerts if not a["done"]]
    effects = sorted({e for s in sessions for e in s["side_effects"]})
    dose = (f"{fmt(min(totals))}–{fmt(max(totals))} mg" if min(totals) != max(totals) else f"{fmt(totals[0])} mg")
    dose += (f" ({fmt(min(per_kg), 2)}–{fmt(max(per_kg), 2)} mg/kg)" if per_kg and min(per_kg) != max(per_kg)
             else f" ({fmt(per_kg[0], 2)} mg/kg)" if per_kg else "")
    safety = (f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
              + (f" ({len(unanswered)} not answered)" if unanswered else (", all answered" if alerts else ""))
              + ("; side effects: " + ", ".join(effects) if effects else "; no side effects recorded")
              + _adjuncts_text([a for s in sessions for a in s.get("adjuncts", [])]))
    course = (f"{len(given)} session{'s' if len(given) != 1 else ''} of {protocol}, {_days_between(*course_days)}"
              + (f", plus {boosters} booster{'s' if boosters != 1 else ''}" if boosters else "")
              + f"; ketamine {dose} per session; {safety}.")
    response = outcome["response"]
    if response is not None:
        verdict = (f"responder at {SUBSTANTIAL_REDUCTION_PCT:g} %" if response["responder_50"]
                   else f"responder at {MODERATE_REDUCTION_PCT:g} %, not at {SUBSTANTIAL_REDUCTION_PCT:g} %"
                   if response["responder_30"] else f"not a responder (less than {MODERATE_REDUCTION_PCT:g} %)")
        result = (f"Pain {fmt(outcome['baseline_nrs'])} → {fmt(outcome['followup_nrs'])}/10 "
                  f"({fmt(-response['reduction_pct'])} %): {verdict}.")
        if outcome["opioids_recorded"] and outcome["before"].mme is not None and outcome["after"].mme is not None:
            result += f" Opioids {fmt(outcome['before'].mme)} → {fmt(outcome['after'].mme)} MME/day."
    else:
        result = outcome["missing"][0] if outcome["missing"] else "Outcome not yet known."
    due = [c["name"] for c in checks_due]
    next_line = booster.rstrip(".") + "." + (f" Risk checks due: {', '.join(due).lower()}." if due else "")
    return [("Course", course), ("Outcome", result), ("Next", next_line)]


def _without_name(name: str, message: str) -> str:
    """``Misuse check (PDMP ...): never recorded`` under the heading "Misuse check" reads ``(PDMP ...): never recorded``."""
    return message[len(name):].lstrip(" :") if message.lower().startswith(name.lower()) else message


def _pain_chart(by_day: dict[date, Any], session_days: list[date], baseline: float | None,
                first: date, last: date) -> str | None:
    points = [{"day": d.isoformat(), "pain_nrs": e.pain_nrs} for d, e in sorted(by_day.items()) if first <= d <= last]
    if len(points) < 2:
        return None
    from ketaclinic.charts import pain_trend_chart, to_svg

    chart = pain_trend_chart(points, [d.isoformat() for d in session_days], width=560, height=90, baseline_nrs=baseline)
    return svg_data_uri(to_svg(chart))


def course_letter_document(snapshot: CourseLetterSnapshot) -> tuple[Frame, dict[str, Any]]:
    """The frame and what ``letter_course.html`` prints, from the snapshot."""
    issue, patient, sessions, course, window = snapshot.issue, snapshot.patient, snapshot.sessions, snapshot.course, snapshot.window
    now, tz = issue.now, issue.tz
    today = local(now, tz).date()
    cite = Citations()
    entries = {d.day: d for d in snapshot.diary}
    follow_up = snapshot.follow_up
    frame = frame_for(issue, title=LETTER_TITLE, generated_at=local(now, tz), patient_id=patient.id)
    first_day = local(sessions[0].started_at or sessions[0].scheduled_at, tz).date()
    course_end = course.course_end if isinstance(course, CourseFacts) else local(sessions[-1].discharged_at, tz).date()
    by_session: dict[int, list[EventRow]] = {v.id: [] for v in sessions}
    for e in snapshot.events:
        if e.session_id in by_session:
            by_session[e.session_id].append(replace(e, recorded_at=local(e.recorded_at, tz)))
    lines = []
    for session in sessions:
        summary = summarise(session.pump_program, session.weight_kg, session.started_at, session.ended_at,
                            by_session[session.id], snapshot.names, now)
        day = local(session.started_at or session.scheduled_at, tz).date()
        lines.append(_session_line(session, summary, day > course_end, tz))
    before = window_means(entries, first_day - timedelta(days=PRE_COURSE_DAYS), first_day - timedelta(days=1))
    after = window_means(entries, course_end + timedelta(days=1), course_end + timedelta(days=window.days))
    outcome = _outcome(course, before, after, course_end, today, window)
    plan = plan_summary(snapshot.plan)
    checks_due = [{"name": c.name, "message": _without_name(c.name, c.message), "overdue": c.overdue,
                   "cite": cite(c.source)} for c in follow_up.checks if c.due]
    checks_ok = [{"name": c.name, "message": c.message} for c in follow_up.checks if not c.due]
    booster = follow_up.booster_message or "No booster advice."
    protocols = sorted({s["protocol"] for s in lines if not s["booster"]}) or [plan["protocol"]]
    context = {
        "patient": identity(patient, today),
        "referrer": _referrer(patient),
        "letter_date": local(now, tz),
        "sessions": lines,
        "plan": plan,
        "course_days": (first_day, course_end),
        "outcome": outcome,
        "booster": {"due": follow_up.booster_due, "message": booster,
                    "earliest": follow_up.earliest_booster_day, "cite": cite(CLINIC_POLICY)},
        "follow_on": _follow_on(outcome["response"], cite),
        "checks_due": checks_due, "checks_ok": checks_ok,
        "mme_cite": cite("cdc2022_opioids"), "responder_cite": cite("immpact2008"),
        "follow_up_days": window.days, "pre_course_days": PRE_COURSE_DAYS,
        "min_follow_up_entries": window.min_entries,
        "signer": {"name": plan["signed_by"], "plan_signed_at": local(plan["signed_at"], tz)},
        "questionnaires": prom_context(snapshot.questionnaires),  # issue 15
        "pain_chart": _pain_chart(entries, [local(v.started_at or v.scheduled_at, tz).date() for v in sessions],
                                  outcome["baseline_nrs"], first_day - timedelta(days=PRE_COURSE_DAYS),
                                  min(today, course_end + timedelta(days=window.days))),
        "clinic_policy": CLINIC_POLICY,
    }
    context["summary"] = _summary_lines(lines, outcome, booster, checks_due, (first_day, course_end),
                                        ", ".join(protocols))
    context["sources"] = cite.listing()
    return frame, context


def build_course_letter(snapshot: CourseLetterSnapshot) -> bytes:
    """The letter to the referring physician after a course of sessions, as PDF bytes."""
    return render_pdf(COURSE_TEMPLATE, *course_letter_document(snapshot))
