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


_BYTE_UNITS = ("bytes", "KB", "MB", "GB", "TB")


def _byte_unit(size: float) -> int:
    """The index in `_BYTE_UNITS` of the unit that `size` bytes read best in."""
    unit = 0
    while size >= 1000 and unit < len(_BYTE_UNITS) - 1:
        size /= 1024
        unit += 1
    return unit


def _in_unit(size: float, unit: int) -> str:
    value = size / 1024**unit
    return f"{value:.0f}" if unit == 0 or value >= 9.95 else f"{value:.1f}"


def format_bytes(size: Any, missing: str = MISSING) -> str:
    """A size in bytes as people read memory: "812 MB", "3.0 GB", "512 bytes".

    Binary units (1 MB = 1024² bytes), as system monitors and GPU tools count memory; one
    decimal below 10.
    """
    number = finite(size)
    if number is None or number < 0:
        return missing
    unit = _byte_unit(number)
    return f"{_in_unit(number, unit)} {_BYTE_UNITS[unit]}"


def format_bytes_of(used: Any, total: Any, missing: str = MISSING) -> str:
    """Memory used out of a total, in the total's unit: "3.0/80 GB" (see `format_bytes`)."""
    part, whole = finite(used), finite(total)
    if part is None or part < 0:
        return missing
    if whole is None or whole <= 0:
        return format_bytes(part, missing)
    unit = _byte_unit(whole)
    return f"{_in_unit(part, unit)}/{_in_unit(whole, unit)} {_BYTE_UNITS[unit]}"
