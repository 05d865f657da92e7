"""Learning-rate schedules, reduce-on-plateau and early stopping with real Keras.

The runs train on 1,000 or 2,000 images of the real MNIST (`small_mnist`) with a seed: what
the rates are, epoch by epoch, comes from the optimizer itself (logged in `EpochEnd`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import BatchEnd, EpochEnd, Event, RunFinished, RunStopped
from mnist_tui.headless import HeadlessConsole
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.resume import plan_resume, resume_run
from mnist_tui.training.data import MnistData
from mnist_tui.training.schedules import epoch_start_rates, make_learning_rate, rate_at
from mnist_tui.training.trainer import Trainer
from tests.helpers.trainer_runs import collect_run, float_images

pytestmark = pytest.mark.slow


def epoch_ends(events: list[Event]) -> list[EpochEnd]:
    return [e for e in events if isinstance(e, EpochEnd)]


def val_loss_of(model: object, data: MnistData, config: TrainConfig) -> float:
    """The validation loss of `model` now, on the images the run held out."""
    first, last = config.train_samples, config.train_size
    x = float_images(data.x_train[first:last])
    loss, _accuracy = model.evaluate(x, data.y_train[first:last].astype(np.int32),  # type: ignore[attr-defined]
                                     verbose=0)
    return float(loss)


def test_early_stopping_ends_the_run_and_keeps_the_best_weights(small_mnist: MnistData) -> None:
    config = TrainConfig(train_size=1000, epochs=10, seed=0, early_stopping=1)
    trainer = Trainer(data=small_mnist)
    events, summary = collect_run(trainer, config)
    epochs = epoch_ends(events)
    best = min(epochs, key=lambda e: e.val_loss or 0.0)
    assert summary["status"] == "finished" and isinstance(events[-1], RunFinished)
    assert len(epochs) < 10, "the validation loss rose and the run ended early"
    assert summary["early_stopped_epoch"] == summary["epochs_completed"] == len(epochs)
    assert summary["best_epoch"] == best.epoch == len(epochs) - 1, "patience 1"
    assert summary["val_loss"] == best.val_loss and summary["val_accuracy"] == best.val_accuracy
    assert not summary["stopped_early"], "not stopped by a person"
    model_loss = val_loss_of(trainer.model, small_mnist, config)
    assert model_loss == pytest.approx(best.val_loss, rel=1e-4)
    assert abs(model_loss - (epochs[-1].val_loss or 0.0)) > 0.01, "not the last epoch's"
    console = HeadlessConsole(io.StringIO(), interactive=False)
    console(events[-1])
    assert (f"early stopping ended the run after epoch {len(epochs)}: the validation loss had "
            f"not improved for 1 epoch; kept the weights of epoch {best.epoch}"
            ) in console.stream.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("changes", [
    {"lr_schedule": "cosine", "learning_rate": 0.002, "lr_floor": 0.1},
    {"lr_schedule": "step", "lr_factor": 0.25, "lr_patience": 2},
], ids=["cosine", "step"])
def test_a_schedule_gives_the_rates_it_promises(small_mnist: MnistData,
                                                changes: dict[str, object]) -> None:
    config = TrainConfig(train_size=1000, batch_size=85, epochs=4, seed=1,
                         **changes)  # type: ignore[arg-type]
    trainer = Trainer(data=small_mnist)
    events, summary = collect_run(trainer, config)
    assert summary["status"] == "finished"
    logged = [e.learning_rate for e in epoch_ends(events)]
    assert logged == pytest.approx(epoch_start_rates(config), rel=1e-6)
    assert len(set(logged)) > 1, "the rate moved"
    optimizer = trainer.model.optimizer
    assert int(optimizer.iterations.numpy()) == config.total_batches == 40
    assert float(optimizer.learning_rate) == pytest.approx(rate_at(config, 40), rel=1e-6)
    schedule = make_learning_rate(config)
    assert [float(schedule(step)) for step in range(41)] == pytest.approx(
        [rate_at(config, step) for step in range(41)], rel=1e-5), "batch by batch"
    console = HeadlessConsole(io.StringIO(), interactive=False)
    for event in events:
        console(event)
    lines = [line for line in console.stream.getvalue().splitlines()  # type: ignore[attr-defined]
             if line.startswith("epoch ") and ":" in line.split()[1]]
    assert [line.split("  lr ")[1].split()[0] for line in lines] == [
        f"{rate:.3g}" for rate in logged], "headless says each epoch's rate"


def test_plateau_lowers_the_rate_when_the_validation_loss_stalls(small_mnist: MnistData
                                                                  ) -> None:
    config = TrainConfig(train_size=1000, epochs=5, seed=0, lr_schedule="plateau",
                         lr_factor=0.5, lr_patience=1)
    events, summary = collect_run(Trainer(data=small_mnist), config)
    epochs = epoch_ends(events)
    rate, best, wait, expected = config.learning_rate, float("inf"), 0, []
    for epoch in epochs:
        expected.append(rate)
        if (epoch.val_loss or 0.0) < best - 1e-4:  # Keras's min_delta
            best, wait = epoch.val_loss or 0.0, 0
        else:
            wait += 1
            if wait >= config.lr_patience:
                rate, wait = rate * config.lr_factor, 0
    assert [e.learning_rate for e in epochs] == pytest.approx(expected, rel=1e-6)
    assert min(expected) < config.learning_rate, "the loss stalled at least once"
    assert summary["status"] == "finished" and summary["epochs_completed"] == 5


@pytest.mark.parametrize(("changes", "stop_at"), [
    ({"epochs": 4, "dropout": 0.3, "lr_schedule": "cosine", "early_stopping": 1}, 30),
    # the validation loss of this run rises in epoch 6: stopped in epoch 7, the rules' counts
    # and early stopping's best weights (epoch 5's) must come back from the checkpoint
    ({"epochs": 8, "lr_schedule": "plateau", "early_stopping": 2}, 6 * 27 + 3),
], ids=["dropout-cosine-early-stopping", "plateau-early-stopping"])
def test_a_stopped_run_resumes_with_its_schedule_and_rules(
        tmp_path: Path, mnist_path: Path, changes: dict[str, object], stop_at: int) -> None:
    """Stopped within an epoch and resumed, a run ends exactly as one never interrupted: the
    schedule's position, the plateau and early-stopping counts, the best weights and the
    dropout masks all come back from the checkpoint."""
    import keras

    config = TrainConfig(seed=0, train_size=2000, **changes)  # type: ignore[arg-type]
    whole_dir, whole = execute_run(config, lambda event: None, runs_dir=tmp_path / "whole",
                                   data_path=mnist_path)
    control = RunControl()
    seen: list[Event] = []

    def stop_within_an_epoch(event: Event) -> None:
        seen.append(event)
        if isinstance(event, BatchEnd) and event.step == stop_at:
            control.stop("test")  # obeyed at the end of the execution: batch 16 of 27

    run_dir, stopped = execute_run(config, stop_within_an_epoch, control,
                                   runs_dir=tmp_path / "parts", data_path=mnist_path)
    assert stopped["status"] == "stopped" and isinstance(seen[-1], RunStopped)
    assert stopped["epochs_completed"] == stop_at // 27
    _, resumed = resume_run(plan_resume(run_dir), lambda event: None, data_path=mnist_path)
    assert resumed["status"] == whole["status"] == "finished"
    for key in ("epochs_completed", "best_epoch", "early_stopped_epoch", "val_loss"):
        assert resumed.get(key) == whole.get(key), key
    assert whole_dir is not None
    for a, b in zip(keras.saving.load_model(run_dir / "model.keras").get_weights(),
                    keras.saving.load_model(whole_dir / "model.keras").get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
