"""`RunSummary`: how a run ended, the one summary written to `summary.json`, stdout and the UI.

A frozen dataclass, built once by whoever produces the run (the trainer, `MonitorCallback`, a
run that failed before its trainer could report) from the facts it collected, and never
written into afterwards: a producer that learns more makes a new one (`dataclasses.replace`).
Readers use its attributes or read it as a mapping (`summary["test_accuracy"]`,
`summary.get("warning")`), which holds exactly the keys of its JSON form.

The JSON form (`to_json`, `from_json`) is what `summary.json` and the terminal events hold:
every key of HEADLINE_KEYS, in that order, then each optional key that is known (not None).
`from_json` reads summaries of other versions and of Keras-callback runs, which lack some
keys, and leaves out a value of the wrong kind (a damaged file) as if it were missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from mnist_tui.core.jsonio import restore_nonfinite
from mnist_tui.core.kinds import is_int, is_number

Status = Literal["running", "finished", "stopped", "failed"]
STATUSES: tuple[Status, ...] = get_args(Status)

HEADLINE_KEYS = ("run_id", "run_dir", "status", "reason", "params", "epochs", "epochs_completed",
                 "stopped_early", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
                 "seconds", "samples_per_second", "train_samples", "config")
"""The keys every summary has, in the order headless mode prints them."""


@dataclass(frozen=True, kw_only=True, eq=False)
class RunSummary(Mapping[str, Any]):
    """The summary of one run (see the README's headless section for each key).

    The headline keys come first, each with the value of a run that has not got anywhere
    yet; then the optional keys, None while unknown (and then left out of the JSON form).
    Equal to any mapping with the same keys and values.
    """

    run_id: str = ""
    run_dir: str | None = None
    status: Status = "failed"
    reason: str = ""
    params: int | None = None
    epochs: int | None = None
    epochs_completed: int = 0
    stopped_early: bool = False
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    seconds: float = 0.0
    samples_per_second: float | None = 0.0
    train_samples: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    warning: str | None = None  # a finished run that looks diverged (see divergence.py)
    early_stopped_epoch: int | None = None  # the epoch after which early stopping ended it
    best_epoch: int | None = None  # whose weights early stopping kept (see epoch_rules.py)
    train_loss: float | None = None
    train_accuracy: float | None = None
    batches: int | None = None
    seen: int | None = None
    metrics: Mapping[str, float] | None = None  # a Keras-callback run's last logs
    strategy: str | None = None
    replicas: int | None = None
    devices: Sequence[str] | None = None
    precision: str | None = None  # the arithmetic it trained in: "float32" or "bfloat16"
    task: str | None = None
    model_path: str | None = None
    model_error: str | None = None
    storage_error: str | None = None
    peak_memory: int | None = None  # the most resident memory the run's process held, bytes
    learning_rate: float | None = None  # the rate it ended at, when changed on the way
    # each {"step", "epoch", "previous", "rate", "by"} (see rate_control.change_record):
    learning_rate_changes: Sequence[Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        """Hold copies of the containers given, so that nobody else can change them."""
        copies = {"config": dict(self.config),
                  "metrics": None if self.metrics is None else dict(self.metrics),
                  "devices": None if self.devices is None else list(self.devices),
                  "learning_rate_changes": None if self.learning_rate_changes is None
                  else [dict(change) for change in self.learning_rate_changes]}
        for name, value in copies.items():
            object.__setattr__(self, name, value)

    def _keys(self) -> list[str]:
        return [*HEADLINE_KEYS, *(key for key in OPTIONAL_KEYS if getattr(self, key) is not None)]

    def __getitem__(self, key: str) -> Any:
        if key in HEADLINE_KEYS or (key in _OPTIONAL and getattr(self, key) is not None):
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def to_json(self) -> dict[str, Any]:
        """The JSON object (a new dict, its containers copied): `summary.json`'s content.

        A NaN stays a float here; writers make it strict JSON (`jsonio.json_safe`).
        """
        data = {key: self[key] for key in self._keys()}
        data["config"] = dict(self.config)
        if self.metrics is not None:
            data["metrics"] = dict(self.metrics)
        if self.devices is not None:
            data["devices"] = list(self.devices)
        if self.learning_rate_changes is not None:
            data["learning_rate_changes"] = [dict(c) for c in self.learning_rate_changes]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None,
                  fallback: Mapping[str, Any] | None = None) -> RunSummary:
        """A summary read from a file or an event (None reads as an empty one).

        Unknown keys are dropped, and so is a known key whose value is of the wrong kind (a
        damaged or foreign `summary.json`), so that no screen meets a string where it
        formats a number. `fallback` gives values (checked alike) for the keys that `data`
        lacks or holds damaged; NaN and infinities named under "nonfinite" come back.
        """
        known: dict[str, Any] = {}
        for source in (fallback or {}, restore_nonfinite(dict(data or {}))):
            known.update({key: value for key, value in source.items()
                          if key in _CHECKS and _CHECKS[key](value)})
        return cls(**known)

    def in_folder(self, run_dir: str | Path | None) -> RunSummary:
        """This summary, naming `run_dir` as the run's folder when it names none (a log of an
        older version or of a Keras-callback run); itself when it does or `run_dir` is None."""
        if self.run_dir is not None or run_dir is None:
            return self
        return dataclasses.replace(self, run_dir=str(run_dir))


def ending_summary(given: Mapping[str, Any], status: Status, reason: str) -> RunSummary:
    """The summary a terminal event carries: `given` (a `RunSummary`, or a mapping read as one:
    an older log's, a test's) with `status` where it names none and `reason` where it gives
    none (the event's own error or reason)."""
    summary = (given if isinstance(given, RunSummary)
               else RunSummary.from_json(given, fallback={"status": status}))
    if summary.reason or not reason:
        return summary
    return dataclasses.replace(summary, reason=reason)


OPTIONAL_KEYS = tuple(f.name for f in dataclasses.fields(RunSummary)
                      if f.name not in HEADLINE_KEYS)
"""The keys a summary holds only when known, in the order its JSON form lists them."""
_OPTIONAL = frozenset(OPTIONAL_KEYS)


def _sequence_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, (list, tuple)) and all(check(v) for v in value)


_KINDS: dict[str, Callable[[Any], bool]] = {
    "None": lambda value: value is None,
    "int": is_int,
    "float": is_number,
    "str": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
    "Status": lambda value: value in STATUSES,
    "Mapping[str, Any]": lambda value: isinstance(value, Mapping),
    "Mapping[str, float]": lambda value: isinstance(value, Mapping),
    "Sequence[str]": _sequence_of(lambda value: isinstance(value, str)),
    "Sequence[Mapping[str, Any]]": _sequence_of(lambda value: isinstance(value, Mapping)),
}


def _check(annotation: str) -> Callable[[Any], bool]:
    """Whether a value is of a kind the field's annotation (as written) allows."""
    kinds = [_KINDS[kind] for kind in annotation.split(" | ")]
    return lambda value: any(kind(value) for kind in kinds)


_CHECKS = {f.name: _check(str(f.type)) for f in dataclasses.fields(RunSummary)}
"""What a JSON value must be for each key of a summary."""
