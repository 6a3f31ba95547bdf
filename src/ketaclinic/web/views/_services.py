"""Services that land in stages: a page shows what the installed services offer, nothing invented."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def service_fn(module: str, name: str) -> Callable[..., Any] | None:
    """``ketaclinic.services.<module>.<name>`` if it exists, else None."""
    try:
        mod = importlib.import_module(f"ketaclinic.services.{module}")
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


def service_module(module: str) -> Any | None:
    try:
        return importlib.import_module(f"ketaclinic.services.{module}")
    except ImportError:
        return None
