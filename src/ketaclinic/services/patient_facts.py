"""What the cohort pages need about many patients at once, in three queries instead of three per patient.

The outcomes cohort and the follow-up lists (boosters due, risk checks due) look at every patient's
current signed evaluation, discharged sessions and diary. Loading them patient by patient was an
N+1 pattern (about 120 queries for a 40-patient clinic); :func:`load_patient_facts` reads each kind
once for all the patients asked about and groups the rows in memory. The rules applied afterwards
are the same functions the single-patient paths use (``current_signed_evaluation``'s choice,
``diary.effective_days``), so both paths give the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, null, select
from sqlalchemy.orm import Session

from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.sessions import InfusionSession


@dataclass
class PatientFacts:
    patient_id: int
    evaluation: Evaluation | None = None  # the current signed evaluation (no signed amendment replaces it)
    discharged_days: list[date] = field(default_factory=list)  # days of discharged sessions, in order
    diary: list[Any] = field(default_factory=list)  # rows with id, recorded_at, pain_nrs, amends_id, urinary_symptoms


def _in(query: Any, column: Any, ids: list[int] | None) -> Any:
    return query if ids is None else query.where(column.in_(ids))


def load_patient_facts(uow: Session, patient_ids: Iterable[int] | None = None, *,
                       urinary_since: datetime | None = None) -> dict[int, PatientFacts]:
    """Facts for ``patient_ids`` (every patient with any record when None), keyed by patient id. With
    ``urinary_since``, the diary's urinary symptoms are read only from that time on (None before it): the
    follow-up rules look back 30 days, and decoding every entry's JSON was a third of their cost (issue 17)."""
    ids = None if patient_ids is None else sorted(set(patient_ids))
    facts: dict[int, PatientFacts] = {pid: PatientFacts(pid) for pid in ids or []}

    def of(pid: int) -> PatientFacts:
        return facts.setdefault(pid, PatientFacts(pid))

    signed = uow.execute(_in(select(Evaluation).where(Evaluation.status == "signed"), Evaluation.patient_id, ids)
                             .order_by(Evaluation.signed_at.desc(), Evaluation.id.desc())).scalars().all()
    by_patient: dict[int, list[Evaluation]] = {}
    for evaluation in signed:
        by_patient.setdefault(evaluation.patient_id, []).append(evaluation)
    for pid, evaluations in by_patient.items():  # as services.evaluations.current_signed_evaluation
        replaced = {e.amends_id for e in evaluations if e.amends_id is not None}
        of(pid).evaluation = next((e for e in evaluations if e.id not in replaced), None)

    discharged = uow.execute(_in(select(InfusionSession.patient_id, InfusionSession.discharged_at)
                                     .where(InfusionSession.state == "discharged"), InfusionSession.patient_id, ids)
                                 .order_by(InfusionSession.discharged_at)).all()
    for pid, at in discharged:
        if at is not None:
            of(pid).discharged_days.append(at.date())

    urinary: Any = DiaryEntry.urinary_symptoms
    if urinary_since is not None:
        urinary = case((DiaryEntry.recorded_at >= urinary_since, DiaryEntry.urinary_symptoms),
                       else_=null()).label("urinary_symptoms")
    rows = uow.execute(_in(select(DiaryEntry.id, DiaryEntry.patient_id, DiaryEntry.recorded_at, DiaryEntry.pain_nrs,
                                      DiaryEntry.amends_id, urinary), DiaryEntry.patient_id, ids)
                           .order_by(DiaryEntry.recorded_at, DiaryEntry.id)).all()
    for row in rows:
        of(row.patient_id).diary.append(row)
    return facts
