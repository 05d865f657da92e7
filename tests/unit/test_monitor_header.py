"""The monitor's header: the learning rate now and, for a run of several epochs, the best
validation accuracy so far and the epoch it came from."""

from __future__ import annotations

import math

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import EpochEnd, LearningRateChanged, RunStarted
from mnist_tui.tui.screens.monitor_lines import header_line
from mnist_tui.tui.state.history import TrainingHistory


def history_of(epochs: int, val_accuracies: list[float]) -> TrainingHistory:
    """A history of a run of `epochs` epochs (10 batches each) after these epoch ends."""
    history = TrainingHistory()
    history.fold(RunStarted(run_id="r1", config=TrainConfig(epochs=epochs).to_dict(),
                            total_batches=10 * epochs, batches_per_epoch=10, epochs=epochs,
                            train_samples=51_000, val_samples=9_000, test_samples=10_000,
                            params=33_194))
    for epoch, accuracy in enumerate(val_accuracies, start=1):
        history.fold(EpochEnd(epoch=epoch, step=10 * epoch, loss=0.3, accuracy=0.9,
                              val_loss=0.2, val_accuracy=accuracy, seconds=1.0))
    return history


def test_the_header_names_the_best_epoch_so_far() -> None:
    history = history_of(4, [0.91, 0.955, 0.95])
    assert "lr 0.01 · best val 95.5% (epoch 2)" in header_line(history)
    history.fold(EpochEnd(epoch=4, step=40, loss=0.2, accuracy=0.95, val_loss=0.1,
                          val_accuracy=0.97, seconds=1.0))
    assert "best val 97.0% (epoch 4)" in header_line(history)


def test_the_header_follows_the_rate_as_it_changes() -> None:
    history = history_of(3, [0.9])
    history.fold(LearningRateChanged(step=12, epoch=2, previous=0.01, rate=0.0025))
    assert "lr 0.0025 · best val 90.0% (epoch 1)" in header_line(history)


def test_no_best_epoch_before_one_ends_or_in_a_one_epoch_run() -> None:
    assert "best val" not in header_line(history_of(3, []))
    assert "best val" not in header_line(history_of(3, [math.nan]))
    assert "best val" not in header_line(history_of(1, [0.97]))
