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
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from mnist_tui.config import TrainConfig
from mnist_tui.control import RunControl
from mnist_tui.events import BatchEnd, Emit, EpochEnd

RECORDED = ("loss", "accuracy")


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


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


def make_bridge(keras: Any, config: TrainConfig, emit: Emit, control: RunControl,
                recorder: BatchRecorder | None = None, placement: Any = None) -> Any:
    """The Keras callback that reports `fit` as events and obeys `control`.

    `placement` (a `strategy.Placement`) makes every worker of a cluster agree on stopping.
    """

    class BridgeCallback(keras.callbacks.Callback):
        """`batch_end` per batch (see the module), `epoch_end` per epoch; stop, pause, NaN."""

        def __init__(self) -> None:
            super().__init__()
            self.batch_size = config.batch_size
            self.train_samples = config.train_samples
            self.batches_per_epoch = config.batches_per_epoch
            self.step = 0
            self.seen = 0
            self.epoch = 0
            self.epoch_batches = 0
            self.epoch_seen = 0
            self.prev_loss = 0.0
            self.prev_acc = 0.0
            self.epochs_completed = 0
            self.last_logs: dict[str, float] = {}
            self.nan_message = ""
            self.train_start = 0.0
            self.epoch_start = 0.0
            self.epoch_paused = 0.0
            self.train_seconds = 0.0
            self.stopped_by_cluster = False  # another worker asked to stop

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.train_start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1
            self.epoch_batches = 0
            self.epoch_seen = 0
            self.prev_loss = 0.0
            self.prev_acc = 0.0
            self.epoch_start = time.perf_counter()
            self.epoch_paused = control.paused_seconds

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            # With steps_per_execution N, `batch` is the execution's first step + N - 1, even
            # when the epoch ran out of batches before that.
            done = min(batch + 1, self.batches_per_epoch)
            new = done - self.epoch_batches
            if recorder is not None and new > 1:
                rows = recorder.read(self.step, new)
                has_acc = "accuracy" in logs
                for j, (loss, acc) in enumerate(rows, start=self.epoch_batches + 1):
                    self._report(j, float(loss), float(acc) if has_acc else None)
                    if self.nan_message:
                        break
                    if j < done:
                        control.wait_if_paused()
            else:
                acc = logs.get("accuracy")
                self._report(done, float(logs.get("loss", math.nan)),
                             None if acc is None else float(acc))
            self._obey()

        def _report(self, done: int, loss: float, acc: float | None) -> None:
            """Emit the `BatchEnd` of the epoch's batch `done` from its running means."""
            seen_now = min(done * self.batch_size, self.train_samples)
            new_seen = seen_now - self.epoch_seen
            # Keras reports running means since the epoch began; recover this batch's own value.
            batch_loss = (loss * seen_now - self.prev_loss * self.epoch_seen) / max(new_seen, 1)
            batch_acc = None
            if acc is not None:
                batch_acc = (acc * seen_now - self.prev_acc * self.epoch_seen) / max(new_seen, 1)
                self.prev_acc = acc
            self.prev_loss = loss
            self.step += done - self.epoch_batches
            self.seen += new_seen
            self.epoch_batches = done
            self.epoch_seen = seen_now
            elapsed = time.perf_counter() - self.train_start - control.paused_seconds
            emit(BatchEnd(step=self.step, epoch=self.epoch, batch=done, loss=loss, accuracy=acc,
                          batch_loss=batch_loss, batch_accuracy=batch_acc, seen=self.seen,
                          elapsed=elapsed))
            if not math.isfinite(loss) and not self.nan_message:
                self.nan_message = (
                    f"the loss became {loss} at epoch {self.epoch}, batch {done}: training "
                    f"diverged; try a lower learning rate than {config.learning_rate}"
                )

        def _obey(self) -> None:
            """After an execution: stop on NaN or request, else wait while paused."""
            stop = control.stop_requested
            if not stop and not self.nan_message:
                control.wait_if_paused()
                stop = control.stop_requested
            if placement is not None:
                agreed = placement.agree_to_stop(stop, self.step)
                self.stopped_by_cluster = agreed and not stop
                stop = agreed
            if stop or self.nan_message:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.last_logs = {k: float(v) for k, v in logs.items()}
            if self.epoch_batches >= self.batches_per_epoch:
                self.epochs_completed += 1
            seconds = (time.perf_counter() - self.epoch_start
                       - (control.paused_seconds - self.epoch_paused))
            emit(EpochEnd(epoch=epoch + 1, step=self.step, loss=float(logs.get("loss", math.nan)),
                          accuracy=_float_or_none(logs.get("accuracy")),
                          val_loss=_float_or_none(logs.get("val_loss")),
                          val_accuracy=_float_or_none(logs.get("val_accuracy")), seconds=seconds))

        def on_train_end(self, logs: dict | None = None) -> None:
            self.train_seconds = (time.perf_counter() - self.train_start
                                  - control.paused_seconds)

    return BridgeCallback()
