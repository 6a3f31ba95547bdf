"""Keeping the per-patient follow-up summaries (records/follow_up.py, ``FollowUpSummary``) up to date (issue 17).

The dashboards' follow-up panels (boosters due, overdue risk checks) used to run the rules for the 25 most
recently seen patients on every request (about 3 ms a patient, reading each one's whole diary), and missed
any patient seen earlier: a patient overdue for liver tests before a course booked two months after the
last visit was not on the front page. The answer now lives in one row per patient:

- **on write**, any change to what the rules read (a session booked, moved, checked in, discharged or
  cancelled, its checklist; a diary entry; a risk check; a plan signed or superseded; an evaluation signed;
  the patient moved to another site) makes the patient's row **stale** in the same transaction, just before
  the commit (:func:`_mark_before_commit`, ahead of the audit chain so the chain's lock window stays its own
  three statements), with the columns the pages select by (site, last seen, in treatment) brought up to date.
  One listener for every service, not a call in each: a new write path cannot forget it. Running the rules
  there instead tripled the CPU of the 40-patient demo (every diary entry is a transaction) for an answer
  the next write would replace; Core statements that bypass the ORM (the bulk demo loader) add stale rows.
- **with time**: a row computed for ``computed_on`` holds until the day before ``review_on``, the first day
  time alone may change it (:func:`ketaclinic.services.follow_up.review_on`: a diary day leaving the
  booster window, a check falling due and then overdue, the earliest booster day, the next course's day
  passing, a urinary report leaving its 30-day look-back...), at most :data:`MAX_VALID_DAYS` later.
- **stale rows** are computed by whoever needs them first: the follow-up pages for the rows they show
  (a page's worth at most), the worker (:func:`refresh_stale`, in ``ketaclinic serve`` and ``ketaclinic
  worker``, every pass) for the rest, in batches. A change of the clinic's booster interval makes every row
  stale. What a page shows is therefore never older than today and never older than the last change.

Rows are derived data, not clinical records: rewritten in place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, event, false, func, inspect, literal, null, or_, select, true, update
from sqlalchemy.orm import Session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database, JSONType, UTCDateTime
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.follow_up import FollowUpSummary, RiskCheck
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession

EPOCH = date(1970, 1, 1)  # computed_on and review_on of a row never computed (stale at once)
MAX_VALID_DAYS = 31  # a row is recomputed at least this often, whatever its review day (defence in depth)
REFRESH_BATCH = 500
_TABLE = FollowUpSummary.__table__
_MARKED = "follow_up_summaries.marked"  # uow.info: patient ids whose site, last visit or plans may have changed
_MARKED_STALE = "follow_up_summaries.stale"  # uow.info: patient ids with only other changes (diary, checks...)
_MOVES_ROW = (InfusionSession, Plan, Patient)  # changes that can move a row in the pages' order or filter
# what the rules read, by record: None means any new row counts; a set names the columns whose change counts
_WATCHED: dict[type, frozenset[str] | None] = {
    InfusionSession: frozenset({"patient_id", "plan_id", "state", "scheduled_at", "discharged_at", "checklist"}),
    DiaryEntry: None,
    RiskCheck: None,
    Plan: frozenset({"patient_id", "status", "series_rule", "supersedes_id", "protocol_id"}),
    Evaluation: frozenset({"patient_id", "status", "screening_input", "amends_id", "signed_at"}),
    Patient: frozenset({"site_id"}),
}


def panel_of(result: Any) -> tuple[bool, str | None, list[dict[str, Any]]]:
    """What the panels show of a :class:`~ketaclinic.services.follow_up.PatientFollowUp`: whether a booster
    is due (and why), and the overdue checks. A check that is due "now" (never recorded, or urinary symptoms
    reported) carries no due day: the rules give it today's date, which would change the row every day."""
    overdue = []
    for check in result.checks:
        if not check.overdue:
            continue
        undated = check.code == "urinary_symptoms" or "never recorded" in check.message
        overdue.append({"code": check.code, "check": check.name, "what": check.message,
                        "due_on": None if undated or check.due_on is None else check.due_on.isoformat(),
                        "source": check.source})
    return result.booster_due, result.booster_message if result.booster_due else None, overdue


def _places(uow: Session, ids: list[int]) -> tuple[dict[int, int], dict[int, datetime], set[int]]:
    """What the pages select rows by, for these patients: their site, their latest booking that was not
    cancelled, and which of them have a signed plan (three indexed queries for all of them)."""
    sites = dict(uow.execute(select(Patient.id, Patient.site_id).where(Patient.id.in_(ids))).all())
    seen = {}
    for pid, at in uow.execute(select(InfusionSession.patient_id, func.max(InfusionSession.scheduled_at))
                               .where(InfusionSession.patient_id.in_(ids), InfusionSession.state != "cancelled")
                               .group_by(InfusionSession.patient_id)).all():
        if at is not None and not isinstance(at, datetime):  # SQLite's max() gives the stored text, not the type's
            at = datetime.fromisoformat(str(at))
        seen[pid] = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    signed = set(uow.execute(select(Plan.patient_id).where(Plan.patient_id.in_(ids), Plan.status == "signed")
                             .distinct()).scalars())
    return sites, seen, signed


def compute(uow: Session, patient_ids: list[int], today: date) -> list[dict[str, Any]]:
    """The rows of these patients for ``today``, from their records (a fixed handful of queries for all)."""
    from ketaclinic.services.clinic_settings import current_booster_policy
    from ketaclinic.services.follow_up import _follow_up, _load, review_on

    if not patient_ids:
        return []
    ids = sorted(set(patient_ids))
    sites, seen, _signed = _places(uow, ids)
    ids = [pid for pid in ids if pid in sites]
    records = _load(uow, ids, today)
    policy = current_booster_policy(uow)
    rows = []
    now = utcnow()
    for pid in ids:
        result = _follow_up(records[pid], today, policy)
        booster_due, message, overdue = panel_of(result)
        in_treatment = bool(records[pid].plans)
        rows.append({"patient_id": pid, "site_id": sites[pid], "last_seen_at": seen.get(pid), "in_treatment": in_treatment,
                     "needs_action": in_treatment and (booster_due or bool(overdue)), "booster_due": booster_due,
                     "booster_message": message, "overdue": overdue, "computed_on": today,
                     "review_on": min(review_on(records[pid], today, policy), today + timedelta(days=MAX_VALID_DAYS)),
                     "updated_at": now})
    return rows


def mark_stale_only(uow: Session, patient_ids: list[int]) -> None:
    """After a change that cannot move a patient's row in the pages' order or filter (a diary entry, a risk
    check, an evaluation): their rows are stale, one statement."""
    uow.execute(update(_TABLE).where(_TABLE.c.patient_id.in_(sorted(set(patient_ids))))
                .values(review_on=_TABLE.c.computed_on, version=_TABLE.c.version + 1))


def mark_stale(uow: Session, patient_ids: list[int]) -> None:
    """After a change to these patients' records: their rows are stale (recomputed before they are shown, or by
    the worker), with the columns the pages select by (site, last seen, in treatment) brought up to date now, so
    a patient who just came into treatment is among the rows the pages look at. Three indexed queries and one
    write for all of them: a write pays this, never the rules (which read the patient's whole diary)."""
    ids = sorted(set(patient_ids))
    sites, seen, signed = _places(uow, ids)
    now = utcnow()
    rows = [{"patient_id": pid, "site_id": sites[pid], "last_seen_at": seen.get(pid), "in_treatment": pid in signed,
             "updated_at": now} for pid in ids if pid in sites]
    if not rows:
        return
    existing = set(uow.execute(select(_TABLE.c.patient_id)
                               .where(_TABLE.c.patient_id.in_([r["patient_id"] for r in rows]))).scalars())
    updates = [{**r, "pid": r["patient_id"]} for r in rows if r["patient_id"] in existing]
    if updates:
        uow.execute(update(_TABLE).where(_TABLE.c.patient_id == bindparam("pid")).values(
            site_id=bindparam("site_id"), last_seen_at=bindparam("last_seen_at"),
            in_treatment=bindparam("in_treatment"), updated_at=bindparam("updated_at"),
            review_on=_TABLE.c.computed_on, version=_TABLE.c.version + 1), updates)
    inserts = [{**r, "needs_action": False, "booster_due": False, "booster_message": None, "overdue": [],
                "computed_on": EPOCH, "review_on": EPOCH, "version": 0} for r in rows if r["patient_id"] not in existing]
    if inserts:
        uow.execute(_TABLE.insert(), inserts)


def store(uow: Session, rows: list[dict[str, Any]], versions: dict[int, int]) -> int:
    """Write computed rows over the versions they were computed from (``versions``: patient id -> the row's
    ``version`` when it was read). A row marked stale meanwhile (a write to the patient's records committed
    while the rules ran) has moved on and is left stale: storing the older answer over it would hide the
    change until the review day. Returns the number of rows written."""
    updates = [{**r, "pid": r["patient_id"], "seen": versions[r["patient_id"]]} for r in rows
               if r["patient_id"] in versions]
    if not updates:
        return 0
    values = {name: bindparam(name) for name in rows[0] if name != "patient_id"}
    result = uow.connection().execute(update(_TABLE).where(_TABLE.c.patient_id == bindparam("pid"),
                                                           _TABLE.c.version == bindparam("seen")).values(values), updates)
    return result.rowcount


def stale(today: date) -> Any:
    """The rows whose answer may not hold on ``today``."""
    return or_(_TABLE.c.computed_on > today, _TABLE.c.review_on <= today)


def mark_all_stale(uow: Session) -> None:
    """Every row is recomputed before it is shown again (the clinic's booster interval changed)."""
    uow.execute(update(_TABLE).values(review_on=_TABLE.c.computed_on, version=_TABLE.c.version + 1))


def refresh_stale(db: Database, *, batch: int = REFRESH_BATCH, today: date | None = None) -> int:
    """Recompute one batch of stale rows (the longest stale first); the number recomputed. The worker calls it
    until it returns 0; concurrent callers only repeat each other's work (the answer is the same). Read by the
    review-day index, which holds the stale rows at its start: ordered by last seen, PostgreSQL walked that
    index instead and filtered all 100,000 rows (55 ms a pass) to find the one a nurse's write had staled."""
    today = today or utcnow().date()
    with db.transaction() as uow:  # (a clock set back is the pages' to notice)
        versions = dict(uow.execute(select(_TABLE.c.patient_id, _TABLE.c.version).where(_TABLE.c.review_on <= today)
                                    .order_by(_TABLE.c.review_on).limit(batch)).all())
        store(uow, compute(uow, list(versions), today), versions)
        return len(versions)


def backlog_left(refreshed: int, *, batch: int = REFRESH_BATCH) -> bool:
    """Whether a refresh pass that recomputed ``refreshed`` rows may have left more: it filled its batch."""
    return refreshed >= batch


def add_missing(uow: Session) -> int:
    """A stale row for every patient who has none (records written by Core statements, such as the bulk demo
    loader, pass no listener): the site, the latest booking not cancelled and whether a signed plan exists, in
    one statement; the worker computes the rest. Returns the number of rows added."""
    last_seen = (select(func.max(InfusionSession.scheduled_at)).where(InfusionSession.patient_id == Patient.id,
                                                                       InfusionSession.state != "cancelled")
                 .scalar_subquery())
    signed = select(Plan.id).where(Plan.patient_id == Patient.id, Plan.status == "signed").exists()
    missing = ~select(_TABLE.c.patient_id).where(_TABLE.c.patient_id == Patient.id).exists()
    query = select(Patient.id, Patient.site_id, last_seen, signed, false(), false(), null(), literal([], JSONType),
                   literal(EPOCH), literal(EPOCH), literal(utcnow(), UTCDateTime()), literal(0)).where(missing)
    columns = ["patient_id", "site_id", "last_seen_at", "in_treatment", "needs_action", "booster_due",
               "booster_message", "overdue", "computed_on", "review_on", "updated_at", "version"]
    count = uow.execute(select(func.count()).select_from(Patient).where(missing)).scalar_one()
    if count:  # (the driver's row count of an INSERT ... SELECT is not reliable on every engine)
        uow.execute(_TABLE.insert().from_select(columns, query))
    return count


def stale_count(db: Database, *, today: date | None = None) -> int:
    with db.reading() as uow:
        return uow.execute(select(func.count()).select_from(_TABLE).where(stale(today or utcnow().date()))).scalar_one()


def page(uow: Session, site_filter: Any, *, today: date, since: datetime, limit: int,
         after: tuple[datetime, int] | None) -> tuple[list[Any], bool]:
    """The next ``limit`` rows in treatment, seen since ``since`` (latest first, after ``after``), that need
    action or are stale: by the last-seen index, whatever the size of the clinic; and whether more follow."""
    query = select(_TABLE, stale(today).label("is_stale")).where(
        _TABLE.c.in_treatment == true(), _TABLE.c.last_seen_at >= since,
        or_(_TABLE.c.needs_action == true(), stale(today)))
    query = site_filter(query)
    if after is not None:
        query = query.where(or_(_TABLE.c.last_seen_at < after[0],
                                and_(_TABLE.c.last_seen_at == after[0], _TABLE.c.patient_id < after[1])))
    rows = list(uow.execute(query.order_by(_TABLE.c.last_seen_at.desc(), _TABLE.c.patient_id.desc())
                            .limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit


# --- keeping rows up to date on write --------------------------------------------------------------


def _changed(obj: Any, columns: frozenset[str] | None) -> bool:
    if columns is None:
        return False
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def _patient_of(obj: Any) -> int | None:
    return obj.id if isinstance(obj, Patient) else getattr(obj, "patient_id", None)


@event.listens_for(Session, "after_flush")
def _mark_changed_patients(uow: Session, _context: Any) -> None:
    """Note the patients whose follow-up may have changed in this flush (ids of new rows are known here)."""
    def note(obj: Any, pid: int) -> None:
        uow.info.setdefault(_MARKED if isinstance(obj, _MOVES_ROW) else _MARKED_STALE, set()).add(pid)

    for obj in uow.new:
        if type(obj) in _WATCHED and (pid := _patient_of(obj)) is not None:
            note(obj, pid)
    for obj in uow.dirty:
        columns = _WATCHED.get(type(obj), frozenset())
        if columns and _changed(obj, columns) and (pid := _patient_of(obj)) is not None:
            note(obj, pid)
            if isinstance(obj, InfusionSession | Plan | Evaluation):  # a record moved to another patient
                history = inspect(obj).attrs["patient_id"].history
                for previous in history.deleted or ():
                    if previous is not None:
                        uow.info.setdefault(_MARKED, set()).add(previous)


def _mark_before_commit(uow: Session) -> None:
    """Mark the changed patients' rows stale as the transaction's last own writes (before the audit chain's)."""
    if not uow.info.get(_MARKED) and not uow.info.get(_MARKED_STALE):
        return
    uow.flush()  # pending changes first: they may mark more patients
    moved = uow.info.pop(_MARKED, set())
    others = uow.info.pop(_MARKED_STALE, set()) - moved
    if moved:
        mark_stale(uow, sorted(moved))
    if others:
        mark_stale_only(uow, sorted(others))


def _forget_marks(uow: Session, *_args: Any) -> None:
    uow.info.pop(_MARKED, None)
    uow.info.pop(_MARKED_STALE, None)


# ahead of records/audit.py's chain (registered at import, earlier): the chain must be the last thing before the
# commit, its lock held for its own three statements only
event.listen(Session, "before_commit", _mark_before_commit, insert=True)
event.listen(Session, "after_rollback", _forget_marks)
