"""A stand-in for `mnist_tui.runs.driver.execute_run` that emits a plausible run without Keras.

The TUI tests inject `FakeRunner(...)` as the app's runner. It emits the same event sequence the
real trainer does (phases, RunStarted, BatchEnd per batch, EpochEnd per epoch, Evaluated, then
RunFinished / RunStopped / RunFailed), honours `RunControl` stop and pause, and can hold still
after a given step until the test releases it, so tests observe a run mid-way without timing.
Asked to, it also shows test digits (`ShownDigits`, then `Predictions`), reports the system
load (`SystemLoad`) and takes learning rates asked for (`LearningRateChanged`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    BatchEnd,
    DigitSample,
    Emit,
    EpochEnd,
    Evaluated,
    LearningRateChanged,
    Phase,
    Predictions,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    ShownDigits,
    SystemLoad,
)
from mnist_tui.core.summary import RunSummary
from mnist_tui.training.model import preview_model

TEST_SAMPLES = 10_000
MB = 1024**2
GB = 1024**3


class FakeRunner:
    """Callable like `execute_run`; records its calls.

    `batch_sleep`: seconds slept after each batch. `hold_after`: block after that step until
    `release()` (or a stop request). `fail_at`: emit RunFailed (a NaN loss) at that step.
    `raise_error`: raise it before emitting anything, as a broken runner would.
    `digits`: show that many test digits (`fake_digits`), with `Predictions` every
    `every` batches (every fourth digit guessed wrong). `system_load`: a `SystemLoad` every
    `every` batches (`fake_load`). `rate_locked`: RunStarted's reason the rate cannot change.
    `apply_rates`: take each learning rate the control was asked for, after a batch, and
    emit its `LearningRateChanged` (by default the test takes them itself).
    """

    def __init__(self, *, batch_sleep: float = 0.0, hold_after: int | None = None,
                 fail_at: int | None = None, raise_error: Exception | None = None,
                 hold_timeout: float = 60.0, digits: int = 0, every: int = 10,
                 system_load: bool = False, rate_locked: str = "",
                 apply_rates: bool = False) -> None:
        self.batch_sleep = batch_sleep
        self.hold_after = hold_after
        self.fail_at = fail_at
        self.raise_error = raise_error
        self.digits = digits
        self.every = every
        self.system_load = system_load
        self.rate_locked = rate_locked
        self.apply_rates = apply_rates
        self.hold_timeout = hold_timeout  # a forgotten release must not hang the test run
        self.calls: list[dict[str, Any]] = []
        self.held = threading.Event()  # set while the runner is holding
        self.finished = threading.Event()  # set when the runner returns
        self._release = threading.Event()

    def release(self) -> None:
        """Let a held run go on."""
        self._release.set()

    def _hold(self, control: RunControl) -> None:
        self.held.set()
        deadline = time.monotonic() + self.hold_timeout
        while not self._release.wait(0.01):
            if control.stop_requested or time.monotonic() > deadline:
                break
        self.held.clear()

    def __call__(self, config: TrainConfig, emit: Emit, control: RunControl | None = None, *,
                 runs_dir: Path | None = None, data_path: str | Path | None = None,
                 run_id: str | None = None) -> tuple[Path, RunSummary]:
        """Emit one fake run's events; return (run_dir, summary) like `execute_run`."""
        self.calls.append({"config": config, "runs_dir": runs_dir, "data_path": data_path})
        try:
            return self._run(config, emit, control or RunControl(), runs_dir, run_id)
        finally:
            self.finished.set()

    def _run(self, config: TrainConfig, emit: Emit, control: RunControl,
             runs_dir: Path | None, run_id: str | None) -> tuple[Path, RunSummary]:
        if self.raise_error is not None:
            raise self.raise_error
        run_id = run_id or f"fake-{len(self.calls)}"
        run_dir = (runs_dir or Path("runs")) / run_id
        params = preview_model(config).total_params
        summary = RunSummary(run_id=run_id, config=config.to_dict(), epochs=config.epochs,
                             train_samples=config.train_samples, status="finished",
                             params=params, samples_per_second=None,
                             run_dir=str(run_dir)).to_json()  # the facts, as they come
        emit(Phase(phase="loading_data", message="loading MNIST…"))
        emit(Phase(phase="building_model", message="building the model…"))
        bpe = config.batches_per_epoch
        emit(RunStarted(run_id=run_id, config=config.to_dict(), total_batches=bpe * config.epochs,
                        batches_per_epoch=bpe, epochs=config.epochs,
                        train_samples=config.train_samples, val_samples=config.val_samples,
                        test_samples=TEST_SAMPLES, params=params, data_source="fake",
                        rate_locked=self.rate_locked))
        shown = fake_digits(self.digits) if self.digits else None
        if shown is not None:
            emit(shown)
        emit(Phase(phase="training", message="training…"))
        rate = config.learning_rate
        step = seen = 0
        elapsed = 0.0
        for epoch in range(1, config.epochs + 1):
            loss_sum = acc_sum = 0.0
            for batch in range(1, bpe + 1):
                step += 1
                seen += min(config.batch_size,
                            config.train_samples - (batch - 1) * config.batch_size)
                elapsed += 0.01
                batch_loss = 2.3 * math.exp(-step / 40) + 0.05
                if self.fail_at == step:
                    batch_loss = math.nan
                batch_acc = min(0.99, 1.0 - batch_loss / 2.6)
                loss_sum += batch_loss
                acc_sum += batch_acc
                emit(BatchEnd(step=step, epoch=epoch, batch=batch, loss=loss_sum / batch,
                              accuracy=acc_sum / batch, batch_loss=batch_loss,
                              batch_accuracy=batch_acc, seen=seen, elapsed=elapsed))
                if self.fail_at == step:
                    summary.update({"status": "failed", "reason": "the loss became NaN"})
                    emit(RunFailed(error=f"the loss became NaN at batch {step}",
                                   summary=summary))
                    return run_dir, RunSummary.from_json(summary)
                if shown is not None and step % self.every == 0:
                    emit(fake_predictions(shown, step, epoch))
                if self.system_load and step % self.every == 0:
                    emit(fake_load())
                if self.apply_rates:
                    asked = control.take_learning_rate()
                    if asked is not None:
                        emit(LearningRateChanged(step=step, epoch=epoch, previous=rate,
                                                 rate=asked))
                        rate = asked
                if self.hold_after == step:
                    self._hold(control)
                if self.batch_sleep:
                    time.sleep(self.batch_sleep)
                control.wait_if_paused()
                if control.stop_requested:
                    break
            val_loss, val_acc = 0.9 * loss_sum / batch, min(0.995, acc_sum / batch + 0.02)
            summary.update({"val_loss": val_loss, "val_accuracy": val_acc})
            if batch == bpe:
                summary["epochs_completed"] = epoch
            emit(EpochEnd(epoch=epoch, step=step, loss=loss_sum / batch,
                          accuracy=acc_sum / batch, val_loss=val_loss, val_accuracy=val_acc,
                          seconds=0.01 * batch))
            if control.stop_requested:
                break
        emit(Phase(phase="evaluating", message="evaluating on the test set…"))
        evaluated = _evaluated()
        emit(evaluated)
        summary.update({"test_loss": evaluated.test_loss,
                        "test_accuracy": evaluated.test_accuracy, "seconds": elapsed,
                        "samples_per_second": seen / elapsed if elapsed else None})
        if control.stop_requested:
            summary.update({"status": "stopped", "reason": control.reason,
                            "stopped_early": True})
            emit(RunStopped(reason=control.reason, summary=summary))
        else:
            emit(RunFinished(summary=summary))
        return run_dir, RunSummary.from_json(summary)


def fake_image(label: int) -> np.ndarray:
    """A 28x28 uint8 stand-in for a digit: a bar whose place and length tell the label."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:4 + 2 * (label + 1), 6 + label:9 + label] = 255
    image[12:16, 6:22] = 128
    return image


def fake_digits(count: int) -> ShownDigits:
    """`count` shown test digits labelled 0, 1, ..., 9, 0, ... (test-set indices 100, 101...)."""
    labels = tuple(k % 10 for k in range(count))
    pixels = tuple(DigitSample.from_image(0, label, label, 1.0, fake_image(label)).pixels
                   for label in labels)
    return ShownDigits(indices=tuple(range(100, 100 + count)), labels=labels, pixels=pixels)


def fake_guess(label: int, k: int) -> int:
    """The fake model's guess for the k-th shown digit: right, but every fourth one wrong."""
    return (label + 1) % 10 if k % 4 == 0 else label


def fake_predictions(shown: ShownDigits, step: int, epoch: int) -> Predictions:
    """Guesses for `shown`: every fourth one wrong, confidences 0.50, 0.55, ... 0.95."""
    predicted = tuple(fake_guess(label, k) for k, label in enumerate(shown.labels))
    confidence = tuple(0.5 + 0.05 * (k % 10) for k in range(len(shown.labels)))
    return Predictions(step=step, epoch=epoch, predicted=predicted, confidence=confidence)


def fake_load(gpu: bool = True) -> SystemLoad:
    """A fixed load sample: 187% of 2 cores, machine 96%, 812 MB (peak 901 MB), a GPU at
    88% with 3 of its 80 GB in use."""
    return SystemLoad(process_cpu=187.0, machine_cpu=96.0, cpus=2, memory=812 * MB,
                      peak_memory=901 * MB, gpu_utilization=88.0 if gpu else None,
                      gpu_memory=3 * GB if gpu else None, gpu_memory_total=80 * GB if gpu else None)


def _evaluated() -> Evaluated:
    """A fixed, plausible test evaluation: 98.0% right, a few digits wrong in the gallery."""
    rng = np.random.default_rng(0)
    confusion = [[0] * 10 for _ in range(10)]
    for digit in range(10):
        confusion[digit][digit] = 980
        confusion[digit][(digit + 1) % 10] = 20
    samples = []
    for index in range(8):
        label = index % 10
        predicted = label if index % 4 else (label + 3) % 10
        image = (rng.random((28, 28)) > 0.8).astype(np.uint8) * 255
        samples.append(DigitSample.from_image(index, label, predicted, 0.9, image))
    return Evaluated(test_loss=0.07, test_accuracy=0.98, test_samples=TEST_SAMPLES,
                     confusion=tuple(tuple(row) for row in confusion),
                     per_class_accuracy=(0.98,) * 10, samples=tuple(samples), seconds=0.5)


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until `predicate()` holds; fail if it never does within `timeout`.

    The timeout only guards against a hang; no test asserts how fast anything happens.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the app never reached the expected state")
        await pilot.pause(0.01)
