"""The patient's diary between sessions, and the booster suggestion drawn from it.

A patient writes their own entries (pain NRS 0-10, mood, sleep, function, opioid doses, urinary
symptoms); physicians and nurses may enter one for them (a phone follow-up). Entries are facts:
never edited; a correction is a new entry that ``amends`` the old one, and from then on the
correction counts in its place. Opioid doses are turned into morphine milligram equivalents
with the CDC 2022 factors (:func:`ketaclinic.clinical.follow_up.daily_mme`; unknown opioids are
refused rather than guessed).

The booster suggestion is :func:`ketaclinic.clinical.follow_up.booster_advice` over the diary since
the last discharged session, against the pre-course pain: the NRS of the patient's current
signed evaluation (``pain.nrs_now``); when that was not recorded, the mean of the diary entries
before the first session (clinic policy). A patient sees only their own diary: anyone else's
answers 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.follow_up import DiaryEntry as CoreDiaryEntry
from ketaclinic.clinical.follow_up import OpioidDose, UnknownOpioidError, booster_advice, daily_mme
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.services import course_summaries
from ketaclinic.services.clinic_settings import current_booster_policy
from ketaclinic.services.common import (
    Page,
    audit,
    clamp_limit,
    cursor_int,
    page_of,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.evaluations import RecordId, current_signed_evaluation
from ketaclinic.services.patients import load_patient
from ketaclinic.services.types import Text

WRITE_ROLES = ("patient", "physician", "nurse")
READ_ROLES = ("patient", "physician", "nurse")


class UrinarySymptoms(BaseModel):
    """Ketamine uropathy screen (chan2022_uropathy): asked at every visit and in the diary."""

    model_config = ConfigDict(extra="forbid")
    frequency: bool = False
    urgency: bool = False
    bladder_pain: bool = False
    blood_in_urine: bool = False


class DiaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: RecordId | None = Field(default=None, description="Omit as a patient (your own diary)")
    day: date | None = Field(default=None, description="The day the entry is about (default: today)")
    pain_nrs: int = Field(ge=0, le=10, description="Average pain today, 0 (none) to 10 (worst imaginable)")
    mood: int | None = Field(default=None, ge=0, le=10)
    sleep: int | None = Field(default=None, ge=0, le=10)
    function: int | None = Field(default=None, ge=0, le=10)
    opioid_doses: list[OpioidDose] = Field(default_factory=list, max_length=20)
    urinary_symptoms: UrinarySymptoms = Field(default_factory=UrinarySymptoms)
    note: Text | None = Field(default=None, max_length=5000)
    amends_id: RecordId | None = None

    @field_validator("pain_nrs", "mood", "sleep", "function", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number from 0 to 10")
        return value


class DiaryView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    patient_id: int
    day: date
    recorded_at: datetime
    pain_nrs: int
    mood: int | None
    sleep: int | None
    function: int | None
    opioid_doses: list[dict[str, Any]]
    mme_per_day: float | None
    urinary_symptoms: dict[str, Any]
    note: str | None
    amends_id: int | None


class BoosterView(BaseModel):
    patient_id: int
    today: date
    baseline_pain_nrs: float | None
    baseline_source: str | None
    last_session_day: date | None
    suggest_booster: bool
    relief_faded: bool
    had_relief: bool
    earliest_booster_day: date | None
    entries_in_window: int
    message: str
    source: str | None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=UTC)  # midday UTC: the same calendar day in every clinic zone


def _mme(doses: list[dict[str, Any]]) -> float | None:
    if not doses:
        return None
    return daily_mme([OpioidDose.model_validate(d) for d in doses]).total_mme_per_day


def view_of(entry: DiaryEntry) -> DiaryView:
    return DiaryView(
        id=entry.id, version=entry.version, created_at=entry.created_at, created_by=entry.created_by,
        patient_id=entry.patient_id, day=entry.recorded_at.date(), recorded_at=entry.recorded_at,
        pain_nrs=entry.pain_nrs, mood=entry.mood, sleep=entry.sleep, function=entry.function,
        opioid_doses=entry.opioid_doses, mme_per_day=_mme(entry.opioid_doses),
        urinary_symptoms=entry.urinary_symptoms, note=entry.note, amends_id=entry.amends_id,
    )


def _own_patient_id(actor: Actor, patient_id: int | None) -> int:
    if actor.is_patient:
        assert actor.patient_id is not None
        return actor.patient_id if patient_id is None else patient_id
    if patient_id is None:
        raise ValidationFailed("patient_id is required", field="patient_id")
    return patient_id


def add_entry(db: Database, actor: Actor, data: DiaryIn, *, now: datetime | None = None) -> DiaryView:
    require_role(actor, *WRITE_ROLES)
    now = now or utcnow()
    day = data.day or now.date()
    if day > now.date():
        raise ValidationFailed("a diary entry is about today or a past day", field="day")
    doses = [d.model_dump(exclude_none=True) for d in data.opioid_doses]
    try:
        mme = _mme(doses)
    except UnknownOpioidError as error:
        raise ValidationFailed(str(error), code="unknown_opioid", field="opioid_doses") from None
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, _own_patient_id(actor, data.patient_id))
        if patient.birth_date is not None and day < patient.birth_date:
            raise ValidationFailed(f"day must be from the patient's birth ({patient.birth_date.isoformat()}) to today",
                                   field="day")
        if data.amends_id is not None:
            target = uow.get(DiaryEntry, data.amends_id)
            if target is None or target.patient_id != patient.id:
                raise ValidationFailed("amends_id names no entry of this diary", field="amends_id")
        entry = DiaryEntry(
            patient_id=patient.id, recorded_at=_day_start(day), pain_nrs=data.pain_nrs, mood=data.mood, sleep=data.sleep,
            function=data.function, opioid_doses=doses, urinary_symptoms=data.urinary_symptoms.model_dump(),
            note=data.note, amends_id=data.amends_id, created_at=now, created_by=actor.user_id,
        )
        uow.add(entry)
        uow.flush()
        audit(uow, actor, "diary.create", "diary_entry", entry.id,
              {"patient_id": patient.id, "amends": data.amends_id, "mme_per_day": mme})
        course_summaries.refresh(uow, patient.id)  # the outcome summary moves with the diary (issue 17)
        return view_of(entry)


def list_entries(db: Database, actor: Actor, *, patient_id: int | None = None, since: date | None = None,
                 limit: int | None = None, cursor: str | None = None) -> Page[DiaryView]:
    require_role(actor, *READ_ROLES)
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, _own_patient_id(actor, patient_id))
        query = (select(DiaryEntry).where(DiaryEntry.patient_id == patient.id, DiaryEntry.id > after)
                 .order_by(DiaryEntry.id).limit(limit + 1))
        if since is not None:
            query = query.where(DiaryEntry.recorded_at >= _day_start(since).replace(hour=0))
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "diary.list", "patient", patient.id, {"count": len(rows[:limit])})
        return page_of(rows, limit, view_of)


def current_by_day(entries: Iterable[DiaryEntry]) -> dict[date, DiaryEntry]:
    """The entry that counts for each day, in day order: an amended entry is replaced by its
    correction (the original stays in the record), and the last entry of a day is kept."""
    entries = list(entries)
    replaced = {e.amends_id for e in entries if e.amends_id is not None}
    by_day: dict[date, DiaryEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.recorded_at, e.id)):
        if entry.id not in replaced:
            by_day[entry.recorded_at.date()] = entry
    return dict(sorted(by_day.items()))


def effective_days(entries: list[DiaryEntry]) -> list[CoreDiaryEntry]:
    """One value per day for the core (:func:`current_by_day`)."""
    return [CoreDiaryEntry(day=day, pain_nrs=e.pain_nrs) for day, e in current_by_day(entries).items()]


def patient_entries(uow: Session, patient_id: int) -> list[DiaryEntry]:
    return list(uow.execute(select(DiaryEntry).where(DiaryEntry.patient_id == patient_id)
                                .order_by(DiaryEntry.recorded_at, DiaryEntry.id)).scalars())


def discharged_days(uow: Session, patient_id: int) -> list[date]:
    rows = uow.execute(select(InfusionSession.discharged_at).where(
        InfusionSession.patient_id == patient_id, InfusionSession.state == "discharged")
        .order_by(InfusionSession.discharged_at)).scalars().all()
    return [r.date() for r in rows if r is not None]


def baseline_pain(uow: Session, patient_id: int, days: list[CoreDiaryEntry],
                  first_session_day: date | None) -> tuple[float | None, str | None]:
    """The pre-course pain: the signed evaluation's NRS, else the mean diary NRS before the first session."""
    evaluation = current_signed_evaluation(uow, patient_id)
    nrs = ((evaluation.screening_input or {}).get("pain") or {}).get("nrs_now") if evaluation else None
    if nrs:
        return float(nrs), f"evaluation {evaluation.id}"  # type: ignore[union-attr]
    before = [d.pain_nrs for d in days if first_session_day is None or d.day < first_session_day]
    if before and sum(before) > 0:
        return round(sum(before) / len(before), 2), "diary before the first session"
    return None, None


def booster_suggestion(db: Database, actor: Actor, patient_id: int | None = None, *,
                       today: date | None = None) -> BoosterView:
    require_role(actor, *READ_ROLES)
    today = today or utcnow().date()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, _own_patient_id(actor, patient_id))
        days = [d for d in effective_days(patient_entries(uow, patient.id)) if d.day <= today]
        sessions = [d for d in discharged_days(uow, patient.id) if d <= today]
        baseline, baseline_source = baseline_pain(uow, patient.id, days, sessions[0] if sessions else None)
        audit(uow, actor, "diary.booster", "patient", patient.id)
        empty: dict[str, Any] = dict(patient_id=patient.id, today=today, baseline_pain_nrs=baseline,
                                     baseline_source=baseline_source, last_session_day=sessions[-1] if sessions else None,
                                     suggest_booster=False, relief_faded=False, had_relief=False,
                                     earliest_booster_day=None, entries_in_window=0, source=None)
        if not sessions:
            return BoosterView(**empty, message="No completed session yet: nothing to boost.")
        if baseline is None:
            return BoosterView(**empty, message="No pre-course pain recorded (evaluation NRS or diary): cannot judge relief.")
        advice = booster_advice(baseline, days, sessions[-1], today, current_booster_policy(uow))
        return BoosterView(**{**empty, "suggest_booster": advice.suggest_booster, "relief_faded": advice.relief_faded,
                              "had_relief": advice.had_relief, "earliest_booster_day": advice.earliest_booster_day,
                              "entries_in_window": advice.entries_in_window, "source": advice.source},
                           message=advice.message)
