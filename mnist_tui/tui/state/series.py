"""The chart series of a run: bounded however long it trains.

`BucketSeries` keeps a whole run as at most a few hundred bucket means; `RecentPoints` keeps
the latest few hundred points whole, for a chart zoomed in on the end of the run; `Ema`
smooths the per-batch values. `ChartData` is what one chart draws.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

DEFAULT_SMOOTHING = 0.95  # EMA weight of the past: about a 20-batch window
DEFAULT_CAPACITY = 320  # buckets kept per series before neighbours are merged
RECENT_POINTS = 640  # the latest per-batch points kept whole, for a zoomed-in chart


class Ema:
    """Debiased exponential moving average (as Adam debiases its moments).

    Without the correction the average starts near 0 and creeps up; dividing by 1 - beta^t
    makes the first values meaningful.
    """

    def __init__(self, beta: float = DEFAULT_SMOOTHING) -> None:
        if not 0 <= beta < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {beta}")
        self.beta = beta
        self._mean = 0.0
        self._weight = 1.0  # beta ** t

    def update(self, value: float, count: int = 1) -> float:
        """Add `count` values equal to `value` (a block's mean stands for its batches);
        return the debiased average so far."""
        decay = self.beta ** count
        self._mean = decay * self._mean + (1.0 - decay) * value
        self._weight *= decay
        return self._mean / (1.0 - self._weight)


class BucketSeries:
    """An (x, y) series kept as at most `capacity` buckets of equal size, each a mean.

    Appending is O(1) amortised: when the buckets are full, neighbours merge pairwise and each
    bucket then holds twice as many points. `points(n)` gives at most n points in O(capacity).
    A point may stand for `weight` points (a block of batches, at its middle x, with their
    mean y): a bucket then counts it as that many.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number ≥ 2, got {capacity}")
        self.capacity = capacity
        self.per_bucket = 1
        self.count = 0
        self._x: list[float] = []
        self._y: list[float] = []
        self._n: list[int] = []
        self._first: list[float] = []  # each bucket's first x

    def __len__(self) -> int:
        return len(self._n)

    def append(self, x: float, y: float, weight: int = 1) -> None:
        """Add one point (standing for `weight` points: see the class)."""
        self.count += weight
        if self._n and self._n[-1] < self.per_bucket:
            self._x[-1] += x * weight
            self._y[-1] += y * weight
            self._n[-1] += weight
            return
        if len(self._n) >= self.capacity:
            self._merge_pairs()
        self._x.append(x * weight)
        self._y.append(y * weight)
        self._n.append(weight)
        self._first.append(x)

    def drop_after(self, x: float) -> None:
        """Drop the points after `x` (a resumed run's); a bucket that holds points on both
        sides of it stays whole."""
        while self._first and self._first[-1] > x:
            self.count -= self._n.pop()
            self._x.pop()
            self._y.pop()
            self._first.pop()

    def _merge_pairs(self) -> None:
        x, y, n = self._x, self._y, self._n
        self._x = [x[i] + x[i + 1] for i in range(0, len(x) - 1, 2)]
        self._y = [y[i] + y[i + 1] for i in range(0, len(y) - 1, 2)]
        self._n = [n[i] + n[i + 1] for i in range(0, len(n) - 1, 2)]
        first = self._first
        self._first = first[0:len(first) - 1:2]
        if len(n) % 2:
            self._x.append(x[-1])
            self._y.append(y[-1])
            self._n.append(n[-1])
            self._first.append(first[-1])
        # Twice as many per bucket, or as many as the heaviest holds: a tail of single points
        # after blocks of many must not split into many light buckets (and merge the rest).
        self.per_bucket = max(self.per_bucket * 2, max(self._n))

    def points(self, max_points: int, x_lo: float = 0.0) -> tuple[list[float], list[float]]:
        """The series (its buckets that begin at `x_lo` or later) as at most `max_points`
        (x, y) means, in order."""
        if x_lo > 0:
            first = bisect_left(self._first, x_lo)
            return _thinned(self._x[first:], self._y[first:], self._n[first:], max_points)
        size = len(self._n)
        if size <= max_points:
            return ([x / n for x, n in zip(self._x, self._n, strict=True)],
                    [y / n for y, n in zip(self._y, self._n, strict=True)])
        xs: list[float] = []
        ys: list[float] = []
        for k in range(max(1, max_points)):
            lo, hi = k * size // max_points, (k + 1) * size // max_points
            n = sum(self._n[lo:hi])
            xs.append(sum(self._x[lo:hi]) / n)
            ys.append(sum(self._y[lo:hi]) / n)
        return xs, ys


class RecentPoints:
    """The latest `keep` to `2 * keep` points of a series, whole (appending is amortised
    O(1)); a zoomed-in chart of the last few hundred batches draws from here."""

    def __init__(self, keep: int = RECENT_POINTS) -> None:
        self.keep = keep
        self.xs: list[float] = []
        self.ys: list[float] = []

    def append(self, x: float, y: float) -> None:
        """Add one point; forget the oldest half when twice `keep` are held."""
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) > 2 * self.keep:
            del self.xs[:self.keep], self.ys[:self.keep]

    def drop_after(self, x: float) -> None:
        """Drop the points after `x` (a resumed run's)."""
        cut = bisect_left(self.xs, x + 0.5)
        del self.xs[cut:], self.ys[cut:]

    def covers(self, x_lo: float) -> bool:
        """Whether every point from `x_lo` on is here, and few enough to draw at once."""
        if not self.xs or self.xs[0] > x_lo:
            return False
        return len(self.xs) - bisect_left(self.xs, x_lo) <= 2 * self.keep

    def points(self, x_lo: float, max_points: int) -> tuple[list[float], list[float]]:
        """The points from `x_lo` on, as at most `max_points` means of neighbours."""
        first = bisect_left(self.xs, x_lo)
        xs, ys = self.xs[first:], self.ys[first:]
        size = len(xs)
        if size <= max_points:
            return xs, ys
        out_x: list[float] = []
        out_y: list[float] = []
        for k in range(max_points):
            lo, hi = k * size // max_points, (k + 1) * size // max_points
            out_x.append(sum(xs[lo:hi]) / (hi - lo))
            out_y.append(sum(ys[lo:hi]) / (hi - lo))
        return out_x, out_y


def _thinned(x: list[float], y: list[float], n: list[int],
             max_points: int) -> tuple[list[float], list[float]]:
    """Bucket sums `x`, `y` of `n` points each as at most `max_points` means."""
    size = len(n)
    xs: list[float] = []
    ys: list[float] = []
    for k in range(min(size, max(1, max_points))):
        lo, hi = k * size // min(size, max_points), (k + 1) * size // min(size, max_points)
        total = sum(n[lo:hi])
        xs.append(sum(x[lo:hi]) / total)
        ys.append(sum(y[lo:hi]) / total)
    return xs, ys


@dataclass(frozen=True)
class ChartData:
    """What one chart draws: the per-batch curve, its smoothed version, validation points,
    on the step axis from `x_min` to `x_max`, with `marks` where the learning rate changed."""

    train: tuple[list[float], list[float]]
    smooth: tuple[list[float], list[float]] | None
    val: tuple[list[float], list[float]]
    x_max: int
    x_min: int = 0
    marks: tuple[int, ...] = ()
