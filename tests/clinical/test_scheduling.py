"""The schedule's pure core (issue 13): durations, series across DST, clashes and proposals."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ketaclinic.clinical.scheduling import (
    Booked,
    Candidate,
    SchedulePolicy,
    Staffing,
    WeeklyHours,
    appointment_minutes,
    at_local,
    book_all,
    clashes,
    covered,
    infusion_minutes,
    propose,
    series_starts,
    shifts_between,
)

NY = ZoneInfo("America/New_York")
PHYSICIAN, NURSE, NURSE2 = 1, 2, 3


def week_hours(*users: int, start_min: int = 7 * 60, end_min: int = 19 * 60) -> list[WeeklyHours]:
    return [WeeklyHours(u, d, start_min, end_min) for u in users for d in range(5)]


def staffing(first: date, last: date, absences=(), zone=UTC) -> Staffing:
    shifts, open_days = shifts_between(week_hours(PHYSICIAN, NURSE, NURSE2), absences, zone, first, last)
    return Staffing(shifts=shifts, physicians=frozenset({PHYSICIAN}), nurses=frozenset({NURSE, NURSE2}),
                    open_days=open_days, names={NURSE: "Nurse A"})


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=UTC)  # 4 Jan 2027 is a Monday


def infusion(start: datetime, minutes: int = 320, **kw) -> Candidate:
    return Candidate(patient_id=kw.pop("patient_id", 10), kind="infusion", start=start,
                     end=start + timedelta(minutes=minutes), **kw)


def test_infusion_duration_is_infusion_plus_observation_plus_turnover():
    steps = [{"kind": "bolus", "duration_min": 5}, {"kind": "infusion", "duration_min": 240}, {"kind": "oral"}]
    assert infusion_minutes(steps) == 245
    assert appointment_minutes("infusion", infusion_min=245, observation_min=60) == 245 + 60 + 15
    assert appointment_minutes("infusion", SchedulePolicy(turnover_min=0), infusion_min=40, observation_min=60) == 100
    assert appointment_minutes("evaluation") == 60 and appointment_minutes("follow_up") == 30
    with pytest.raises(ValueError):
        appointment_minutes("massage")


def test_series_keeps_local_time_across_spring_forward_and_fall_back():
    first = datetime(2027, 3, 11, 9, 0, tzinfo=NY)  # Thursday; DST starts Sunday 14 March 2027
    starts = series_starts(first, NY, 6, 1)
    assert [s.astimezone(NY).hour for s in starts] == [9] * 6
    assert starts[0].hour == 14 and starts[-1].hour == 13  # 09:00 EST = 14:00 UTC, 09:00 EDT = 13:00 UTC
    autumn = series_starts(datetime(2027, 11, 5, 9, 0, tzinfo=NY), NY, 4, 1)  # DST ends Sunday 7 November 2027
    assert [s.astimezone(NY).strftime("%H:%M") for s in autumn] == ["09:00"] * 4
    assert autumn[0].hour == 13 and autumn[-1].hour == 14
    assert all(s.tzinfo == UTC for s in starts)


def test_a_wall_time_in_the_spring_gap_moves_forward():
    gap = at_local(date(2027, 3, 14), datetime(2000, 1, 1, 2, 30).time(), NY)
    assert gap.astimezone(NY).strftime("%H:%M") == "03:30"


def test_weekday_series_skips_weekends_and_interval_days_apart():
    friday = at(8, 9)
    starts = series_starts(friday, UTC, 10, 1, weekdays_only=True)
    assert [s.weekday() for s in starts] == [4, 0, 1, 2, 3, 4, 0, 1, 2, 3]
    assert [s.day for s in series_starts(at(4, 9), UTC, 6, 2)] == [4, 6, 8, 10, 12, 14]
    with pytest.raises(ValueError):
        series_starts(friday, UTC, 0)


def test_shifts_cut_out_absences_and_cover_whole_stretches():
    shifts, open_days = shifts_between(week_hours(NURSE), [(NURSE, at(4, 12), at(4, 13))], UTC, date(2027, 1, 4),
                                       date(2027, 1, 10))
    assert date(2027, 1, 9) not in open_days and date(2027, 1, 4) in open_days
    assert covered(shifts[NURSE], at(4, 8), at(4, 12)) and not covered(shifts[NURSE], at(4, 11), at(4, 14))
    assert not covered(shifts[NURSE], at(5, 18), at(5, 20))


def test_each_clash_has_its_code():
    staff = staffing(date(2027, 1, 4), date(2027, 1, 10))
    booked = [Booked(id=1, patient_id=20, kind="infusion", start=at(4, 9), end=at(4, 14, 20), chair_id=5, nurse_id=NURSE)]
    assert clashes(infusion(at(4, 9), chair_id=6), booked, staff, UTC) == []
    codes = lambda c, b=booked, s=staff, p=SchedulePolicy(): [x.code for x in clashes(c, b, s, UTC, p)]  # noqa: E731
    assert codes(infusion(at(4, 10), chair_id=5)) == ["chair_busy"]
    assert codes(infusion(at(4, 10), chair_id=6, nurse_id=NURSE)) == ["nurse_busy"]
    assert codes(infusion(at(4, 10), chair_id=6, nurse_id=NURSE), p=SchedulePolicy(infusions_per_nurse=2)) == []
    assert codes(infusion(at(4, 16), chair_id=6, nurse_id=NURSE)) == ["nurse_off_shift", "physician_not_on_site"]
    assert codes(infusion(at(4, 10), chair_id=6, patient_id=20)) == ["patient_double_booked"]
    assert codes(infusion(at(9, 9), chair_id=6)) == ["site_closed"]
    assert codes(infusion(at(4, 9), chair_id=6), p=SchedulePolicy(physician_on_site=False)) == []
    away = staffing(date(2027, 1, 4), date(2027, 1, 10), absences=[(PHYSICIAN, at(4, 12), at(4, 13))])
    assert codes(infusion(at(4, 9), chair_id=6), s=away) == ["physician_not_on_site"]
    assert codes(Candidate(patient_id=10, kind="evaluation", start=at(4, 12), end=at(4, 14)), s=away) == []


def test_an_open_day_is_not_open_at_every_hour():
    """A follow-up at 22:00 on a working weekday, nobody named: nobody works then, so the site is closed."""
    staff = staffing(date(2027, 1, 4), date(2027, 1, 10))
    codes = lambda c, p=SchedulePolicy(): [x.code for x in clashes(c, [], staff, UTC, p)]  # noqa: E731
    assert codes(Candidate(patient_id=10, kind="follow_up", start=at(4, 22), end=at(4, 22, 30))) == ["site_closed"]
    assert codes(infusion(at(4, 16), chair_id=6), p=SchedulePolicy(physician_on_site=False)) == ["site_closed"]
    assert codes(Candidate(patient_id=10, kind="follow_up", start=at(4, 10), end=at(4, 10, 30))) == []
    moved = infusion(at(4, 10), chair_id=5, patient_id=20, replaces=frozenset({1}))
    assert codes(moved) == []  # moving an appointment does not clash with itself


def test_a_series_is_checked_against_itself_and_chairs_are_assigned():
    staff = staffing(date(2027, 1, 4), date(2027, 1, 20))
    same_day = [infusion(at(4, 7)), infusion(at(4, 8), patient_id=11)]
    placed, problems = book_all(same_day, [], staff, UTC, chair_ids=[5, 6])
    assert problems == [] and [c.chair_id for c in placed] == [5, 6]
    placed, problems = book_all(same_day + [infusion(at(4, 9), patient_id=12)], [], staff, UTC, chair_ids=[5, 6])
    assert [(i, p.code) for i, p in problems] == [(2, "chair_busy")]


def test_proposals_are_the_first_free_starts_for_the_whole_series():
    staff = staffing(date(2027, 1, 4), date(2027, 1, 31))
    booked = [Booked(id=1, patient_id=20, kind="infusion", start=at(5, 7), end=at(5, 13), chair_id=5)]
    series = [infusion(at(4, 7), chair_id=5), infusion(at(5, 7), chair_id=5)]
    assert [p.code for _, p in book_all(series, booked, staff, UTC)[1]] == ["chair_busy"]
    found = propose(series, booked, staff, UTC, chair_ids=[5])
    assert len(found) == 3
    assert found[0][0].start == at(4, 13) and found[0][1].start == at(5, 13)  # the first time both days are free
    assert found[0][0].end <= at(4, 19)
