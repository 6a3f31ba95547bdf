"""Keeping the per-course summaries (records/course_summaries.py) up to date (issue 17, "Scale").

:func:`refresh` recomputes one patient's row from their records with the very function the
outcome definitions use (:func:`ketaclinic.services.outcomes.course_of`), in the caller's
transaction, so the row commits or rolls back with the change that moved it. The services call it
where a course's data changes: a session discharged or cancelled (services/sessions.py), a diary
entry or its correction (services/diary.py), an evaluation signed (services/evaluations.py; an
amendment counts once it is signed). :func:`rebuild` recomputes every row in batches (after a
restore, for a database that had history before migration 0019, and by the bulk demo loader's
check); :func:`summary_values` turns a computed course into the row, shared by all of them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ketaclinic.clinical.outcomes import classify_response
from ketaclinic.clock import utcnow
from ketaclinic.records.course_summaries import CourseSummary
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import Patient
from ketaclinic.services.common import audit
from ketaclinic.services.context import Actor

REBUILD_BATCH = 500


def summary_values(patient_id: int, site_id: int, course: Any, discharged_days: list[date],
                   last_diary_day: date | None) -> dict[str, Any]:
    """The row for a patient from :func:`~ketaclinic.services.outcomes.course_of`'s answer (a course, or
    the reason there is none) and the days of their discharged sessions."""
    from ketaclinic.services.outcomes import course_end_and_booster

    row: dict[str, Any] = {
        "patient_id": patient_id, "site_id": site_id, "reason": None, "condition": None, "baseline_nrs": None,
        "course_start": None, "course_end": None, "sessions_in_course": 0, "first_booster_day": None, "boosters": 0,
        "followup_nrs": None, "followup_days": 0, "reduction_pct": None, "responder_30": None, "responder_50": None,
        "two_point": None, "relief_days": None, "relief_lost": None, "last_diary_day": last_diary_day,
    }
    if discharged_days:
        end, booster = course_end_and_booster(discharged_days)
        row.update(course_start=discharged_days[0], course_end=end, first_booster_day=booster,
                   sessions_in_course=sum(1 for d in discharged_days if d <= end),
                   boosters=sum(1 for d in discharged_days if d > end))
    if isinstance(course, str):
        row["reason"] = course
        return row
    row.update(condition=course.condition, baseline_nrs=course.baseline_nrs, course_end=course.course_end,
               followup_nrs=course.followup_nrs, followup_days=course.followup_days)
    if course.followup_nrs is not None:
        response = classify_response(course.baseline_nrs, course.followup_nrs)
        row.update(reduction_pct=response.reduction_pct, responder_30=response.responder_30,
                   responder_50=response.responder_50, two_point=response.two_point)
    if course.durability is not None:
        row.update(relief_days=course.durability.duration_days, relief_lost=course.durability.event_observed)
    return row


def _store(uow: Session, rows: list[dict[str, Any]]) -> None:
    now = utcnow()
    for values in rows:
        existing = uow.get(CourseSummary, values["patient_id"])
        if existing is None:
            uow.add(CourseSummary(**values, updated_at=now))
        else:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.updated_at = now


def compute(uow: Session, patient_ids: list[int], *, today: date | None = None) -> list[dict[str, Any]]:
    """The rows of these patients, computed from their records (three queries for all of them); with
    ``today``, as the records stood that day (diary days after it left out, as the outcomes do)."""
    from ketaclinic.services.diary import effective_days
    from ketaclinic.services.outcomes import course_of
    from ketaclinic.services.patient_facts import load_patient_facts

    facts = load_patient_facts(uow, patient_ids)
    sites = dict(uow.execute(select(Patient.id, Patient.site_id).where(Patient.id.in_(patient_ids))).all())
    rows = []
    for pid in patient_ids:
        fact = facts[pid]
        days = [d for d in effective_days(fact.diary) if today is None or d.day <= today]
        rows.append(summary_values(pid, sites[pid], course_of(fact, today), fact.discharged_days,
                                   days[-1].day if days else None))
    return rows


def refresh(uow: Session, patient_id: int) -> None:
    """Recompute one patient's row in the caller's transaction (the hook the services call)."""
    uow.flush()  # the change that triggered the refresh must be visible to the queries
    _store(uow, compute(uow, [patient_id]))


def rebuild(uow: Session, *, batch: int = REBUILD_BATCH) -> int:
    """Recompute every patient's row from the records (rows of patients with nothing recorded are
    dropped: a missing row means "no signed evaluation"). Returns the number of rows written."""
    uow.execute(delete(CourseSummary))
    with_records = select(Evaluation.patient_id).where(Evaluation.status == "signed").distinct()
    from ketaclinic.records.diary import DiaryEntry
    from ketaclinic.records.sessions import InfusionSession

    ids = sorted(set(uow.execute(with_records).scalars())
                 | set(uow.execute(select(InfusionSession.patient_id)
                                   .where(InfusionSession.state == "discharged").distinct()).scalars())
                 | set(uow.execute(select(DiaryEntry.patient_id).distinct()).scalars()))
    written = 0
    for start in range(0, len(ids), batch):
        rows = compute(uow, ids[start:start + batch])
        uow.execute(CourseSummary.__table__.insert(), [{**r, "updated_at": utcnow()} for r in rows])
        written += len(rows)
    return written


def rebuild_if_empty(db: Database) -> int:
    """Fill the summaries of a database that has courses but no summaries yet (``ketaclinic migrate``
    after upgrading a database with history to migration 0019); 0 when there was nothing to do."""
    with db.transaction() as uow:
        if uow.execute(select(func.count()).select_from(CourseSummary)).scalar_one():
            return 0
        if not uow.execute(select(func.count()).select_from(Evaluation)).scalar_one():
            return 0
        written = rebuild(uow)
        audit(uow, Actor.system("migrate"), "outcomes.summaries.rebuild", "cohort", None, {"rows": written})
        return written
