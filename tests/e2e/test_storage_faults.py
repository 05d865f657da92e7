"""A runs folder that cannot be written never stops a run: it is said once, training goes on.

The tests run as root here, where permissions do not stop a write: a folder cannot be made
under a path whose parent is a regular file (NotADirectoryError), and a disk that fills up
mid-run is a log file whose writes fail with ENOSPC (the writer's file object replaced).
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, EpochEnd, Event, Phase, RunFinished, StorageProblem
from mnist_tui.headless import run_headless
from mnist_tui.runs.writer import RunWriter
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.summary import SummaryScreen

CONFIG = TrainConfig(train_size=1000, seed=0)
DEADLINE = 600.0  # seconds: only stops a hang from hanging the test run


class FullDisk:
    """A log file on a disk that fills up: `room` lines are written, then ENOSPC."""

    def __init__(self, real: Any, room: int) -> None:
        self.real = real
        self.room = room

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return int(self.real.write(text))

    def flush(self) -> None:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real.flush()

    def tell(self) -> int:
        return int(self.real.tell())

    def fileno(self) -> int:
        return int(self.real.fileno())

    def close(self) -> None:
        self.real.close()


def batch(step: int) -> BatchEnd:
    return BatchEnd(step=step, epoch=1, batch=step, loss=2.0, accuracy=0.5, batch_loss=2.0,
                    batch_accuracy=0.5, seen=64 * step, elapsed=0.1 * step)


def test_a_folder_that_cannot_be_made_is_said_once(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    said: list[Event] = []
    writer = RunWriter(blocker / "runs", "20250101-120000-abcdef", CONFIG, report=said.append)
    assert not writer.has_folder
    for step in range(1, 30):
        writer.write(batch(step))
    writer.write(RunFinished(summary={"status": "finished"}))
    writer.close()
    (problem,) = said
    assert isinstance(problem, StorageProblem)
    assert problem.path == str(blocker / "runs" / "20250101-120000-abcdef")
    assert problem.message == (
        f"cannot write the run folder {problem.path}: part of the path is a file, not a "
        "folder; training goes on without saving the run")
    assert blocker.read_text() == "not a folder\n"


def test_a_disk_that_fills_up_mid_run_is_said_once_and_the_log_keeps_what_fit(
        tmp_path: Path) -> None:
    said: list[Event] = []
    writer = RunWriter(tmp_path, "20250101-120000-abcdef", CONFIG, report=said.append)
    writer.write(Phase(phase="training", message="training"))
    writer._file = FullDisk(writer._file, room=3)  # type: ignore[assignment]
    for step in range(1, 40):
        writer.write(batch(step))
    writer.write(EpochEnd(epoch=1, step=39, loss=2.0, accuracy=0.5, val_loss=None,
                          val_accuracy=None, seconds=1.0))
    writer.write(RunFinished(summary={"status": "finished"}))
    writer.close()
    writer.close()
    (problem,) = said
    assert isinstance(problem, StorageProblem)
    log = tmp_path / "20250101-120000-abcdef" / "events.jsonl"
    assert problem.path == str(log)
    assert problem.message == (f"cannot write the run log {log}: the disk is full; training "
                               "goes on, but nothing more of this run is saved")
    assert not (log.parent / "summary.json").exists()
    lines = log.read_text().splitlines()
    assert json.loads(lines[0])["type"] == "phase"  # flushed before the disk filled up
    assert all(json.loads(line) for line in lines)  # what is there is whole lines


def test_the_idle_flush_fails_quietly_once(tmp_path: Path) -> None:
    """A paused run's side thread meets the full disk: said once, nothing raised anywhere."""
    said: list[Event] = []
    writer = RunWriter(tmp_path, "20250101-120000-abcdef", CONFIG, report=said.append)
    writer.write(batch(1))  # flushes: the first line after the open
    writer._file = FullDisk(writer._file, room=1)  # type: ignore[assignment]
    writer.write(batch(2))  # buffered: a batch within a second of the last flush
    deadline = time.monotonic() + 30
    while not said:
        assert time.monotonic() < deadline, "the idle flush never ran"
        time.sleep(0.1)
    writer.write(batch(3))
    writer.close()
    assert [type(event) for event in said] == [StorageProblem]
    assert "the disk is full" in said[0].message  # type: ignore[attr-defined]


def test_headless_trains_without_a_folder_and_says_so_once(mnist_path: Path,
                                                           tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "--headless", "--data", str(mnist_path),
         "--runs-dir", str(blocker / "runs"), "--train-size", "1000", "--seed", "0"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "cannot write" in line]
    assert len(said) == 1 and said[0].startswith(f"mnist-tui: cannot write the run folder "
                                                 f"{blocker / 'runs'}/")
    summary = json.loads(proc.stdout)
    assert summary["status"] == "finished" and summary["test_accuracy"] > 0.15
    assert "run_dir" not in summary or summary["run_dir"] is None
    assert summary["storage_error"] == said[0].removeprefix("mnist-tui: ")
    assert "run saved in" not in proc.stderr


def test_headless_goes_on_when_the_disk_fills_up_mid_run(
        mnist_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = RunWriter.__init__

    def on_a_small_disk(self: RunWriter, *args: Any, **kwargs: Any) -> None:
        opened(self, *args, **kwargs)
        self._file = FullDisk(self._file, room=8)  # type: ignore[assignment]

    monkeypatch.setattr(RunWriter, "__init__", on_a_small_disk)
    out, err = io.StringIO(), io.StringIO()
    code = run_headless(CONFIG, runs_dir=tmp_path, data_path=mnist_path, stdout=out,
                        stderr=err)
    assert code == 0, err.getvalue()
    said = [line for line in err.getvalue().splitlines() if "cannot write" in line]
    (run_dir,) = tmp_path.iterdir()
    assert said == [f"mnist-tui: cannot write the run log {run_dir / 'events.jsonl'}: the "
                    "disk is full; training goes on, but nothing more of this run is saved"]
    summary = json.loads(out.getvalue())
    assert summary["status"] == "finished" and summary["epochs_completed"] == 1
    assert summary["storage_error"] == said[0].removeprefix("mnist-tui: ")
    assert not (run_dir / "summary.json").exists()


async def test_the_app_trains_without_a_folder_and_notifies_once(
        mnist_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app = MnistApp(CONFIG, start=True, runs_dir=blocker / "runs", data_path=mnist_path)
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + DEADLINE
        while not isinstance(app.screen, SummaryScreen):
            assert time.monotonic() < deadline, f"no summary yet; showing {app.screen!r}"
            await pilot.pause(0.1)
        await pilot.pause()
        summary = app.screen.summary
        assert summary["status"] == "finished"
        said = [n for n in app._notifications if "cannot write" in n.message]
        assert len(said) == 1
        assert said[0].title == "Run not saved" and said[0].severity == "warning"
        assert said[0].message.startswith(f"cannot write the run folder {blocker / 'runs'}/")
        assert app.run_dir is None and not summary.get("run_dir")
