"""Where in a run a sweep's trial reports its figure to the pruner: K points per epoch.

A trial reports K times per epoch: at K - 1 points within it (its validation figure on a
fixed slice of the validation images) and at its end (the whole validation set). Point k
of epoch e (k = 1..K, K at the epoch's end) is the pruner's step (e - 1) * K + k, so steps
count fractions of training done and mean the same in every trial of the sweep (a trial
pruned "at step 1" had done a K-th of an epoch, whatever its batch size).

Training runs `per_execution` batches per call into TensorFlow and can be looked at only
between two calls, so each point within the epoch falls on the execution's end nearest to
its fraction (`point_batches`); a point that falls on the epoch's start or end, or on the
batch of a nearer point, is left out (an epoch of a few executions has fewer points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_POINTS = 10  # more points cost more slice evaluations for little earlier pruning


def pruning_step(epoch: int, point: int, points: int) -> int:
    """The pruner's step of point `point` (1..points) of epoch `epoch` (counted from 1)."""
    return (epoch - 1) * points + point


def step_place(step: int, points: int) -> tuple[int, int]:
    """`pruning_step` backwards: the (epoch, point) of a step."""
    epoch, point = divmod(step - 1, points)
    return epoch + 1, point + 1


def point_batches(batches_per_epoch: int, points: int, per_execution: int = 1
                  ) -> dict[int, int]:
    """Point k (1..points - 1) → the batch of the epoch after which it is measured: the
    execution's end nearest to k / points of the epoch, never the epoch's start nor its end;
    two points on one batch: the nearer keeps it."""
    per_execution = max(per_execution, 1)
    nearest: dict[int, tuple[float, int]] = {}  # batch → (distance, point)
    for k in range(1, points):
        exact = k * batches_per_epoch / points
        batch = math.floor(exact / per_execution + 0.5) * per_execution  # half up
        if batch <= 0 or batch >= batches_per_epoch:
            continue
        distance = abs(batch - exact)
        if batch not in nearest or distance < nearest[batch][0]:
            nearest[batch] = (distance, k)
    return {k: batch for batch, (_, k) in sorted(nearest.items())}


def describe_point(epoch: int, batch: int, batches_per_epoch: int) -> str:
    """Where a point is, for people: "25% of epoch 1"; "the end of epoch 2" at its end."""
    if batch >= batches_per_epoch:
        return f"the end of epoch {epoch}"
    return f"{round(100 * batch / batches_per_epoch)}% of epoch {epoch}"


@dataclass(frozen=True)
class ReportPoints:
    """How often a trial reports: `points` per epoch (1: at epoch ends only), the points
    within an epoch measured on the first `slice_size` validation images."""

    points: int = 4
    slice_size: int = 1000

    def step(self, epoch: int, point: int) -> int:
        """The pruner's step of point `point` of epoch `epoch`."""
        return pruning_step(epoch, point, self.points)

    def epoch_end_step(self, epoch: int) -> int:
        """The pruner's step at the end of epoch `epoch`."""
        return pruning_step(epoch, self.points, self.points)
