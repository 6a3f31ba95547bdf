"""One way to write a date and a time, on every screen and in every document (issue 12).

Records are stored in UTC; a person reads them in the clinic's time zone (``clinic_timezone``), in
one unambiguous day-month-year form (``06 Dec 2026 14:30``: the month in letters, so 06/12 is never
read as June 12th). Every formatter takes the zone explicitly: this module reads no clock and no
settings, so both the web pages and the pure document builders use it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

DATE_FORMAT = "%d %b %Y"
TIME_FORMAT = "%H:%M"
DATETIME_FORMAT = f"{DATE_FORMAT} {TIME_FORMAT}"
#: An appointment: the weekday helps a patient and a coordinator ("Mon 07 Dec 2026 09:00").
APPOINTMENT_FORMAT = f"%a {DATETIME_FORMAT}"
MISSING = "—"


def in_zone(value: datetime, tz: tzinfo | None) -> datetime:
    """``value`` in the clinic's zone; a naive value is taken as UTC (how the records store time)."""
    if tz is None:
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz)


def _format(value: date | datetime | None, tz: tzinfo | None, pattern: str) -> str:
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        value = in_zone(value, tz)
    elif pattern != DATE_FORMAT:  # a date has no time of day to show
        pattern = DATE_FORMAT
    return value.strftime(pattern)


def local_date(value: date | datetime | None, tz: tzinfo | None) -> str:
    """``06 Dec 2026`` (a datetime is first moved to the clinic's zone: 23:30 UTC may be tomorrow there)."""
    return _format(value, tz, DATE_FORMAT)


def local_time(value: datetime | None, tz: tzinfo | None) -> str:
    """``14:30`` in the clinic's zone."""
    return _format(value, tz, TIME_FORMAT)


def local_datetime(value: date | datetime | None, tz: tzinfo | None) -> str:
    """``06 Dec 2026 14:30`` in the clinic's zone."""
    return _format(value, tz, DATETIME_FORMAT)


def local_seconds(value: datetime | None, tz: tzinfo | None) -> str:
    """``06 Dec 2026 14:30:05`` in the clinic's zone (the audit log, where order within a minute matters)."""
    return _format(value, tz, f"{DATETIME_FORMAT}:%S")


def appointment(value: datetime | None, tz: tzinfo | None) -> str:
    """``Sun 06 Dec 2026 14:30`` in the clinic's zone."""
    return _format(value, tz, APPOINTMENT_FORMAT)


#: The styles a page or a document may ask for, by name (never a free strftime pattern: one format).
STYLES = {"date": local_date, "time": local_time, "datetime": local_datetime, "seconds": local_seconds,
          "appointment": appointment}


def formatted(value: date | datetime | None, tz: tzinfo | None, style: str = "datetime") -> str:
    """``value`` in the named style (one of :data:`STYLES`) and the clinic's zone."""
    try:
        return STYLES[style](value, tz)
    except KeyError:
        raise ValueError(f"unknown date style {style!r}: use one of {', '.join(STYLES)}") from None
