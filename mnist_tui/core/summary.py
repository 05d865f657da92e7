"""`RunSummary`: how a run ended, the one dict written to `summary.json`, stdout and the UI.

Built in one place, `new_summary`, by every producer (the trainer, `MonitorCallback`, a front
end whose worker failed); readers treat every key but `status` as optional, since logs of other
versions and of Keras-callback runs lack some.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

Status = Literal["running", "finished", "stopped", "failed"]


class RunSummary(TypedDict, total=False):
    """The summary of one run (see the README's headless section for each key)."""

    run_id: str
    run_dir: str
    status: str
    reason: str
    warning: str  # a finished run that looks diverged (see divergence.py)
    params: int | None
    epochs: int | None
    epochs_completed: int
    stopped_early: bool
    early_stopped_epoch: int  # the epoch after which early stopping ended the run (from 1)
    best_epoch: int  # whose weights early stopping kept (from 1; see epoch_rules.py)
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    train_loss: float | None
    train_accuracy: float | None
    seconds: float
    samples_per_second: float | None
    train_samples: int | None
    batches: int
    seen: int
    config: dict[str, Any]
    metrics: dict[str, float]
    strategy: str
    replicas: int
    devices: list[str]
    precision: str  # the arithmetic it trained in: "float32" or "bfloat16"
    task: str
    model_path: str
    model_error: str
    storage_error: str
    peak_memory: int  # the most resident memory the run's process held, bytes
    learning_rate: float  # the rate it ended at, when changed on the way (see next)
    learning_rate_changes: list[dict[str, Any]]  # {"step", "epoch", "previous", "rate", "by"}


HEADLINE_KEYS = ("run_id", "run_dir", "status", "reason", "params", "epochs", "epochs_completed",
                 "stopped_early", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
                 "seconds", "samples_per_second", "train_samples", "config")
"""The keys every summary has, in the order headless mode prints them."""


def new_summary(run_id: str, config: Mapping[str, Any], *, epochs: int | None,
                train_samples: int | None, status: Status = "failed", reason: str = "",
                **more: Any) -> RunSummary:
    """A summary with every headline key, as a run that has not got anywhere yet."""
    summary = RunSummary(
        run_id=run_id, status=status, reason=reason, params=None, epochs=epochs,
        epochs_completed=0, stopped_early=False, val_loss=None, val_accuracy=None,
        test_loss=None, test_accuracy=None, seconds=0.0, samples_per_second=0.0,
        train_samples=train_samples, config=dict(config))
    summary.update(more)  # type: ignore[typeddict-item]
    return summary


_KINDS: dict[str, Callable[[Any], bool]] = {
    "None": lambda value: value is None,
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "str": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
    "dict[str, Any]": lambda value: isinstance(value, dict),
    "dict[str, float]": lambda value: isinstance(value, dict),
    "list[str]": lambda value: isinstance(value, list),
    "list[dict[str, Any]]": lambda value: isinstance(value, list) and all(
        isinstance(v, dict) for v in value),
}


def _fits(annotation: Any, value: Any) -> bool:
    """Whether `value` is of a kind the annotation (a string, or a ForwardRef) allows."""
    text = str(getattr(annotation, "__forward_arg__", annotation))
    return any(_KINDS.get(kind, lambda _: True)(value) for kind in text.split(" | "))


def as_summary(data: Mapping[str, Any] | None) -> RunSummary:
    """A summary read from a file or an event, as the typed dict (a copy; {} for None).

    A known key whose value is of the wrong kind (a damaged or foreign `summary.json`) is
    left out, as if missing, so that no screen meets a string where it formats a number.
    """
    hints = RunSummary.__annotations__
    return RunSummary(**{  # type: ignore[typeddict-item]
        key: value for key, value in dict(data or {}).items()
        if key not in hints or _fits(hints[key], value)})
