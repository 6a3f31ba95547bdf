"""The shell's clock: the one place the current time is read.

The core never reads the clock (design.md section 1: time is passed in); services, records and the
edges call :func:`utcnow` and pass the result down, so a test can pin "now" by passing it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
