"""Several values in a field: the lists, ranges and choices a sweep searches over.

A field of the form, a flag or a TOML key may hold more than one value:

- a list: `0.003, 0.01, 0.03` (or a TOML array `[0.003, 0.01, 0.03]`);
- a range: `1e-4..1e-1 log` (also `1e-4..1e-1:log`), `0..0.5`, `16..64 step 16`;
- several choices: `adam,rmsprop`.

`parse_param` turns one such value into a `Choices` or a `Span` (or a single value, when
only one is given), checking every end and every listed value with `TrainConfig`'s rules;
`parse_search` does it for all the fields and gives a `SearchSpace`: the base config, what
varies, and the config of one trial. Messages say what is wrong and what is allowed, in the
form's words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Union

from mnist_tui.core.config import TrainConfig, parse_values, validate
from mnist_tui.core.fields import FIELD_SPECS, parse_field
from mnist_tui.core.kinds import is_int

MAX_TRIALS = 10_000
SYNTAX = ("a list (0.003, 0.01, 0.03) or a range (1e-4..1e-1 log, 0..0.5, 16..64 step 16)")
_RANGE = re.compile(r"^\s*(?P<low>[^\s:]+)\s*\.\.\s*(?P<high>[^\s:]+)(?P<rest>(?:[:\s].*)?)$")
_NOT_SWEPT = ("strategy",)  # how a run is placed, not what it learns: one value for all trials


@dataclass(frozen=True)
class Choices:
    """A field takes each of these values (a list of numbers, or several choices)."""

    values: tuple[Any, ...]

    def text(self) -> str:
        """As a person would type it: `adam, rmsprop`."""
        return ", ".join(_show(v) for v in self.values)


@dataclass(frozen=True)
class Span:
    """A field takes values from `low` to `high`: evenly or on a log scale, or every `step`."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False

    def text(self) -> str:
        """As a person would type it: `1e-4..0.1 log`, `16..64 step 16`."""
        tail = " log" if self.log else (f" step {_show(self.step)}" if self.step else "")
        return f"{_show(self.low)}..{_show(self.high)}{tail}"


Param = Union[Choices, Span]  # noqa: UP007 (a runtime alias: Python 3.10 has no `|` on it)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_several(raw: Any) -> bool:
    """Whether a value as typed or read from TOML names more than one value (a list, a
    range, several choices); the form shows its sweep fields when one does."""
    if isinstance(raw, (list, tuple)):
        return len(raw) > 1
    return isinstance(raw, str) and ("," in raw or ".." in raw)


def parse_param(name: str, raw: Any, base: TrainConfig | None = None) -> Param | Any:
    """One field's value as typed (or a TOML list): a `Choices`, a `Span`, or, when it names
    a single value, that value parsed as `parse_field` does.

    Every value and both ends of a range are checked with the config's rules over `base`.
    Raises ValueError with a message for people.
    """
    base = base or TrainConfig()
    spec = FIELD_SPECS.get(name)
    if spec is None:
        return parse_field(name, raw)  # the "unknown setting" message
    label = spec.label.lower()
    if not is_several(raw):
        if isinstance(raw, (list, tuple)):
            if not raw:
                raise ValueError(f"{label}: an empty list gives no value to try")
            raw = raw[0]
        return parse_field(name, raw)
    if name in _NOT_SWEPT:
        raise ValueError(f"{label} takes one value for every trial of a sweep, got {raw!r}")
    if isinstance(raw, str) and ".." in raw:
        return _parse_span(name, raw, base)
    items = list(raw) if isinstance(raw, (list, tuple)) else raw.split(",")
    values: list[Any] = []
    for item in items:
        if isinstance(item, str) and item.strip() == "":
            raise ValueError(f"{label}: {raw!r} has an empty item; separate values with "
                             f"commas, as in {_example(name)}")
        value = parse_field(name, item)
        if value in values:
            raise ValueError(f"{label}: {_show(value)} is listed twice")
        _check_value(name, value, base, "")
        values.append(value)
    return Choices(tuple(values))


def _example(name: str) -> str:
    spec = FIELD_SPECS[name]
    if spec.kind == "choice":
        return ",".join(spec.choices[:2])
    return "16, 32, 64" if spec.kind in ("int", "optional_int") else "0.003, 0.01, 0.03"


def _check_value(name: str, value: Any, base: TrainConfig, what: str) -> None:
    """Raise ValueError when `value` breaks the config's rule for `name` (over `base`)."""
    problem = validate(replace(base, **{name: value})).get(name)
    if problem:
        raise ValueError(f"{what}{problem}" if what else problem)


def _parse_span(name: str, raw: str, base: TrainConfig) -> Span:
    """`low..high`, then `log` or `step S` after a space or a colon."""
    spec = FIELD_SPECS[name]
    label = spec.label.lower()
    if spec.kind in ("choice", "bool"):
        allowed = ", ".join(spec.choices) if spec.choices else "true, false"
        raise ValueError(f"{label} has no range; list the choices with commas ({allowed}), "
                         f"got {raw!r}")
    match = _RANGE.match(raw)
    if match is None:
        raise ValueError(f"{label}: {raw!r} is not a range; write low..high, then log or "
                         f"step S if wanted, as in {_range_example(spec.kind)}")
    integer = spec.kind in ("int", "optional_int")
    low = parse_field(name, match["low"])
    high = parse_field(name, match["high"])
    log, step = _modifiers(label, match["rest"], raw, integer)
    if low is None or high is None:
        raise ValueError(f"{label}: a range needs two numbers, got {raw!r}")
    if low >= high:
        raise ValueError(f"{label}: the range {raw.strip()!r} is empty: its low end must be "
                         f"below its high end")
    if log and low <= 0:
        raise ValueError(f"{label}: a log range must stay above 0, got {_show(low)}.."
                         f"{_show(high)}; start it at a small number such as 1e-4")
    if step is not None:
        count = (high - low) / step
        if abs(count - round(count)) > 1e-9 * max(1.0, abs(count)):
            raise ValueError(f"{label}: step {_show(step)} does not divide {_show(low)}.."
                             f"{_show(high)} (the span {_show(high - low)} is not a whole "
                             f"number of steps)")
    _check_value(name, low, base, "the range's low end: ")
    _check_value(name, high, base, "the range's high end: ")
    if integer and step is None:
        step = 1
    return Span(float(low) if not integer else low, float(high) if not integer else high,
                log=log, step=step, integer=integer)


def _range_example(kind: str) -> str:
    return "16..64 step 16" if kind in ("int", "optional_int") else "1e-4..1e-1 log"


def _modifiers(label: str, rest: str, raw: str, integer: bool) -> tuple[bool, Any]:
    """`log`, `step S` (after spaces or colons); step a whole number for a whole-number field."""
    words = [w for w in re.split(r"[\s:=]+", rest.strip()) if w]
    log, step = False, None
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word == "log":
            log = True
        elif word == "step" and i + 1 < len(words):
            i += 1
            try:
                step = int(words[i]) if integer else float(words[i])
            except ValueError:
                kind = "a whole number" if integer else "a number"
                raise ValueError(f"{label}: the step must be {kind}, got {words[i]!r}") from None
            if not step > 0 or not math.isfinite(step):
                raise ValueError(f"{label}: the step must be above 0, got {words[i]!r}")
        else:
            raise ValueError(f"{label}: {raw!r} ends with {words[i]!r}; after low..high "
                             f"only log or step S may come")
        i += 1
    if log and step is not None:
        raise ValueError(f"{label}: a range is either log or stepped, not both ({raw!r})")
    return log, step


@dataclass(frozen=True)
class SearchSpace:
    """What a sweep searches: the base config (every single value) and the fields that vary."""

    base: TrainConfig
    params: dict[str, Param]

    @property
    def is_sweep(self) -> bool:
        """Whether any field holds more than one value."""
        return bool(self.params)

    @property
    def is_grid(self) -> bool:
        """Whether every field that varies is a list: the sweep tries their combinations."""
        return all(isinstance(p, Choices) for p in self.params.values())

    @property
    def grid_size(self) -> int | None:
        """How many combinations a grid has (None when a field is a range)."""
        if not self.is_grid:
            return None
        return math.prod(len(p.values) for p in self.params.values()
                         if isinstance(p, Choices))

    def config_for(self, values: dict[str, Any]) -> TrainConfig:
        """The config of one trial: the base with `values` (field → value) over it."""
        return replace(self.base, **values)

    def describe(self) -> str:
        """One line: `learning rate 1e-4..0.1 log · optimizer adam, rmsprop`."""
        return " · ".join(f"{FIELD_SPECS[n].label.lower()} {p.text()}"
                          for n, p in self.params.items())

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept in the sweep's folder."""
        params: dict[str, Any] = {}
        for name, p in self.params.items():
            if isinstance(p, Choices):
                params[name] = {"choices": list(p.values)}
            else:
                params[name] = {"low": p.low, "high": p.high, "log": p.log, "step": p.step,
                                "integer": p.integer}
        return {"base": self.base.to_dict(), "params": params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchSpace:
        """Read `to_json`'s form back (raises ValueError or KeyError when damaged)."""
        base = TrainConfig.from_dict(data["base"])
        params: dict[str, Param] = {}
        for name, p in data["params"].items():
            if name not in FIELD_SPECS:
                raise ValueError(f"unknown setting {name!r}")
            if "choices" in p:
                params[name] = Choices(tuple(p["choices"]))
            else:
                params[name] = Span(p["low"], p["high"], bool(p["log"]), p["step"],
                                    bool(p["integer"]))
        return cls(base, params)


def parse_search(values: dict[str, Any], base: TrainConfig | None = None
                 ) -> tuple[SearchSpace, dict[str, str]]:
    """Apply `values` (strings as typed, TOML values, lists) over `base`: the search space
    and every problem as field → message (as `config.parse_values` gives them)."""
    base = base or TrainConfig()
    singles: dict[str, Any] = {}
    several: dict[str, Any] = {}
    for key, raw in values.items():
        (several if is_several(raw) else singles)[key.replace("-", "_")] = raw
    config, errors = parse_values(
        {k: (v[0] if isinstance(v, (list, tuple)) and v else v) for k, v in singles.items()},
        base=base)
    params: dict[str, Param] = {}
    for name, raw in several.items():
        try:
            param = parse_param(name, raw, config)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if isinstance(param, (Choices, Span)):
            params[name] = param
            errors.pop(name, None)
    return SearchSpace(config, params), errors


def parse_trials(raw: Any) -> int:
    """The number of trials as typed or read: a whole number from 1 to MAX_TRIALS."""
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
    if not is_int(value) or not 1 <= value <= MAX_TRIALS:
        raise ValueError(f"trials must be a whole number from 1 to {MAX_TRIALS}, got {raw!r}")
    return int(value)
