"""One date and time format, always in the clinic's time zone (ketaclinic.timefmt)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ketaclinic import timefmt

NEW_YORK = ZoneInfo("America/New_York")


def test_a_late_utc_time_is_the_clinics_day_and_hour() -> None:
    late = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)  # 21:30 the evening before in New York (EST)
    assert timefmt.local_datetime(late, NEW_YORK) == "06 Dec 2026 21:30"
    assert timefmt.local_date(late, NEW_YORK) == "06 Dec 2026"
    assert timefmt.local_time(late, NEW_YORK) == "21:30"
    assert timefmt.appointment(late, NEW_YORK) == "Sun 06 Dec 2026 21:30"
    assert timefmt.local_seconds(late.replace(second=5), NEW_YORK) == "06 Dec 2026 21:30:05"


def test_summer_time_is_applied_on_each_side_of_the_change() -> None:
    # 2026-03-08: New York moves from EST (UTC-5) to EDT (UTC-4) at 02:00 local
    assert timefmt.local_time(datetime(2026, 3, 8, 6, 30, tzinfo=UTC), NEW_YORK) == "01:30"
    assert timefmt.local_time(datetime(2026, 3, 8, 7, 30, tzinfo=UTC), NEW_YORK) == "03:30"


def test_a_naive_time_is_read_as_utc_and_a_date_has_no_hour() -> None:
    assert timefmt.local_time(datetime(2026, 12, 6, 14, 0), NEW_YORK) == "09:00"
    assert timefmt.local_datetime(date(2026, 12, 6), NEW_YORK) == "06 Dec 2026"
    assert timefmt.local_datetime(None, NEW_YORK) == "—"


def test_only_the_named_styles_exist() -> None:
    assert timefmt.formatted(datetime(2026, 12, 6, 14, 0, tzinfo=UTC), UTC, "time") == "14:00"
    with pytest.raises(ValueError, match="unknown date style '%H:%M'"):
        timefmt.formatted(datetime(2026, 12, 6, tzinfo=UTC), UTC, "%H:%M")
