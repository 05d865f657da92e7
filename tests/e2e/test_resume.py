"""Checkpoints and `mnist-tui resume`: a stopped, finished or killed run goes on in its folder.

The runs train real Keras on 2,000 (or, for the killed one, 30,000) images of the real MNIST
with seed 0. Waits poll the run folder; no assertion depends on how fast anything happens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.app import App
from textual.widgets import DataTable

from mnist_tui.cli import main
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    TERMINAL_TYPES,
    BatchEnd,
    Checkpointed,
    Event,
    RunFinished,
    RunResumed,
    StorageProblem,
)
from mnist_tui.runs.channel import read_state, send_command
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import follow_run, read_events
from mnist_tui.runs.resume import begin_resume, plan_resume, resume_run
from mnist_tui.runs.writer import write_process_file
from mnist_tui.training.checkpoint import (
    CHECKPOINT_FILE,
    CHECKPOINT_SECONDS,
    CHECKPOINT_SECONDS_ENV,
    CheckpointError,
    checkpoint_seconds,
    read_checkpoint_info,
)
from mnist_tui.training.trainer import Trainer
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.runs import RunsScreen
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.history import TrainingHistory
from tests.helpers.fake_runs import wait_for
from tests.helpers.live_processes import wait_until

SMALL = TrainConfig(seed=0, train_size=2000, epochs=1)  # 1,700 images: 27 batches an epoch
WAIT_SECONDS = 300.0  # a safety net against a hang, never a measure of speed
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def final_weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(run_dir / "model.keras").get_weights()


def assert_same_weights(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def batches(events: list[Event]) -> list[BatchEnd]:
    return [e for e in events if isinstance(e, BatchEnd)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, mnist_path: Path) -> Path:
    """A real 1-epoch run with its checkpoint; tests copy it before changing anything."""
    run_dir, summary = execute_run(SMALL, lambda event: None,
                                   runs_dir=tmp_path_factory.mktemp("finished"),
                                   data_path=mnist_path)
    assert summary["status"] == "finished"
    return run_dir


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, mnist_path: Path) -> list[Any]:
    """The weights of the same run trained for 2 epochs in one go."""
    run_dir, _ = execute_run(TrainConfig(seed=0, train_size=2000, epochs=2), lambda event: None,
                             runs_dir=tmp_path_factory.mktemp("whole"), data_path=mnist_path)
    return final_weights(run_dir)


def copy_run(run_dir: Path, root: Path) -> Path:
    return Path(shutil.copytree(run_dir, root / "runs" / run_dir.name))


@pytest.mark.slow
def test_a_finished_run_resumed_to_more_epochs_equals_an_uninterrupted_run(
        finished_run: Path, uninterrupted: list[Any], tmp_path: Path, mnist_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    info = read_checkpoint_info(run_dir)
    assert info is not None and info.position.epochs_completed == 1
    shown: list[Event] = []
    _, summary = resume_run(plan_resume(run_dir, epochs=2), shown.append, data_path=mnist_path,
                            replay=True)
    assert summary["status"] == "finished" and summary["epochs_completed"] == 2
    assert_same_weights(final_weights(run_dir), uninterrupted)
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2
    assert json.loads((run_dir / "summary.json").read_text())["batches"] == 54
    raw = [json.loads(line)["type"] for line in (run_dir / "events.jsonl").open()]
    assert raw.count("run_finished") == 2 and raw.index("run_resumed") == raw.index(
        "run_finished") + 1, "the old ending stays in the log, superseded right after it"
    events = read_events(run_dir)
    assert [type(e) for e in events if isinstance(e, TERMINAL_TYPES)] == [RunFinished]
    assert [e.step for e in batches(events)] == list(range(1, 55)), "one step axis"
    history = TrainingHistory()
    for event in shown:  # what the monitor got: the replay, then the run going on
        history.fold(event)
    assert [e.epoch for e in history.epoch_ends] == [1, 2] and history.val_steps == [27, 54]
    assert history.finished and history.step == 54 and history.total_batches == 54


@pytest.mark.slow
def test_a_run_stopped_within_an_epoch_resumes_exactly(
        uninterrupted: list[Any], tmp_path: Path, mnist_path: Path) -> None:
    control = RunControl()

    def stop_early(event: Event) -> None:
        if isinstance(event, BatchEnd) and event.step == 5:
            control.stop("test")  # obeyed at the end of the call into TensorFlow: batch 16

    config = TrainConfig(seed=0, train_size=2000, epochs=2)
    run_dir, summary = execute_run(config, stop_early, control, runs_dir=tmp_path,
                                   data_path=mnist_path)
    assert summary["status"] == "stopped"
    info = read_checkpoint_info(run_dir)
    assert info is not None and (info.position.epoch, info.position.batch) == (1, 16)
    _, summary = resume_run(plan_resume(run_dir), lambda event: None, data_path=mnist_path)
    assert summary["status"] == "finished" and summary["seen"] == 2 * 1700
    assert_same_weights(final_weights(run_dir), uninterrupted)
    events = read_events(run_dir)
    resumed = next(i for i, e in enumerate(events) if isinstance(e, RunResumed))
    first = batches(events[resumed:])[0]
    assert (first.step, first.epoch, first.batch, first.seen) == (17, 1, 17, 17 * 64)


@pytest.mark.slow
def test_a_run_killed_after_its_last_epoch_is_evaluated_and_saved(
        finished_run: Path, tmp_path: Path, mnist_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    trained = final_weights(run_dir)
    for left_out in ("summary.json", "model.keras"):  # killed while evaluating
        (run_dir / left_out).unlink()
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_process_file(run_dir, gone.pid)
    assert list_runs(run_dir.parent)[0].status == "died"
    info = read_checkpoint_info(run_dir)
    assert info is not None
    shown: list[Event] = []
    _, summary = resume_run(plan_resume(run_dir), shown.append, data_path=mnist_path)
    assert summary["status"] == "finished" and summary["epochs_completed"] == 1
    assert summary["seconds"] == info.position.elapsed and summary["batches"] == 27
    assert summary["val_accuracy"] == info.last_logs["val_accuracy"]
    assert not batches(shown), "nothing left to train"
    assert_same_weights(final_weights(run_dir), trained)


@pytest.mark.slow
def test_a_killed_headless_run_resumes_from_its_last_checkpoint(tmp_path: Path,
                                                               mnist_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**ENV, CHECKPOINT_SECONDS_ENV: "0"}  # a checkpoint after every call into TF
    command = [sys.executable, "-m", "mnist_tui", "--headless", "--runs-dir", str(runs),
               "--data", str(mnist_path), "--seed", "0", "--train-size", "30000",
               "--epochs", "2"]
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        def checkpointed_within_an_epoch() -> bool:
            folders = list(runs.glob("*")) if runs.is_dir() else []
            return bool(folders) and any(isinstance(e, Checkpointed) and e.batch < 399
                                         for e in read_events(folders[0]))

        wait_until(checkpointed_within_an_epoch, "the run wrote a checkpoint")
        run_dir = next(runs.glob("*"))
        send_command(run_dir, "pause")  # so that it is killed within an epoch
        wait_until(lambda: read_state(run_dir).get("paused") is True, "the run paused")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    assert list_runs(runs)[0].status == "died"
    last = [e for e in read_events(run_dir) if isinstance(e, Checkpointed)][-1]
    assert last.batch < 399, "killed within the second epoch's first batches at the latest"

    result = subprocess.run([sys.executable, "-m", "mnist_tui", "resume", run_dir.name,
                             "--headless", "--runs-dir", str(runs), "--data", str(mnist_path)],
                            capture_output=True, text=True, env=ENV, timeout=WAIT_SECONDS)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "finished" and summary["epochs_completed"] == 2
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert list_runs(runs)[0].status == "finished"
    events = read_events(run_dir)
    resumed_at = next(i for i, e in enumerate(events) if isinstance(e, RunResumed))
    resumed = events[resumed_at]
    assert isinstance(resumed, RunResumed)
    assert (resumed.step, resumed.epoch, resumed.batch) == (last.step, last.epoch, last.batch)
    after = batches(events[resumed_at:])
    assert [e.step for e in after] == list(range(last.step + 1, 799))
    assert (after[0].epoch, after[0].batch) == (last.epoch, last.batch + 1)


@pytest.mark.slow
def test_resume_detached_goes_on_in_the_background(finished_run: Path, tmp_path: Path,
                                                   mnist_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    result = subprocess.run([sys.executable, "-m", "mnist_tui", "resume", run_dir.name[:12],
                             "--epochs", "2", "--headless", "--detach", "--runs-dir",
                             str(run_dir.parent), "--data", str(mnist_path)],
                            capture_output=True, text=True, env=ENV, timeout=WAIT_SECONDS)
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)
    assert started["run_id"] == run_dir.name and started["pid"] != os.getpid()
    events: list[Event] = []
    end = follow_run(run_dir, events.append, poll=0.05)
    assert end.outcome == "ended", (run_dir / "output.log").read_text()
    assert isinstance(end.last_event, RunFinished)
    assert end.last_event.summary["epochs_completed"] == 2
    assert [e.step for e in batches(events)] == list(range(1, 55))


@pytest.mark.slow
@pytest.mark.parametrize(("args", "expected"), [
    ([], "has finished all its 1 epochs; give --epochs N to train it further (allowed: 2 to "
         "1000)"),
    (["--epochs", "1"], "--epochs 1 does not fit: run {run} has finished 1 epochs"),
    (["--epochs", "1001"], "allowed: 2 to 1000"),
    (["--epochs", "two"], "--epochs: epochs must be a whole number, got 'two'"),
])
def test_resume_refuses_what_cannot_go_on(finished_run: Path, tmp_path: Path, args: list[str],
                                          expected: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    code = main(["resume", run_dir.name, "--runs-dir", str(run_dir.parent), *args])
    assert code == 2
    assert expected.format(run=run_dir.name) in capsys.readouterr().err


@pytest.mark.slow
def test_resume_refuses_a_run_without_checkpoint_a_running_one_and_a_keras_script(
        finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    (run_dir / CHECKPOINT_FILE).unlink()
    assert main(["resume", str(run_dir), "--epochs", "3"]) == 2
    assert "has no checkpoint to resume from" in capsys.readouterr().err

    going = copy_run(finished_run, tmp_path / "going")
    writer = begin_resume(plan_resume(going, epochs=2))  # this process now writes its log
    try:
        assert list_runs(going.parent)[0].status == "running", "not the old summary"
        assert main(["resume", str(going), "--epochs", "3"]) == 2
        assert "is still running; stop it first" in capsys.readouterr().err
    finally:
        writer.close()

    import keras

    from mnist_tui import MonitorCallback

    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 4)), rng.normal(size=(64, 1)), verbose=0,
              callbacks=[MonitorCallback(tmp_path / "script", name="script")])
    assert main(["resume", str(next((tmp_path / "script").iterdir()))]) == 2
    assert "was logged by MonitorCallback in a Keras script" in capsys.readouterr().err
    assert main(["resume", "no-such-run", "--runs-dir", str(tmp_path)]) == 2


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_is_said_once_and_the_run_goes_on(
        tmp_path: Path, small_mnist: Any) -> None:
    (tmp_path / CHECKPOINT_FILE).mkdir()  # os.replace cannot put a file there, even for root
    events: list[Event] = []
    summary = Trainer(run_dir=tmp_path, data=small_mnist).run(
        TrainConfig(seed=0, train_size=2000, epochs=2), events.append)
    assert summary["status"] == "finished" and summary["epochs_completed"] == 2
    said = [e for e in events if isinstance(e, StorageProblem)]
    assert len(said) == 1 and said[0].path == str(tmp_path / CHECKPOINT_FILE)
    assert "cannot write the checkpoint" in said[0].message
    assert not any(isinstance(e, Checkpointed) for e in events)


def test_the_checkpoint_interval_comes_from_the_environment() -> None:
    assert checkpoint_seconds({}) == CHECKPOINT_SECONDS == 30.0
    assert checkpoint_seconds({CHECKPOINT_SECONDS_ENV: "0.5"}) == 0.5
    for bad in ("-1", "soon", "nan", "inf"):
        with pytest.raises(CheckpointError, match=f"{CHECKPOINT_SECONDS_ENV} must be a number"):
            checkpoint_seconds({CHECKPOINT_SECONDS_ENV: bad})


@pytest.mark.slow
async def test_the_app_resumes_a_run_on_one_history(finished_run: Path, tmp_path: Path,
                                                    mnist_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run_dir = copy_run(finished_run, tmp_path)
    plan = plan_resume(run_dir, epochs=2)
    app = MnistApp(plan.config, resume=plan, runs_dir=run_dir.parent, data_path=mnist_path)
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + WAIT_SECONDS
        while not isinstance(app.screen, SummaryScreen):
            assert time.monotonic() < deadline, f"no summary yet; showing {app.screen!r}"
            await pilot.pause(0.1)
        history = app.history
        assert [e.epoch for e in history.epoch_ends] == [1, 2]
        assert history.step == 54 and history.total_batches == 54
        xs, _ = history.chart("loss", smooth=False, max_points=1000).train
        assert xs == [float(step) for step in range(1, 55)]
        assert app.screen.summary["epochs_completed"] == 2


class RunsHost(App[None]):
    """Shows one Runs screen whose resume key reports the plan."""

    CSS_PATH = MnistApp.CSS_PATH

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.plans: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs_dir, on_resume=self.plans.append))


@pytest.mark.slow
async def test_the_runs_screen_resumes_a_died_run_and_refuses_a_finished_one(
        finished_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    app = RunsHost(run_dir.parent)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query_one(DataTable).row_count))
        await pilot.press("u")
        await pilot.pause()
        assert app.plans == []
        assert any("has finished all its 1 epochs" in n.message for n in app._notifications)
        (run_dir / "summary.json").unlink()  # as a killed run leaves it
        (run_dir / "process.json").unlink()
        await pilot.press("r", "u")
        await pilot.pause()
        assert [plan.run_dir for plan in app.plans] == [run_dir]

