"""Batches folded into blocks past a rate, so that a run's log stays small at any speed.

A CPU trains ~100 batches a second, a GPU 1,000-2,000: one `BatchEnd` line each (~250 bytes)
would be up to 2 GB an hour of log for `watch` to replay. `BatchFolding` sits in front of a
run's emit and lets every event through unchanged except batches that come too fast:

- a batch is passed on exact while fewer than `EXACT_RATE` batches were passed on exact in
  the second of training before it (`elapsed`, pauses excluded), and no block is open;
- past that, batches gather in a block; a block is passed on as one `BatchBlock` (count,
  mean, least, greatest and last of the batches' own loss and accuracy, the last batch's
  progress) once it spans `BLOCK_SECONDS` of training, and before any other event that
  has a place among the batches (an epoch end, a rate change, a checkpoint, predictions: the
  log stays in order; a `SystemLoad`, a sample of the process with no step, goes through
  without closing it), or at `flush()` (a pause);
- the batches go back to exact once a block's batches came at no more than `EXACT_RATE` a
  second; a batch with a loss that is not finite is always exact (where a run diverged).

So a block holds at most half a second of batches and a log grows by a few MB an hour at
any batch rate, while a slow run's log is what it always was. The folding depends only on
the events (their `elapsed`, `step` and values) and on when `flush()` is called: it never
reads a clock, and a seeded run computes the same with it as without.

`$MNIST_TUI_FOLD_RATE` sets `EXACT_RATE` for a run (`fold_rate`); "off" never folds (a test
that looks at every batch). `BlockBuilder` is the block itself; readers use it to fold a
long replay's batches too.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

from mnist_tui.core import environment
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import BatchBlock, BatchEnd, Emit, Event, RunResumed, SystemLoad

EXACT_RATE = 20  # batches a second of training passed on one by one, at most
BLOCK_SECONDS = 0.5  # of training: the most a block spans before it is passed on


def fold_rate(environ: Mapping[str, str] | None = None) -> float:
    """Batches a second passed on exact before they fold: `$MNIST_TUI_FOLD_RATE`, else
    `EXACT_RATE`; infinite for "off". Raises `MnistTuiError` for anything else than a number
    ≥ 1 or "off"."""
    raw = environment.fold_rate_text(environ)
    if not raw:
        return EXACT_RATE
    if raw.lower() == "off":
        return math.inf
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate >= 1):
        raise MnistTuiError(f"{environment.FOLD_RATE} must be a number of batches a second ≥ 1, "
                            f"or off (every batch logged on its own), got {raw!r}")
    return rate


class BlockBuilder:
    """Consecutive batches of one epoch on their way to one `BatchBlock`.

    `add(event, batches)` takes a `BatchEnd` standing for `batches` batches (one, or an
    execution's, or a block's `count`); the block's means weigh each event by its batches.
    A reader that has only a batch's values takes them with `add_values`, then names the
    block's last event with `build(last)`.
    """

    def __init__(self) -> None:
        self.events = 0
        self.count = 0  # batches
        self.last: BatchEnd | None = None
        self.first_elapsed = 0.0
        self._loss_sum = 0.0
        self._loss_min = math.inf
        self._loss_max = -math.inf
        self._acc_sum = 0.0
        self._acc_min = math.inf
        self._acc_max = -math.inf
        self._has_acc = True

    def add(self, event: BatchEnd, batches: int) -> None:
        """Take one more batch event (of the same epoch, in order)."""
        if self.last is None:
            self.first_elapsed = event.elapsed
        self.last = event
        if isinstance(event, BatchBlock):
            acc = event.batch_accuracy
            self._take(event.batch_loss, event.batch_loss_min, event.batch_loss_max, acc,
                       event.batch_accuracy_min, event.batch_accuracy_max, batches)
        else:
            self.add_values(event.batch_loss, event.batch_accuracy, batches)

    def add_values(self, loss: float, accuracy: float | None, batches: int) -> None:
        """Take one batch event's own loss and accuracy (None: not measured)."""
        self._take(loss, loss, loss, accuracy, accuracy, accuracy, batches)

    def add_batches(self, losses: Sequence[float], accuracies: Sequence[float] | None) -> None:
        """Take consecutive single batches' own losses and accuracies (None: not measured)
        at once."""
        n = len(losses)
        if not n:
            return
        self._take(sum(losses) / n, min(losses), max(losses),
                   None if accuracies is None else sum(accuracies) / n,
                   None if accuracies is None else min(accuracies),
                   None if accuracies is None else max(accuracies), n)
        self.events += n - 1

    def _take(self, loss: float, loss_min: float, loss_max: float, acc: float | None,
              acc_min: float | None, acc_max: float | None, batches: int) -> None:
        self.events += 1
        self.count += batches
        self._loss_sum += loss * batches
        if loss_min < self._loss_min:  # a NaN is never less: it is left out
            self._loss_min = loss_min
        if loss_max > self._loss_max:
            self._loss_max = loss_max
        if acc is None or acc_min is None or acc_max is None:
            self._has_acc = False
        elif self._has_acc:
            self._acc_sum += acc * batches
            if acc_min < self._acc_min:
                self._acc_min = acc_min
            if acc_max > self._acc_max:
                self._acc_max = acc_max

    def build(self, last: BatchEnd | None = None) -> BatchEnd:
        """The block as one event (its last batch's event is `last`, else the last added):
        that event itself when the block holds only one."""
        last = last or self.last
        if last is None:
            raise ValueError("an empty block")
        if self.events == 1:
            return last
        count = self.count
        acc = self._has_acc
        return BatchBlock(
            step=last.step, epoch=last.epoch, batch=last.batch, loss=last.loss,
            accuracy=last.accuracy, batch_loss=self._loss_sum / count,
            batch_accuracy=self._acc_sum / count if acc else None, seen=last.seen,
            elapsed=last.elapsed, time=last.time, count=count,
            batch_loss_min=_finite_or_nan(self._loss_min),
            batch_loss_max=_finite_or_nan(self._loss_max),
            batch_loss_last=_last(last, "loss"),
            batch_accuracy_min=_finite_or_nan(self._acc_min) if acc else None,
            batch_accuracy_max=_finite_or_nan(self._acc_max) if acc else None,
            batch_accuracy_last=_last(last, "accuracy") if acc else None)


def _last(event: BatchEnd, metric: str) -> float:
    """The own value of the last batch of `event` (a block's `*_last`)."""
    if isinstance(event, BatchBlock):
        value = getattr(event, f"batch_{metric}_last")
    else:
        value = getattr(event, f"batch_{metric}")
    return math.nan if value is None else float(value)


def _finite_or_nan(value: float) -> float:
    """A least or greatest value; NaN when no batch had one (every value was NaN)."""
    return value if math.isfinite(value) else math.nan


def batches_of(event: BatchEnd, previous_step: int | None) -> int:
    """How many batches `event` stands for, after a batch event at `previous_step` (None:
    the first of the run, or after a resume's checkpoint)."""
    if isinstance(event, BatchBlock):
        return max(1, event.count)
    if previous_step is None or event.step <= previous_step:
        return 1
    return event.step - previous_step


class BatchFolding:
    """An `Emit` in front of `emit` that folds batches past `rate` a second into blocks (see
    the module); every other event goes through as it is, after the open block."""

    def __init__(self, emit: Emit, rate: float = EXACT_RATE,
                 block_seconds: float = BLOCK_SECONDS) -> None:
        self.emit = emit
        self.rate = rate
        self.block_seconds = block_seconds
        self._exact: deque[float] = deque(  # `elapsed` of the latest exact ones
            maxlen=max(1, math.ceil(rate)) if math.isfinite(rate) else None)
        self._block: BlockBuilder | None = None
        self._folding = False
        self._previous_step: int | None = None  # the step of the last batch event
        self._record_elapsed: float | None = None  # `elapsed` of the last batch passed on

    def __call__(self, event: Event) -> None:
        """Pass `event` on, or keep it in the open block."""
        if isinstance(event, BatchEnd):
            self._batch(event)
            return
        if isinstance(event, SystemLoad):
            self.emit(event)
            return
        self.flush()
        if isinstance(event, RunResumed):
            self._previous_step = event.step
        self.emit(event)

    def flush(self) -> None:
        """Pass the open block on now (before a pause, at the end of a run)."""
        block = self._block
        if block is None:
            return
        self._block = None
        event = block.build()
        began = self._record_elapsed
        self._record_elapsed = event.elapsed
        if began is not None and block.count <= self.rate * (event.elapsed - began):
            self._folding = False  # the batches have slowed down: exact again
        self.emit(event)

    def _batch(self, event: BatchEnd) -> None:
        batches = batches_of(event, self._previous_step)
        self._previous_step = event.step
        block = self._block
        if block is not None and (block.last is None or block.last.epoch != event.epoch):
            self.flush()
            block = None
        if not (math.isfinite(event.batch_loss) and math.isfinite(event.loss)):
            self.flush()
            self._pass_exact(event)
            return
        if block is None and not self._folding and not isinstance(event, BatchBlock):
            exact = self._exact
            if exact.maxlen is None or len(exact) < exact.maxlen or (
                    event.elapsed - exact[0] >= 1.0):
                self._pass_exact(event)
                return
            self._folding = True
        if block is None:
            block = self._block = BlockBuilder()
        block.add(event, batches)
        if event.elapsed - block.first_elapsed >= self.block_seconds:
            self.flush()

    def _pass_exact(self, event: BatchEnd) -> None:
        if self._exact.maxlen is not None:
            self._exact.append(event.elapsed)
        self._record_elapsed = event.elapsed
        self.emit(event)
