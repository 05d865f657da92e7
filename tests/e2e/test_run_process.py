"""End to end: the run trains in the process the app started while the form was shown.

The real app (Pilot) with the real run process on a slice of the real MNIST: the monitor
shows the process's batches, the summary its test accuracy, "train again" goes to the next
process; and the real `mnist-tui` on a terminal, killed mid-run, leaves its run finishing.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Digits

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, Event
from mnist_tui.core.formatting import format_percent
from mnist_tui.runs.reading import read_events
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.monitor import MonitorScreen
from mnist_tui.tui.screens.summary import SummaryScreen
from tests.helpers.live_processes import WAIT_SECONDS, Terminal, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("run_process")]


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the remembered theme of this test out of the user's config directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def _until(pilot: Pilot[object], done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await pilot.pause(0.05)


def _pid(run_dir: Path) -> int:
    return int(json.loads((run_dir / "process.json").read_text())["pid"])


def _output(run_dir: Path) -> str:
    return (run_dir / "output.log").read_text(errors="replace")


async def test_the_run_trains_in_its_process_and_train_again_in_the_next(
        tmp_path: Path, mnist_path: Path, folded_events: list[Event]) -> None:
    """The form's settings are traced in the process before Enter; the process trains them
    (its model prepared ahead), the monitor folds its every batch, the summary shows its test
    accuracy; after it a new process gets "train again" ready, and trains it."""
    folded = folded_events
    config = TrainConfig(train_size=1000, epochs=1, seed=4)  # 14 batches of 64
    app = MnistApp(config, preload=True, runs_dir=tmp_path / "runs", data_path=mnist_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.warm is not None and app.warm.prepared == config,
                     "a model traced for the form's settings in the run process")
        first = app.warm
        assert first is not None
        await pilot.press("ctrl+s")
        await _until(pilot, lambda: isinstance(app.screen, (MonitorScreen, SummaryScreen)),
                     "the monitor")
        await _until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
        run_dir = app.run_dir
        assert run_dir is not None
        assert _pid(run_dir) == first.process.pid != os.getpid()
        logged = [e for e in read_events(run_dir) if isinstance(e, BatchEnd)]
        shown = [e for e in folded if isinstance(e, BatchEnd)]
        assert len(logged) == config.total_batches == 14
        assert [(e.step, e.loss) for e in shown] == [(e.step, e.loss) for e in logged]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "finished"
        await _until(pilot, lambda: app.screen.query("#test-accuracy"), "the summary drawn")
        assert app.screen.query_one("#test-accuracy", Digits).value == format_percent(
            summary["test_accuracy"])
        assert "models prepared ahead 1, trained 1" in _output(run_dir)

        await _until(pilot, lambda: app.warm is not None and app.warm.prepared == config,
                     "the next process, ready for train again")
        second = app.warm
        assert second is not None and second.process.pid != first.process.pid
        await pilot.press("r")
        await _until(pilot, lambda: isinstance(app.screen, SummaryScreen)
                     and app.run_dir not in (None, run_dir), "train again's summary")
        again = app.run_dir
        assert again is not None
        assert _pid(again) == second.process.pid
        assert "models prepared ahead 1, trained 1" in _output(again)
        assert json.loads((again / "summary.json").read_text())["test_accuracy"] == (
            summary["test_accuracy"])  # the same seed, the same bits


def test_a_killed_app_leaves_its_run_training_to_the_end(tmp_path: Path,
                                                          mnist_path: Path) -> None:
    """`mnist-tui --preload` on a terminal, Enter, the app killed (SIGKILL) after the first batches:
    the run process finishes the run: every batch, the test set, summary.json "finished"."""
    runs = tmp_path / "runs"
    env = {**os.environ, "MNIST_TUI_RUNS_DIR": str(runs), "MNIST_TUI_DATA": str(mnist_path),
           "TERM": "xterm-256color"}
    config = TrainConfig(train_size=6000, epochs=3, seed=1)  # 80 batches an epoch
    terminal = Terminal(["-m", "mnist_tui", "--preload", "--train-size", "6000", "--epochs", "3",
                         "--seed", "1"], env, rows=40, columns=120)
    try:
        wait_until(lambda: b"Start" in terminal.output, "the form is drawn")
        wait_until(lambda: _children(terminal.proc.pid), "the run process is started")
        os.write(terminal.master, b"\r")
        wait_until(lambda: any(runs.glob("*/events.jsonl")), "the run folder")
        run_dir = next(runs.glob("*"))

        def batches() -> int:
            return sum(isinstance(e, BatchEnd) for e in read_events(run_dir))

        wait_until(lambda: batches() >= 2, "the first batches")
        child = _pid(run_dir)
        assert child in _children(terminal.proc.pid)
        terminal.proc.send_signal(signal.SIGKILL)
        terminal.proc.wait(WAIT_SECONDS)
        assert batches() < config.total_batches, "the run ended before the app was killed"
        wait_until(lambda: (run_dir / "summary.json").exists(), "the run's summary")
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "finished", summary
        assert summary["test_accuracy"] > 0.5
        assert batches() == config.total_batches == 240
        assert (run_dir / "model.keras").exists()
    finally:
        terminal.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
