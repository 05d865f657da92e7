"""The learning rate set while a run trains: the lock, the channel, the hook, the table.

The first tests need no Keras (stand-ins for the optimizer's variable); those marked slow
train real Keras on slices of the real MNIST with a seed, and a small Keras script's model
with `MonitorCallback`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    BatchEnd,
    Event,
    LearningRateChanged,
    RunResumed,
    RunStarted,
)
from mnist_tui.core.jsonio import read_json_dict, write_json_atomic
from mnist_tui.runs.channel import CONTROL_FILE, ControlChannel, RemoteControl, create_control_file
from mnist_tui.runs.compare import (
    COLUMNS,
    CSV_EXTRA,
    format_runs_table,
    rate_changes,
    rate_schedule_text,
    write_runs_csv,
)
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import read_events
from mnist_tui.training.data import MnistData
from mnist_tui.training.rate_control import (
    LearningRateHook,
    config_rate_lock,
    earlier_rate_changes,
    optimizer_rate_lock,
)
from mnist_tui.training.trainer import Trainer
from tests.helpers.recorded_runs import record_run
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


# -- without Keras ------------------------------------------------------------------------


@pytest.mark.parametrize(("schedule", "locked"), [
    ("constant", False), ("plateau", False), ("cosine", True), ("step", True)])
def test_constant_and_plateau_runs_take_a_rate_the_scheduled_ones_say_why_not(
        schedule: str, locked: bool) -> None:
    reason = config_rate_lock(TrainConfig(lr_schedule=schedule))
    assert bool(reason) is locked
    if locked:
        assert reason == (f"this run's learning rate follows its {schedule} schedule; pick "
                          "the constant or plateau schedule to set it while it trains")


class FakeVariable:
    """Stands in for the optimizer's learning-rate variable: float32, assignable."""

    def __init__(self, value: float) -> None:
        self.value = np.float32(value)
        self.assigned: list[float] = []

    def assign(self, value: float) -> None:
        self.value = np.float32(value)
        self.assigned.append(value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)


def fake_fit(rate: Any, step: int = 16, epoch: int = 1) -> Any:
    optimizer = SimpleNamespace(learning_rate=rate)
    return SimpleNamespace(model=SimpleNamespace(optimizer=optimizer),
                           progress=SimpleNamespace(step=step, epoch=epoch))


def test_an_optimizer_without_a_settable_rate_says_why() -> None:
    assert optimizer_rate_lock(SimpleNamespace(learning_rate=FakeVariable(0.1))) == ""
    assert "no optimizer" in optimizer_rate_lock(None)

    class MySchedule:
        def __call__(self, step: int) -> float:
            return 0.1

    scheduled = SimpleNamespace(learning_rate=0.1, _learning_rate=MySchedule())
    assert optimizer_rate_lock(scheduled) == (
        "this optimizer's learning rate is a schedule (MySchedule), which cannot be set while "
        "it trains; give the optimizer a float learning rate to set it")


def test_the_hook_applies_a_rate_once_and_reports_it() -> None:
    control, events = RunControl(), []
    hook = LearningRateHook(control, events.append)
    variable = FakeVariable(0.01)
    hook.after_execution(fake_fit(variable, step=16))
    assert events == [] and hook.rate == 0.01, "the rate it began with, nothing to say"
    control.set_learning_rate(0.003)
    hook.after_execution(fake_fit(variable, step=32))
    assert changes_in(events) == [(32, 1, 0.01, 0.003, "user")]
    assert variable.value == np.float32(0.003)
    hook.after_execution(fake_fit(variable, step=48))
    control.set_learning_rate(0.003)
    hook.after_execution(fake_fit(variable, step=64))
    assert len(events) == 1 and variable.assigned == [0.003], "the same rate: no change"
    variable.assign(0.0015)  # the plateau rule, before the hooks at the epoch end
    hook.epoch_end(fake_fit(variable, step=70))
    assert facts(events[-1]) == (70, 1, 0.003, 0.0015, "plateau")
    hook.epoch_end(fake_fit(variable, step=140, epoch=2))
    assert len(events) == 2, "no change, no event"
    summary = hook.summary_fields()
    assert summary == {"learning_rate": 0.0015, "learning_rate_changes": [
        {"step": 32, "epoch": 1, "previous": 0.01, "rate": 0.003, "by": "user"},
        {"step": 70, "epoch": 1, "previous": 0.003, "rate": 0.0015, "by": "plateau"}]}


def test_a_locked_hook_drops_requests_and_a_quiet_one_adds_nothing() -> None:
    control, events = RunControl(), []
    hook = LearningRateHook(control, events.append, "it follows its cosine schedule")
    control.set_learning_rate(0.5)
    hook.after_execution(fake_fit(0.01))  # a schedule's value: a plain number
    hook.epoch_end(fake_fit(0.008))
    assert events == [] and hook.ignored == [0.5]
    unlocked = LearningRateHook(control, events.append)
    control.set_learning_rate(0.5)
    unlocked.after_execution(fake_fit(0.01))
    assert events == [] and unlocked.ignored == [0.5]
    assert "schedule" in unlocked.locked or "not a variable" in unlocked.locked
    assert hook.summary_fields() == {}


def test_a_watcher_sets_the_rate_through_the_control_channel(tmp_path: Path) -> None:
    create_control_file(tmp_path)
    control = RunControl()
    channel = ControlChannel(tmp_path, control)  # read by hand here, not by its thread
    RemoteControl(tmp_path).set_learning_rate(0.003)
    assert channel.read_commands() == 1
    assert control.take_learning_rate() == 0.003
    assert control.take_learning_rate() is None, "taken once"
    for bad, shown in ((0, "0"), (11, "11"), (float("nan"), "nan")):
        with pytest.raises(ValueError) as caught:
            RemoteControl(tmp_path).set_learning_rate(bad)
        assert str(caught.value).startswith("learning rate must be > 0 and ≤ 10, got ")
        assert shown in str(caught.value)
    with (tmp_path / CONTROL_FILE).open("a") as file:  # what a careless watcher might write
        file.write('{"command": "learning_rate", "value": -1}\n'
                   '{"command": "learning_rate", "value": "0.1"}\n'
                   '{"command": "learning_rate"}\n'
                   '{"command": "learning_rate", "val\n'
                   '{"command": "learning_rate", "value": 0.02}\n'
                   '{"command": "pause"}\n')
    assert channel.read_commands() == 2, "the rate and the pause; the rest skipped"
    assert control.take_learning_rate() == 0.02 and control.paused


def test_a_resumed_run_carries_the_changes_its_checkpoint_kept() -> None:
    made: dict[tuple[int, float], LearningRateChanged] = {}

    def change(step: int, rate: float) -> LearningRateChanged:
        return made.setdefault((step, rate), LearningRateChanged(step=step, epoch=1,
                                                                 previous=0.01, rate=rate))

    def resumed(step: int) -> RunResumed:
        return RunResumed(step=step, epoch=1, batch=step, seen=step * 64, elapsed=1.0,
                          epochs=1, total_batches=100, batches_per_epoch=100)

    log: list[Event] = [change(16, 0.005), change(48, 0.002), resumed(32),  # 48 was lost
                        change(40, 0.001), change(64, 0.004)]
    assert earlier_rate_changes(log, 64) == [change(16, 0.005), change(40, 0.001),
                                             change(64, 0.004)]
    assert earlier_rate_changes(log, 50) == [change(16, 0.005), change(40, 0.001)]
    hook = LearningRateHook(RunControl(), lambda event: None,
                            earlier=earlier_rate_changes(log, 50))
    summary = hook.summary_fields()
    assert summary["learning_rate"] == 0.001 and len(summary["learning_rate_changes"]) == 2


def test_the_runs_table_and_csv_show_the_schedule_that_ran(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    changed = record_run(root, "20250102-090000-bbbbbb", TrainConfig(train_size=1000,
                                                                      learning_rate=0.01))
    record_run(root, "20250101-090000-aaaaaa", TrainConfig(train_size=1000,
                                                           learning_rate=0.001))
    summary = read_json_dict(changed / "summary.json") or {}
    summary["learning_rate_changes"] = [
        {"step": 4, "epoch": 1, "previous": 0.01, "rate": 0.003, "by": "user"},
        {"step": 14, "epoch": 1, "previous": 0.003, "rate": 0.0015, "by": "plateau"}]
    summary["learning_rate"] = 0.0015
    write_json_atomic(changed / "summary.json", summary)
    runs = list_runs(root)
    lines = format_runs_table(runs).splitlines()
    assert lines[1].split()[6] == "0.01→0.003@5→0.0015@15"
    assert lines[2].split()[6] == "0.001"
    out = io.StringIO()
    write_runs_csv(runs, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [*(c.replace(" ", "_") for c in COLUMNS), *CSV_EXTRA]
    assert rows[0]["learning_rate"] == "0.01" and rows[0]["lr_changes"] == "4:0.003;14:0.0015"
    assert rows[1]["lr_changes"] == ""


def test_many_changes_are_shortened_and_damaged_ones_skipped() -> None:
    many = [(100 * i, 0.01, 0.01 / 2 ** i) for i in range(1, 5)]
    assert rate_schedule_text(0.01, many) == "0.01→0.005@101→…→0.000625@401"
    assert rate_schedule_text(None, many[:1]) == "0.01→0.005@101"
    assert rate_schedule_text(0.01, []) == "0.01"
    assert rate_changes({"learning_rate_changes": [
        {"step": 4, "previous": 0.01, "rate": 0.003}, {"step": "4", "previous": 0.1,
                                                       "rate": 0.2},
        {"step": 5, "previous": 0.01, "rate": None}, "garbage", {"step": True}]}) == [
        (4, 0.01, 0.003)]
    assert rate_changes({"learning_rate_changes": "nope"}) == rate_changes(None) == []


# -- with Keras ---------------------------------------------------------------------------


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
