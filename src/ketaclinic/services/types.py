"""Shared input types for every way into the services (API, web forms, CLI): one definition each.

- :data:`Text`: any free text. Refuses a NUL character (PostgreSQL cannot store it; SQLite would
  cut C strings at it) and an unpaired UTF-16 surrogate (not Unicode: it cannot be encoded as
  UTF-8), with a message that names the problem; the field is named by the 422.
- :data:`QueryMoment`: a ``since``/``until``-style query bound. A day (``2024-05-01``) means the
  clinic's local day; a date and time with an offset is that instant; one without an offset is
  the clinic's local time. Years outside :data:`MOMENT_RANGE` (including offsets that would carry
  ``9999-12-31`` past the calendar) are refused with the range in words, never a 500.
- :data:`WeightKg`, :data:`ScheduledAt`: plausibility limits (30-250 kg; not before 2000 nor
  more than two years ahead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

# --- text -------------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    if "\x00" in value:
        return "must not contain a NUL character (U+0000)"
    if _SURROGATE.search(value):
        return "must not contain an unpaired surrogate (U+D800 to U+DFFF): send valid Unicode text"
    return None


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(check_text)]
"""Free text that a database can store (no NUL, no lone surrogate)."""

#: The largest record id: ids are PostgreSQL INTEGER columns, so a larger id is a 422, never a 500 there.
ID_MAX = 2**31 - 1
RecordId = Annotated[int, Field(ge=1, le=ID_MAX)]
"""A record id as the databases can hold it."""

# --- query dates ------------------------------------------------------------------------------

MOMENT_RANGE = (date(1900, 1, 1), date(2999, 12, 31))
MOMENT_WORDS = (f"a day (YYYY-MM-DD, the clinic's local day) or a date and time (ISO 8601, e.g. "
                f"2024-05-01T09:30:00+02:00) from {MOMENT_RANGE[0].isoformat()} to {MOMENT_RANGE[1].isoformat()}")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Moment:
    """A validated query bound: a local day, or an instant (aware, or naive = clinic local time)."""

    day: date | None = None
    instant: datetime | None = None

    def start(self, tz: tzinfo = UTC) -> datetime:
        """As a lower bound (``>=``): the day's first instant in the clinic's zone, or the instant."""
        if self.day is not None:
            return datetime.combine(self.day, time.min, tz).astimezone(UTC)
        assert self.instant is not None
        at = self.instant if self.instant.tzinfo else self.instant.replace(tzinfo=tz)
        return at.astimezone(UTC)

    def end(self, tz: tzinfo = UTC) -> datetime:
        """As an exclusive upper bound (``<``): a day runs to the next local midnight; an instant is itself."""
        if self.day is not None:
            return datetime.combine(self.day + timedelta(days=1), time.min, tz).astimezone(UTC)
        return self.start(tz)


def parse_moment(value: str) -> Moment:
    text = value.strip()
    try:
        if _DAY.match(text):
            moment = Moment(day=date.fromisoformat(text))
        else:
            moment = Moment(instant=datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"expected {MOMENT_WORDS}") from None
    low, high = MOMENT_RANGE
    shown = moment.day if moment.day is not None else moment.instant
    assert shown is not None
    if not low.year <= shown.year <= high.year:
        raise ValueError(f"out of range: expected {MOMENT_WORDS}")
    if moment.instant is not None and moment.instant.tzinfo is not None:
        try:
            moment.instant.astimezone(UTC)
        except OverflowError:  # pragma: no cover - the year check keeps far from the calendar's edges
            raise ValueError(f"out of range: expected {MOMENT_WORDS}") from None
    return moment


QueryMoment = Annotated[str, StringConstraints(max_length=40), AfterValidator(parse_moment)]
"""A query parameter that becomes a :class:`Moment` (resolve it with the clinic's zone)."""


def bound(value: Moment | str | datetime | None, tz: tzinfo, *, upper: bool = False) -> datetime | None:
    """A query bound as an aware UTC instant (``upper``: exclusive end, a day runs to its end)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    moment = parse_moment(value) if isinstance(value, str) else value
    return moment.end(tz) if upper else moment.start(tz)


# --- plausibility -----------------------------------------------------------------------------

WEIGHT_MIN_KG, WEIGHT_MAX_KG = 30.0, 250.0
WeightKg = Annotated[float, Field(ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG, allow_inf_nan=False,
                                  description=f"Body weight in kg ({WEIGHT_MIN_KG:g} to {WEIGHT_MAX_KG:g})")]

SCHEDULE_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
SCHEDULE_AHEAD = timedelta(days=731)  # two years


def check_scheduled_at(value: datetime) -> datetime:
    if value < SCHEDULE_EARLIEST:
        raise ValueError("must not be before 2000-01-01")
    if value > datetime.now(UTC) + SCHEDULE_AHEAD:
        raise ValueError("must not be more than 2 years ahead")
    return value


ScheduledAt = Annotated[AwareDatetime, AfterValidator(check_scheduled_at)]
"""When a session is booked: a date and time with its offset, from 2000-01-01 to 2 years from now."""


# --- errors in words ----------------------------------------------------------------------------

_BOUND_WORDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
_BOUND_TYPES = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt"}


def field_path(loc: tuple[Any, ...]) -> str:
    """``("doses", 1, "dose_mg")`` → ``"doses[1].dose_mg"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def metadata_bounds(metadata: Any) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for item in metadata or ():
        for key in _BOUND_WORDS:
            value = getattr(item, key, None)
            if value is not None:
                bounds[key] = value
    return bounds


def field_bounds(model: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    """The numeric bounds (ge/gt/le/lt) pydantic knows for the field at ``loc`` of ``model`` (best effort)."""
    from pydantic import BaseModel

    current: Any = model
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return {}
        info = current.model_fields[part]
        current = info.annotation
        for arg in get_args(current):  # X | None, list[X]
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    return {} if info is None else metadata_bounds(info.metadata)


def range_words(bounds: dict[str, Any]) -> str:
    """``{"ge": 30, "le": 250}`` → ``"from 30 to 250"``; one bound → ``"at least 30"``."""
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low and high and low[0] == "ge" and high[0] == "le":
        return f"from {_number(low[1])} to {_number(high[1])}"
    return " and ".join(f"{_BOUND_WORDS[b[0]]} {_number(b[1])}" for b in (low, high) if b is not None) or "in range"


def explain(error: dict[str, Any], model: Any = None, loc: tuple[Any, ...] | None = None,
            bounds: dict[str, Any] | None = None) -> tuple[str, str | None]:
    """One pydantic error (``exc.errors()[0]``) as ``(message, field)``: the field named, the allowed range
    in words, what was given; never pydantic's URL. ``loc`` overrides the error's own location (the
    API drops ``body``/``query``); ``model`` lets a range name both of its ends."""
    loc = tuple(error.get("loc", ())) if loc is None else loc
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
    path = field_path(loc)
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    given = error.get("input")
    shown = repr(given) if isinstance(given, str) else _number(given) if isinstance(given, int | float) \
        and not isinstance(given, bool) else None
    got = f" (got {shown})" if shown is not None and len(shown) < 60 else ""
    where = path or "the input"
    if kind in _BOUND_TYPES:
        bounds = bounds or (field_bounds(model, loc) if model is not None else {})
        bounds = bounds or {_BOUND_TYPES[kind]: ctx.get(_BOUND_TYPES[kind])}
        bounds = {k: v for k, v in bounds.items() if v is not None}
        return f"{where} must be {range_words(bounds)}{got}", path or None
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "items"
        return f"{where} must be at most {ctx.get('max_length')} {unit} long", path or None
    if kind in ("string_too_short", "too_short"):
        unit = "characters" if kind == "string_too_short" else "items"
        least = ctx.get("min_length")
        return (f"{where} must not be empty" if least == 1 else f"{where} must be at least {least} {unit} long"), path or None
    if kind == "missing":
        return f"{where} is required", path or None
    if kind == "extra_forbidden":
        return f"unknown field {path!r}: check the spelling", path or None
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return (f"{path}: {message}{got}" if path else message), path or None


MAX_JSON_DEPTH = 64


def bad_json_text(document: Any) -> tuple[str, str] | None:
    """(field, problem) of the first string (or key) in a parsed JSON document that a database cannot store
    (NUL, lone surrogate); ``("", ...)`` when nested too deeply. ``None`` when every string can be stored."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_JSON_DEPTH:
            return "", f"nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays and objects"
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return field_path(loc), problem
        elif isinstance(value, dict):
            for key, child in value.items():
                problem = text_problem(key)
                if problem:
                    return field_path((*loc, key)), f"field name {problem}"
                stack.append((child, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((child, (*loc, i)) for i, child in enumerate(value))
    return None
