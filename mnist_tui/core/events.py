"""The event stream that everything hangs on.

A run is a sequence of small frozen dataclasses. The trainer emits them; the run log, the TUI,
the headless console and `watch` consume them. Each has a JSON form whose `"type"` names it,
and `core.event_json.event_from_dict(event.to_dict())` gives the same event back. The JSON
form is strict (see `jsonio`): a NaN loss is written as `null` and named under
`"nonfinite"`, and comes back as NaN; the `NaN` literals of logs written before still read.

Epochs and batches are counted from 1 in events, as a person counts them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mnist_tui.core.digit_sample import DigitSample
from mnist_tui.core.jsonio import json_safe
from mnist_tui.core.summary import RunSummary, ending_summary

if TYPE_CHECKING:
    import numpy as np  # imported where used: the app's form must not wait for it


def _now() -> float:
    return time.time()


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events; `time` is the wall-clock moment it was made (Unix seconds)."""

    TYPE: ClassVar[str] = "event"
    time: float = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict with a `"type"` key (non-finite numbers as noted None)."""
        data: dict[str, Any] = json_safe(self._fields())
        return data

    def _fields(self) -> dict[str, Any]:
        """The JSON object before `json_safe`: the type, then each field (a summary as its
        JSON form)."""
        data = {"type": self.TYPE, **asdict(self)}
        summary = getattr(self, "summary", None)
        if isinstance(summary, RunSummary):
            data["summary"] = summary.to_json()
        return data

    def to_json(self) -> str:
        """One line of strict JSON (no newline), as written to `events.jsonl`."""
        data = self._fields()
        try:  # the common case, at full speed: every number finite
            return json.dumps(data, separators=(",", ":"), allow_nan=False)
        except ValueError:  # a NaN or an infinity: written as null, and named
            return json.dumps(json_safe(data), separators=(",", ":"), allow_nan=False)


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
    precision: str = ""  # "float32" or "bfloat16" as resolved; "" when not recorded
    rate_locked: str = ""  # why the learning rate cannot be set while it trains ("" if it can)


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
class BatchBlock(BatchEnd):
    """A `BatchEnd` standing for `count` batches in a row (`core.batch_folding`: a log stays
    small at any batch rate). Its progress (`step`, `loss`, `seen`, ...) is its last batch's;
    `batch_loss` and `batch_accuracy` are the means of its batches' own values, with their
    least, greatest and last. A reader of `BatchEnd` reads a block as its last batch's
    progress with the block's means."""

    TYPE: ClassVar[str] = "batch_block"
    count: int  # batches in the block: steps `step - count + 1` .. `step`
    batch_loss_min: float
    batch_loss_max: float
    batch_loss_last: float
    batch_accuracy_min: float | None = None
    batch_accuracy_max: float | None = None
    batch_accuracy_last: float | None = None

    @property
    def first_step(self) -> int:
        """The step of the block's first batch."""
        return self.step - self.count + 1


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
    learning_rate: float | None = None  # the rate the epoch began with (None: not logged)


@dataclass(frozen=True, kw_only=True)
class SliceValidated(Event):
    """A validation figure measured within an epoch on a fixed slice of the validation
    images (a sweep's trial reports it to its pruner: `core.report_points`)."""

    TYPE: ClassVar[str] = "slice_validated"
    epoch: int  # 1-based
    batch: int  # batches of the epoch done when it was measured
    batches_per_epoch: int
    step: int  # batches done in the whole run
    point: int  # 1..points - 1: which of the epoch's report points
    points: int  # report points per epoch (the last one is the epoch's end)
    val_loss: float
    val_accuracy: float
    slice_size: int  # validation images measured
    seconds: float  # what measuring it took (training waited)


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", ending_summary(self.summary, "finished", ""))


@dataclass(frozen=True, kw_only=True)
class RunStopped(Event):
    """The run was stopped before its last epoch on request; it was still evaluated."""

    TYPE: ClassVar[str] = "run_stopped"
    reason: str
    summary: RunSummary = field(default_factory=lambda: RunSummary(status="stopped"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", ending_summary(self.summary, "stopped", self.reason))


@dataclass(frozen=True, kw_only=True)
class RunFailed(Event):
    """The run ended in an error (an exception, a NaN loss, an interrupt)."""

    TYPE: ClassVar[str] = "run_failed"
    error: str  # one readable sentence
    detail: str = ""  # traceback or extra context, for the log
    summary: RunSummary = field(default_factory=RunSummary)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", ending_summary(self.summary, "failed", self.error))


@dataclass(frozen=True, kw_only=True)
class Checkpointed(Event):
    """The run's checkpoint was written: it can resume from this batch (see checkpoint.py)."""

    TYPE: ClassVar[str] = "checkpointed"
    epoch: int  # 1-based, the epoch of the last trained batch
    batch: int  # batches done in that epoch
    step: int  # batches done in the whole run
    seconds: float  # how long writing it took


@dataclass(frozen=True, kw_only=True)
class RunResumed(Event):
    """The run goes on from its checkpoint, in the same folder (`mnist-tui resume`).

    Whatever was logged after the checkpoint's batch (a killed run's last batches) no longer
    counts; an earlier terminal event right before this one is superseded. `epochs` and
    `total_batches` are the resumed run's, which may be more than before.
    """

    TYPE: ClassVar[str] = "run_resumed"
    step: int  # batches done in the whole run at the checkpoint
    epoch: int  # 1-based, the epoch of the checkpoint's last batch
    batch: int  # batches done in that epoch
    seen: int  # training images processed at the checkpoint
    elapsed: float  # seconds of training at the checkpoint, pauses excluded
    epochs: int
    total_batches: int
    batches_per_epoch: int


@dataclass(frozen=True, kw_only=True)
class StorageProblem(Event):
    """Part of the run folder cannot be written (a read-only disk, a full one, a path that
    is not a folder); training goes on, and this part of the run is not saved.

    The run's writer hands it to the front ends once, never to the log it cannot write.
    """

    TYPE: ClassVar[str] = "storage_problem"
    path: str  # what cannot be written
    message: str  # one sentence for people: what, where, why, and what happens now


@dataclass(frozen=True, kw_only=True)
class ShownDigits(Event):
    """The fixed test digits whose predictions the monitor shows all run long.

    Sent once, after `RunStarted` and before the first `Predictions`, whose tuples follow
    this order. `pixels` are 28x28 uint8 images, 784 bytes each, base64.
    """

    TYPE: ClassVar[str] = "shown_digits"
    indices: tuple[int, ...]  # positions in the test set
    labels: tuple[int, ...]
    pixels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not len(self.indices) == len(self.labels) == len(self.pixels):
            raise TypeError("shown digits need as many indices, labels and images")

    def pixel_bytes(self, k: int) -> bytes:
        """The k-th digit as 784 bytes, row by row; no numpy needed."""
        return base64.b64decode(self.pixels[k])

    def image(self, k: int) -> np.ndarray:
        """The k-th digit as a 28x28 uint8 image."""
        import numpy as np

        return np.frombuffer(base64.b64decode(self.pixels[k]), dtype=np.uint8).reshape(28, 28)


@dataclass(frozen=True, kw_only=True)
class Predictions(Event):
    """The model's current guesses for the `ShownDigits`, in their order (every ~2 s of
    training and at each epoch end)."""

    TYPE: ClassVar[str] = "predictions"
    step: int  # batches done in the whole run when they were made
    epoch: int  # 1-based
    predicted: tuple[int, ...]
    confidence: tuple[float, ...]  # the probability of the predicted class

    def __post_init__(self) -> None:
        if len(self.predicted) != len(self.confidence):
            raise TypeError("predictions need one confidence per predicted digit")


@dataclass(frozen=True, kw_only=True)
class LearningRateChanged(Event):
    """The optimizer's learning rate was changed while the run trained.

    Batch `step + 1` is the first trained at `rate`. `by` says who changed it: "user" (the
    monitor's `l`, or a watcher through the control channel) or "plateau" (the schedule).
    """

    TYPE: ClassVar[str] = "learning_rate_changed"
    step: int  # batches done in the whole run when it took effect
    epoch: int  # 1-based, the epoch of the batch `step`
    previous: float
    rate: float
    by: str = "user"


@dataclass(frozen=True, kw_only=True)
class SystemLoad(Event):
    """What the run's process and its machine are doing (at most one a second)."""

    TYPE: ClassVar[str] = "system_load"
    process_cpu: float  # percent of one core (a busy process on 2 cores reads up to 200)
    machine_cpu: float  # percent of all the machine's cores
    cpus: int  # logical cores
    memory: int  # the process's resident memory, bytes
    peak_memory: int  # the most it has held so far, bytes
    gpu_utilization: float | None = None  # percent, when a GPU is used and it can be read
    gpu_memory: int | None = None  # bytes in use on the GPU
    gpu_memory_total: int | None = None  # bytes


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (Phase, RunStarted, BatchEnd, BatchBlock, EpochEnd, SliceValidated, Evaluated,
                RunFinished, RunStopped, RunFailed, Checkpointed, RunResumed, StorageProblem,
                ShownDigits, Predictions, LearningRateChanged, SystemLoad)
}
TERMINAL_TYPES: tuple[type[Event], ...] = (RunFinished, RunStopped, RunFailed)

Emit = Callable[[Event], None]
"""What a producer calls with each event; it never knows who consumes them."""
