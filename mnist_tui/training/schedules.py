"""Learning-rate schedules: the rate of every batch of a run, and the Keras object that gives it.

- constant: `learning_rate` throughout (the seed's).
- cosine: from `learning_rate` at the first batch down half a cosine to `learning_rate ×
  lr_floor` at the end of the last epoch, a little lower every batch (Keras's `CosineDecay`
  over all the run's batches, `alpha` = `lr_floor`).
- step: `learning_rate × lr_factor^k` in the k-th block of `lr_patience` epochs (Keras's
  `ExponentialDecay`, staircase, over that many epochs' batches).
- plateau: starts at `learning_rate`; ×`lr_factor` at the end of any epoch after which the
  validation loss has not improved for `lr_patience` epochs (Keras's `ReduceLROnPlateau`,
  driven by `epoch_rules.py`).

The cosine and step rates are functions of the optimizer's batch count, which the checkpoint
keeps: a resumed run goes on at the same point of its schedule (resumed to more epochs, a
cosine is stretched over the new total, so its rate rises to where the longer curve is).
The rates here are pure arithmetic, for the form's preview without TensorFlow; Keras is
imported only inside `make_learning_rate`.
"""

from __future__ import annotations

import math
from typing import Any

from mnist_tui.core.config import TrainConfig


def rate_at(config: TrainConfig, step: int) -> float:
    """The learning rate of batch `step` (counted from 0 over the whole run) as scheduled.

    Plateau drops depend on the validation loss: this is its rate until the first drop.
    """
    lr = config.learning_rate
    if config.lr_schedule == "cosine":
        total = max(config.total_batches, 1)
        progress = min(step, total) / total
        return lr * ((1 - config.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress))
                     + config.lr_floor)
    if config.lr_schedule == "step":
        every = config.lr_patience * config.batches_per_epoch
        return lr * config.lr_factor ** (step // every)
    return lr


def epoch_start_rates(config: TrainConfig) -> list[float]:
    """The rate each epoch begins with, as the run's `EpochEnd` events log it."""
    return [rate_at(config, epoch * config.batches_per_epoch) for epoch in range(config.epochs)]


def rate_curve(config: TrainConfig, points: int) -> list[float]:
    """`points` rates evenly spaced over the run's batches, first and last included."""
    last = max(config.total_batches - 1, 0)
    if points < 2:
        return [rate_at(config, 0)]
    return [rate_at(config, round(i * last / (points - 1))) for i in range(points)]


def describe_schedule(config: TrainConfig) -> str:
    """One line saying what the rate does over the run, e.g. "cosine: 0.001 → 0 in 3 epochs"."""
    lr, epochs = config.learning_rate, config.epochs
    span = f"{epochs} epoch" + ("" if epochs == 1 else "s")
    if config.lr_schedule == "cosine":
        return f"cosine: {lr:g} → {lr * config.lr_floor:g} over {span}"
    if config.lr_schedule == "step":
        last = epoch_start_rates(config)[-1]
        every = "every epoch" if config.lr_patience == 1 else f"every {config.lr_patience} epochs"
        return f"step: {lr:g} × {config.lr_factor:g} {every}, {last:g} in epoch {epochs}"
    if config.lr_schedule == "plateau":
        wait = "1 epoch" if config.lr_patience == 1 else f"{config.lr_patience} epochs"
        return (f"plateau: {lr:g}, × {config.lr_factor:g} after {wait} without a better "
                "val loss")
    return f"constant: {lr:g} for {span}"


def make_learning_rate(config: TrainConfig) -> Any:
    """What the optimizer is given: the rate itself (constant, plateau) or a Keras schedule.

    A plain float keeps the seed's optimizer exactly as it was.
    """
    if config.lr_schedule == "cosine":
        import keras

        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=max(config.total_batches, 1),
            alpha=config.lr_floor)
    if config.lr_schedule == "step":
        import keras

        return keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, decay_steps=config.lr_patience * config.batches_per_epoch,
            decay_rate=config.lr_factor, staircase=True)
    return config.learning_rate
