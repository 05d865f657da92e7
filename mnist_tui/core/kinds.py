"""What kind a JSON value is: the checks that readers of logs, summaries and configs share.

JSON has no integers apart from numbers, and Python's `bool` is an `int`: these say what a
person means by "a whole number" and "a number" in a file or a field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_int(value: Any) -> bool:
    """A whole number, and not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or a float, and not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A check for a JSON list whose every item passes `check`."""
    return lambda value: isinstance(value, list) and all(check(v) for v in value)
