"""Inquiry deadlines: the end of the next business day after arrival (clinic time zone)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.services.business_days import answer_by

UTCZ = ZoneInfo("UTC")


@pytest.mark.parametrize("received,due", [
    ("2026-01-05T10:00", "2026-01-06"),  # Monday -> Tuesday
    ("2026-01-08T23:30", "2026-01-09"),  # Thursday -> Friday
    ("2026-01-09T09:00", "2026-01-12"),  # Friday -> Monday
    ("2026-01-10T12:00", "2026-01-12"),  # Saturday -> Monday
    ("2026-01-11T12:00", "2026-01-12"),  # Sunday -> Monday
])
def test_next_business_day(received, due):
    at = datetime.fromisoformat(received).replace(tzinfo=UTC)
    result = answer_by(at, UTCZ)
    assert result.date().isoformat() == due and (result.hour, result.minute) == (23, 59)


def test_clinic_time_zone_decides_the_day():
    # 23:30 UTC on a Friday is already Saturday in Berlin: still due Monday, Berlin time.
    at = datetime(2026, 1, 9, 23, 30, tzinfo=UTC)
    due = answer_by(at, ZoneInfo("Europe/Berlin")).astimezone(ZoneInfo("Europe/Berlin"))
    assert due.date().isoformat() == "2026-01-12"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_deadline_is_a_weekday_within_four_days(at):
    due = answer_by(at, UTCZ)
    assert due > at and due.weekday() < 5 and (due - at).days <= 3
