"""The app's side of a run in its own process, with a stand-in process on the real pipes.

The stand-in says it prepared every settings it is told, and on `run` writes a fake run's
event lines (`FakeRunner`'s) to the events pipe, or dies by SIGKILL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import Event
from mnist_tui.runs import warm_process
from mnist_tui.runs.channel import RemoteControl
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.dialogs import ErrorScreen
from mnist_tui.tui.screens.summary import SummaryScreen
from tests.helpers.fake_runs import FakeRunner

STAND_IN = """
import json, os, signal, sys
fd, script, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for line in sys.stdin:
    message = json.loads(line)
    if "want" in message:
        os.write(fd, (json.dumps({"prepared": message["want"]}) + "\\n").encode())
    elif "run" in message:
        if mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        os.write(fd, open(script, "rb").read())
        break
"""
CONFIG = TrainConfig(train_size=1000, epochs=2, seed=1)


def _stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str) -> list[int]:
    """Make `WarmProcess.start` start the stand-in; the pids it started."""
    events: list[Event] = []
    FakeRunner()(CONFIG, events.append, runs_dir=tmp_path / "fake")
    script = tmp_path / "events.jsonl"
    script.write_text("".join(e.to_json() + "\n" for e in events))
    started: list[int] = []

    def start(data_path: Any = None, *, python: str | None = None) -> warm_process.WarmProcess:
        read, write = os.pipe()
        process = subprocess.Popen([sys.executable, "-c", STAND_IN, str(write), str(script),
                                    mode], stdin=subprocess.PIPE, pass_fds=(write,))
        os.close(write)
        started.append(process.pid)
        return warm_process.WarmProcess(process, os.fdopen(read, "rb", buffering=0))

    monkeypatch.setattr(warm_process.WarmProcess, "start", start)
    return started


async def _until(pilot: Any, done: Any) -> None:
    for _ in range(1200):
        if done():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def test_the_run_of_the_process_shows_in_the_monitor_and_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _stand_in(monkeypatch, tmp_path, "events")
    app = MnistApp(CONFIG, preload=True, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.warm is not None and app.warm.prepared == CONFIG)
        await pilot.press("ctrl+s")
        await _until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert isinstance(app.session.control, RemoteControl)
        run_dir = app.run_dir
        assert run_dir is not None and run_dir.parent == (tmp_path / "runs").resolve()
        assert json.loads((run_dir / "process.json").read_text())["pid"] == started[0]
        assert json.loads((run_dir / "config.json").read_text()) == CONFIG.to_dict()
        assert app.history.step == CONFIG.total_batches
        assert app.final_summary is not None and app.final_summary.status == "finished"
        await _until(pilot, lambda: len(started) == 2 and app.warm is not None)
        assert app.warm.process.pid == started[1], "the next process, for train again"
    assert app.warm is None, "the waiting process was closed with the app"


async def test_a_process_that_dies_mid_run_says_so(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in(monkeypatch, tmp_path, "die")
    app = MnistApp(CONFIG, preload=True, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.warm is not None and app.warm.prepared == CONFIG)
        await pilot.press("ctrl+s")
        await _until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        shown = app.screen.message
        assert "the run's process ended before its run did (killed by SIGKILL)" in shown
        assert app.final_summary is not None and app.final_summary.status == "failed"
