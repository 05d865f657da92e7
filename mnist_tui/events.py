"""The event stream that everything hangs on.

A run is a sequence of small frozen dataclasses. The trainer emits them; the run log, the TUI,
the headless console and `watch` consume them. Each has a JSON form whose `"type"` names it,
and `event_from_dict(event.to_dict())` gives the same event back.

Epochs and batches are counted from 1 in events, as a person counts them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from mnist_tui.run_summary import RunSummary


def _now() -> float:
    return time.time()


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events; `time` is the wall-clock moment it was made (Unix seconds)."""

    TYPE: ClassVar[str] = "event"
    time: float = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a `"type"` key."""
        data = {"type": self.TYPE}
        data.update(asdict(self))
        return data

    def to_json(self) -> str:
        """One line of JSON (no newline), as written to `events.jsonl`."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=True)


@dataclass(frozen=True, kw_only=True)
class Phase(Event):
    """The run entered a phase: loading data, building the model, training, evaluating..."""

    TYPE: ClassVar[str] = "phase"
    phase: str  # "loading_data", "building_model", "training", "evaluating", "saving"
    message: str


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """Training is about to begin: what will run and how many batches it will take."""

    TYPE: ClassVar[str] = "run_started"
    run_id: str
    config: dict[str, Any]
    total_batches: int
    batches_per_epoch: int
    epochs: int
    train_samples: int
    val_samples: int
    test_samples: int
    params: int
    data_source: str = ""
    strategy: str = "default"
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BatchEnd(Event):
    """One batch (or one execution of several batches) finished.

    `loss` and `accuracy` are what Keras reports: running means since the epoch began.
    `batch_loss` and `batch_accuracy` are this batch's own values, derived from those means.
    """

    TYPE: ClassVar[str] = "batch_end"
    step: int  # batches done in the whole run
    epoch: int  # 1-based
    batch: int  # batches done in this epoch
    loss: float
    accuracy: float | None
    batch_loss: float
    batch_accuracy: float | None
    seen: int  # training images processed in the whole run
    elapsed: float  # seconds of training so far, pauses excluded


@dataclass(frozen=True, kw_only=True)
class EpochEnd(Event):
    """An epoch finished, with its training means and validation metrics."""

    TYPE: ClassVar[str] = "epoch_end"
    epoch: int  # 1-based
    step: int  # batches done in the whole run when the epoch ended
    loss: float
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float  # wall time of this epoch, pauses excluded


@dataclass(frozen=True, kw_only=True)
class DigitSample:
    """One test image with its true and predicted label; `pixels` is 784 bytes, base64."""

    index: int
    label: int
    predicted: int
    confidence: float
    pixels: str

    @property
    def correct(self) -> bool:
        """Whether the prediction was right."""
        return self.label == self.predicted

    def image(self) -> np.ndarray:
        """The 28x28 uint8 image."""
        return np.frombuffer(base64.b64decode(self.pixels), dtype=np.uint8).reshape(28, 28)

    @classmethod
    def from_image(cls, index: int, label: int, predicted: int, confidence: float,
                   image: np.ndarray) -> DigitSample:
        """Make a sample from a 28x28 image (uint8, or floats in 0..1)."""
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        pixels = base64.b64encode(arr.reshape(28, 28).tobytes()).decode("ascii")
        return cls(index=int(index), label=int(label), predicted=int(predicted),
                   confidence=float(confidence), pixels=pixels)


@dataclass(frozen=True, kw_only=True)
class Evaluated(Event):
    """The trained model was evaluated on the test images."""

    TYPE: ClassVar[str] = "evaluated"
    test_loss: float
    test_accuracy: float
    test_samples: int
    confusion: tuple[tuple[int, ...], ...]  # confusion[true][predicted]
    per_class_accuracy: tuple[float, ...]
    samples: tuple[DigitSample, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """The run completed every epoch; `summary` holds the results (see `Trainer`)."""

    TYPE: ClassVar[str] = "run_finished"
    summary: RunSummary


@dataclass(frozen=True, kw_only=True)
class RunStopped(Event):
    """The run was stopped before its last epoch on request; it was still evaluated."""

    TYPE: ClassVar[str] = "run_stopped"
    reason: str
    summary: RunSummary = field(default_factory=RunSummary)


@dataclass(frozen=True, kw_only=True)
class RunFailed(Event):
    """The run ended in an error (an exception, a NaN loss, an interrupt)."""

    TYPE: ClassVar[str] = "run_failed"
    error: str  # one readable sentence
    detail: str = ""  # traceback or extra context, for the log
    summary: RunSummary = field(default_factory=RunSummary)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (Phase, RunStarted, BatchEnd, EpochEnd, Evaluated, RunFinished, RunStopped,
                RunFailed)
}
TERMINAL_TYPES: tuple[type[Event], ...] = (RunFinished, RunStopped, RunFailed)

Emit = Callable[[Event], None]
"""What a producer calls with each event; it never knows who consumes them."""


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form. Raises ValueError for an unknown or bad record."""
    if not isinstance(data, dict):
        raise ValueError(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    try:
        for key, value in data.items():
            if key == "type" or key not in known:
                continue
            if key == "samples":
                value = tuple(DigitSample(**s) for s in value)
            elif key not in ("config", "summary"):
                value = _tupled(value)
            kwargs[key] = value
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
