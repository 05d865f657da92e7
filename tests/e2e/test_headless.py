"""End-to-end runs of `mnist-tui --headless` in a subprocess, on a slice of the real MNIST."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_tui.core.events import BatchEnd, EpochEnd, Evaluated, RunFailed, RunStarted, RunStopped
from mnist_tui.core.formatting import format_duration
from mnist_tui.headless import HeadlessConsole
from mnist_tui.runs.reading import read_events

pytestmark = pytest.mark.slow


def _command(mnist_path: Path, runs_dir: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "mnist_tui", "--headless", "--data", str(mnist_path),
            "--runs-dir", str(runs_dir), *flags]


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.1)


def _only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1
    return runs[0]


def test_headless_run_on_a_real_slice(mnist_path, tmp_path):
    result = subprocess.run(
        _command(mnist_path, tmp_path, "--train-size", "3000", "--seed", "0"),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("run_id", "run_dir", "status", "params", "epochs_completed", "val_accuracy",
                "test_accuracy", "test_loss", "seconds", "samples_per_second"):
        assert key in summary
    assert summary["status"] == "finished" and summary["params"] == 33_194
    assert summary["epochs_completed"] == 1
    assert 0.7 < summary["test_accuracy"] <= 1.0, "3,000 images already teach most digits"
    assert summary["samples_per_second"] > 0
    assert "\r" not in result.stderr and "\b" not in result.stderr
    assert "test: loss" in result.stderr and "finished: validation accuracy" in result.stderr
    assert "I0000" not in result.stderr, "TensorFlow's C++ log lines are silenced"

    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == tmp_path
    assert {"config.json", "events.jsonl", "summary.json", "model.keras"} <= {
        p.name for p in run_dir.iterdir()}
    events = read_events(run_dir)
    started = next(e for e in events if isinstance(e, RunStarted))
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert started.total_batches == 40  # ceil(2550 / 64)
    assert [b.step for b in batches] == list(range(1, 41)), "exactly one batch_end per batch"
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 1
    assert json.loads((run_dir / "summary.json").read_text())["test_accuracy"] == pytest.approx(
        summary["test_accuracy"])


def test_bad_input_exits_2_without_a_run(mnist_path, tmp_path):
    result = subprocess.run(_command(mnist_path, tmp_path, "--validation-split", "1",
                                     "--epochs", "0"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--validation-split: validation split must be between 0 and 1" in result.stderr
    assert "--epochs: epochs must be between 1 and 1000, got 0" in result.stderr
    assert result.stdout == "" and not list(tmp_path.iterdir())


def test_missing_data_exits_2_with_the_places_tried(tmp_path):
    missing = tmp_path / "nowhere.npz"
    result = subprocess.run(_command(missing, tmp_path / "runs"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert str(missing) in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_stops_gracefully_and_the_log_is_complete(mnist_path, tmp_path):
    proc = subprocess.Popen(_command(mnist_path, tmp_path, "--train-size", "20000",
                                     "--epochs", "3", "--seed", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(p.is_dir() for p in tmp_path.iterdir())
                  and any(isinstance(e, BatchEnd) for e in read_events(_only_run(tmp_path))))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1
    summary = json.loads(out)
    assert summary["status"] == "stopped" and summary["stopped_early"] is True
    assert summary["test_accuracy"] is not None, "the test evaluation still runs"
    assert "press Ctrl+C again" in err
    events = read_events(_only_run(tmp_path))
    assert isinstance(events[-1], RunStopped)
    assert any(isinstance(e, Evaluated) for e in events)
    assert len([e for e in events if isinstance(e, BatchEnd)]) < 3 * 266


def test_a_killed_run_leaves_a_readable_log(mnist_path, tmp_path):
    proc = subprocess.Popen(_command(mnist_path, tmp_path, "--train-size", "6000",
                                     "--epochs", "20", "--seed", "1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: any(p.is_dir() for p in tmp_path.iterdir())
                  and any(isinstance(e, EpochEnd) for e in read_events(_only_run(tmp_path))))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    run_dir = _only_run(tmp_path)
    events = read_events(run_dir)
    epoch = next(e for e in events if isinstance(e, EpochEnd))
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert [b.step for b in batches[: epoch.step]] == list(range(1, epoch.step + 1))
    assert not (run_dir / "summary.json").exists()


def test_second_ctrl_c_quits_at_once_with_a_closed_log(mnist_path, tmp_path):
    proc = subprocess.Popen(_command(mnist_path, tmp_path, "--train-size", "20000",
                                     "--epochs", "5"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(p.is_dir() for p in tmp_path.iterdir())
                  and any(isinstance(e, BatchEnd) for e in read_events(_only_run(tmp_path))))
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "quit; the log up to now is in" in err and out == ""
    events = read_events(_only_run(tmp_path))
    assert isinstance(events[-1], RunFailed) and "second Ctrl+C" in events[-1].error
    assert (_only_run(tmp_path) / "summary.json").exists()


def test_plain_console_lines_are_rate_limited(tmp_path):
    import io

    stream = io.StringIO()
    console = HeadlessConsole(stream, interactive=False, interval=3600)
    console(RunStarted(run_id="r", config={"model": "cnn"}, total_batches=100,
                       batches_per_epoch=100, epochs=1, train_samples=6400, val_samples=100,
                       test_samples=10, params=1))
    for step in range(1, 101):
        console(BatchEnd(step=step, epoch=1, batch=step, loss=0.5, accuracy=0.9,
                         batch_loss=0.5, batch_accuracy=0.9, seen=64 * step, elapsed=step / 10))
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("epoch 1/1 batch")]
    assert [line.split()[3] for line in lines] == ["100/100"]
    console(RunStarted(run_id="s", config={"model": "cnn"}, total_batches=1,
                       batches_per_epoch=1, epochs=1, train_samples=64, val_samples=10,
                       test_samples=10, params=1, precision="bfloat16"))
    assert "run s: cnn model, 1 parameters in bfloat16, 64 training" in stream.getvalue()
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"


def test_multi_worker_without_tf_config_is_bad_input(mnist_path, tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run(_command(mnist_path, tmp_path, "--strategy", "multi-worker"),
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "needs $TF_CONFIG" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir()), "no run folder for a run that cannot start"
