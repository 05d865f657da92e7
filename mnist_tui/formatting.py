"""How numbers read everywhere they are shown: the monitor, the summary, `runs`, headless lines.

Every function takes whatever a JSON file may hold (None, a bool, a string, NaN) and returns
`missing` for anything that is not a finite number, so that no caller checks first.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def format_duration(seconds: Any, missing: str = "--:--") -> str:
    """Seconds as "m:ss" or "h:mm:ss"; `missing` when unknown or negative."""
    number = finite(seconds)
    if number is None or number < 0:
        return missing
    hours, rest = divmod(round(number), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_percent(fraction: Any, missing: str = MISSING) -> str:
    """A fraction 0..1 as a percentage with one decimal, as the seed prints accuracies."""
    number = finite(fraction)
    return missing if number is None else f"{number * 100:.1f}%"


def format_loss(value: Any, missing: str = MISSING) -> str:
    """A loss with four decimals."""
    number = finite(value)
    return missing if number is None else f"{number:.4f}"
