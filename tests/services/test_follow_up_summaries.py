"""Issue 17: the per-patient follow-up summaries the dashboards read are what the chart's rules say, on both
engines: made stale (with the columns the pages select by kept current) in the transaction of every change to
what the rules read, and before the audit chain locks its head; recomputed when stale before they are shown and
by the worker; made stale by a change of the clinic's booster interval; added for rows bulk writes left out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from ketaclinic.clock import utcnow
from ketaclinic.records.follow_up import FollowUpSummary
from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import follow_up as fu
from ketaclinic.services import follow_up_summaries as summaries
from ketaclinic.services import sessions as ss
from tests.interop.flows import completed, signed_plan
from tests.services.test_outcomes import _diary
from tests.statements import recorded_statements

TABLE = FollowUpSummary.__table__


def _stored(db, pid: int) -> dict | None:
    with db.reading() as uow:
        row = uow.execute(select(TABLE).where(TABLE.c.patient_id == pid)).mappings().one_or_none()
        return dict(row) if row else None


def _assert_marked_then_computed(db, pid: int) -> dict:
    """After a write: the patient's row is stale, with the columns the pages select by already current; once
    the worker has passed, it is what the rules give today."""
    row = _stored(db, pid)
    today = utcnow().date()
    assert row["review_on"] <= today or row["computed_on"] > today, "the write left the row fresh"
    with db.reading() as uow:
        places = summaries.compute(uow, [pid], today)[0]
    assert {k: row[k] for k in ("site_id", "last_seen_at", "in_treatment")} == \
        {k: places[k] for k in ("site_id", "last_seen_at", "in_treatment")}
    assert summaries.refresh_stale(db) >= 1
    return _assert_as_computed(db, pid)


def _assert_as_computed(db, pid: int) -> dict:
    """The stored row is the one the rules give today from the records as they are now."""
    with db.reading() as uow:
        fresh = summaries.compute(uow, [pid], utcnow().date())[0]
    stored = _stored(db, pid)
    assert stored is not None
    for name in fresh:
        if name != "updated_at":
            assert stored[name] == fresh[name], (name, stored[name], fresh[name])
    return stored


def _overdue_codes(row: dict) -> set[str]:
    return {c["code"] for c in row["overdue"]}


def _record_checks(db, clinic, pid: int, codes=("cognition_check", "misuse_check")) -> None:
    for code in codes:
        fu.record_risk_check(db, clinic.actors["nurse"], fu.RiskCheckIn(patient_id=pid, code=code))


def test_every_write_marks_the_patients_row_which_the_worker_computes_as_the_rules_do(db, clinic):
    nurse, pid = clinic.actors["nurse"], clinic.own_patient_id
    now = utcnow()
    start = now - timedelta(days=20)
    plan = signed_plan(db, clinic, pid, now=start - timedelta(days=2))
    row = _assert_marked_then_computed(db, pid)
    assert row["in_treatment"] and row["last_seen_at"] is None
    session = completed(db, clinic, plan, start)
    row = _assert_marked_then_computed(db, pid)
    assert row["last_seen_at"] == session.scheduled_at
    assert _overdue_codes(row) == {"cognition_check", "misuse_check"} and row["needs_action"]
    # baseline 8: relief (3) for 10 days, then back to 8 for the last 7: faded, 14 days after the session
    _diary(db, nurse, pid, [3] * 10 + [8] * 7, start + timedelta(days=1))
    row = _assert_marked_then_computed(db, pid)
    assert row["booster_due"] and "Relief has faded" in row["booster_message"]
    _record_checks(db, clinic, pid)
    row = _assert_marked_then_computed(db, pid)
    assert _overdue_codes(row) == set() and row["needs_action"]  # the booster still
    booked = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=pid, plan_id=plan.id,
                                                         scheduled_at=now + timedelta(days=5)))
    row = _assert_marked_then_computed(db, pid)
    assert not row["booster_due"] and not row["needs_action"] and row["last_seen_at"] == booked.scheduled_at
    ss.cancel_session(db, nurse, booked.id, booked.version, ss.CancelIn(reason="Synthetic: patient unwell"))
    row = _assert_marked_then_computed(db, pid)
    assert row["booster_due"] and row["last_seen_at"] == session.scheduled_at


def test_the_panels_show_every_patient_who_needs_action_not_only_the_most_recently_seen(db, clinic):
    """The other patient, seen last, needs nothing; the own patient, seen earlier, has checks overdue. A page of
    one patient used to look at the most recently seen only and show nothing."""
    physician, own, other = clinic.actors["physician"], clinic.own_patient_id, clinic.other_patient_id
    now = utcnow()
    completed(db, clinic, signed_plan(db, clinic, own, now=now - timedelta(days=12)), now - timedelta(days=10))
    completed(db, clinic, signed_plan(db, clinic, other, now=now - timedelta(days=6)), now - timedelta(days=4))
    _record_checks(db, clinic, other)
    summaries.refresh_stale(db)  # the worker's pass
    assert not _stored(db, other)["needs_action"] and _stored(db, own)["needs_action"]
    due = fu.follow_up_due(db, physician, limit=1)
    assert {c["patient_id"] for c in due["overdue_risk_checks"]} == {own}
    assert {c["code"] for c in due["overdue_risk_checks"]} == {"cognition_check", "misuse_check"}
    assert all(c["due_on"] is None for c in due["overdue_risk_checks"])  # never recorded: due now, no date


def test_a_stale_row_is_recomputed_before_it_is_shown(db, clinic):
    physician, pid = clinic.actors["physician"], clinic.own_patient_id
    now = utcnow()
    completed(db, clinic, signed_plan(db, clinic, pid, now=now - timedelta(days=12)), now - timedelta(days=10))
    today = now.date()
    with db.transaction() as uow:  # an answer from weeks ago that no longer holds: nothing overdue
        uow.execute(update(TABLE).where(TABLE.c.patient_id == pid).values(
            needs_action=True, overdue=[], booster_due=False, computed_on=today - timedelta(days=40),
            review_on=today))
    due = fu.follow_up_due(db, physician)
    assert {c["code"] for c in due["overdue_risk_checks"] if c["patient_id"] == pid} == {"cognition_check", "misuse_check"}
    row = _assert_as_computed(db, pid)  # and stored again for today
    assert row["computed_on"] == today and row["review_on"] > today


def test_a_new_booster_interval_makes_every_row_stale(db, clinic):
    pid = clinic.own_patient_id
    now = utcnow()
    completed(db, clinic, signed_plan(db, clinic, pid, now=now - timedelta(days=12)), now - timedelta(days=10))
    summaries.refresh_stale(db)
    assert _stored(db, pid)["review_on"] > utcnow().date()
    admin = clinic.actors["admin"]
    version = cs.get_settings(db, admin).version
    cs.update_settings(db, admin, version, cs.ClinicSettingsPatch(booster_min_interval_days=21))
    with db.reading() as uow:
        rows = uow.execute(select(TABLE.c.review_on, TABLE.c.computed_on)).all()
    assert rows and all(review <= computed for review, computed in rows)


def test_rows_bulk_writes_left_out_are_added_stale_and_computed_by_the_worker(db, clinic, settings):
    from ketaclinic.services import worker

    pid = clinic.own_patient_id
    now = utcnow()
    session = completed(db, clinic, signed_plan(db, clinic, pid, now=now - timedelta(days=12)), now - timedelta(days=10))
    with db.transaction() as uow:  # as after the bulk loader's Core inserts: no row
        uow.execute(delete(TABLE))
        assert summaries.add_missing(uow) >= 2
    row = _stored(db, pid)
    assert row["in_treatment"] and row["last_seen_at"] == session.scheduled_at and row["review_on"] <= now.date()
    assert summaries.stale_count(db) >= 2
    refreshed: list[int] = []
    worker.run(settings, once=True, on_refresh=refreshed.append)
    assert sum(refreshed) >= 2 and summaries.stale_count(db) == 0
    assert _overdue_codes(_assert_as_computed(db, pid)) == {"cognition_check", "misuse_check"}


def test_the_worker_waits_for_its_poll_when_writes_keep_a_row_stale(db, clinic, settings):
    """Under a steady stream of writes (vitals every few hundred ms) one patient's row is stale again after
    every pass. The worker must recompute it at its poll, not go straight round again: that spin took the
    CPU from the requests of each `serve` process (saturation throughput fell by 45%). A full batch (a
    backlog) still goes straight on."""
    import threading
    import time

    from ketaclinic.services import worker

    pid = clinic.own_patient_id
    completed(db, clinic, signed_plan(db, clinic, pid, now=utcnow() - timedelta(days=12)), utcnow() - timedelta(days=10))
    stop = threading.Event()
    passes: list[int] = []

    def write_again(count: int) -> None:  # a nurse's next write, as the pass ends
        passes.append(count)
        with db.transaction() as uow:
            summaries.mark_stale_only(uow, [pid])

    poll_s = 0.25
    thread = threading.Thread(target=worker.run, args=(settings.model_copy(update={"outbox_poll_s": poll_s}),),
                              kwargs={"stop": stop, "on_refresh": write_again})
    thread.start()
    time.sleep(1.5)
    stop.set()
    thread.join(30)
    assert passes and all(count < summaries.REFRESH_BATCH for count in passes)
    assert len(passes) <= 1.5 / poll_s + 2, f"{len(passes)} passes in 1.5 s with a {poll_s} s poll: the worker spun"
    assert summaries.backlog_left(summaries.REFRESH_BATCH) and not summaries.backlog_left(summaries.REFRESH_BATCH - 1)


def test_the_summary_is_written_before_the_audit_chain_locks_its_head(db, clinic):
    """The rows are the transaction's own writes: the chain's lock window stays its three statements."""
    pid = clinic.own_patient_id
    with recorded_statements(db.engine) as seen:
        fu.record_risk_check(db, clinic.actors["nurse"], fu.RiskCheckIn(patient_id=pid, code="misuse_check"))
    statements = [" ".join(statement.split()).upper() for statement, _ in seen]
    locked_at = next(i for i, s in enumerate(statements) if s.startswith("UPDATE AUDIT_HEAD"))
    touching = [i for i, s in enumerate(statements) if "FOLLOW_UP_SUMMARIES" in s]
    assert touching and max(touching) < locked_at
    assert _stored(db, pid) is not None


def test_an_answer_computed_before_a_change_is_not_stored_over_it(db, clinic):
    """A page (or the worker) reads a stale row and runs the rules; meanwhile a nurse records the checks, which
    marks the row again. The older answer ("checks overdue") must not be stored over that mark: the row stays
    stale, and the next reader computes the new answer."""
    pid = clinic.own_patient_id
    now = utcnow()
    completed(db, clinic, signed_plan(db, clinic, pid, now=now - timedelta(days=12)), now - timedelta(days=10))
    seen = _stored(db, pid)
    with db.reading() as uow:
        before = summaries.compute(uow, [pid], now.date())
    assert _overdue_codes(before[0]) == {"cognition_check", "misuse_check"}
    _record_checks(db, clinic, pid)  # committed while the rules ran
    with db.transaction() as uow:
        summaries.store(uow, before, {pid: seen["version"]})
    row = _stored(db, pid)
    assert row["version"] > seen["version"] and row["review_on"] <= row["computed_on"]  # still stale
    with db.transaction() as uow:  # computed from the row as it is now: stored
        summaries.store(uow, summaries.compute(uow, [pid], now.date()), {pid: row["version"]})
    assert _overdue_codes(_assert_as_computed(db, pid)) == set()
