"""Per-batch figures from what Keras reports, and epoch times without the pauses.

Keras 3 hands callbacks running means since the epoch began, not each batch's own value;
`RunningMeans` turns them back. `PauseClock` measures training time with the pauses taken
out. `FitProgress` keeps, with both, the counts a callback reports (batches, images, epochs)
and makes its `BatchEnd` events. All are pure: `translator.KerasTranslator` (the app's
bridge and `MonitorCallback`) feeds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mnist_tui.core.events import BatchEnd


@dataclass(frozen=True)
class BatchValues:
    """One batch's own loss and accuracy (None without accuracy), from running means."""

    loss: float
    accuracy: float | None


class RunningMeans:
    """Recover each batch's value from the epoch's running means, weighted by samples seen.

    Call `reset()` at each epoch begin and `update(seen, loss, accuracy)` after each report,
    `seen` being the samples counted since the epoch began (equal-size batches: the batch
    count works as well).
    """

    def __init__(self) -> None:
        self.seen = 0
        self.loss = 0.0
        self.accuracy = 0.0

    def reset(self) -> None:
        """A new epoch: nothing seen yet."""
        self.seen = 0
        self.loss = 0.0
        self.accuracy = 0.0

    def update(self, seen: int, loss: float, accuracy: float | None) -> BatchValues:
        """The values of the samples between the last report and this one."""
        new = max(seen - self.seen, 1)
        batch_loss = (loss * seen - self.loss * self.seen) / new
        batch_accuracy = None
        if accuracy is not None:
            batch_accuracy = (accuracy * seen - self.accuracy * self.seen) / new
            self.accuracy = accuracy
        self.loss = loss
        self.seen = seen
        return BatchValues(batch_loss, batch_accuracy)


class PauseClock:
    """Seconds of training since a start, less the seconds spent paused.

    `paused_seconds` is a function returning the run's total pause time so far (a
    `RunControl`'s), read at each mark.
    """

    def __init__(self, paused_seconds: Callable[[], float],
                 now: Callable[[], float] = time.perf_counter) -> None:
        self._paused = paused_seconds
        self._now = now
        self._start = now()
        self._paused_at_start = paused_seconds()

    def restart(self) -> None:
        """Count from now."""
        self._start = self._now()
        self._paused_at_start = self._paused()

    def seconds(self) -> float:
        """Unpaused seconds since the start."""
        return self._now() - self._start - (self._paused() - self._paused_at_start)


class FitProgress:
    """How far a Keras `fit` has got: the counts, means and clocks a callback reports.

    Made at `on_train_begin` (its clock starts then); `begin_epoch` at each epoch begin,
    `batch_end` per batch reported, `end_epoch` at each epoch end. `paused_seconds` is as for
    `PauseClock`.
    """

    def __init__(self, paused_seconds: Callable[[], float]) -> None:
        self.step = 0  # batches reported in the whole run
        self.seen = 0  # training images reported in the whole run
        self.epoch = 0  # the epoch running now, counted from 1
        self.epoch_batches = 0  # batches reported in this epoch
        self.epochs_completed = 0  # epochs that ran every one of their batches
        self._means = RunningMeans()
        self._train_clock = PauseClock(paused_seconds)
        self._epoch_clock = PauseClock(paused_seconds)

    def begin_epoch(self, epoch: int) -> None:
        """Keras's epoch `epoch` (counted from 0) begins: its counts, means and clock."""
        self.epoch = epoch + 1
        self.epoch_batches = 0
        self._means.reset()
        self._epoch_clock.restart()

    def batch_end(self, done: int, epoch_seen: int, loss: float,
                  accuracy: float | None) -> BatchEnd:
        """The event of the epoch's batch `done`, `epoch_seen` images into the epoch, from
        Keras's running `loss` and `accuracy`."""
        self.seen += epoch_seen - self._means.seen
        values = self._means.update(epoch_seen, loss, accuracy)
        self.step += done - self.epoch_batches
        self.epoch_batches = done
        return BatchEnd(step=self.step, epoch=self.epoch, batch=done, loss=loss,
                        accuracy=accuracy, batch_loss=values.loss,
                        batch_accuracy=values.accuracy, seen=self.seen,
                        elapsed=self.train_seconds())

    def end_epoch(self, batches_per_epoch: int) -> float:
        """The epoch ends: count it if it ran all its batches; its seconds without pauses."""
        if self.epoch_batches >= batches_per_epoch:
            self.epochs_completed += 1
        return self._epoch_clock.seconds()

    def train_seconds(self) -> float:
        """Seconds since training began, pauses excluded."""
        return self._train_clock.seconds()


class FitState(Protocol):
    """What a `FitHook` may read of the callback that runs it: the model and the counts."""

    model: Any
    progress: FitProgress


class FitHook(Protocol):
    """Work a callback does in the training thread between two calls into TensorFlow.

    `after_execution` runs after an execution's batches are reported and the control obeyed
    (a paused run has been let go), unless the fit is stopping; `epoch_end` after the epoch's
    `EpochEnd` (and its rules), before its checkpoint. Both must be quick: they hold up
    training. Live predictions, learning-rate requests and system load samples are hooks;
    `translator.KerasTranslator` runs them.
    """

    def after_execution(self, fit: FitState) -> None:
        """Between two executions: the next batch has not started."""

    def epoch_end(self, fit: FitState) -> None:
        """At a whole epoch's end (or one a stop cut short, where the translator is so
        configured), after `EpochEnd` and the epoch rules."""
