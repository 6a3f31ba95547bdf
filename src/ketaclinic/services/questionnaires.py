"""Questionnaires (issue 15): due lists, answering (partial answers saved), scoring, self-harm alerts, trends.

- Who: a patient answers their own (portal); physicians and nurses see and enter every patient's at their sites
  (``staff`` or a clinic ``tablet`` handed to the patient); the coordinator sees none (no clinical detail).
- Answering saves every step: each save is a new row replacing the previous version (append-only; the unique
  ``replaces_id`` makes two devices saving the same version at once a 409 for the second). Completing scores the
  answers in the core (:mod:`ketaclinic.clinical.questionnaires`) and stores total, severity and flags.
- PHQ-9 item 9 above 0 raises an alert at once (same transaction) with the clinic's action from the settings;
  the dashboard shows open alerts until a physician acknowledges one (once only) with what was done.
- Due questionnaires follow the clinic's schedule (settings ``questionnaires``): baseline at the evaluation,
  before each course, at its end, then every interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clinical import questionnaires as core
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.questionnaires import (
    CustomInstrument,
    QuestionnaireAlert,
    QuestionnaireAlertAck,
    QuestionnaireResponse,
)
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.services import clinic_settings
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.patients import load_patient
from ketaclinic.services.sites import may_see_site, site_bound
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import ID_MAX

STAFF = ("physician", "nurse")
ANSWER_ROLES = ("physician", "nurse", "patient")
Context = Literal["baseline", "pre_course", "end_of_course", "monthly", "ad_hoc"]
Channel = Literal["portal", "tablet", "staff"]


# --- views ------------------------------------------------------------------------------------------------------


class ItemView(BaseModel):
    number: int
    id: str
    text: str
    scored: bool
    options: list[dict[str, Any]]


class InstrumentView(BaseModel):
    id: str
    name: str
    short_name: str
    preamble: str
    items: list[ItemView]
    licence: str
    source: str
    builtin: bool
    max_total: int
    mcid: float | None
    minutes: float


def instrument_view(instrument: core.Instrument) -> InstrumentView:
    return InstrumentView(
        id=instrument.id, name=instrument.name, short_name=instrument.short_name, preamble=instrument.preamble,
        items=[ItemView(number=n, id=i.id, text=i.text, scored=i.scored,
                        options=[{"value": o.value, "label": o.label} for o in i.options])
               for n, i in enumerate(instrument.items, start=1)],
        licence=instrument.licence, source=instrument.source, builtin=instrument.builtin,
        max_total=instrument.max_total, mcid=instrument.mcid, minutes=instrument.minutes)


class ResponseView(BaseModel):
    id: int
    patient_id: int
    instrument: str
    instrument_name: str
    context: str
    context_words: str
    plan_id: int | None
    channel: str
    status: str
    answers: list[int | None]
    answered: int
    items: int
    next_item: int | None  # 1-based number of the first unanswered item (None: every item answered)
    total: int | None
    max_total: int
    severity: str | None
    severity_label: str | None
    flags: list[dict[str, Any]]
    prorated: bool
    started_at: datetime
    completed_at: datetime | None
    recorded_at: datetime
    recorded_by_name: str
    replaces_id: int | None


class DueView(BaseModel):
    instrument: str
    name: str
    context: str
    context_words: str
    plan_id: int | None
    since: datetime
    reason: str
    items: int
    minutes: float
    in_progress_id: int | None = None
    answered: int = 0


class AlertView(BaseModel):
    id: int
    patient_id: int
    patient_name: str
    response_id: int
    code: str
    message: str
    action: str
    source: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by_name: str | None = None
    note: str | None = None


class TrendPoint(BaseModel):
    at: datetime
    total: int
    severity: str | None


class Trend(BaseModel):
    instrument: str
    name: str
    max_total: int
    mcid: float | None
    points: list[TrendPoint]
    change: dict[str, Any] | None = None
    bands: list[dict[str, Any]] = Field(default_factory=list)


class PatientQuestionnaires(BaseModel):
    patient_id: int
    due: list[DueView]
    responses: list[ResponseView]  # current versions, newest first
    trends: list[Trend]
    alerts: list[AlertView]


# --- inputs -----------------------------------------------------------------------------------------------------


class ResponseStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instrument: str = Field(min_length=1, max_length=64)
    context: Context = "ad_hoc"
    plan_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    channel: Channel | None = None


class AnswerIn(BaseModel):
    """One answer (``item`` 1-based; ``value`` null to clear it), saved at once; ``complete`` scores it."""

    model_config = ConfigDict(extra="forbid")
    item: int = Field(ge=1, le=200)
    value: StrictInt | None = None


class ResponseSave(BaseModel):
    """Every answer at once (``answers`` in item order, null for unanswered) and whether to complete it now."""

    model_config = ConfigDict(extra="forbid")
    answers: list[StrictInt | None] = Field(max_length=200)
    complete: bool = False


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=3, max_length=2000, description="what the physician did (called the patient ...)")


# --- helpers ----------------------------------------------------------------------------------------------------


def custom_instruments(uow: Session, site_id: int | None = None) -> list[tuple[CustomInstrument, core.Instrument]]:
    rows = list(uow.execute(select(CustomInstrument).order_by(CustomInstrument.id)).scalars())
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    current = [r for r in rows if r.id not in replaced and r.status == "active"
               and (site_id is None or r.site_id == site_id)]
    return [(r, core.custom_instrument(r.definition)) for r in current]


def instrument_for(uow: Session, instrument_id: str, site_id: int) -> tuple[core.Instrument, int | None]:
    """The shipped instrument, or the site's current custom one (with its row id); ``ValidationFailed`` if none."""
    customs = custom_instruments(uow, site_id)
    try:
        instrument = core.get_instrument(instrument_id, [c for _, c in customs])
    except core.Unscorable as exc:
        raise ValidationFailed(exc.message, field="instrument") from None
    row_id = next((r.id for r, c in customs if c.id == instrument.id), None)
    return instrument, row_id


def _policy(uow: Session) -> core.QuestionnairePolicy:
    return clinic_settings.current(uow)[1].questionnaires


def _current_rows(uow: Session, patient_id: int) -> list[QuestionnaireResponse]:
    rows = list(uow.execute(select(QuestionnaireResponse).where(QuestionnaireResponse.patient_id == patient_id)
                            .order_by(QuestionnaireResponse.id.desc())).scalars())
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    return [r for r in rows if r.id not in replaced and r.status != "entered_in_error"]


def _view(row: QuestionnaireResponse, instrument: core.Instrument, names: dict[int, str]) -> ResponseView:
    answers = list(row.answers)
    n = len(instrument.items)
    answers = (answers + [None] * n)[:n]
    scored = len(instrument.scored_items)
    next_item = next((i for i, a in enumerate(answers, start=1) if a is None and i <= scored), None)
    if next_item is None and row.status == "partial":
        next_item = next((i for i, a in enumerate(answers, start=1) if a is None), None)
    band = instrument.band_of(row.total) if row.total is not None else None
    return ResponseView(
        id=row.id, patient_id=row.patient_id, instrument=row.instrument, instrument_name=instrument.short_name,
        context=row.context, context_words=core.CONTEXT_WORDS.get(row.context, row.context), plan_id=row.plan_id,
        channel=row.channel, status=row.status, answers=answers,
        answered=sum(1 for a in answers[:scored] if a is not None), items=scored, next_item=next_item,
        total=row.total, max_total=instrument.max_total, severity=row.severity,
        severity_label=band.label if band else None, flags=list(row.flags or []), prorated=row.prorated,
        started_at=row.started_at, completed_at=row.completed_at, recorded_at=row.recorded_at,
        recorded_by_name=names.get(row.recorded_by or 0, "the patient" if row.channel != "staff" else "—"),
        replaces_id=row.replaces_id)


def _instrument_of_row(uow: Session, row: QuestionnaireResponse, site_id: int) -> core.Instrument:
    if row.custom_instrument_id is not None:
        custom = uow.get(CustomInstrument, row.custom_instrument_id)
        if custom is not None:
            return core.custom_instrument(custom.definition)
    return instrument_for(uow, row.instrument, site_id)[0]


@dataclass
class _Chart:
    patient: Patient
    rows: list[QuestionnaireResponse]


def course_facts(uow: Session, patient_id: int) -> list[core.CourseFacts]:
    plans = list(uow.execute(select(Plan).where(Plan.patient_id == patient_id, Plan.status == "signed")).scalars())
    sessions = list(uow.execute(select(InfusionSession).where(InfusionSession.patient_id == patient_id)).scalars())
    superseded = {p.supersedes_id for p in plans if p.supersedes_id is not None}
    facts = []
    for plan in plans:
        if plan.id in superseded or plan.signed_at is None:
            continue
        mine = [s for s in sessions if s.plan_id == plan.id]
        started = [s.started_at for s in mine if s.started_at is not None]
        done = [s.discharged_at for s in mine if s.state == "discharged" and s.discharged_at is not None]
        planned = int((plan.series_rule or {}).get("sessions") or 0)
        ended = max(done) if planned and len(done) >= planned else None
        facts.append(core.CourseFacts(plan.id, plan.signed_at, min(started) if started else None, ended))
    return facts


def due_in(uow: Session, patient: Patient, rows: list[QuestionnaireResponse], now: datetime) -> list[DueView]:
    evaluated = uow.execute(select(func.min(Evaluation.created_at)).where(Evaluation.patient_id == patient.id)).scalar()
    done = [core.DoneFacts(r.instrument, r.context, r.plan_id, r.completed_at) for r in rows
            if r.status == "complete" and r.completed_at is not None]
    due = core.due_questionnaires(_policy(uow), evaluated_at=evaluated, courses=course_facts(uow, patient.id),
                                  done=done, now=now)
    out = []
    for d in due:
        try:
            instrument, _ = instrument_for(uow, d.instrument, patient.site_id)
        except ValidationFailed:
            continue  # a retired custom instrument named in the settings
        partial = next((r for r in rows if r.status == "partial" and r.instrument == d.instrument), None)
        out.append(DueView(instrument=d.instrument, name=instrument.short_name, context=d.context,
                           context_words=core.CONTEXT_WORDS[d.context], plan_id=d.plan_id, since=d.since,
                           reason=d.reason, items=len(instrument.scored_items), minutes=instrument.minutes,
                           in_progress_id=partial.id if partial else None,
                           answered=sum(1 for a in (partial.answers if partial else []) if a is not None)))
    return out


def trends_of(uow: Session, rows: list[QuestionnaireResponse], site_id: int) -> list[Trend]:
    complete = sorted((r for r in rows if r.status == "complete" and r.total is not None),
                      key=lambda r: (r.completed_at or r.recorded_at, r.id))
    out: list[Trend] = []
    for instrument_id in dict.fromkeys(r.instrument for r in complete):
        mine = [r for r in complete if r.instrument == instrument_id]
        instrument = _instrument_of_row(uow, mine[-1], site_id)
        points = [TrendPoint(at=r.completed_at or r.recorded_at, total=int(r.total or 0), severity=r.severity)
                  for r in mine]
        change = None
        if len(points) >= 2 and instrument.scoring == "sum":
            change = core.change(instrument, points[0].total, points[-1].total)
        out.append(Trend(instrument=instrument_id, name=instrument.short_name, max_total=instrument.max_total,
                         mcid=instrument.mcid, points=points, change=change,
                         bands=[{"code": b.code, "low": b.low, "high": b.high, "label": b.label}
                                for b in instrument.bands]))
    return out


def _alerts(uow: Session, where: list[Any], limit: int = 50, *, open_only: bool = False) -> list[AlertView]:
    query = (select(QuestionnaireAlert, QuestionnaireAlertAck, Patient)
             .join(Patient, Patient.id == QuestionnaireAlert.patient_id)
             .outerjoin(QuestionnaireAlertAck, QuestionnaireAlertAck.alert_id == QuestionnaireAlert.id)
             .where(*where))
    if open_only:
        query = query.where(QuestionnaireAlertAck.id.is_(None))
    found = list(uow.execute(query.order_by(QuestionnaireAlert.raised_at.desc()).limit(limit)).all())
    names = staff_names(uow, [ack.acknowledged_by for _, ack, _ in found if ack is not None])
    return [AlertView(id=a.id, patient_id=a.patient_id, patient_name=f"{p.given_name} {p.family_name}",
                      response_id=a.response_id, code=a.code, message=a.message, action=a.action, source=a.source,
                      raised_at=a.raised_at, acknowledged_at=ack.acknowledged_at if ack else None,
                      acknowledged_by_name=names.get(ack.acknowledged_by) if ack else None,
                      note=ack.note if ack else None)
            for a, ack, p in found]


# --- reads ------------------------------------------------------------------------------------------------------


def list_instruments(db: Database, actor: Actor) -> list[InstrumentView]:
    """The shipped instruments and the custom ones of the actor's sites."""
    require_role(actor, "admin", "physician", "nurse", "patient")
    with unit_of_work(db) as uow:
        customs = [c for r, c in custom_instruments(uow) if may_see_site(actor, r.site_id)]
        return [instrument_view(i) for i in [*core.INSTRUMENTS.values(), *customs]]


def patient_questionnaires(db: Database, actor: Actor, patient_id: int, *, now: datetime | None = None) -> PatientQuestionnaires:
    """A chart's questionnaires: what is due, every current response, trends and alerts (the read is audited)."""
    require_role(actor, *ANSWER_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        rows = _current_rows(uow, patient_id)
        names = staff_names(uow, [r.recorded_by for r in rows if r.recorded_by])
        responses = [_view(r, _instrument_of_row(uow, r, patient.site_id), names) for r in rows]
        alerts = [] if actor.is_patient else _alerts(uow, [QuestionnaireAlert.patient_id == patient_id])
        result = PatientQuestionnaires(patient_id=patient_id, due=due_in(uow, patient, rows, now),
                                       responses=responses, trends=trends_of(uow, rows, patient.site_id),
                                       alerts=alerts)
        audit(uow, actor, "questionnaire.list", "patient", patient_id,
              {"responses": len(responses), "due": [d.instrument for d in result.due]})
        return result


def get_response(db: Database, actor: Actor, response_id: int) -> tuple[ResponseView, InstrumentView]:
    require_role(actor, *ANSWER_ROLES)
    with unit_of_work(db) as uow:
        row = get_or_404(uow, QuestionnaireResponse, response_id, "questionnaire response")
        patient = load_patient(uow, actor, row.patient_id)
        instrument = _instrument_of_row(uow, row, patient.site_id)
        names = staff_names(uow, [row.recorded_by] if row.recorded_by else [])
        audit(uow, actor, "questionnaire.read", "patient", row.patient_id, {"response_id": row.id})
        return _view(row, instrument, names), instrument_view(instrument)


def open_alerts(db: Database, actor: Actor, *, limit: int = 20) -> list[AlertView]:
    """Unacknowledged self-harm alerts at the actor's sites, newest first (the dashboard)."""
    require_role(actor, *STAFF)
    with unit_of_work(db) as uow:
        where = [QuestionnaireAlert.site_id.in_(actor.site_ids)] if site_bound(actor) else []
        found = _alerts(uow, where, limit, open_only=True)
        if found:
            audit(uow, actor, "questionnaire.alerts", None, None, {"alerts": [a.id for a in found]})
        return found


# --- writes -----------------------------------------------------------------------------------------------------


def _check_answers(instrument: core.Instrument, answers: list[int | None]) -> list[int | None]:
    n = len(instrument.items)
    if len(answers) > n:
        raise ValidationFailed(f"{instrument.short_name} has {n} questions: got {len(answers)} answers", field="answers")
    answers = answers + [None] * (n - len(answers))
    for index, (item, value) in enumerate(zip(instrument.items, answers, strict=True)):
        if value is not None and value not in item.values:
            allowed = ", ".join(f"{o.value} ({o.label})" for o in item.options)
            raise ValidationFailed(f"question {index + 1} takes {allowed}: got {value}", field=f"answers[{index}]")
    return answers


def start_response(db: Database, actor: Actor, patient_id: int, data: ResponseStart,
                   *, now: datetime | None = None) -> ResponseView:
    """Open a questionnaire for a patient (or continue the one already in progress for that instrument)."""
    require_role(actor, *ANSWER_ROLES)
    now = now or utcnow()
    channel = "portal" if actor.is_patient else (data.channel if data.channel in ("tablet", "staff") else "staff")
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        instrument, custom_id = instrument_for(uow, data.instrument, patient.site_id)
        if data.plan_id is not None:
            plan = uow.get(Plan, data.plan_id)
            if plan is None or plan.patient_id != patient_id:
                raise ValidationFailed("that plan is not this patient's", field="plan_id")
        rows = _current_rows(uow, patient_id)
        open_row = next((r for r in rows if r.status == "partial" and r.instrument == instrument.id), None)
        names = staff_names(uow, [actor.user_id] if actor.user_id else [])
        if open_row is not None:
            return _view(open_row, instrument, names)
        row = QuestionnaireResponse(
            patient_id=patient_id, site_id=patient.site_id, instrument=instrument.id, custom_instrument_id=custom_id,
            context=data.context, plan_id=data.plan_id, channel=channel, status="partial",
            answers=[None] * len(instrument.items), flags=[], prorated=False, started_at=now, recorded_at=now,
            recorded_by=actor.user_id)
        uow.add(row)
        uow.flush()
        audit(uow, actor, "questionnaire.start", "patient", patient_id,
              {"response_id": row.id, "instrument": instrument.id, "context": data.context, "channel": channel})
        return _view(row, instrument, names)


def _replace(uow: Session, actor: Actor, old: QuestionnaireResponse, answers: list[int | None], *,
             complete: bool, now: datetime, instrument: core.Instrument) -> QuestionnaireResponse:
    fields: dict[str, Any] = {"status": "partial", "total": None, "severity": None, "flags": [], "prorated": False,
                              "completed_at": None}
    if complete:
        try:
            result = core.score(instrument, answers)
        except core.Unscorable as exc:
            raise ValidationFailed(exc.message, field=exc.field, code=exc.code) from None
        fields = {"status": "complete", "total": result.total, "severity": result.severity,
                  "flags": [f.as_json() for f in result.flags], "prorated": result.prorated, "completed_at": now}
    row = QuestionnaireResponse(
        patient_id=old.patient_id, site_id=old.site_id, replaces_id=old.id, instrument=old.instrument,
        custom_instrument_id=old.custom_instrument_id, context=old.context, plan_id=old.plan_id, channel=old.channel,
        answers=answers, started_at=old.started_at, recorded_at=now, recorded_by=actor.user_id, **fields)
    uow.add(row)
    try:
        uow.flush()  # a second save of the same version breaks replaces_id's uniqueness
    except sa_exc.IntegrityError as exc:
        raise Conflict("this questionnaire was saved from another screen just now: reload it and go on",
                       code="response_superseded") from exc
    return row


def _raise_alerts(uow: Session, actor: Actor, row: QuestionnaireResponse, now: datetime) -> None:
    flag = next((f for f in row.flags if f.get("code") == core.SELF_HARM), None)
    if flag is None:
        return
    action = _policy(uow).self_harm_action
    alert = QuestionnaireAlert(patient_id=row.patient_id, site_id=row.site_id, response_id=row.id, code=flag["code"],
                               message=flag["message"], action=action, source=flag["source"], raised_at=now)
    uow.add(alert)
    uow.flush()
    audit(uow, actor, "questionnaire.alert", "patient", row.patient_id,
          {"alert_id": alert.id, "response_id": row.id, "code": alert.code})


def _load_for_write(uow: Session, actor: Actor, response_id: int) -> tuple[QuestionnaireResponse, core.Instrument]:
    old = get_or_404(uow, QuestionnaireResponse, response_id, "questionnaire response")
    patient = load_patient(uow, actor, old.patient_id)
    newer = uow.execute(select(QuestionnaireResponse.id).where(QuestionnaireResponse.replaces_id == old.id)).first()
    if newer is not None:
        raise Conflict("this questionnaire was saved again since: reload it and go on", code="response_superseded")
    if old.status != "partial":
        raise Conflict("this questionnaire is already complete: start a new one", code="response_complete")
    return old, _instrument_of_row(uow, old, patient.site_id)


def save_response(db: Database, actor: Actor, response_id: int, data: ResponseSave,
                  *, now: datetime | None = None) -> ResponseView:
    """Save every answer (partial answers kept); ``complete`` scores it (too many missing items: 422)."""
    require_role(actor, *ANSWER_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        old, instrument = _load_for_write(uow, actor, response_id)
        answers = _check_answers(instrument, list(data.answers))
        row = _replace(uow, actor, old, answers, complete=data.complete, now=now, instrument=instrument)
        _after_save(uow, actor, row, now)
        return _view(row, instrument, staff_names(uow, [actor.user_id] if actor.user_id else []))


def answer_item(db: Database, actor: Actor, response_id: int, data: AnswerIn, *, complete: bool = False,
                now: datetime | None = None) -> ResponseView:
    """Save one answer (one question a screen); ``complete`` also scores the questionnaire."""
    require_role(actor, *ANSWER_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        old, instrument = _load_for_write(uow, actor, response_id)
        if data.item > len(instrument.items):
            raise ValidationFailed(f"{instrument.short_name} has {len(instrument.items)} questions", field="item")
        answers = list(old.answers) + [None] * len(instrument.items)
        answers = answers[:len(instrument.items)]
        answers[data.item - 1] = data.value
        answers = _check_answers(instrument, answers)
        row = _replace(uow, actor, old, answers, complete=complete, now=now, instrument=instrument)
        _after_save(uow, actor, row, now)
        return _view(row, instrument, staff_names(uow, [actor.user_id] if actor.user_id else []))


def _after_save(uow: Session, actor: Actor, row: QuestionnaireResponse, now: datetime) -> None:
    if row.status == "complete":
        _raise_alerts(uow, actor, row, now)
        audit(uow, actor, "questionnaire.complete", "patient", row.patient_id,
              {"response_id": row.id, "instrument": row.instrument, "total": row.total, "severity": row.severity,
               "flags": [f["code"] for f in row.flags], "prorated": row.prorated})
    else:
        audit(uow, actor, "questionnaire.save", "patient", row.patient_id,
              {"response_id": row.id, "instrument": row.instrument,
               "answered": sum(1 for a in row.answers if a is not None)})


def acknowledge_alert(db: Database, actor: Actor, alert_id: int, data: AcknowledgeIn,
                      *, now: datetime | None = None) -> AlertView:
    """A physician records what was done about a self-harm alert (once; a second acknowledgement is 409)."""
    require_role(actor, "physician")
    now = now or utcnow()
    with unit_of_work(db) as uow:
        alert = get_or_404(uow, QuestionnaireAlert, alert_id, "alert")
        if not may_see_site(actor, alert.site_id):
            raise NotFound("alert not found")
        load_patient(uow, actor, alert.patient_id)
        done = uow.execute(select(QuestionnaireAlertAck).where(QuestionnaireAlertAck.alert_id == alert_id)).scalar()
        if done is not None:
            raise Conflict("this alert was already acknowledged", code="alert_acknowledged")
        assert actor.user_id is not None
        uow.add(QuestionnaireAlertAck(alert_id=alert_id, note=" ".join(data.note.split()), acknowledged_at=now,
                                      acknowledged_by=actor.user_id))
        uow.flush()
        audit(uow, actor, "questionnaire.alert_acknowledged", "patient", alert.patient_id,
              {"alert_id": alert_id, "note": data.note})
        return _alerts(uow, [QuestionnaireAlert.id == alert_id])[0]


def add_custom_instrument(db: Database, actor: Actor, site_id: int, data: core.CustomInstrumentIn,
                          *, now: datetime | None = None) -> InstrumentView:
    """An admin adds (or replaces with a new version) a licensed instrument for one of their sites."""
    require_role(actor, "admin")
    now = now or utcnow()
    with unit_of_work(db) as uow:
        if not may_see_site(actor, site_id):
            raise NotFound("site not found")
        existing = next((r for r, c in custom_instruments(uow, site_id) if c.id == data.id), None)
        row = CustomInstrument(site_id=site_id, instrument=data.id, replaces_id=existing.id if existing else None,
                               definition=data.model_dump(mode="json"), status="active", created_at=now,
                               created_by=actor.user_id)
        uow.add(row)
        uow.flush()
        audit(uow, actor, "questionnaire.custom_instrument", "custom_instrument", row.id,
              {"instrument": data.id, "site_id": site_id, "replaces_id": row.replaces_id, "licence": data.licence},
              site_id=site_id)
        return instrument_view(core.custom_instrument(data))


# --- for other domains (letters, summary, FHIR, research, outcomes): in the caller's session, no audit -------------


def completed_rows(uow: Session, patient_ids: list[int] | None = None) -> list[QuestionnaireResponse]:
    query = select(QuestionnaireResponse).where(QuestionnaireResponse.status == "complete")
    if patient_ids is not None:
        query = query.where(QuestionnaireResponse.patient_id.in_(patient_ids))
    rows = list(uow.execute(query.order_by(QuestionnaireResponse.id)).scalars())
    replaced = set(uow.execute(select(QuestionnaireResponse.replaces_id).where(
        QuestionnaireResponse.replaces_id.in_([r.id for r in rows]))).scalars()) if rows else set()
    return [r for r in rows if r.id not in replaced]


def patient_trends(uow: Session, patient_id: int, site_id: int) -> list[Trend]:
    return trends_of(uow, completed_rows(uow, [patient_id]), site_id)


def fhir_rows(uow: Session, patient_id: int) -> tuple[Any, ...]:
    """The completed responses as the FHIR export's rows (interop/fhir_questionnaires.py), oldest first."""
    from ketaclinic.interop.fhir_questionnaires import QuestionnaireRow

    out = []
    for r in completed_rows(uow, [patient_id]):
        definition = None
        if r.custom_instrument_id is not None:
            custom = uow.get(CustomInstrument, r.custom_instrument_id)
            definition = custom.definition if custom is not None else None
        if definition is None and r.instrument not in core.INSTRUMENTS:
            continue
        out.append(QuestionnaireRow(id=r.id, instrument=r.instrument, answers=tuple(r.answers), total=r.total,
                                    severity=r.severity, flags=tuple(r.flags or ()), prorated=r.prorated,
                                    completed_at=r.completed_at or r.recorded_at, recorded_by=r.recorded_by,
                                    definition=definition))
    return tuple(out)


# --- the demo clinic ------------------------------------------------------------------------------------------------


def _spread(rng: Any, total: int, items: int, top: int, *, keep_last_zero: bool = False) -> list[int]:
    """``items`` answers 0..``top`` summing to ``total`` (the last one kept 0 when asked: PHQ-9 item 9)."""
    slots = items - 1 if keep_last_zero else items
    total = max(0, min(total, slots * top))
    answers = [0] * items
    for _ in range(total):
        open_slots = [i for i in range(slots) if answers[i] < top]
        answers[rng.choice(open_slots)] += 1
    return answers


def seed_demo(db: Database, *, now: datetime, seed: int = 2026, due_for: int | None = None) -> int:
    """Synthetic responses for the demo clinic: PHQ-9 and GAD-7 at baseline (the evaluation) and, when a course
    has ended, PHQ-9, GAD-7 and PGIC at its end (improvement drawn per patient); one chart answers item 9 above 0
    (an open alert for the dashboard). ``due_for`` (the portal's demo patient) is left with questionnaires due.
    Returns the number of responses written."""
    import random

    from ketaclinic.records.audit import append as audit_append

    rng = random.Random(seed + 15)
    policy_action = core.DEFAULT_SELF_HARM_ACTION
    written, alerted = 0, False
    with db.transaction() as uow:
        policy_action = _policy(uow).self_harm_action
        patients = list(uow.execute(select(Patient.id, Patient.site_id).order_by(Patient.id)).all())
        for patient_id, site_id in patients:
            evaluated = uow.execute(select(func.min(Evaluation.created_at))
                                    .where(Evaluation.patient_id == patient_id)).scalar()
            if evaluated is None:
                continue
            courses = course_facts(uow, patient_id)
            baseline = {"phq9": rng.randint(9, 19), "gad7": rng.randint(6, 15)}
            improvement = rng.choice((0.15, 0.35, 0.5, 0.65))

            def add(instrument: core.Instrument, answers: list[int], context: str, at: datetime,
                    plan_id: int | None, pid: int = patient_id, sid: int = site_id) -> QuestionnaireResponse:
                result = core.score(instrument, answers)
                row = QuestionnaireResponse(
                    patient_id=pid, site_id=sid, instrument=instrument.id, context=context, plan_id=plan_id,
                    channel="portal", status="complete", answers=answers + [None] * (len(instrument.items) - len(answers)),
                    total=result.total, severity=result.severity, flags=[f.as_json() for f in result.flags],
                    prorated=result.prorated, started_at=at - timedelta(minutes=2), completed_at=at, recorded_at=at,
                    note="Synthetic demo response.")
                uow.add(row)
                return row

            first_at = evaluated + timedelta(hours=1)
            if first_at > now:
                continue
            add(core.PHQ9, _spread(rng, baseline["phq9"], 9, 3, keep_last_zero=True), "baseline", first_at, None)
            add(core.GAD7, _spread(rng, baseline["gad7"], 7, 3), "baseline", first_at, None)
            written += 2
            ended = [c for c in courses if c.ended_at is not None]
            if not ended:
                continue
            end_at = max(c.ended_at for c in ended if c.ended_at is not None) + timedelta(days=1)
            if end_at > now:
                continue
            end_plan = next(c.plan_id for c in ended if c.ended_at is not None)
            phq = round(baseline["phq9"] * (1 - improvement))
            phq_answers = _spread(rng, phq, 9, 3, keep_last_zero=True)
            if not alerted and patient_id != due_for and phq >= 8:
                phq_answers[8], alerted = 1, True
            row = add(core.PHQ9, phq_answers, "end_of_course", end_at, end_plan)
            add(core.GAD7, _spread(rng, round(baseline["gad7"] * (1 - improvement)), 7, 3), "end_of_course", end_at,
                end_plan)
            pgic = {0.15: 4, 0.35: 3, 0.5: 2, 0.65: 1}[improvement]
            add(core.PGIC, [pgic], "end_of_course", end_at, end_plan)
            written += 3
            if phq_answers[8] > 0:
                uow.flush()
                flag = row.flags[0]
                uow.add(QuestionnaireAlert(patient_id=patient_id, site_id=site_id, response_id=row.id,
                                           code=flag["code"], message=flag["message"], action=policy_action,
                                           source=flag["source"], raised_at=end_at))
            monthly_at = end_at + timedelta(days=30)
            if patient_id != due_for and monthly_at <= now - timedelta(days=1):
                later = max(0, phq + rng.randint(-2, 3))
                add(core.PHQ9, _spread(rng, later, 9, 3, keep_last_zero=True), "monthly", monthly_at, None)
                add(core.PGIC, [min(7, pgic + rng.choice((0, 0, 1)))], "monthly", monthly_at, None)
                written += 2
        audit_append(uow, action="questionnaire.demo_seed", user_id=None, username="demo", role="system",
                     record_type=None, record_id=None, ip=None, detail={"responses": written})
    return written


def document_lines(uow: Session, patient_id: int, site_id: int) -> tuple[Any, ...]:
    """One line per instrument for the course letter and the patient summary (reports/questionnaires.py)."""
    from ketaclinic.reports.questionnaires import PromLine

    out = []
    for trend in patient_trends(uow, patient_id, site_id):
        first, latest = trend.points[0], trend.points[-1]
        instrument = core.INSTRUMENTS.get(trend.instrument)
        band = next((b for b in trend.bands if b["low"] <= latest.total <= b["high"]), None)
        out.append(PromLine(instrument=trend.instrument, name=trend.name, answers=len(trend.points), first=first.total,
                            first_at=first.at, latest=latest.total, latest_at=latest.at,
                            latest_label=band["label"] if band else None, max_total=trend.max_total, mcid=trend.mcid,
                            source=(instrument.mcid_source or instrument.source) if instrument else None))
    return tuple(out)


def research_rows(uow: Session, patient_ids: set[int], as_of: datetime, tz: Any) -> tuple[Any, ...]:
    """Completed shipped questionnaires of ``patient_ids`` before the export's cut-off day, for the research
    export (interop/research: scored totals only)."""
    from ketaclinic.interop.research.cohort import PromRow, cutoff_day, local_day

    cutoff = cutoff_day(as_of, tz)
    out = []
    ids = sorted(patient_ids)
    for start in range(0, len(ids), 1000):
        for r in completed_rows(uow, ids[start:start + 1000]):
            at = r.completed_at or r.recorded_at
            if r.instrument in core.INSTRUMENTS and r.total is not None and local_day(at, tz) < cutoff:
                out.append(PromRow(response_id=r.id, patient_id=r.patient_id, instrument=r.instrument, completed_at=at,
                                   context=r.context, total=r.total, severity=r.severity, prorated=r.prorated,
                                   self_harm_item=any(f.get("code") == core.SELF_HARM for f in r.flags or ())))
    return tuple(out)
