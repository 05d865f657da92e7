"""Events read back from their JSON form: a log's line, or a record, as the event it was.

`event_from_json(line)` / `event_from_dict(record)` rebuild any event of `core.events`
(`EVENT_TYPES` names them by their `"type"`), checking each field's kind so that a garbled
line is refused here, not met later by a screen that formats it. Replays read many lines:
a whole, checked record skips `__init__`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from mnist_tui.core.digit_sample import DigitSample
from mnist_tui.core.events import EVENT_TYPES, Event
from mnist_tui.core.jsonio import NONFINITE_KEY, restore_nonfinite
from mnist_tui.core.kinds import is_int, is_number, list_of


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": is_int,
    "float": is_number,
    "float | None": lambda value: value is None or is_number(value),
    "int | None": lambda value: value is None or is_int(value),
    "tuple[int, ...]": list_of(is_int),
    "str": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
    "dict[str, Any]": lambda value: isinstance(value, dict),
    "RunSummary": lambda value: isinstance(value, dict),
    "tuple[str, ...]": list_of(lambda value: isinstance(value, str)),
    "tuple[float, ...]": list_of(is_number),
    "tuple[tuple[int, ...], ...]": lambda value: list_of(list_of(is_int))(value) and all(
        len(row) == len(value) for row in value),  # a square matrix
}
"""What a JSON value must be for a field of each annotation: a garbled line whose fields
have the wrong kinds is refused here, not met later by a screen that formats it."""


def _sample(data: Any) -> DigitSample:
    """A `DigitSample` from its JSON form; TypeError when it is not a whole 28x28 sample."""
    if not isinstance(data, dict):
        raise TypeError("a test digit must be an object")
    sample = DigitSample(**data)
    if not (all(is_int(v) for v in (sample.index, sample.label, sample.predicted))
            and is_number(sample.confidence) and isinstance(sample.pixels, str)):
        raise TypeError("a test digit has fields of the wrong kind")
    try:
        size = len(base64.b64decode(sample.pixels, validate=True))
    except (binascii.Error, ValueError):
        size = -1
    if size != 28 * 28:
        raise TypeError("a test digit's pixels are not 784 base64 bytes")
    return sample


_Reading = tuple[dict[str, Callable[[Any], bool] | None], frozenset[str], bool]
_READING: dict[type[Event], _Reading] = {}


def _reading(cls: type[Event]) -> _Reading:
    """How to read `cls` from JSON: each field's check (None: any value), its field names,
    and whether a whole record may skip `__init__` (no `__post_init__` to run)."""
    known = _READING.get(cls)
    if known is None:
        checks = {f.name: _FIELD_CHECKS.get(str(f.type)) for f in fields(cls)}
        known = _READING[cls] = (checks, frozenset(checks), not hasattr(cls, "__post_init__"))
    return known


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form. Raises ValueError for an unknown or bad record."""
    if not isinstance(data, dict):
        raise ValueError(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    checks, names, whole_skips_init = _reading(cls)
    kwargs: dict[str, Any] = {}
    if NONFINITE_KEY in data or any(isinstance(v, (dict, list)) for v in data.values()):
        data = restore_nonfinite(data)  # only what may name a non-finite number
    try:
        for key, value in data.items():
            if key not in checks:
                continue  # "type", and what a later version may add
            check = checks[key]
            if check is not None and not check(value):
                raise TypeError(f"{key} is {value!r:.40}")
            if key == "samples":
                if not isinstance(value, list):
                    raise TypeError("samples must be a list")
                value = tuple(_sample(s) for s in value)
            elif isinstance(value, list) and key not in ("config", "summary"):
                value = _tupled(value)
            kwargs[key] = value
        if whole_skips_init and len(kwargs) == len(names):  # all checked: `__init__`'s work
            event = object.__new__(cls)  # at a fraction of its cost (a replay reads many)
            event.__dict__.update(kwargs)
            return event
        return cls(**kwargs)
    except TypeError as exc:
        # A garbled record (wrong shapes, unknown sample keys) is a bad event, not a crash.
        raise ValueError(f"bad {kind} event: {exc}") from None


def event_from_json(line: str) -> Event:
    """Parse one line of `events.jsonl`. Raises ValueError if it is not a whole event."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON event line: {exc}") from None
    return event_from_dict(data)
