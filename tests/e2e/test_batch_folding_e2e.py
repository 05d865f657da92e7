"""A real run whose batches come faster than the fold rate: blocks in its log and on the
monitor's stream, every batch counted, and training exactly as an unfolded run of its seed.

The suite logs every batch of its runs (`MNIST_TUI_FOLD_RATE=off`, tests/conftest.py); here the
rate is set to 1 batch a second, which any real run on the slice of MNIST outpaces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchBlock, BatchEnd, EpochEnd, Event, RunFinished
from mnist_tui.headless import watch_headless
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.reading import read_events
from mnist_tui.training.data import MnistData
from mnist_tui.training.trainer import Trainer
from tests.helpers.trainer_runs import collect_run

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(train_size=3000, epochs=2, seed=7)  # 40 batches an epoch


def batches_of(events: list[Event]) -> list[BatchEnd]:
    return [e for e in events if isinstance(e, BatchEnd)]


def test_a_fast_run_logs_blocks_and_trains_as_an_unfolded_one(
        small_mnist: MnistData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exact_events, exact_summary = collect_run(Trainer(data=small_mnist), CONFIG)
    exact = batches_of(exact_events)
    assert [b.step for b in exact] == list(range(1, CONFIG.total_batches + 1))

    monkeypatch.setenv("MNIST_TUI_FOLD_RATE", "1")
    shown: list[Event] = []
    run_dir, summary = execute_run(CONFIG, shown.append, runs_dir=tmp_path, data=small_mnist)
    assert run_dir is not None and summary["status"] == "finished"
    logged = read_events(run_dir)
    assert batches_of(logged) == batches_of(shown), "the log holds what the monitor got"
    blocks = [e for e in logged if isinstance(e, BatchBlock)]
    assert blocks, "batches faster than 1 a second come in blocks"
    covered: list[int] = []
    for event in batches_of(logged):
        first = event.first_step if isinstance(event, BatchBlock) else event.step
        covered.extend(range(first, event.step + 1))
    assert covered == list(range(1, CONFIG.total_batches + 1)), "every batch, once, in order"

    # The same seed trains the same: each block is the exact run's batches, folded.
    for block in blocks:
        inside = exact[block.first_step - 1:block.step]
        assert {b.epoch for b in inside} == {block.epoch}
        last = inside[-1]
        assert (block.loss, block.accuracy, block.seen, block.batch) == (
            last.loss, last.accuracy, last.seen, last.batch)
        assert block.batch_loss_last == last.batch_loss
        assert block.batch_accuracy_last == last.batch_accuracy
        losses = [b.batch_loss for b in inside]
        assert (block.batch_loss_min, block.batch_loss_max) == (min(losses), max(losses))
        assert block.batch_loss == pytest.approx(sum(losses) / len(losses), rel=1e-9)
    epochs = [(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in logged
              if isinstance(e, EpochEnd)]
    assert epochs == [(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in exact_events
                      if isinstance(e, EpochEnd)], "the epochs bit for bit"
    assert summary["test_accuracy"] == exact_summary["test_accuracy"]
    assert isinstance(logged[-1], RunFinished)
    assert watch_headless(run_dir) == 0, "watch reads the folded log to its summary"
