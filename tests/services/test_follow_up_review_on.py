"""Issue 17: a follow-up summary holds until its review day. On random records (diary, sessions booked and
discharged, checklists, risk checks, plans with their own booster interval, a baseline or none), what the
dashboards' panels show is the same on every day from the day it was computed up to the day before
:func:`ketaclinic.services.follow_up.review_on` — so a stored row is never shown when it may be wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.follow_up import BoosterPolicy
from ketaclinic.services.follow_up import _follow_up, _Records, _SessionRow, review_on
from ketaclinic.services.follow_up_summaries import panel_of
from ketaclinic.services.patient_facts import PatientFacts

TODAY = date(2026, 6, 1)
HORIZON_DAYS = 120
POLICY = BoosterPolicy()


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)


offsets = st.integers(min_value=-150, max_value=40)


@st.composite
def patient_records(draw) -> _Records:
    pid = 1
    baseline = draw(st.sampled_from([None, 6, 8]))
    evaluation = SimpleNamespace(screening_input={"pain": {"nrs_now": baseline}}) if baseline else None
    discharged = sorted({TODAY + timedelta(days=o) for o in draw(st.lists(st.integers(-120, 3), max_size=3))})
    diary = []
    mode = draw(st.sampled_from(["none", "scattered", "relief_then_fade"]))
    if mode == "scattered":
        days = draw(st.lists(st.tuples(st.integers(-60, 3), st.integers(0, 10), st.booleans()), max_size=12))
    elif mode == "relief_then_fade":  # the booster rule's own pattern: relief after a session, then pain back
        relief, fade = draw(st.integers(0, 12)), draw(st.integers(0, 12))
        first = draw(st.integers(-8, 0)) - relief - fade  # ending around today, when the rule looks
        pains = [2] * relief + [8] * fade
        days = [(first + i, pain, draw(st.booleans()) and i % 5 == 0) for i, pain in enumerate(pains)
                if draw(st.integers(0, 5)) > 0]  # a day left out now and then
        discharged = sorted({*discharged, TODAY + timedelta(days=first - 1)})  # the session it follows
        if evaluation is None and draw(st.booleans()):
            evaluation = SimpleNamespace(screening_input={"pain": {"nrs_now": 8}})
    else:
        days = []
    for i, (offset, pain, urinary) in enumerate(days):
        day = TODAY + timedelta(days=offset)
        diary.append(SimpleNamespace(id=i + 1, recorded_at=_at(day), pain_nrs=pain, amends_id=None,
                                     urinary_symptoms={"urgency": True} if urinary else {}))
    diary.sort(key=lambda e: (e.recorded_at, e.id))
    plans = [SimpleNamespace(id=1, protocol_id="outpatient_infusion", series_rule={}, signed_at=_at(TODAY - timedelta(200)),
                             supersedes_id=None)]
    if draw(st.booleans()):  # a second plan: inpatient (multi-day) or its own booster interval
        plans.append(SimpleNamespace(id=2, protocol_id=draw(st.sampled_from(["continuous_inpatient_3day", "outpatient_infusion"])),
                                     series_rule={"booster": {"min_interval_days": draw(st.sampled_from([7, 21, 30]))}},
                                     signed_at=_at(TODAY - timedelta(100)), supersedes_id=draw(st.sampled_from([None, 1]))))
    rows = []
    for day in discharged:
        checklist = None
        if draw(st.booleans()):
            checklist = {"checked_at": _at(day, 8).isoformat(), "facts": {
                "liver_tests": draw(st.sampled_from(["normal", "abnormal", "not_done"])),
                "urinary_symptoms": draw(st.sampled_from(["present", "absent"]))}}
        rows.append(_SessionRow(plan_id=1, state="discharged", scheduled_at=_at(day), discharged_at=_at(day, 13),
                                checklist=checklist))
    for offset in draw(st.lists(st.integers(-3, 60), min_size=(n := draw(st.sampled_from([0, 0, 1, 2]))), max_size=n)):
        state = draw(st.sampled_from(["scheduled", "checked_in", "cancelled"]))
        day = TODAY + timedelta(days=offset)
        checklist = None
        if state == "checked_in" and draw(st.booleans()):  # the checklist is done at check-in, on the day
            checklist = {"checked_at": _at(day, 8).isoformat(), "facts": {
                "liver_tests": draw(st.sampled_from(["normal", "not_done"])),
                "urinary_symptoms": draw(st.sampled_from(["present", "absent"]))}}
        rows.append(_SessionRow(plan_id=draw(st.sampled_from([p.id for p in plans])), state=state,
                                scheduled_at=_at(day), discharged_at=None, checklist=checklist))
    rows.sort(key=lambda r: r.scheduled_at)
    check_days = st.integers(-200, 3) if draw(st.booleans()) else st.integers(-95, -80)  # some near their due day
    checks = [SimpleNamespace(id=i + 1, patient_id=pid, code=code, done_on=TODAY + timedelta(days=offset),
                              result="normal", note=None, created_at=_at(TODAY), created_by=None)
              for i, (code, offset) in enumerate(draw(st.lists(st.tuples(
                  st.sampled_from(["liver_tests", "cognition_check", "misuse_check", "urinary_symptoms"]),
                  check_days), max_size=5)))]
    checks.sort(key=lambda c: (c.done_on, c.id))
    return _Records(PatientFacts(pid, evaluation=evaluation, discharged_days=discharged, diary=diary),
                    plans=plans, session_rows=rows, checks=checks)


def _panel(records: _Records, day: date):
    return panel_of(_follow_up(records, day, POLICY))


def _assert_holds_until_review(records: _Records, today: date) -> date:
    shown = _panel(records, today)
    review = review_on(records, today, POLICY)
    assert review > today
    day = today + timedelta(days=1)
    while day < min(review, today + timedelta(days=HORIZON_DAYS)):
        assert _panel(records, day) == shown, (today, day, review)
        day += timedelta(days=1)
    return review


@settings(max_examples=400, deadline=None)
@given(records=patient_records(), start=st.integers(-5, 5))
def test_the_panels_hold_on_every_day_before_the_review_day(records, start):
    _assert_holds_until_review(records, TODAY + timedelta(days=start))


def _booster_patient(last: date, relief_days: list[date], faded_days: list[date], **extra) -> _Records:
    """Baseline 8, a session on ``last``, relief (2) then pain back (8); the interval checks done today."""
    entries = [(d, 2) for d in relief_days] + [(d, 8) for d in faded_days]
    diary = [SimpleNamespace(id=i + 1, recorded_at=_at(d), pain_nrs=p, amends_id=None, urinary_symptoms={})
             for i, (d, p) in enumerate(sorted(entries))]
    return _Records(PatientFacts(1, evaluation=SimpleNamespace(screening_input={"pain": {"nrs_now": 8}}),
                                 discharged_days=[last], diary=diary),
                    plans=[SimpleNamespace(id=1, protocol_id="outpatient_infusion", series_rule={},
                                           signed_at=_at(last - timedelta(days=30)), supersedes_id=None)],
                    session_rows=[_SessionRow(1, "discharged", _at(last), _at(last, 13), None), *extra.get("rows", [])],
                    checks=[SimpleNamespace(id=i, patient_id=1, code=c, done_on=TODAY, result="normal", note=None,
                                            created_at=_at(TODAY), created_by=None)
                            for i, c in enumerate(("cognition_check", "misuse_check"))])


def _days(first: int, last: int) -> list[date]:
    return [TODAY + timedelta(days=o) for o in range(first, last + 1)]


def test_the_earliest_booster_day_is_a_review_day():
    """Relief faded 12 days after the session: no booster before day 14, and due on it."""
    last = TODAY - timedelta(days=12)
    records = _booster_patient(last, _days(-11, -8), _days(-3, 0))
    assert _panel(records, TODAY)[0] is False and _panel(records, last + timedelta(days=14))[0] is True
    assert _assert_holds_until_review(records, TODAY) <= last + timedelta(days=POLICY.min_interval_days)


def test_a_diary_day_leaving_the_booster_window_is_a_review_day():
    """A booster due today on four faded entries; the next day the oldest leaves the 7-day window (three
    entries are too few to judge), so the suggestion goes."""
    records = _booster_patient(TODAY - timedelta(days=30), _days(-29, -20), _days(-6, -3))
    assert _panel(records, TODAY)[0] is True and _panel(records, TODAY + timedelta(days=1))[0] is False
    assert _assert_holds_until_review(records, TODAY) == TODAY + timedelta(days=1)


def test_urinary_symptoms_on_a_coming_checklist_count_from_its_day():
    """Symptoms noted on the checklist of a session checked in two days from now (the checklist's day) make
    the urinary check overdue from that day."""
    day = TODAY + timedelta(days=2)
    checklist = {"checked_at": _at(day, 8).isoformat(), "facts": {"urinary_symptoms": "present"}}
    records = _booster_patient(TODAY - timedelta(days=30), [], [],
                               rows=[_SessionRow(1, "checked_in", _at(day + timedelta(days=3)), None, checklist)])
    assert not _panel(records, TODAY)[2] and _panel(records, day)[2]
    _assert_holds_until_review(records, TODAY)


def test_the_day_after_the_next_course_is_a_review_day():
    """Liver tests are overdue before a repeat course booked 8 days after the last one ended; once its day has
    passed without it (not checked in), there is no next course, and nothing is due."""
    last, start = TODAY - timedelta(days=5), TODAY + timedelta(days=3)
    records = _booster_patient(last, [], [], rows=[_SessionRow(2, "scheduled", _at(start), None, None)])
    records.plans.append(SimpleNamespace(id=2, protocol_id="outpatient_infusion", series_rule={},
                                         signed_at=_at(last), supersedes_id=None))
    assert [c["code"] for c in _panel(records, TODAY)[2]] == ["liver_tests"]
    assert _panel(records, start + timedelta(days=1))[2] == []
    assert _assert_holds_until_review(records, TODAY) == start + timedelta(days=1)
