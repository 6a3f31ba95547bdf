"""The de-identified research export (issue 7): an admin-only action, written to the audit log.

The service loads every row the export needs in one read transaction (one snapshot: on
PostgreSQL at REPEATABLE READ, on SQLite one deferred transaction in WAL mode), reading only the
columns that may leave after de-identification: never a name, phone, e-mail, note, reason or lot
number. :mod:`ketaclinic.interop.research` then does the de-identification over those plain
rows, with a fresh secret for the research ids that lives only for this call and the clinic's
kept key for the date shifts (:mod:`ketaclinic.records.research_keys`: the same shift in every
export). The audit entry (``research.export``) records who, the parameters (the real date range
and cut-off day included: they stay in the clinic), the counts and the ZIP's SHA-256, never a
secret or key; if it cannot be written, nothing is returned. A refused export (a role other than
the admin's, an empty cohort, one of fewer than k patients) is audited too
(``research.export.refused``), and neither the refusal nor its audit entry says how many
patients matched: otherwise repeated refusals would count any cohort one question at a time.

Why admin only (design.md 5: the admin has no clinical writes, and reads no chart): the export
holds no chart, only de-identified rows, and releasing data for research is a governance act
that the clinic's data steward, not a treating clinician, answers for.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import __version__
from ketaclinic.clinical.follow_up import OpioidDose, daily_mme
from ketaclinic.clinical.outcomes import classify_response
from ketaclinic.clinical.record import EventRow
from ketaclinic.clock import utcnow
from ketaclinic.interop import research
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.research_keys import research_key
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Forbidden, ValidationFailed
from ketaclinic.services.outcomes import course_of
from ketaclinic.services.patient_facts import PatientFacts, load_patient_facts
from ketaclinic.services.questionnaires import research_rows as questionnaire_research_rows
from ketaclinic.services.types import Text

ROLES = ("admin",)
MEDIA_TYPE = "application/zip"
_REASONS = {"no signed evaluation": "no_signed_evaluation", "no completed session": "no_completed_session",
            "no baseline pain": "no_baseline_pain"}


def form_facts() -> dict[str, Any]:
    """What the export page shows beside its form, from the definitions the export itself uses (so
    the page cannot say something the ZIP does not do): the conditions to choose from, k's default and
    limits, the tables and their columns, the Safe Harbor table, the date and cut-off rules and the
    caveats. Fixed facts, no patient data: the page's role check is the edge's."""
    return {
        "conditions": sorted(research.CONDITIONS), "formats": research.FORMATS,
        "default_k": research.DEFAULT_K, "min_k": research.MIN_K, "max_k": research.MAX_K,
        "tables": research.TABLES, "safe_harbor": research.SAFE_HARBOR, "rule": research.SAFE_HARBOR_RULE,
        "date_rule": research.DATE_RULE, "cutoff_rule": research.CUTOFF_RULE, "caveats": research.CAVEATS,
        "max_weeks": research.SHIFT_MAX_WEEKS, "cms_url": research.CMS_CELL_POLICY_URL,
    }


class ResearchExportIn(BaseModel):
    """What to export: the format, the cell-size threshold k and an optional cohort filter."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "parquet"] = Field("csv", description="csv (one file per table) or parquet (typed columns)")
    k: int = Field(research.DEFAULT_K, description=f"Smallest cell of sex x age band x conditions released as is "
                   f"(default {research.DEFAULT_K}, the CMS cell size suppression policy; at least {research.MIN_K})",
                   json_schema_extra={"minimum": research.MIN_K, "maximum": research.MAX_K})
    condition: Text | None = Field(None, description="Only patients with this condition (contract 4.2 vocabulary)",
                                  json_schema_extra={"enum": [*sorted(research.CONDITIONS), None]})
    start: date | None = Field(None, description="Only patients whose first session is on or after this day")
    end: date | None = Field(None, description="Only patients whose first session is on or before this day")

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if not isinstance(value, str) or value not in research.FORMATS:
            raise ValueError(f"format must be one of {', '.join(research.FORMATS)}")
        return value

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
            raise ValueError(f"k must be a whole number of patients (default {research.DEFAULT_K})")
        k = int(value)
        if k < research.MIN_K:
            raise ValueError(f"k must be at least {research.MIN_K} (default {research.DEFAULT_K}, the CMS cell size "
                             "suppression policy): smaller groups are too easy to re-identify")
        if k > research.MAX_K:
            raise ValueError(f"k must be at most {research.MAX_K}")
        return k

    @field_validator("condition", mode="before")
    @classmethod
    def _condition(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value not in research.CONDITIONS:
            raise ValueError(f"unknown condition {str(value)[:40]!r}: one of {', '.join(sorted(research.CONDITIONS))}")
        return value

    @field_validator("end")
    @classmethod
    def _range(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if value is not None and start is not None and start > value:
            raise ValueError(f"start ({start.isoformat()}) must be on or before end ({value.isoformat()})")
        return value


def parameters(**values: Any) -> ResearchExportIn:
    """The parameters checked as the API checks them; a bad one is a 422 naming the field."""
    try:
        return ResearchExportIn.model_validate(values)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or None
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ValidationFailed(f"{name}: {message}" if name else message, field=name) from None


# --- loading ------------------------------------------------------------------------------


def _snapshot(uow: Session, db: Database) -> None:
    """One snapshot for every query of the export (PostgreSQL's default READ COMMITTED gives one per statement)."""
    if db.dialect == "postgresql":
        uow.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _mme(doses: Any) -> float | None:
    if not doses:
        return None
    try:
        return daily_mme([OpioidDose.model_validate(d) for d in doses]).total_mme_per_day
    except (ValueError, TypeError):
        return None


def _outcome(facts: PatientFacts, today: date) -> research.OutcomeRow:
    course = course_of(facts, today)
    if isinstance(course, str):
        status = next((code for reason, code in _REASONS.items() if course.startswith(reason)), "no_completed_session")
        return research.OutcomeRow(patient_id=facts.patient_id, status=status)
    response = classify_response(course.baseline_nrs, course.followup_nrs) if course.followup_nrs is not None else None
    durability = course.durability
    return research.OutcomeRow(
        patient_id=facts.patient_id, status="assessable" if response else "follow_up_too_short",
        baseline_nrs=course.baseline_nrs, course_end=course.course_end, followup_nrs=course.followup_nrs,
        followup_entries=course.followup_days,
        reduction_pct=response.reduction_pct if response else None,
        reduction_points=response.reduction_points if response else None,
        responder_30=response.responder_30 if response else None,
        responder_50=response.responder_50 if response else None,
        two_point=response.two_point if response else None,
        durability_days=durability.duration_days if durability else None,
        relief_lost=durability.event_observed if durability else None)


def outcomes_of(cohort: research.Cohort, evaluations: dict[int, PatientFacts], *, last_day: date,
                tz: tzinfo = UTC) -> tuple[research.OutcomeRow, ...]:
    """Each patient's course and follow-up from the rows the export keeps (nothing after the cut-off),
    on the clinic's days, as the outcome report computes them (services.outcomes.course_of)."""
    discharged: dict[int, list[date]] = {}
    for s in cohort.sessions:
        if s.state == "discharged" and s.discharged_at is not None:
            discharged.setdefault(s.patient_id, []).append(research.local_day(s.discharged_at, tz))
    diary: dict[int, list[SimpleNamespace]] = {}
    for d in cohort.diary:  # as services.diary reads them (its recorded_at is midday UTC of the entry's day)
        diary.setdefault(d.patient_id, []).append(SimpleNamespace(
            id=d.entry_id, recorded_at=d.recorded_at, pain_nrs=d.pain_nrs, amends_id=d.amends_id))
    out = []
    for p in cohort.patients:
        known = evaluations.get(p.patient_id)
        facts = PatientFacts(p.patient_id, evaluation=known.evaluation if known else None,
                             discharged_days=sorted(discharged.get(p.patient_id, [])),
                             diary=diary.get(p.patient_id, []))
        out.append(_outcome(facts, last_day))
    return tuple(out)


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)] or [[]]


def load_cohort(uow: Session, *, as_of: datetime, tz: tzinfo = UTC, condition: str | None = None,
                start: date | None = None, end: date | None = None) -> research.Cohort:
    """The cohort's exportable rows at ``as_of``: cut off (:func:`research.cut_off`), chosen by condition
    and first-session day (the clinic's days), with outcomes computed from what is kept.

    Patients and sessions are read first and the cohort chosen from them; the evaluations, events
    and diary are then read for the chosen patients only when a filter narrows the cohort.
    """
    patients = tuple(research.PatientRow(patient_id=pid, birth_date=birth_date, sex=sex)
                     for pid, birth_date, sex in uow.execute(
                         select(Patient.id, Patient.birth_date, Patient.sex).order_by(Patient.id)))
    protocols = dict(uow.execute(select(Plan.id, Plan.protocol_id)).all())
    sessions = tuple(research.SessionRow(
        session_id=r.id, patient_id=r.patient_id, scheduled_at=r.scheduled_at, state=r.state,
        protocol_id=protocols.get(r.plan_id), weight_kg=r.weight_kg, started_at=r.started_at, ended_at=r.ended_at,
        discharged_at=r.discharged_at, pump_program=r.pump_program)
        for r in uow.execute(select(
            InfusionSession.id, InfusionSession.patient_id, InfusionSession.plan_id, InfusionSession.scheduled_at,
            InfusionSession.state, InfusionSession.weight_kg, InfusionSession.started_at, InfusionSession.ended_at,
            InfusionSession.discharged_at, InfusionSession.pump_program)))
    dated = research.select_cohort(research.cut_off(research.Cohort(patients=patients, sessions=sessions),
                                                    as_of=as_of, tz=tz), start=start, end=end, tz=tz)
    filtered = condition is not None or start is not None or end is not None
    ids = sorted(p.patient_id for p in dated.patients)
    facts = load_patient_facts(uow, ids) if filtered else load_patient_facts(uow)
    chosen = []
    for p in dated.patients:
        evaluation = facts[p.patient_id].evaluation if p.patient_id in facts else None
        document = (evaluation.screening_input or {}) if evaluation else {}
        pain = document.get("pain") or {}
        conditions = tuple(c for c in (pain.get("conditions") or []) if isinstance(c, str))
        if condition is None or condition in conditions:
            chosen.append(replace(p, conditions=conditions, baseline_pain_nrs=pain.get("nrs_now"),
                                  screening_decision=((evaluation.screening_result or {}).get("decision")
                                                      if evaluation else None)))
    keep = {p.patient_id for p in chosen}
    sessions = tuple(s for s in dated.sessions if s.patient_id in keep)
    session_ids = {s.session_id for s in sessions}
    kinds = (*research.EXPORTED_EVENT_KINDS, "amendment")
    event_query = (select(SessionEvent.id, SessionEvent.session_id, SessionEvent.kind, SessionEvent.minute,
                          SessionEvent.payload, SessionEvent.amends_event_id).where(SessionEvent.kind.in_(kinds)))
    diary_query = select(DiaryEntry.id, DiaryEntry.patient_id, DiaryEntry.recorded_at, DiaryEntry.pain_nrs,
                         DiaryEntry.mood, DiaryEntry.sleep, DiaryEntry.function, DiaryEntry.opioid_doses,
                         DiaryEntry.urinary_symptoms, DiaryEntry.amends_id)
    if filtered:
        wanted = sorted(session_ids)
        event_rows = [r for chunk in _chunks(wanted) if chunk
                      for r in uow.execute(event_query.where(SessionEvent.session_id.in_(chunk)))]
        diary_rows = [r for chunk in _chunks(sorted(keep)) if chunk
                      for r in uow.execute(diary_query.where(DiaryEntry.patient_id.in_(chunk)))]
    else:
        event_rows = list(uow.execute(event_query))
        diary_rows = list(uow.execute(diary_query))
    # in record order whatever plan the engine chose (an index scan by session returns them by session)
    event_rows.sort(key=lambda r: r.id)
    diary_rows.sort(key=lambda r: r.id)
    events = tuple(EventRow(id=r.id, session_id=r.session_id, kind=r.kind, minute=r.minute,
                                     payload=r.payload, amends_event_id=r.amends_event_id)
                   for r in event_rows if r.session_id in session_ids)
    cutoff = research.cutoff_day(as_of, tz)
    diary = tuple(research.DiaryRow(entry_id=r.id, patient_id=r.patient_id, recorded_at=r.recorded_at,
                                    pain_nrs=r.pain_nrs, mood=r.mood, sleep=r.sleep, function=r.function,
                                    mme_per_day=_mme(r.opioid_doses), urinary_symptoms=r.urinary_symptoms or {},
                                    amends_id=r.amends_id)
                  for r in diary_rows if r.patient_id in keep)
    cohort = research.Cohort(patients=tuple(chosen), sessions=sessions, events=events,
                             diary=tuple(d for d in diary if research.diary_day(d) < cutoff),
                             questionnaires=questionnaire_research_rows(uow, keep, as_of, tz))  # issue 15
    return replace(cohort, outcomes=outcomes_of(cohort, facts, last_day=cutoff - timedelta(days=1), tz=tz))


# --- the action -----------------------------------------------------------------------------


def filename(manifest: dict[str, Any]) -> str:
    """The month only, like the manifest (the audit log keeps the exact time)."""
    return f"ketaclinic-research-{manifest['generated_month']}.zip"


def _shown(value: Any) -> Any:
    """A parameter as the audit log may hold it (refused before it was checked: short text only)."""
    if value is None or isinstance(value, bool | int):
        return value
    return (value.isoformat() if isinstance(value, date) else str(value))[:40]


def _refused(db: Database, actor: Actor, reason: str, detail: dict[str, Any]) -> None:
    """Write ``research.export.refused``: who asked for what, and why not (never a patient count)."""
    with unit_of_work(db) as uow:
        audit(uow, actor, "research.export.refused", "research_export", None, {**detail, "reason": reason})


def research_export(db: Database, actor: Actor, *, format: str = "csv", k: int = research.DEFAULT_K,  # noqa: A002
                    condition: str | None = None, start: date | None = None, end: date | None = None,
                    tz: tzinfo | None = None, now: datetime | None = None) -> tuple[bytes, dict[str, Any]]:
    """The de-identified export as a ZIP, and its manifest. Admin only; audited, refusals too.

    ``tz`` is the clinic's time zone (Settings.timezone): dates are its days. ``now`` is the moment
    the data stands at (default: the clock); the cut-off counts back from it.
    """
    tz = tz or UTC
    asked = {"format": _shown(format), "k": _shown(k), "condition": _shown(condition), "start": _shown(start),
             "end": _shown(end)}
    try:
        require_role(actor, *ROLES)
    except Forbidden:
        _refused(db, actor, "forbidden", asked)
        raise
    params = parameters(format=format, k=k, condition=condition, start=start, end=end)
    asked = {"format": params.format, "k": params.k, "condition": params.condition,
             "start": params.start.isoformat() if params.start else None,
             "end": params.end.isoformat() if params.end else None}
    generated_at = utcnow()
    as_of = now or generated_at
    shift_key = research_key(db)
    with db.reading() as uow:
        _snapshot(uow, db)
        cohort = load_cohort(uow, as_of=as_of, tz=tz, condition=params.condition, start=params.start,
                             end=params.end)
    try:
        data, manifest = research.build_export(
            cohort, secret=research.new_secret(), shift_key=shift_key, k=params.k, fmt=params.format, as_of=as_of,
            generated_at=generated_at, version=__version__, tz=tz,
            cohort_filter={"condition": params.condition,
                           "first_session_range": "applied (dates withheld)" if params.start or params.end else "none"})
    except research.CohortEmpty:
        _refused(db, actor, "cohort_empty", asked)
        raise ValidationFailed(
            "no patient matches: the cohort is empty (only patients with a session discharged before the "
            f"{research.CUTOFF_DAYS}-day data cut-off are exported). Widen the cohort (condition, dates).",
            code="cohort_empty", field="condition" if params.condition else None) from None
    except research.CohortTooSmall as small:
        _refused(db, actor, "cohort_too_small", asked)
        raise ValidationFailed(
            f"{small}: an export this small could identify them. Widen the cohort (condition, dates)"
            + (f", or lower k (not below {research.MIN_K}) if your data-use agreement allows." if params.k > research.MIN_K
               else "."), code="cohort_too_small", field="k") from None
    digest = hashlib.sha256(data).hexdigest()
    with unit_of_work(db) as uow:
        audit(uow, actor, "research.export", "research_export", None, {
            **asked, "data_cutoff_day": research.cutoff_day(as_of, tz).isoformat(),
            "patients": manifest["patients"],
            "rows": {name: table["rows"] for name, table in manifest["tables"].items()},
            "suppression": {key: manifest["suppression"][key] for key in
                            ("cells_below_k", "patients_generalised", "patients_fully_suppressed", "patients_removed",
                             "total_values_suppressed")},
            "implausible_values_blanked": sum(manifest["implausible_values_blanked"].values()),
            "bytes": len(data), "sha256": digest})
    manifest = {**manifest, "sha256": digest, "filename": filename(manifest)}
    return data, manifest
