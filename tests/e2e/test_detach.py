"""Detached runs: they outlive their launcher and a hang-up, and obey the control channel.

The end-to-end tests start real background processes that train on a small slice of the real
MNIST. Waits poll the run folder; no assertion depends on how fast anything happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import BatchEnd, Evaluated, RunFinished, RunStopped
from mnist_tui.runs.channel import (
    CONTROL_FILE,
    ControlChannel,
    ControlError,
    RemoteControl,
    create_control_file,
    read_state,
    send_command,
)
from mnist_tui.runs.detach import OUTPUT_FILE, start_detached
from mnist_tui.runs.reading import follow_run, process_alive, read_events
from tests.helpers.live_processes import WAIT_SECONDS, wait_until


def batches(run_dir: Path) -> list[BatchEnd]:
    return [e for e in read_events(run_dir) if isinstance(e, BatchEnd)]


def follow_to_the_end(run_dir: Path) -> list:
    events: list = []
    end = follow_run(run_dir, events.append, poll=0.05)
    assert end.outcome == "ended", (end.outcome, (run_dir / OUTPUT_FILE).read_text())
    return events


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Pids to kill if a test leaves them running (a failed assertion mid-run)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_control_file_is_private_and_commands_reach_the_run(tmp_path: Path) -> None:
    path = create_control_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    control = RunControl()
    channel = ControlChannel(tmp_path, control, poll=3600)  # read by hand below
    channel.start()
    watcher = RemoteControl(tmp_path, cache_seconds=0)
    assert read_state(tmp_path)["paused"] is False
    watcher.pause()
    assert watcher.paused, "the watcher shows its request at once"
    assert channel.read_commands() == 1
    assert control.paused and read_state(tmp_path)["paused"] is True
    other = RemoteControl(tmp_path, cache_seconds=0)
    assert other.paused, "every watcher sees what the run obeys"
    other.resume()
    send_command(tmp_path, "stop", "enough")
    path.write_bytes(path.read_bytes() + b"garbage\n{\"command\": \"dance\"}\n")
    assert channel.read_commands() == 2
    assert not control.paused and control.stop_requested and control.reason == "enough"
    assert watcher.stop_requested and watcher.reason == "enough" and not watcher.paused
    channel.close()


def test_a_command_written_in_two_pieces_waits_for_its_newline(tmp_path: Path) -> None:
    path = create_control_file(tmp_path)
    control = RunControl()
    channel = ControlChannel(tmp_path, control, poll=3600)
    line = json.dumps({"command": "pause"}).encode() + b"\n"
    path.write_bytes(line[:7])
    assert channel.read_commands() == 0
    with open(path, "ab") as fh:
        fh.write(line[7:])
    assert channel.read_commands() == 1 and control.paused


def test_a_control_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = create_control_file(tmp_path)
    path.chmod(0o622)
    with pytest.raises(ControlError, match="not yours alone"):
        send_command(tmp_path, "stop")
    path.write_text(json.dumps({"command": "stop"}) + "\n")
    control = RunControl()
    assert ControlChannel(tmp_path, control, poll=3600).read_commands() == 0
    assert not control.stop_requested


def test_a_run_without_a_channel_cannot_be_steered(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no control channel"):
        send_command(tmp_path, "pause")
    with pytest.raises(ValueError, match="unknown command"):
        send_command(tmp_path, "explode")


@pytest.mark.slow
def test_a_detached_run_outlives_its_launcher(mnist_path: Path, tmp_path: Path,
                                              cleanup: list[int]) -> None:
    runs_dir = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "--headless", "--detach", "--data", str(mnist_path),
         "--runs-dir", str(runs_dir), "--train-size", "1000", "--seed", "0"],
        capture_output=True, text=True, timeout=WAIT_SECONDS)
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)
    cleanup.append(started["pid"])
    run_dir = Path(started["run_dir"])
    assert run_dir.parent == runs_dir and run_dir.name == started["run_id"]
    assert f"mnist-tui watch {started['run_id']}" in result.stderr
    assert stat.S_IMODE((run_dir / CONTROL_FILE).stat().st_mode) == 0o600
    # The launcher is gone; the run is a process of its own, in a session of its own.
    with contextlib.suppress(ProcessLookupError):  # unless it has already finished
        assert os.getsid(started["pid"]) == started["pid"]
    events = follow_to_the_end(run_dir)
    assert isinstance(events[-1], RunFinished)
    assert events[-1].summary["status"] == "finished"
    assert [b.step for b in events if isinstance(b, BatchEnd)] == list(range(1, 15))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.3
    # The log line comes from the console, after the event reached events.jsonl.
    wait_until(lambda: "finished: validation accuracy" in (run_dir / OUTPUT_FILE).read_text(),
               "the run's output log has its final line")


@pytest.mark.slow
def test_a_detached_run_survives_a_hang_up(mnist_path: Path, tmp_path: Path,
                                           cleanup: list[int]) -> None:
    """The launcher stays alive in its own session, as a shell in a terminal would; a hang-up
    of that session (and one sent to the run itself) leaves the run training. It is paused
    until then, so the hang-up surely comes mid-run."""
    runs_dir = tmp_path / "runs"
    code = textwrap.dedent(f"""
        import signal, sys, time
        from pathlib import Path
        signal.signal(signal.SIGHUP, signal.SIG_DFL)  # a shell's child, even under nohup
        from mnist_tui.core.config import TrainConfig
        from mnist_tui.runs.channel import send_command
        from mnist_tui.runs.detach import start_detached
        run = start_detached(TrainConfig(train_size=1000, seed=0), runs_dir=Path({str(runs_dir)!r}),
                             data_path={str(mnist_path)!r})
        send_command(run.run_dir, "pause")
        print(run.pid, run.run_dir, flush=True)
        time.sleep(600)
    """)
    launcher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                text=True, start_new_session=True)
    cleanup.append(launcher.pid)
    pid_text, run_text = launcher.stdout.readline().split(maxsplit=1)
    pid, run_dir = int(pid_text), Path(run_text.strip())
    cleanup.append(pid)
    wait_until(lambda: batches(run_dir) and read_state(run_dir).get("paused"),
               "the run trained a batch and paused")
    os.killpg(launcher.pid, signal.SIGHUP)  # the terminal hangs up
    assert launcher.wait(WAIT_SECONDS) == -signal.SIGHUP
    os.kill(pid, signal.SIGHUP)
    assert process_alive(run_dir) is True, "the run ignores SIGHUP"
    send_command(run_dir, "resume")
    events = follow_to_the_end(run_dir)
    assert isinstance(events[-1], RunFinished)
    assert len([e for e in events if isinstance(e, BatchEnd)]) == 14


@pytest.mark.slow
def test_stop_and_pause_through_the_control_channel(mnist_path: Path, tmp_path: Path,
                                                    cleanup: list[int]) -> None:
    """Paused before it starts, the run trains one batch and waits; a stop then ends it
    early, and the test set is still evaluated."""
    config = TrainConfig(train_size=6000, epochs=3, seed=0)  # 240 batches
    run = start_detached(config, runs_dir=tmp_path / "runs", data_path=mnist_path)
    cleanup.append(run.pid)
    watcher = RemoteControl(run.run_dir)
    watcher.pause()
    wait_until(lambda: batches(run.run_dir) and read_state(run.run_dir).get("paused"),
               "the run trained a batch and paused")
    assert watcher.paused
    watcher.stop("stopped from the test")
    events = follow_to_the_end(run.run_dir)
    final = events[-1]
    assert isinstance(final, RunStopped) and final.reason == "stopped from the test"
    assert final.summary["stopped_early"] is True
    assert any(isinstance(e, Evaluated) for e in events), "the test set is still evaluated"
    assert len([e for e in events if isinstance(e, BatchEnd)]) < config.total_batches
    assert watcher.stop_requested and not watcher.paused


@pytest.mark.slow
def test_sigterm_stops_a_detached_run_cleanly(mnist_path: Path, tmp_path: Path,
                                              cleanup: list[int]) -> None:
    """A scheduler's SIGTERM to the background process: the batch ends, the test set is
    evaluated, the model saved, and the log says why it stopped."""
    config = TrainConfig(train_size=6000, epochs=3, seed=0)
    run = start_detached(config, runs_dir=tmp_path / "runs", data_path=mnist_path)
    cleanup.append(run.pid)
    RemoteControl(run.run_dir).pause()
    wait_until(lambda: batches(run.run_dir) and read_state(run.run_dir).get("paused"),
               "the run trained a batch and paused")
    os.kill(run.pid, signal.SIGTERM)
    events = follow_to_the_end(run.run_dir)
    final = events[-1]
    assert isinstance(final, RunStopped) and final.reason == "terminated by SIGTERM"
    assert any(isinstance(e, Evaluated) for e in events)
    assert (run.run_dir / "model.keras").is_file()
    wait_until(lambda: "terminated by SIGTERM" in (run.run_dir / OUTPUT_FILE).read_text(),
               "the run's output log has its final line")
