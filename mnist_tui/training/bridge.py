"""The thin Keras callback that turns `fit`'s hooks into events, and the per-batch recorder.

With `steps_per_execution` N, Keras runs N batches per call into TensorFlow and calls
`on_train_batch_end` once, with the last batch's index and running means. So that the monitor
still sees every batch, `record_batch_metrics` makes the model's train step also write each
batch's running loss and accuracy into a small ring buffer inside the graph; the bridge reads
it once per execution and emits one `BatchEnd` per batch, in order, with the values Keras
computed for that batch (all with the `elapsed` of the moment they became known). Without a
recorder (distributed strategies) it emits one `BatchEnd` per execution, whose `step`,
`batch` and `seen` jump by the batches run.

Control under N > 1: pause and NaN take effect at the batch where they are seen (the
training thread waits before reporting the next batch); a stop takes effect at the end of the
execution, so up to N - 1 more batches (already trained) are reported. In a multi-worker
cluster the workers agree on stopping every `strategy.AGREE_EVERY` batches.

Checkpoints (`checkpoint.py`) are written from here, in the training thread, between two
calls into TensorFlow: at most every `Checkpointer.interval` seconds at the end of an
execution, at every epoch end, and when `fit` ends (a stop). A resumed run (`start`) reports
steps, images, epochs and time going on from its checkpoint; its first `fit` runs the rest of
the checkpoint's epoch without the batches already trained, whose numbers it continues.

At an epoch end the bridge reports the epoch (with the learning rate it began with), then
applies the epoch rules (`epoch_rules.py`: a plateau, early stopping), then checkpoints,
their state included.

This module imports Keras: `training.py` imports it inside `Trainer._run`, after
`import_keras()` has imported TensorFlow quietly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, EpochEnd
from mnist_tui.training.batch_metrics import FitHook, FitProgress
from mnist_tui.training.checkpoint import Checkpointer, Position

if TYPE_CHECKING:
    from mnist_tui.training.epoch_rules import EpochRules
    from mnist_tui.training.strategy import Placement

RECORDED = ("loss", "accuracy")


def _float_or_none(value: Any) -> float | None:
    """`value` as a float; None stays None (a metric the model does not compute)."""
    return None if value is None else float(value)


def _learning_rate(model: Any) -> float | None:
    """The optimizer's learning rate now (a schedule's, at its step); None without one."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class BatchRecorder:
    """A ring buffer of (loss, accuracy) per batch, written by the train step in the graph."""

    def __init__(self, capacity: int) -> None:
        import tensorflow as tf

        self.capacity = capacity
        # Plain tf.Variables held here, not by the model: not weights, never saved.
        self.rows = tf.Variable(tf.fill((capacity, len(RECORDED)), math.nan), trainable=False)
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    def record(self, logs: dict[str, Any]) -> None:
        """Graph-side: store this batch's running metrics (NaN for a missing one)."""
        import tensorflow as tf

        row = tf.stack([tf.cast(logs[k], tf.float32) if k in logs else tf.constant(math.nan)
                        for k in RECORDED])
        self.rows[self.count % self.capacity].assign(row)
        self.count.assign_add(1)

    def read(self, first: int, n: int) -> np.ndarray:
        """The rows of batches `first` .. `first + n - 1` (counted from 0 over the whole run)."""
        rows = self.rows.numpy()
        return rows[[(first + j) % self.capacity for j in range(n)]]


def record_batch_metrics(model: Any) -> BatchRecorder | None:
    """Make `model`'s train step record every batch's metrics; None when N is 1.

    Only for the default strategy: under a distribution strategy the step runs per replica.
    """
    steps = int(getattr(model, "steps_per_execution", 1) or 1)
    if steps <= 1:
        return None
    recorder = BatchRecorder(steps)
    step = type(model).train_step

    def train_step(data: Any) -> Any:
        logs = step(model, data)
        recorder.record(logs)
        return logs

    model.train_step = train_step
    model.train_function = None  # made again from the recording step
    return recorder


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


class BridgeCallback(keras.callbacks.Callback):
    """The Keras callback that reports `fit` as events and obeys `control`.

    `BatchEnd` per batch (see the module), `EpochEnd` per epoch; stop, pause and a NaN loss
    end the fit. `recorder` (from `record_batch_metrics`) gives every batch of an execution;
    `placement` makes every worker of a cluster agree on stopping; `checkpointer` keeps the
    run's checkpoint; `start` is the checkpoint a resumed run goes on from (its fits may be
    two: the rest of that epoch, then the others); `rules` are applied at every epoch end;
    `hooks` run between executions and at epoch ends (see `batch_metrics.FitHook`).
    After `fit` the trainer reads the attributes below.
    """

    last_logs: dict[str, float]
    """The last epoch's logs from Keras: loss, accuracy, val_loss, val_accuracy."""
    nan_message: str
    """Why training diverged (the loss became NaN or infinite); "" when it did not."""
    train_seconds: float
    """Seconds from the start of `fit` to its end, pauses excluded."""
    stopped_by_cluster: bool
    """Whether another worker of the cluster asked to stop (and this one did not)."""
    hook_seconds: float
    """Seconds the hooks took in the training thread (what the live parts cost)."""

    def __init__(self, config: TrainConfig, emit: Emit, control: RunControl,
                 recorder: BatchRecorder | None = None,
                 placement: Placement | None = None, *,
                 checkpointer: Checkpointer | None = None,
                 start: Position | None = None, rules: EpochRules | None = None,
                 hooks: Sequence[FitHook] = ()) -> None:
        super().__init__()
        self.config = config
        self.emit = emit
        self.control = control
        self.recorder = recorder
        self.placement = placement
        self.checkpointer = checkpointer
        self.start = start
        self.rules = rules if rules is not None and rules.active else None
        self.hooks = tuple(hooks)
        self.hook_seconds = 0.0
        self._epoch_rate: float | None = None  # the learning rate the epoch began with
        self.last_logs = {}
        self.nan_message = ""
        self.train_seconds = start.elapsed if start is not None else 0.0
        self.stopped_by_cluster = False
        self.progress = self._new_progress()
        self._began = False
        self._recorded_before = start.step if start is not None else 0  # not in the recorder
        self._skip_pending = (start.resume_at(config.batches_per_epoch)[1]
                              if start is not None else 0)
        self._skipped = 0  # batches of this epoch trained before the checkpoint

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

    def _paused_seconds(self) -> float:
        return self.control.paused_seconds

    def _new_progress(self) -> FitProgress:
        if self.start is None:
            return FitProgress(self._paused_seconds)
        return ContinuedProgress(self._paused_seconds, self.start)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start counting, and the clock of the run (once: a resumed run may fit twice)."""
        if not self._began:
            self._began = True
            self.progress = self._new_progress()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start counting a new epoch's batches, means and time."""
        self.progress.begin_epoch(epoch)
        self._skipped, self._skip_pending = self._skip_pending, 0
        self.progress.epoch_batches = self._skipped
        self._epoch_rate = _learning_rate(self.model)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Report the execution's batches, then stop or wait as asked."""
        logs = logs or {}
        # With steps_per_execution N, `batch` is the execution's first step + N - 1, even
        # when the epoch ran out of batches before that.
        done = min(batch + 1 + self._skipped, self.config.batches_per_epoch)
        reported = self.progress.epoch_batches
        if self.recorder is not None and done - reported > 1:
            rows = self.recorder.read(self.progress.step - self._recorded_before,
                                      done - reported)
            has_acc = "accuracy" in logs
            for j, (loss, acc) in enumerate(rows, start=reported + 1):
                self._report(j, float(loss), float(acc) if has_acc else None)
                if self.nan_message:
                    break
                if j < done:
                    self.control.wait_if_paused()
        else:
            self._report(done, float(logs.get("loss", math.nan)),
                         _float_or_none(logs.get("accuracy")))
        self._obey()
        if self.hooks and not self.model.stop_training:
            began = time.perf_counter()
            for hook in self.hooks:
                hook.after_execution(self)
            self.hook_seconds += time.perf_counter() - began
        checkpointer = self.checkpointer
        if checkpointer is not None and not self.model.stop_training and checkpointer.due():
            self._checkpoint()

    def _report(self, done: int, loss: float, acc: float | None) -> None:
        """Emit the `BatchEnd` of the epoch's batch `done` from its running means."""
        # Keras's means (and so the images counted here) start after the skipped batches.
        epoch_seen = (min(done * self.config.batch_size, self.config.train_samples)
                      - self._skipped * self.config.batch_size)
        self.emit(self.progress.batch_end(done, epoch_seen, loss, acc))
        if not math.isfinite(loss) and not self.nan_message:
            self.nan_message = (
                f"the loss became {loss} at epoch {self.progress.epoch}, batch {done}: "
                f"training diverged; try a lower learning rate than "
                f"{self.config.learning_rate}"
            )

    def _obey(self) -> None:
        """After an execution: stop on NaN or request, else wait while paused."""
        stop = self.control.stop_requested
        if not stop and not self.nan_message:
            self.control.wait_if_paused()
            stop = self.control.stop_requested
        if self.placement is not None:
            agreed = self.placement.agree_to_stop(stop, self.progress.step)
            self.stopped_by_cluster = agreed and not stop
            stop = agreed
        if stop or self.nan_message:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report the epoch's means and validation metrics, apply the rules, checkpoint."""
        logs = logs or {}
        self.last_logs = {k: float(v) for k, v in logs.items()}
        seconds = self.progress.end_epoch(self.config.batches_per_epoch)
        self.emit(EpochEnd(epoch=epoch + 1, step=self.progress.step,
                           loss=float(logs.get("loss", math.nan)),
                           accuracy=_float_or_none(logs.get("accuracy")),
                           val_loss=_float_or_none(logs.get("val_loss")),
                           val_accuracy=_float_or_none(logs.get("val_accuracy")),
                           seconds=seconds, learning_rate=self._epoch_rate))
        if self.progress.epoch_batches >= self.config.batches_per_epoch:
            if self.rules is not None and not self.nan_message:
                self.rules.epoch_end(epoch, self.last_logs)  # whole epochs only
            if not self.nan_message:
                began = time.perf_counter()
                for hook in self.hooks:
                    hook.epoch_end(self)
                self.hook_seconds += time.perf_counter() - began
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
        self.checkpointer.save(self.model, self.position(), self.config.batches_per_epoch,
                               self.last_logs, rules.state() if rules is not None else None,
                               rules.best_weights() if rules is not None else None)
