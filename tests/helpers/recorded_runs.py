"""Run folders for tests of the runs table, comparisons and exports, written without Keras.

`record_run` writes a run the way the trainer's run log does (through `RunWriter`), with a
loss curve that depends on the learning rate, so runs with different rates differ visibly.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    BatchEnd,
    DigitSample,
    EpochEnd,
    Evaluated,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.runs.writer import RunWriter

TEST_SAMPLES = 10_000


def evaluated(accuracy: float) -> Evaluated:
    """A test evaluation with the given accuracy and two gallery digits."""
    right = round(accuracy * 1000)
    confusion = tuple(tuple(right if i == j else (1000 - right if j == (i + 1) % 10 else 0)
                            for j in range(10)) for i in range(10))
    blank = np.zeros((28, 28), dtype=np.uint8)
    samples = tuple(DigitSample.from_image(i, i, i if i else 7, 0.9, blank) for i in range(2))
    return Evaluated(test_loss=1.0 - accuracy, test_accuracy=accuracy, test_samples=TEST_SAMPLES,
                     confusion=confusion, per_class_accuracy=(accuracy,) * 10, samples=samples,
                     seconds=0.4)


def record_run(root: Path, run_id: str, config: TrainConfig, *, status: str = "finished",
               test_accuracy: float = 0.95, diverge: bool = False) -> Path:
    """Write a complete run folder under `root`; `status` picks the terminal event.

    `diverge` makes the loss grow tenfold every few batches, as a far too high rate does.
    """
    writer = RunWriter(root, run_id, config)
    emit = writer.write
    bpe = config.batches_per_epoch
    emit(Phase(phase="training", message="training"))
    emit(RunStarted(run_id=run_id, config=config.to_dict(), total_batches=config.total_batches,
                    batches_per_epoch=bpe, epochs=config.epochs,
                    train_samples=config.train_samples, val_samples=config.val_samples,
                    test_samples=TEST_SAMPLES, params=33_194, data_source="test"))
    step = seen = 0
    speed = 20 * config.learning_rate
    summary: dict = {"run_id": run_id, "params": 33_194, "epochs": config.epochs,
                     "train_samples": config.train_samples, "config": config.to_dict()}
    for epoch in range(1, config.epochs + 1):
        total = 0.0
        for batch in range(1, bpe + 1):
            step += 1
            seen += config.batch_size
            loss = 2.3 * 10 ** (step / 4) if diverge else 2.3 * math.exp(-speed * step) + 0.05
            total += loss
            acc = 1.0 - loss / 2.4
            emit(BatchEnd(step=step, epoch=epoch, batch=batch, loss=total / batch,
                          accuracy=acc, batch_loss=loss, batch_accuracy=acc, seen=seen,
                          elapsed=0.01 * step))
        emit(EpochEnd(epoch=epoch, step=step, loss=total / bpe, accuracy=1 - total / bpe / 2.4,
                      val_loss=total / bpe * 0.9, val_accuracy=test_accuracy - 0.01,
                      seconds=1.5))
    summary.update(epochs_completed=config.epochs, stopped_early=False,
                   val_accuracy=test_accuracy - 0.01, val_loss=0.2, seconds=12.0 * config.epochs,
                   samples_per_second=seen / (12.0 * config.epochs))
    if status == "failed":
        emit(RunFailed(error="the loss became nan", summary={**summary, "status": "failed"}))
        return writer.run_dir
    result = evaluated(test_accuracy)
    emit(result)
    summary.update(test_loss=result.test_loss, test_accuracy=test_accuracy, status=status)
    if status == "stopped":
        emit(RunStopped(reason="stopped by user", summary=summary))
    else:
        emit(RunFinished(summary=summary))
    return writer.run_dir


def folder_state(run_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Every file's size, modification time and mode: what a watcher must never change."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
            for p in run_dir.iterdir()}


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_unreadable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Listing `folder` fails with EACCES, as chmod 000 would do for anyone but root (who
    runs these tests, and whom chmod does not stop)."""
    listing = Path.iterdir

    def iterdir(path: Path) -> Iterator[Path]:
        if path == folder:
            raise PermissionError(13, "Permission denied")
        return listing(path)

    monkeypatch.setattr(Path, "iterdir", iterdir)
