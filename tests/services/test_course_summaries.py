"""Per-course summaries (issue 17): the outcomes read from them equal the outcomes computed from the
records, for random clinics (hypothesis) and along the service calls that change a course (the hooks)."""

from __future__ import annotations

import itertools
import math
import shutil
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from ketaclinic.records.course_summaries import CourseSummary
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site
from ketaclinic.records.users import User
from ketaclinic.services import course_summaries
from ketaclinic.services import diary as dy
from ketaclinic.services import outcomes as oc
from ketaclinic.services import sessions as ss
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Forbidden
from tests.interop.flows import T0, completed, signed_evaluation, signed_plan
from tests.services.test_outcomes import _diary

AT = T0 + timedelta(days=7)
CONDITIONS = ("crps", "fibromyalgia", "migraine")
_examples = itertools.count()


def _close(a, b, path="") -> None:
    """Equal, floats to 1e-9 (Kaplan-Meier from grouped counts and from patients may differ in the last bit)."""
    if isinstance(a, float) or isinstance(b, float):
        assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _same(db, actor, **query) -> dict:
    summaries = oc.cohort_outcomes(db, actor, **query)
    with db.reading() as uow:
        records = oc.cohort_outcomes_from_records(uow, oc.site_scope(actor, query.get("site_id")),
                                                  **{k: v for k, v in query.items() if k != "site_id"})
    _close(summaries, records)
    return summaries


# --- random clinics -------------------------------------------------------------------------------

patient_st = st.fixed_dictionaries({
    "site": st.integers(0, 1),
    "signed": st.sampled_from([True, True, True, False]),
    "amended_nrs": st.one_of(st.none(), st.integers(3, 10)),
    "nrs": st.integers(0, 10),  # 0: the evaluation has no baseline
    "condition": st.sampled_from(CONDITIONS),
    "session_days": st.lists(st.integers(0, 120), max_size=6),
    "diary": st.lists(st.tuples(st.integers(-10, 150), st.integers(0, 10)), max_size=40),
    "corrections": st.lists(st.tuples(st.integers(0, 39), st.integers(0, 10)), max_size=3),
})


def _day(offset: int) -> datetime:
    return datetime.combine(T0.date() + timedelta(days=offset), time(12), tzinfo=UTC)


def _insert_clinic(uow, patients: list[dict], sites: list[int], user_id: int) -> None:
    for i, spec in enumerate(patients):
        patient = Patient(given_name="Synthetic", family_name=f"Random {i}", birth_date=date(1970, 1, 1), sex="female",
                          site_id=sites[spec["site"]])
        uow.add(patient)
        uow.flush()
        document = {"pain": {"conditions": [spec["condition"]], "nrs_now": spec["nrs"]}}
        evaluation = Evaluation(patient_id=patient.id, screening_input=document,
                                status="signed" if spec["signed"] else "draft",
                                signed_by=user_id if spec["signed"] else None,
                                signed_at=_day(-5) if spec["signed"] else None)
        uow.add(evaluation)
        uow.flush()
        if spec["signed"] and spec["amended_nrs"] is not None:
            uow.add(Evaluation(patient_id=patient.id, amends_id=evaluation.id, status="signed", signed_by=user_id,
                               signed_at=_day(-4), screening_input={"pain": {"conditions": ["migraine"],
                                                                              "nrs_now": spec["amended_nrs"]}}))
        plan = Plan(patient_id=patient.id, protocol_id="outpatient_infusion", weight_kg=70, concentration_mg_per_ml=1,
                    steps=[], pump_program={}, series_rule={}, status="signed", signed_by=user_id, signed_at=_day(-3))
        uow.add(plan)
        uow.flush()
        for n, offset in enumerate(spec["session_days"]):
            state = "cancelled" if n % 5 == 4 else "discharged"
            uow.add(InfusionSession(patient_id=patient.id, plan_id=plan.id, site_id=patient.site_id,
                                    scheduled_at=_day(offset), state=state,
                                    discharged_at=_day(offset) if state == "discharged" else None))
        entries = []
        for offset, pain in spec["diary"]:
            entry = DiaryEntry(patient_id=patient.id, recorded_at=_day(offset), pain_nrs=pain)
            uow.add(entry)
            entries.append(entry)
        uow.flush()
        for index, pain in spec["corrections"]:
            if entries:
                target = entries[index % len(entries)]
                uow.add(DiaryEntry(patient_id=patient.id, recorded_at=target.recorded_at, pain_nrs=pain,
                                   amends_id=target.id))
        uow.flush()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients=st.lists(patient_st, min_size=1, max_size=8),
       query=st.fixed_dictionaries({
           "condition": st.one_of(st.none(), st.sampled_from(CONDITIONS)),
           "today": st.one_of(st.none(), st.integers(20, 160)),
           "start": st.one_of(st.none(), st.integers(-5, 60)),
           "end": st.one_of(st.none(), st.integers(60, 130)),
           "one_site": st.booleans()}))
def test_outcomes_from_summaries_equal_outcomes_from_the_records(sqlite_template, tmp_path, patients, query):
    path = tmp_path / f"random-{next(_examples)}.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        with db.transaction() as uow:
            user = User(username="physician", password_hash="-", role="physician")
            second = Site(name="Random site", code="RND")
            uow.add_all([user, second])
            uow.flush()
            sites = [uow.execute(select(Site.id).order_by(Site.id)).scalars().first(), second.id]
            _insert_clinic(uow, patients, sites, user.id)
            course_summaries.rebuild(uow)
        first_site = Actor(user_id=user.id, username="physician", role="physician", site_ids=(sites[0],))
        both = Actor(user_id=user.id, username="physician", role="physician", site_ids=tuple(sites))
        args = {"condition": query["condition"],
                "today": None if query["today"] is None else T0.date() + timedelta(days=query["today"]),
                "start": None if query["start"] is None else T0.date() + timedelta(days=query["start"]),
                "end": None if query["end"] is None else T0.date() + timedelta(days=query["end"])}
        _same(db, both, **args, **({"site_id": sites[1]} if query["one_site"] else {}))
        _same(db, first_site, **args)  # the first site only: the actor's own
    finally:
        db.dispose()


# --- the hooks: every change that moves a course moves its summary, in the same transaction ----------


def test_the_summary_follows_discharge_diary_correction_cancel_and_a_signed_amendment(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    pid = clinic.own_patient_id
    assert _same(db, physician)["not_assessable"] == {"no signed evaluation": 2}
    plan = signed_plan(db, clinic, pid)  # evaluation signed: a row saying there is no session yet
    assert _same(db, physician)["not_assessable"]["no completed session"] == 1
    completed(db, clinic, plan, AT)  # discharge
    _diary(db, nurse, pid, [3] * 12, AT + timedelta(days=1))  # diary entries
    result = _same(db, physician)
    assert result["assessable"] == 1 and result["overall"]["responders_50"] == 1
    entry = dy.list_entries(db, nurse, patient_id=pid).items[0]
    later = AT + timedelta(days=13)
    for _ in range(3):  # corrections: the first days were bad after all
        dy.add_entry(db, nurse, dy.DiaryIn(patient_id=pid, pain_nrs=8, day=entry.day, amends_id=entry.id), now=later)
    _same(db, physician)
    # a booster two months later, and a visit cancelled
    booster = completed(db, clinic, plan, AT + timedelta(days=60))
    with db.reading() as uow:
        row = uow.get(CourseSummary, pid)
    assert row.boosters == 1 and row.first_booster_day == booster.discharged_at.date() and row.sessions_in_course == 1
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=pid, plan_id=plan.id, scheduled_at=AT + timedelta(days=90)),
                                now=AT + timedelta(days=61))
    ss.cancel_session(db, nurse, visit.id, visit.version, ss.CancelIn(reason="Synthetic: unwell"), now=AT + timedelta(days=62))
    _same(db, physician)
    # a signed amendment of the evaluation: the new baseline counts
    with db.reading() as uow:
        evaluation_id = uow.execute(select(Evaluation.id).where(Evaluation.patient_id == pid)).scalar_one()
    from ketaclinic.services import evaluations as ev
    from tests.interop.flows import screening

    amended = ev.amend_evaluation(db, physician, evaluation_id, ev.AmendmentIn(
        screening=screening(pain={"nrs_now": 5}), reason="Synthetic: NRS misread"), now=AT + timedelta(days=63))
    ev.sign_evaluation(db, physician, amended.id, amended.version, now=AT + timedelta(days=63))
    with db.reading() as uow:
        assert uow.get(CourseSummary, pid).baseline_nrs == 5.0
    _same(db, physician)
    signed_evaluation(db, clinic, clinic.other_patient_id)
    assert _same(db, physician)["not_assessable"]["no completed session"] == 1


def test_a_failed_change_leaves_the_summary_as_it_was(db, clinic):
    nurse = clinic.actors["nurse"]
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    with db.reading() as uow:
        before = {c.name: getattr(uow.get(CourseSummary, clinic.own_patient_id), c.name)
                  for c in CourseSummary.__table__.columns}
    with pytest.raises(Exception):  # noqa: B017 - an entry amending another patient's entry is refused
        dy.add_entry(db, nurse, dy.DiaryIn(patient_id=clinic.own_patient_id, pain_nrs=2, amends_id=10**6),
                     now=AT + timedelta(days=2))
    with db.reading() as uow:
        assert {c.name: getattr(uow.get(CourseSummary, clinic.own_patient_id), c.name)
                for c in CourseSummary.__table__.columns} == before


def test_outcomes_and_adverse_events_keep_to_the_actors_sites(db, clinic):
    from dataclasses import replace

    physician = clinic.actors["physician"]
    with db.transaction() as uow:  # the other patient belongs to another site
        other = Site(name="Elsewhere", code="ELS")
        uow.add(other)
        uow.flush()
        other_id = other.id
        uow.get(Patient, clinic.other_patient_id).site_id = other_id
    wide = replace(clinic, actors={role: Actor(**{**a.__dict__, "site_ids": (*a.site_ids, other_id)})
                                   for role, a in clinic.actors.items()})
    for pid in (clinic.own_patient_id, clinic.other_patient_id):
        completed(db, wide, signed_plan(db, wide, pid), AT)
    assert _same(db, physician)["patients_with_a_course"] == 1  # the other site's course is not theirs
    assert oc.adverse_events(db, physician, start=AT.date(), end=AT.date())["sessions_started"] == 1
    with pytest.raises(Forbidden):
        oc.cohort_outcomes(db, physician, site_id=other_id)
    group = wide.actors["physician"]
    assert _same(db, group)["patients_with_a_course"] == 2
    assert _same(db, group, site_id=other_id)["patients_with_a_course"] == 1
    assert oc.adverse_events(db, group, start=AT.date(), end=AT.date())["sessions_started"] == 2


def test_rebuild_if_empty_fills_a_database_with_history(db, clinic):
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    with db.transaction() as uow:
        uow.execute(delete(CourseSummary))
    assert course_summaries.rebuild_if_empty(db) == 1
    assert course_summaries.rebuild_if_empty(db) == 0
    _same(db, clinic.actors["physician"])
