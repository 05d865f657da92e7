"""The learning rate asked for while a run trains, without Keras (stand-ins for the optimizer's
variable): which runs take one and why the others do not, the control channel, the hook that
applies it once, the rates an earlier part of a resumed run set, and the runs table and CSV.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    Event,
    LearningRateChanged,
    RunResumed,
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
from mnist_tui.training.rate_control import (
    LearningRateHook,
    config_rate_lock,
    earlier_rate_changes,
    optimizer_rate_lock,
)
from tests.helpers.recorded_runs import record_run


def changes_in(events: list[Event]) -> list[tuple[int, int, float, float, str]]:
    """(step, epoch, previous, rate, by) of each `LearningRateChanged` (not its time)."""
    return [facts(e) for e in events if isinstance(e, LearningRateChanged)]


def facts(change: Event) -> tuple[int, int, float, float, str]:
    assert isinstance(change, LearningRateChanged)
    return (change.step, change.epoch, change.previous, change.rate, change.by)


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
