"""Business-day deadlines (pure: time is passed in).

"Answered within one business day" (design.md section 3) is read as: by the end of the next
business day (Monday to Friday) after the day the inquiry arrived, in the clinic's time zone.
Friday, Saturday and Sunday arrivals are therefore due by the end of Monday. Public holidays are
not known to the app (clinic policy: the coordinator sees the deadline and can answer early).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def next_business_day(day_local: datetime) -> datetime:
    day = day_local + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def answer_by(received_at: datetime, clinic_tz: ZoneInfo) -> datetime:
    """The end (23:59:59) of the next business day after arrival, as an aware UTC datetime."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    local = received_at.astimezone(clinic_tz)
    due_day = next_business_day(local).date()
    due_local = datetime.combine(due_day, time(23, 59, 59), tzinfo=clinic_tz)
    return due_local.astimezone(UTC)
