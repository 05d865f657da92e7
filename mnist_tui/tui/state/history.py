"""TrainingHistory: what the monitor knows about a run, folded from its events.

The UI thread calls `fold(event)` for every event; it does O(1) work (a few appends), never any
drawing. Screens redraw on a timer from what is here, using `version` and `chart_version` to
skip redraws when nothing changed. Chart series are kept pre-bucketed so that a plot never
holds more than a few hundred points, however long the run: drawing cost stays bounded.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from mnist_tui.core.events import (
    BatchBlock,
    BatchEnd,
    Checkpointed,
    EpochEnd,
    Evaluated,
    Event,
    LearningRateChanged,
    Phase,
    Predictions,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStopped,
    ShownDigits,
    SystemLoad,
)
from mnist_tui.core.formatting import format_loss, format_percent
from mnist_tui.core.summary import RunSummary
from mnist_tui.tui.state.series import (
    DEFAULT_CAPACITY,
    DEFAULT_SMOOTHING,
    BucketSeries,
    ChartData,
    Ema,
    RecentPoints,
)

RATE_WINDOW_SECONDS = 5.0  # samples/s and ETA look at about this much recent training
RATE_MIN_SPAN = 0.5
"""Seconds of training the recent window must span before its rate is believed: batches
arrive in bursts (16 per call into TensorFlow) whose times lie close together, and a rate over
one burst reads hundreds of thousands of images a second; until then, the run's average."""


class TrainingHistory:
    """Everything the monitor shows about one run, folded from its events in order.

    Counters (`step`, `epoch`, `seen`, ...) follow the latest events; per-batch values are
    kept only as the charts' bounded series; validation points sit on the same step axis
    (`val_steps`). A `RunResumed` takes the run back to its checkpoint, so a resumed run is
    one history. `version` changes with every event, `chart_version` only when a plotted
    series changes, `chart_marks_version` only when something besides a training batch does
    (the axis, a validation point, a resume).
    """

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        self.version = 0
        self.chart_version = 0
        self.chart_marks_version = 0
        self.started: RunStarted | None = None
        self.run_id = ""
        self.config: dict[str, Any] = {}
        self.total_batches = 0
        self.batches_per_epoch = 0
        self.epochs = 0
        self.params = 0
        self.phase = ""
        self.phase_message = ""
        self.step = 0
        self.epoch = 0
        self.batch = 0
        self.seen = 0
        self.elapsed = 0.0
        self.loss: float | None = None
        self.accuracy: float | None = None
        self.epoch_ends: list[EpochEnd] = []
        self.val_steps: list[int] = []
        self.val_loss: list[float] = []
        self.val_accuracy: list[float] = []
        self.evaluated: Evaluated | None = None
        self.outcome: RunFinished | RunStopped | RunFailed | None = None
        self.checkpointed: Checkpointed | None = None  # the latest checkpoint written
        self.shown_digits: ShownDigits | None = None  # the strip's fixed test digits
        self.predictions: Predictions | None = None  # their latest guesses
        self.rate_changes: list[LearningRateChanged] = []  # in order of step
        self.load: SystemLoad | None = None  # the latest system load sample
        self.peak_memory = 0  # the most memory the run's process held, bytes
        self._schedule: tuple[dict[str, Any], Any] | None = None  # config → its TrainConfig
        self.log_lines: list[str] = []
        self._ema = {"loss": Ema(smoothing), "accuracy": Ema(smoothing)}
        self._raw = {"loss": BucketSeries(capacity), "accuracy": BucketSeries(capacity)}
        self._smooth = {"loss": BucketSeries(capacity), "accuracy": BucketSeries(capacity)}
        self._recent = {key: RecentPoints() for key in ("loss", "accuracy")}
        self._recent_smooth = {key: RecentPoints() for key in ("loss", "accuracy")}
        self._rate: deque[tuple[float, int, int]] = deque()  # (elapsed, step, seen)

    @property
    def finished(self) -> bool:
        """Whether the run's terminal event (finished, stopped or failed) has arrived."""
        return self.outcome is not None

    @property
    def summary(self) -> RunSummary:
        """The terminal event's summary (an empty one until the run ends)."""
        return self.outcome.summary if self.outcome is not None else RunSummary()

    def note(self, line: str) -> None:
        """Add a line to the log (e.g. "paused") that did not come from an event."""
        self.log_lines.append(line)
        self.version += 1

    def fold(self, event: Event) -> None:
        """Take one event into account. Cheap: called in the UI thread for every event."""
        self.version += 1
        if isinstance(event, BatchEnd):
            self._fold_batch(event)
        elif isinstance(event, EpochEnd):
            self._fold_epoch(event)
        elif isinstance(event, Phase):
            self.phase, self.phase_message = event.phase, event.message
            self.log_lines.append(event.message)
        elif isinstance(event, RunStarted):
            self._fold_started(event)
        elif isinstance(event, Predictions):
            shown = self.shown_digits
            if shown is not None and len(event.predicted) == len(shown.labels):
                self.predictions = event
        elif isinstance(event, SystemLoad):
            self.load = event
            self.peak_memory = max(self.peak_memory, event.peak_memory, event.memory)
        elif isinstance(event, Checkpointed):
            self.checkpointed = event
        elif isinstance(event, ShownDigits):
            self.shown_digits, self.predictions = event, None
        elif isinstance(event, LearningRateChanged):
            self.rate_changes.append(event)
            self.chart_marks_version += 1
            who = "set by you" if event.by == "user" else f"lowered on a {event.by}"
            self.log_lines.append(
                f"learning rate {event.previous:.3g} → {event.rate:.3g} ({who}) from batch "
                f"{event.step + 1:,}")
        elif isinstance(event, RunResumed):
            self._fold_resumed(event)
        elif isinstance(event, Evaluated):
            self.evaluated = event
            self.log_lines.append(
                f"test: loss {format_loss(event.test_loss)}  "
                f"accuracy {format_percent(event.test_accuracy)}  "
                + (f"({event.test_samples:,} images, {event.seconds:.1f} s)"
                   if event.test_samples else f"({event.seconds:.1f} s)"))
        elif isinstance(event, RunFinished):
            self.outcome = event
            self.log_lines.append("finished")
        elif isinstance(event, RunStopped):
            self.outcome = event
            self.log_lines.append(f"stopped: {event.reason}")
        elif isinstance(event, RunFailed):
            self.outcome = event
            self.log_lines.append(f"failed: {event.error}")

    def _fold_started(self, event: RunStarted) -> None:
        self.started = event
        self.run_id = event.run_id
        self.config = dict(event.config)
        self.total_batches = event.total_batches
        self.batches_per_epoch = event.batches_per_epoch
        self.epochs = event.epochs
        self.params = event.params
        self.chart_marks_version += 1
        epochs = "epoch" if event.epochs == 1 else "epochs"
        self.log_lines.append(
            f"run {event.run_id}: {event.epochs} {epochs} of "
            + (f"{event.batches_per_epoch:,} batches" if event.batches_per_epoch
               else "batches not counted in advance")
            + (f", then {event.test_samples:,} test images" if event.test_samples else ""))

    def _fold_resumed(self, event: RunResumed) -> None:
        """Back to the checkpoint: what was logged after it (a killed run's last batches, a
        stopped epoch's validation) no longer counts, and the run is going again."""
        for series in (*self._raw.values(), *self._smooth.values()):
            series.drop_after(event.step)
        for recent in (*self._recent.values(), *self._recent_smooth.values()):
            recent.drop_after(event.step)
        whole = event.batch >= event.batches_per_epoch
        kept = [e for e in self.epoch_ends
                if e.step <= event.step and (whole or e.epoch < event.epoch)]
        self.epoch_ends, self.val_steps, self.val_loss, self.val_accuracy = [], [], [], []
        for epoch_end in kept:
            self._add_epoch(epoch_end)
        self.rate_changes = [c for c in self.rate_changes if c.step <= event.step]
        self.step, self.epoch, self.batch = event.step, event.epoch, event.batch
        self.seen, self.elapsed = event.seen, event.elapsed
        self.epochs, self.total_batches = event.epochs, event.total_batches
        self.batches_per_epoch = event.batches_per_epoch
        self.loss = self.accuracy = None
        self.evaluated = self.outcome = None
        self._rate.clear()
        self.log_lines.append(f"resumed at epoch {event.epoch}, batch {event.batch:,} "
                              f"(step {event.step:,}), to {event.epochs} epochs")
        self.chart_version += 1
        self.chart_marks_version += 1

    def _fold_batch(self, event: BatchEnd) -> None:
        """A batch, or a block of them (`BatchBlock`: its mean, at its middle, stands for
        its batches in the charts; the counts jump to its last batch)."""
        self.step, self.epoch, self.batch = event.step, event.epoch, event.batch
        self.seen, self.elapsed = event.seen, event.elapsed
        self.loss, self.accuracy = event.loss, event.accuracy
        if isinstance(event, BatchBlock):
            count = event.count
            x = event.step - (count - 1) / 2
        else:
            count, x = 1, event.step
        self._add_point("loss", x, event.batch_loss, count)
        if event.batch_accuracy is not None:
            self._add_point("accuracy", x, event.batch_accuracy, count)
        rate = self._rate
        rate.append((event.elapsed, event.step, event.seen))
        while len(rate) > 2 and rate[-1][0] - rate[0][0] > RATE_WINDOW_SECONDS:
            rate.popleft()
        self.chart_version += 1

    def _add_point(self, metric: str, step: float, value: float, count: int) -> None:
        if not math.isfinite(value):
            return  # a NaN batch ends the run; it would only break the chart's scale
        smoothed = self._ema[metric].update(value, count)
        self._raw[metric].append(step, value, count)
        self._smooth[metric].append(step, smoothed, count)
        self._recent[metric].append(step, value)
        self._recent_smooth[metric].append(step, smoothed)

    def _add_epoch(self, event: EpochEnd) -> None:
        self.epoch_ends.append(event)
        if event.val_loss is not None or event.val_accuracy is not None:
            self.val_steps.append(event.step)
            self.val_loss.append(math.nan if event.val_loss is None else event.val_loss)
            self.val_accuracy.append(
                math.nan if event.val_accuracy is None else event.val_accuracy)

    def _fold_epoch(self, event: EpochEnd) -> None:
        self._add_epoch(event)
        self.epoch = event.epoch
        if not self.batches_per_epoch and event.epoch == 1 and event.step > 0:
            # An input of unknown length (a script's generator) is known after one epoch.
            self.batches_per_epoch = event.step
            self.total_batches = event.step * max(self.epochs, 1)
        of = f"/{self.epochs}" if self.epochs else ""
        self.log_lines.append(
            f"epoch {event.epoch}{of}  loss {format_loss(event.loss)}  "
            f"acc {format_percent(event.accuracy)}  val loss {format_loss(event.val_loss)}  "
            f"val acc {format_percent(event.val_accuracy)}  {event.seconds:.1f} s")
        self.chart_version += 1
        self.chart_marks_version += 1

    @property
    def right_predictions(self) -> int | None:
        """How many of the shown digits the latest predictions get right (None: none yet)."""
        shown, predictions = self.shown_digits, self.predictions
        if shown is None or predictions is None:
            return None
        return sum(p == label for p, label in zip(predictions.predicted, shown.labels,
                                                  strict=True))

    @property
    def learning_rate(self) -> float | None:
        """The rate the run trains at now: the latest change, else its schedule's rate at
        this step (None before it starts, or when the run did not say its rate)."""
        if self.rate_changes:
            return self.rate_changes[-1].rate
        rate = self.config.get("learning_rate")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool):
            return None
        if self.config.get("lr_schedule") in ("cosine", "step"):
            from mnist_tui.core.config import TrainConfig
            from mnist_tui.training.schedules import rate_at

            try:
                if self._schedule is None or self._schedule[0] is not self.config:
                    self._schedule = (self.config, TrainConfig.from_dict(self.config))
                return rate_at(self._schedule[1], self.step)
            except (TypeError, ValueError, ZeroDivisionError):
                return float(rate)
        if self.epoch_ends and self.epoch_ends[-1].learning_rate is not None:
            return self.epoch_ends[-1].learning_rate
        return float(rate)

    def samples_per_second(self) -> float | None:
        """Training images per second over the last few seconds (pauses excluded)."""
        if len(self._rate) >= 2:
            (t0, _, seen0), (t1, _, seen1) = self._rate[0], self._rate[-1]
            if t1 - t0 >= RATE_MIN_SPAN:
                return (seen1 - seen0) / (t1 - t0)
        if self.elapsed > 0 and self.seen:
            return self.seen / self.elapsed
        return None

    def eta_seconds(self) -> float | None:
        """Estimated training seconds left, from the recent batch rate; None until known
        (and while the length of the run is not known)."""
        if not self.total_batches:
            return None
        if self.step >= self.total_batches:
            return 0.0
        if len(self._rate) < 2:
            return None
        (t0, step0, _), (t1, step1, _) = self._rate[0], self._rate[-1]
        if t1 - t0 < RATE_MIN_SPAN:  # one burst so far: the run's average
            t0, step0 = 0.0, 0
        if t1 <= t0 or step1 <= step0:
            return None
        return (self.total_batches - self.step) * (t1 - t0) / (step1 - step0)

    def chart(self, metric: str, *, smooth: bool, max_points: int,
              window: int | None = None) -> ChartData:
        """Points for the "loss" or "accuracy" chart, at most `max_points` per series: the
        whole run, or (zoomed in) its latest `window` batches.

        Zoomed in, the curves come from the latest points kept whole when they cover the
        window, else from the whole run's buckets in it: never more points to go through
        than a whole-run chart has (about twice its buckets).
        """
        if metric not in self._raw:
            raise ValueError(f"unknown metric {metric!r}; use 'loss' or 'accuracy'")
        x_max = max(self.total_batches, self.step, 1)
        x_min = 0
        raw, smoothed = self._raw[metric], self._smooth[metric]
        train = raw.points(max_points)
        smooth_points = smoothed.points(max_points) if smooth else None
        if window is not None and 0 < window < x_max:
            x_max = max(self.step, window)
            x_min = x_max - window
            recent = self._recent[metric]
            if recent.covers(x_min):
                train = recent.points(x_min, max_points)
                if smooth:
                    smooth_points = self._recent_smooth[metric].points(x_min, max_points)
            else:
                train = raw.points(max_points, x_min)
                if smooth:
                    smooth_points = smoothed.points(max_points, x_min)
        val_values = self.val_loss if metric == "loss" else self.val_accuracy
        val = [(s, v) for s, v in zip(self.val_steps, val_values, strict=True)
               if math.isfinite(v) and s >= x_min]
        if len(val) > max_points:
            stride = math.ceil(len(val) / max_points)
            val = val[stride - 1::stride]
        return ChartData(
            train=train, smooth=smooth_points,
            val=([float(s) for s, _ in val], [v for _, v in val]),
            x_max=x_max, x_min=x_min,
            marks=tuple(c.step for c in self.rate_changes if x_min <= c.step <= x_max),
        )
