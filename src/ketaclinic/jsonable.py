"""Numbers the core computes (numpy arrays and scalars) as plain JSON values, for every shell."""

from __future__ import annotations

import math
from typing import Any


def plain(value: Any) -> Any:
    """numpy arrays and scalars → lists and floats, recursively; NaN and infinity are refused,
    because a clinician must never be shown a number that is not one."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("refusing to emit a non-finite number")
    return value
