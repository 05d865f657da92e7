"""Per-batch figures from what Keras reports, and epoch times without the pauses.

Keras 3 hands callbacks running means since the epoch began, not each batch's own value;
`RunningMeans` turns them back. `PauseClock` measures training time with the pauses taken
out. Both are pure: the Keras bridge and `MonitorCallback` feed them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


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
