"""Cohort outcomes from the validated questionnaires (issue 15): change in PHQ-9 and GAD-7 from baseline, the share
reaching each instrument's MCID, and PGIC responders ("much" or "very much improved", IMMPACT: Dworkin 2008).

One query over the current completed responses at the actor's sites (a response replaced by a later version is
not counted); baseline is a patient's first completed total, follow-up their latest one after it. No published
series with these measures after low-dose ketamine infusions for chronic pain is in the evidence registry yet, so
none is shown beside them (the clinic's own numbers, decision support only).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from ketaclinic.clinical import questionnaires as core
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.questionnaires import QuestionnaireResponse
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.sites import site_bound

ROLES = ("physician", "nurse")


class ChangeSummary(BaseModel):
    instrument: str
    name: str
    patients: int  # with a baseline and a later follow-up
    mean_baseline: float | None
    mean_latest: float | None
    mean_change: float | None
    mcid: float | None
    mcid_source: str | None
    improved: int  # reached the MCID (improvement)
    improved_pct: float | None


class PgicSummary(BaseModel):
    patients: int
    responders: int
    responders_pct: float | None
    by_category: dict[str, int]
    source: str


class PromOutcomes(BaseModel):
    changes: list[ChangeSummary]
    pgic: PgicSummary
    note: str


def _rows(uow: Any, actor: Actor, start: date | None, end: date | None) -> list[tuple]:
    query = select(QuestionnaireResponse.id, QuestionnaireResponse.replaces_id, QuestionnaireResponse.patient_id,
                   QuestionnaireResponse.instrument, QuestionnaireResponse.total, QuestionnaireResponse.completed_at,
                   QuestionnaireResponse.status)
    if site_bound(actor):
        query = query.where(QuestionnaireResponse.site_id.in_(actor.site_ids))
    rows = list(uow.execute(query).all())
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    lo = datetime.combine(start, time.min).replace(tzinfo=utcnow().tzinfo) if start else None
    hi = datetime.combine(end, time.max).replace(tzinfo=utcnow().tzinfo) if end else None
    return [r for r in rows if r.id not in replaced and r.status == "complete" and r.total is not None
            and r.completed_at is not None and (lo is None or r.completed_at >= lo) and (hi is None or r.completed_at <= hi)]


def summarise(rows: list[tuple]) -> PromOutcomes:
    """The cohort summary from ``(patient_id, instrument, total, completed_at, ...)`` rows (pure arithmetic)."""
    series: dict[tuple[str, int], list[tuple[datetime, int, int]]] = defaultdict(list)
    for r in rows:
        series[(r.instrument, r.patient_id)].append((r.completed_at, r.id, int(r.total)))
    changes = []
    for instrument in (core.PHQ9, core.GAD7):
        pairs = []
        for (name, _), points in series.items():
            if name == instrument.id and len(points) >= 2:
                points.sort()
                pairs.append((points[0][2], points[-1][2]))
        n = len(pairs)
        improved = sum(1 for b, last in pairs if instrument.mcid is not None and b - last >= instrument.mcid)
        changes.append(ChangeSummary(
            instrument=instrument.id, name=instrument.short_name, patients=n,
            mean_baseline=round(sum(b for b, _ in pairs) / n, 1) if n else None,
            mean_latest=round(sum(last for _, last in pairs) / n, 1) if n else None,
            mean_change=round(sum(last - b for b, last in pairs) / n, 1) if n else None,
            mcid=instrument.mcid, mcid_source=instrument.mcid_source, improved=improved,
            improved_pct=round(100 * improved / n, 1) if n else None))
    latest_pgic = {pid: max(points)[2] for (name, pid), points in series.items() if name == "pgic"}
    categories: dict[str, int] = {code: 0 for code in core.PGIC_CODES.values()}
    for value in latest_pgic.values():
        categories[core.PGIC_CODES[value]] += 1
    responders = sum(1 for v in latest_pgic.values() if core.PGIC_CODES[v] in core.PGIC.responder_codes)
    n = len(latest_pgic)
    return PromOutcomes(
        changes=changes,
        pgic=PgicSummary(patients=n, responders=responders, responders_pct=round(100 * responders / n, 1) if n else None,
                         by_category=categories, source="dworkin2008_immpact"),
        note="Baseline: a patient's first completed questionnaire; follow-up: their latest. Change is follow-up minus "
             "baseline (lower is better). No published series with these measures is in the evidence registry yet.")


def report_outcomes(uow: Any, actor: Actor, start: date, end: date) -> PromOutcomes:
    """The PROMs section of the outcome report (services/documents.py, inside its transaction): the patients with
    a questionnaire completed in [start, end], each compared with their first one (which may be earlier)."""
    rows = _rows(uow, actor, None, end)
    lo = datetime.combine(start, time.min).replace(tzinfo=utcnow().tzinfo)
    active = {(r.patient_id, r.instrument) for r in rows if r.completed_at >= lo}
    return summarise([r for r in rows if (r.patient_id, r.instrument) in active])


def prom_outcomes(db: Database, actor: Actor, *, start: date | None = None, end: date | None = None) -> PromOutcomes:
    """The clinic's questionnaire outcomes at the actor's sites (physicians and nurses; the read is audited)."""
    require_role(actor, *ROLES)
    with unit_of_work(db) as uow:
        result = summarise(_rows(uow, actor, start, end))
        audit(uow, actor, "questionnaire.outcomes", None, None,
              {"phq9": result.changes[0].patients, "gad7": result.changes[1].patients, "pgic": result.pgic.patients})
        return result
