"""Naming a run that finished but diverged: its loss blew up, or it learned nothing.

A loss that turns NaN or infinite ends a run as failed (see `bridge.py`). A run can also
diverge without a NaN: with too high a learning rate the weights blow up, the ReLUs die, and
the network settles on one answer. It trains to the end and would read "finished" as if all
were well. `divergence_warning` is the check made when such a run ends; `FirstLoss` keeps the
number it needs from the event stream.

The definition, on purpose robust to a noisy batch:

- the loss grew: the last epoch's mean training loss is more than `LOSS_GROWTH` (10) times
  the first batch's loss (the untrained network's, about ln 10 = 2.3 on ten classes), or
  times ln(classes) if that is more (a resumed run's first batch is already trained), or
- chance level: the final validation accuracy is at most `CHANCE_FACTOR` (1.5) over the
  number of classes, 15% on MNIST's ten.

A short run of a slow optimizer can also end at chance level without diverging (it has not
learned yet), so that warning names both causes.
"""

from __future__ import annotations

import math
from dataclasses import replace

from mnist_tui.core.events import BatchEnd, Emit, Event
from mnist_tui.core.formatting import finite
from mnist_tui.core.summary import RunSummary

LOSS_GROWTH = 10.0
"""How many times its first value the last epoch's mean loss must exceed to count as grown."""
CHANCE_FACTOR = 1.5
"""Validation accuracy at most this over the number of classes counts as chance level."""


def _loss(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3g}"


def divergence_warning(first_loss: float | None, last_loss: float | None,
                       val_accuracy: float | None, learning_rate: float | None,
                       classes: int = 10) -> str:
    """A warning for a run that ended diverged or at chance level; "" when it looks sound.

    `first_loss` is the first batch's training loss, `last_loss` the last epoch's mean,
    `val_accuracy` the final validation accuracy (a fraction); any may be None (unknown),
    and that test is then skipped. `learning_rate` is the one used, for the advice.
    """
    first, last, accuracy = finite(first_loss), finite(last_loss), finite(val_accuracy)
    grew = (first is not None and last is not None
            and last > LOSS_GROWTH * max(first, math.log(classes)))
    chance_level = CHANCE_FACTOR / classes
    at_chance = accuracy is not None and accuracy <= chance_level
    lower = (f"try a lower learning rate than {learning_rate:g}" if learning_rate
             else "try a lower learning rate")
    if grew and first is not None and last is not None:
        chance = (f", and validation accuracy {accuracy:.1%} is chance level" if at_chance
                  else "")
        return (f"training diverged: the loss grew from {_loss(first)} (first batch) to "
                f"{_loss(last)} (last epoch's mean){chance}; {lower}")
    if at_chance and accuracy is not None:
        return (f"training diverged or learned nothing: validation accuracy {accuracy:.1%} is "
                f"chance level ({chance_level:.0%} or less on {classes} classes); {lower} (or, "
                "if the loss is still falling, train longer or on more images)")
    return ""


class FirstLoss:
    """An `Emit` that hands every event on and keeps the first batch's training loss."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.loss: float | None = None

    def __call__(self, event: Event) -> None:
        """Note the first batch's loss, then pass the event on."""
        if self.loss is None and isinstance(event, BatchEnd) and not math.isnan(event.loss):
            self.loss = event.loss
        self.emit(event)


def warn_if_diverged(summary: RunSummary, first_loss: float | None,
                     learning_rate: float | None) -> RunSummary:
    """A finished run's summary with `divergence_warning`'s warning, if it has one (else the
    summary itself).

    Reads the summary's last-epoch training loss and validation accuracy.
    """
    warning = divergence_warning(first_loss, summary.train_loss, summary.val_accuracy,
                                 learning_rate)
    return replace(summary, warning=warning) if warning else summary
