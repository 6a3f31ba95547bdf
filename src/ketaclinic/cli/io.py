"""JSON in, JSON out: the shared edge of every CLI command (design.md section 4).

Input is one JSON document from standard input or ``--input FILE``; output is one JSON
document on standard output. Invalid input exits 2 with
``{"error": {"code", "message", "field"}}`` on standard output, never a traceback.

The edge is strict where the clinical core (shared with the services) is lenient: a document
nested deeper than :data:`MAX_DEPTH` is refused before validation, and the models are validated
in pydantic's strict JSON mode, so ``"weight_kg": "70"`` (a string where a number belongs) or
``"yes"`` for a boolean is refused rather than quietly converted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from ketaclinic.jsonable import plain
from ketaclinic.services.types import field_path  # one way to name a field, for the CLI and the API

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 64  # far beyond any contract document (a few levels); deeper input is refused before validation


class CommandError(Exception):
    """An error a command reports to its caller as the JSON error shape (exit 2)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def emit(document: Any) -> None:
    """Write one JSON document to standard output."""
    sys.stdout.write(json.dumps(plain(document), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(error: CommandError) -> NoReturn:
    emit(error.as_json())
    raise typer.Exit(code=2)


def _drop_union_tags(loc: tuple[Any, ...], document: Any) -> tuple[Any, ...]:
    """Pydantic puts the tag of a tagged union into the location (``doses.1.infusion.rate``);
    walk the document and keep only the parts that are really there (the last part is always
    kept: it may be a missing or an unknown field)."""
    if document is None:
        return loc
    kept: list[Any] = []
    current = document
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and isinstance(part, str) and part not in current and not last:
            continue
        kept.append(part)
        if isinstance(current, dict) and isinstance(part, str):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(kept)


def error_from_validation(exc: ValidationError, document: Any = None) -> CommandError:
    """Turn the first pydantic error into the contract's error: what is wrong, where, what is allowed."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
    loc = _drop_union_tags(loc, document)
    path = field_path(loc)
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        parent = field_path(loc[:-1]) or "the document"
        return CommandError("unknown_field", f"unknown field {path!r} in {parent}: check the spelling against the contract", path)
    if kind == "missing":
        return CommandError("missing_field", f"field {path!r} is required", path)
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    given = err.get("input")
    shown = json.dumps(given) if isinstance(given, str | int | float | bool) or given is None else None
    text = f"{path or 'input'}: {msg}" + (f" (got {shown})" if shown is not None and len(shown) < 80 else "")
    return CommandError("invalid_input", text, path or None)


def read_document(input_file: Path | None) -> Any:
    """Read and parse the JSON document from ``input_file`` or standard input."""
    try:
        text = input_file.read_text(encoding="utf-8") if input_file else sys.stdin.read()
    except OSError as exc:
        raise CommandError("unreadable_input", f"cannot read input file: {exc.strerror}", "input") from None
    if not text.strip():
        raise CommandError("empty_input", "expected one JSON document on standard input or --input FILE", None)
    try:
        document = json.loads(text, parse_constant=lambda c: _reject_constant(c))
    except json.JSONDecodeError as exc:
        raise CommandError("invalid_json", f"input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", None) from None
    except RecursionError:
        raise _too_deep() from None
    if _depth(document) > MAX_DEPTH:
        raise _too_deep()
    return document


def _too_deep() -> CommandError:
    return CommandError("invalid_json", f"input is nested too deeply: at most {MAX_DEPTH} levels of arrays and objects", None)


def _depth(document: Any) -> int:
    """How deeply arrays and objects nest (without recursion: the input may be hostile)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (value.values() if isinstance(value, dict) else value))
    return deepest


def _reject_constant(name: str) -> NoReturn:
    raise CommandError("invalid_json", f"{name} is not a number KetaClinic accepts", None)


def parse_model(model: type[M], document: Any) -> M:
    """Validate a parsed document against a pydantic model (which should forbid extra fields).

    Strict JSON validation: numbers must be JSON numbers and booleans JSON booleans (a date is still
    its ISO string, an enum its value). The document is validated as the JSON it came from.
    """
    if _depth(document) > MAX_DEPTH:
        raise _too_deep()
    try:
        return model.model_validate_json(json.dumps(document, allow_nan=False), strict=True)
    except ValidationError as exc:
        raise error_from_validation(exc, document) from None
    except RecursionError:
        raise _too_deep() from None


def run_json_command(
    input_file: Path | None, model: type[M], handler: Callable[[M], Any]
) -> None:
    """Read, validate, handle and emit; any :class:`CommandError` becomes the JSON error (exit 2)."""
    try:
        document = read_document(input_file)
        request = parse_model(model, document)
        result = handler(request)
    except CommandError as error:
        fail(error)
    emit(result)
