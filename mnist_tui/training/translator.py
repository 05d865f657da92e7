"""The one translation of a Keras `fit` into events, shared by the app and `MonitorCallback`.

Keras 3 calls a callback at the end of each execution and epoch with running means since the
epoch began (`logs`). `KerasTranslator` turns them into the run's `BatchEnd` and `EpochEnd`
events (`batch_metrics.FitProgress` keeps the counts, per-batch values and clocks), obeys the
run's control between two executions, runs the run's `FitHook`s there and at epoch ends, and
measures training time without the pauses. The app's `bridge.BridgeCallback` and any
script's `callback.MonitorCallback` are this class, configured differently: see
`KerasTranslator`.

With `steps_per_execution` N, Keras calls `on_train_batch_end` once per N batches, with the
last one's index and running means. A `recorder` (the app's in-graph ring buffer) gives
every batch's running means, and one `BatchEnd` per batch is emitted, in order, all with the
`elapsed` of the moment they became known; without one, one `BatchEnd` per execution, whose
`step`, `batch` and `seen` jump by the batches run. The run's emit folds batches that come
faster than 20 a second into blocks (`core.batch_folding`); a pause passes the open block on
before it waits, so a paused run shows where it is.

Control under N > 1: pause and NaN take effect at the batch where they are seen (the
training thread waits before reporting the next batch); a stop takes effect at the end of the
execution, so up to N - 1 more batches (already trained) are reported. In a multi-worker
cluster (`placement`) the workers agree on stopping every `strategy.AGREE_EVERY` batches.

Checkpoints (`checkpoint.py`, with a `checkpointer`) are written in the training thread,
between two calls into TensorFlow: at most every `Checkpointer.interval` seconds at the end of
an execution, at every whole epoch's end, and when `fit` ends (a stop). A resumed run
(`start`) reports steps, images, epochs and time going on from its checkpoint; its first
`fit` runs the rest of the checkpoint's epoch without the batches already trained, whose
numbers it continues.

At an epoch end the translator reports the epoch (with the learning rate it began with, when
asked to), then applies the epoch rules (`epoch_rules.py`: a plateau, early stopping), runs
the hooks, then checkpoints, the rules' state included.

This module imports Keras: import it after `keras_runtime.import_keras()` has imported
TensorFlow quietly.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import keras
import numpy as np

from mnist_tui.core.batch_folding import BatchFolding
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, EpochEnd
from mnist_tui.training.batch_metrics import FitHook, FitProgress
from mnist_tui.training.checkpoint import Checkpointer, Position

if TYPE_CHECKING:
    from mnist_tui.training.epoch_rules import EpochRules
    from mnist_tui.training.strategy import Placement


def metric_value(value: Any) -> float | None:
    """A metric as a float; None for a missing or non-numeric one (a metric not computed)."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def numeric_logs(logs: Mapping[str, Any]) -> dict[str, float]:
    """Keras's `logs` as floats, without the values that are not numbers."""
    return {k: v for k, v in ((k, metric_value(v)) for k, v in logs.items()) if v is not None}


def _loss(logs: Mapping[str, Any]) -> float:
    """The loss in `logs`; NaN when there is none."""
    loss = metric_value(logs.get("loss"))
    return math.nan if loss is None else loss


def _learning_rate(model: Any) -> float | None:
    """The optimizer's learning rate now (a schedule's, at its step); None without one."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class BatchRows(Protocol):
    """Every batch's running (loss, accuracy), recorded in the graph (`bridge.BatchRecorder`)."""

    def read(self, first: int, n: int) -> np.ndarray:
        """The rows of batches `first` .. `first + n - 1` (counted from 0 over the whole run)."""


@dataclass(frozen=True)
class FitShape:
    """What is known of a fit's size.

    `batches_per_epoch`: 0 when not known (every epoch then counts as whole). `batch_size`:
    images per batch, 1 when not known (images then count batches). `train_samples`: images
    per epoch (the last batch may be smaller), 0 when not known.
    """

    batches_per_epoch: int = 0
    batch_size: int = 1
    train_samples: int = 0


UNKNOWN_SIZE = FitShape()


class ContinuedProgress(FitProgress):
    """A `FitProgress` whose counts and training time go on from a checkpoint's `start`."""

    def __init__(self, paused_seconds: Callable[[], float], start: Position) -> None:
        super().__init__(paused_seconds)
        self.step, self.seen = start.step, start.seen
        self.epochs_completed = start.epochs_completed
        self._elapsed_before = start.elapsed

    def train_seconds(self) -> float:
        """Seconds of training since the run first began, pauses excluded."""
        return super().train_seconds() + self._elapsed_before


class KerasTranslator(keras.callbacks.Callback):
    """A Keras callback that reports `fit` as events through `emit` and obeys `control`.

    `BatchEnd` per batch (or per execution, see the module), `EpochEnd` per epoch; a stop
    (and a pause) asked through `control` ends (holds) the fit between two executions. What
    it is configured with:

    - `shape`: the fit's size as far as it is known (`set_shape` when it is known only as
      the fit begins);
    - `hooks`: work between executions and at epoch ends (see `batch_metrics.FitHook`);
    - `accuracy_keys`: the names under which `logs` may hold an accuracy, the first found
      charted as accuracy (`val_` + it as the validation accuracy);
    - `epoch_rates`: whether `EpochEnd` carries the learning rate the epoch began with;
    - `nan_advice`: when given, a loss that turns NaN or infinite ends the fit, and
      `nan_message` says why, with this advice;
    - `cut_epoch_hooks`: whether the hooks' `epoch_end` runs after an epoch cut short (a
      stop) too, not only after whole ones;
    - `recorder`: every batch's running means of an execution (`bridge.BatchRecorder`);
    - `placement`: a cluster's workers agree on stopping; `checkpointer`: keeps the run's
      checkpoint; `start`: the checkpoint a resumed run goes on from (its fits may be two:
      the rest of that epoch, then the others); `rules`: applied at every whole epoch's end.

    Each translator reports one run, counted from the first `fit` it sees (`start_run`
    starts another). After `fit`, the attributes below say what happened.
    """

    last_logs: dict[str, float]
    """The last epoch's logs from Keras: loss, accuracy, val_loss, val_accuracy, ..."""
    nan_message: str
    """Why training diverged (the loss became NaN or infinite); "" when it did not."""
    train_seconds: float
    """Seconds from the start of `fit` to its end, pauses excluded."""
    stopped_by_cluster: bool
    """Whether another worker of the cluster asked to stop (and this one did not)."""
    hook_seconds: float
    """Seconds the hooks took in the training thread (what the live parts cost)."""

    def __init__(self, emit: Emit, control: RunControl, shape: FitShape = UNKNOWN_SIZE, *,
                 hooks: Sequence[FitHook] = (), accuracy_keys: Sequence[str] = ("accuracy",),
                 epoch_rates: bool = False, nan_advice: str | None = None,
                 cut_epoch_hooks: bool = False, recorder: BatchRows | None = None,
                 placement: Placement | None = None, checkpointer: Checkpointer | None = None,
                 start: Position | None = None, rules: EpochRules | None = None) -> None:
        super().__init__()
        self.emit = emit
        self.control = control
        self.set_shape(shape)
        self.hooks = tuple(hooks)
        self.accuracy_keys = tuple(accuracy_keys)
        self.epoch_rates = epoch_rates
        self.nan_advice = nan_advice
        self.cut_epoch_hooks = cut_epoch_hooks
        self.recorder = recorder
        self.placement = placement
        self.checkpointer = checkpointer
        self.start = start
        self.rules = rules if rules is not None and rules.active else None
        self.hook_seconds = 0.0
        self._epoch_rate: float | None = None  # the learning rate the epoch began with
        self.last_logs = {}
        self.nan_message = ""
        self.train_seconds = start.elapsed if start is not None else 0.0
        self.stopped_by_cluster = False
        self._clustered = placement is not None and placement.multi_worker
        self.progress = self._new_progress()
        self._began = False
        self._recorded_before = start.step if start is not None else 0  # not in the recorder
        self._skip_pending = (start.resume_at(shape.batches_per_epoch)[1]
                              if start is not None else 0)
        self._skipped = 0  # batches of this epoch trained before the checkpoint

    def set_shape(self, shape: FitShape) -> None:
        """The fit's size (a script's callback learns it only as its fit begins)."""
        self.shape = shape
        self._last_batch = shape.batches_per_epoch or sys.maxsize
        self._epoch_images = shape.train_samples or sys.maxsize

    @property
    def step(self) -> int:
        """Batches reported in the whole run."""
        return self.progress.step

    @property
    def seen(self) -> int:
        """Training images reported in the whole run."""
        return self.progress.seen

    @property
    def epochs_completed(self) -> int:
        """Epochs that ran every one of their batches."""
        return self.progress.epochs_completed

    def accuracy_key(self, logs: Mapping[str, Any]) -> str | None:
        """The name under which `logs` hold an accuracy, if any."""
        for key in self.accuracy_keys:
            if key in logs:
                return key
        return None

    def _paused_seconds(self) -> float:
        return self.control.paused_seconds

    def _new_progress(self) -> FitProgress:
        if self.start is None:
            return FitProgress(self._paused_seconds)
        return ContinuedProgress(self._paused_seconds, self.start)

    def start_run(self) -> None:
        """Count a run from here: its counts and clock from nothing (or from `start`)."""
        self._began = True
        self.progress = self._new_progress()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start counting, and the clock of the run (once: a resumed run may fit twice)."""
        if not self._began:
            self.start_run()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start counting a new epoch's batches, means and time."""
        self.progress.begin_epoch(epoch)
        self._skipped, self._skip_pending = self._skip_pending, 0
        self.progress.epoch_batches = self._skipped
        if self.epoch_rates:
            self._epoch_rate = _learning_rate(self.model)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Report the execution's batches, then stop or wait as asked, run the hooks, and
        checkpoint when one is due."""
        logs = logs or {}
        # With steps_per_execution N, `batch` is the execution's first step + N - 1, even
        # when the epoch ran out of batches before that.
        done = min(batch + 1 + self._skipped, self._last_batch)
        reported = self.progress.epoch_batches
        if self.recorder is not None and done - reported > 1:
            rows = self.recorder.read(self.progress.step - self._recorded_before,
                                      done - reported)
            has_acc = self.accuracy_key(logs) is not None
            for j, (loss, acc) in enumerate(rows, start=reported + 1):
                self._report(j, float(loss), float(acc) if has_acc else None)
                if self.nan_message:
                    break
                if j < done:
                    self._wait_if_paused()
        else:
            key = self.accuracy_key(logs)
            self._report(done, _loss(logs), metric_value(logs.get(key)) if key else None)
        stopping = self._obey()
        if self.hooks and not stopping:
            began = time.perf_counter()
            for hook in self.hooks:
                hook.after_execution(self)
            self.hook_seconds += time.perf_counter() - began
            if self.control.stop_requested and not self._clustered:
                # asked by what a hook reported (a sweep's pruning): no batch more
                self.model.stop_training = stopping = True
        checkpointer = self.checkpointer
        if checkpointer is not None and not stopping and checkpointer.due():
            self._checkpoint()

    def _report(self, done: int, loss: float, acc: float | None) -> None:
        """Emit the `BatchEnd` of the epoch's batch `done` from its running means."""
        size = self.shape.batch_size
        # Keras's means (and so the images counted here) start after the skipped batches.
        epoch_seen = min(done * size, self._epoch_images) - self._skipped * size
        self.emit(self.progress.batch_end(done, epoch_seen, loss, acc))
        if not math.isfinite(loss) and self.nan_advice is not None and not self.nan_message:
            self.nan_message = (f"the loss became {loss} at epoch {self.progress.epoch}, "
                                f"batch {done}: training diverged; {self.nan_advice}")

    def _wait_if_paused(self) -> None:
        """Wait while the run is paused, its batches so far passed on first (a block that
        `BatchFolding` holds would otherwise wait with the run)."""
        if self.control.paused:
            if isinstance(self.emit, BatchFolding):
                self.emit.flush()
            self.control.wait_if_paused()

    def _obey(self) -> bool:
        """After an execution: stop on NaN or request, else wait while paused. Whether the
        fit stops."""
        stop = self.control.stop_requested
        if not stop and not self.nan_message:
            self._wait_if_paused()
            stop = self.control.stop_requested
        if self.placement is not None:
            agreed = self.placement.agree_to_stop(stop, self.progress.step)
            self.stopped_by_cluster = agreed and not stop
            stop = agreed
        if stop or self.nan_message:
            self.model.stop_training = True
            return True
        return False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report the epoch's means and validation metrics; after a whole epoch, apply the
        rules, run the hooks and checkpoint."""
        logs = logs or {}
        self.last_logs = numeric_logs(logs)
        seconds = self.progress.end_epoch(self.shape.batches_per_epoch)
        key = self.accuracy_key(logs)
        self.emit(EpochEnd(epoch=epoch + 1, step=self.progress.step, loss=_loss(logs),
                           accuracy=metric_value(logs.get(key)) if key else None,
                           val_loss=metric_value(logs.get("val_loss")),
                           val_accuracy=metric_value(logs.get(f"val_{key}")) if key else None,
                           seconds=seconds, learning_rate=self._epoch_rate))
        if self.control.stop_requested:  # asked at the epoch's end (a sweep's pruning):
            self.model.stop_training = True  # no batch of the next epoch
        whole = self.progress.epoch_batches >= self.shape.batches_per_epoch
        if whole and self.rules is not None and not self.nan_message:
            self.rules.epoch_end(epoch, self.last_logs)  # whole epochs only
        if (whole or self.cut_epoch_hooks) and not self.nan_message:
            began = time.perf_counter()
            for hook in self.hooks:
                hook.epoch_end(self)
            self.hook_seconds += time.perf_counter() - began
        if whole:
            self._checkpoint()  # a stopped epoch's is written by on_train_end

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Note how long training took; checkpoint where a stop left it."""
        self.train_seconds = self.progress.train_seconds()
        if self.checkpointer is not None and self.checkpointer.saved_step != self.progress.step:
            self._checkpoint()

    def position(self) -> Position:
        """Where the run is now, as a checkpoint records it."""
        progress = self.progress
        return Position(epoch=progress.epoch, batch=progress.epoch_batches, step=progress.step,
                        seen=progress.seen, elapsed=progress.train_seconds(),
                        epochs_completed=progress.epochs_completed)

    def _checkpoint(self) -> None:
        """Write the checkpoint, unless there is nothing (new) to keep or training diverged."""
        if self.checkpointer is None or self.nan_message or self.progress.step == 0:
            return
        if self.start is not None and self.progress.step == self.start.step:
            return  # nothing trained since the checkpoint it resumed from
        rules = self.rules
        self.checkpointer.save(self.model, self.position(), self.shape.batches_per_epoch,
                               self.last_logs, rules.state() if rules is not None else None,
                               rules.best_weights() if rules is not None else None)
