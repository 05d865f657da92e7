"""The learning rate set while a run trains, with real Keras: seeded runs on slices of the real
MNIST (the change applied from the next execution, bit for bit a schedule's run, kept across
a resume) and a small Keras script's model with `MonitorCallback`. Without Keras (the lock,
the channel, the hook, the table): tests/unit/test_rate_requests.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    BatchEnd,
    Event,
    LearningRateChanged,
    RunStarted,
)
from mnist_tui.runs.compare import (
    format_runs_table,
)
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import read_events
from mnist_tui.training.data import MnistData
from mnist_tui.training.rate_control import (
    earlier_rate_changes,
)
from mnist_tui.training.trainer import Trainer
from tests.helpers.trainer_runs import collect_run

WAIT_SECONDS = 60.0  # a safety net against a hang, never a measure of speed
# 2,550 training images: 40 batches an epoch, so executions of 16 end at steps 16, 32, 40.
CONFIG = TrainConfig(seed=0, train_size=3000, epochs=1)
K, NEW_RATE = 32, 0.003  # the step after which run A trains at NEW_RATE (from 0.01)


def changes_in(events: list[Event]) -> list[tuple[int, int, float, float, str]]:
    """(step, epoch, previous, rate, by) of each `LearningRateChanged` (not its time)."""
    return [facts(e) for e in events if isinstance(e, LearningRateChanged)]


def facts(change: Event) -> tuple[int, int, float, float, str]:
    assert isinstance(change, LearningRateChanged)
    return (change.step, change.epoch, change.previous, change.rate, change.by)


def change_at(control: RunControl, step: int, rate: float) -> Any:
    """An emit hook that asks for `rate` when the `BatchEnd` of `step` arrives."""

    def hook(event: Event) -> None:
        if isinstance(event, BatchEnd) and event.step == step:
            control.set_learning_rate(rate)

    return hook


@pytest.fixture(scope="module")
def changed_run(small_mnist: MnistData) -> tuple[list[Event], dict[str, Any], Trainer]:
    """Run A: CONFIG, its rate set to NEW_RATE from the emit when batch K is reported."""
    control = RunControl()
    trainer = Trainer(data=small_mnist)
    events, summary = collect_run(trainer, CONFIG, control, change_at(control, K, NEW_RATE))
    return events, dict(summary), trainer


@pytest.mark.slow
def test_a_rate_set_while_training_applies_from_the_next_execution(
        changed_run: tuple[list[Event], dict[str, Any], Trainer]) -> None:
    events, summary, trainer = changed_run
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.rate_locked == ""
    assert changes_in(events) == [(K, 1, 0.01, NEW_RATE, "user")]
    at = next(i for i, e in enumerate(events) if isinstance(e, LearningRateChanged))
    assert [e for e in events[:at] if isinstance(e, BatchEnd)][-1].step == K
    assert next(e for e in events[at:] if isinstance(e, BatchEnd)).step == K + 1
    assert float(trainer.model.optimizer.learning_rate.numpy()) == np.float32(NEW_RATE)
    assert summary["status"] == "finished" and summary["learning_rate"] == NEW_RATE
    assert summary["learning_rate_changes"] == [
        {"step": K, "epoch": 1, "previous": 0.01, "rate": NEW_RATE, "by": "user"}]
    assert summary["config"]["learning_rate"] == 0.01, "the config says how it began"


def scheduled_weights(data: MnistData, monkeypatch: pytest.MonkeyPatch,
                      boundary: int) -> list[np.ndarray]:
    """Run B: CONFIG with its optimizer given 0.01 up to the optimizer's step `boundary`
    and NEW_RATE after it, as a Keras schedule."""
    import keras

    from mnist_tui.training import model

    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries=[boundary], values=[CONFIG.learning_rate, NEW_RATE])
    monkeypatch.setattr(model, "make_learning_rate", lambda config: schedule)
    trainer = Trainer(data=data)
    events, summary = collect_run(trainer, CONFIG)
    monkeypatch.undo()
    assert summary["status"] == "finished" and not changes_in(events)
    return list(trainer.model.get_weights())


@pytest.mark.slow
def test_a_seeded_run_with_a_rate_change_equals_a_run_with_that_schedule(
        changed_run: tuple[list[Event], dict[str, Any], Trainer], small_mnist: MnistData,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch b (from 1) is applied at the optimizer's iteration b - 1, and the schedule
    gives its first value up to and including the boundary: boundary K - 1 trains batches
    1..K at 0.01 and K + 1.. at NEW_RATE, as the change after batch K does."""
    _, _, trainer = changed_run
    changed = trainer.model.get_weights()
    same = scheduled_weights(small_mnist, monkeypatch, K - 1)
    for a, b in zip(changed, same, strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit
    one_late = scheduled_weights(small_mnist, monkeypatch, K)
    assert any(not np.array_equal(a, b) for a, b in zip(changed, one_late, strict=True)), (
        "one batch later is another run: the test can tell")


@pytest.mark.slow
def test_a_plateau_after_a_users_change_is_logged_as_the_plateaus(
        small_mnist: MnistData, monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_tui.training.epoch_rules import EpochRules

    real = EpochRules.epoch_end

    def stalled(self: EpochRules, epoch: int, logs: Any) -> None:
        real(self, epoch, {**logs, "val_loss": 1.0})  # never better after the first epoch

    monkeypatch.setattr(EpochRules, "epoch_end", stalled)
    config = TrainConfig(seed=0, train_size=1000, epochs=2, lr_schedule="plateau",
                         lr_patience=1, lr_factor=0.5)  # 850 images: 14 batches an epoch
    control = RunControl()
    events, summary = collect_run(Trainer(data=small_mnist), config, control,
                                  change_at(control, 14, 0.02))
    assert changes_in(events) == [(14, 1, 0.01, 0.02, "user"), (28, 2, 0.02, 0.01, "plateau")]
    assert summary["learning_rate"] == 0.01 and len(summary["learning_rate_changes"]) == 2


@pytest.mark.slow
def test_a_stopped_run_resumes_at_the_rate_it_was_set_to(tmp_path: Path,
                                                         mnist_path: Path) -> None:
    """The optimizer's rate is one of its variables, in the checkpoint: resumed, the run
    goes on at the user's rate, exactly as the run that was never stopped."""
    import keras

    from mnist_tui.runs.driver import execute_run
    from mnist_tui.runs.resume import plan_resume, resume_run

    config = TrainConfig(seed=0, train_size=3000, epochs=2)  # 40 batches an epoch
    whole_control = RunControl()
    whole_dir, whole = execute_run(config, change_at(whole_control, 5, NEW_RATE),
                                   whole_control, runs_dir=tmp_path / "whole",
                                   data_path=mnist_path)
    control = RunControl()
    set_rate = change_at(control, 5, NEW_RATE)  # applied after the execution ending at 16

    def set_then_stop(event: Event) -> None:
        set_rate(event)
        if isinstance(event, BatchEnd) and event.step == 20:
            control.stop("test")  # obeyed after the execution ending at 32

    run_dir, stopped = execute_run(config, set_then_stop, control, runs_dir=tmp_path / "parts",
                                   data_path=mnist_path)
    assert stopped["status"] == "stopped" and stopped["learning_rate"] == NEW_RATE
    assert run_dir is not None and whole_dir is not None
    _, resumed = resume_run(plan_resume(run_dir), lambda event: None, data_path=mnist_path)
    assert resumed["status"] == "finished"
    model = keras.saving.load_model(run_dir / "model.keras")
    assert float(model.optimizer.learning_rate.numpy()) == np.float32(NEW_RATE)
    for a, b in zip(model.get_weights(),
                    keras.saving.load_model(whole_dir / "model.keras").get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole["learning_rate_changes"] == stopped["learning_rate_changes"] == [
        {"step": 16, "epoch": 1, "previous": 0.01, "rate": NEW_RATE, "by": "user"}]
    assert resumed["learning_rate_changes"] == whole["learning_rate_changes"]
    assert changes_in(read_events(run_dir)) == changes_in(read_events(whole_dir))
    kept = earlier_rate_changes(read_events(run_dir), 32)
    assert [(c.step, c.rate) for c in kept] == [(16, NEW_RATE)]


def script_model(keras: Any, rate: Any) -> Any:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="line")
    model.compile(optimizer=keras.optimizers.SGD(rate), loss="mse")
    return model


def script_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(320, 3)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5], dtype="float32"))[:, None]


@pytest.mark.slow
def test_a_keras_script_takes_a_rate_from_a_watcher(tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback
    from mnist_tui.runs.channel import read_state, send_command
    from mnist_tui.training.keras_runtime import import_keras

    keras = import_keras()
    monitor = MonitorCallback(tmp_path, name="script", batch_size=32)

    class Watcher(keras.callbacks.Callback):  # before the monitor: its batch ends come first
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 3:
                assert monitor.run_dir is not None
                before = float(read_state(monitor.run_dir).get("time") or 0)
                send_command(monitor.run_dir, "learning_rate", value=0.05)
                deadline = time.monotonic() + WAIT_SECONDS
                while float(read_state(monitor.run_dir).get("time") or 0) <= before:
                    assert time.monotonic() < deadline, "the run never read the command"
                    time.sleep(0.02)  # the channel has now passed it to the run's control

    model = script_model(keras, 0.1)
    x, y = script_data()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[Watcher(), monitor])
    assert monitor.run_dir is not None
    events = read_events(monitor.run_dir)
    assert next(e for e in events if isinstance(e, RunStarted)).rate_locked == ""
    assert changes_in(events) == [(4, 1, 0.1, 0.05, "user")]
    assert float(model.optimizer.learning_rate.numpy()) == np.float32(0.05)
    summary = json.loads((monitor.run_dir / "summary.json").read_text())
    assert summary["learning_rate"] == 0.05 and summary["learning_rate_changes"][0]["step"] == 4
    row = format_runs_table(list_runs(tmp_path)).splitlines()[1].split()
    assert "0.1→0.05@5" in row


@pytest.mark.slow
def test_a_keras_script_with_a_schedule_says_why_and_ignores_a_request(tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback
    from mnist_tui.training.keras_runtime import import_keras

    keras = import_keras()
    monitor = MonitorCallback(tmp_path, name="scheduled")

    class Asker(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 2:
                monitor.control.set_learning_rate(0.5)

    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)
    model = script_model(keras, schedule)
    x, y = script_data()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[Asker(), monitor])
    assert monitor.run_dir is not None
    events = read_events(monitor.run_dir)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert "schedule (ExponentialDecay)" in started.rate_locked
    assert not changes_in(events)
    summary = json.loads((monitor.run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and "learning_rate_changes" not in summary
