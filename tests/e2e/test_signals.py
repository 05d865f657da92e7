"""Signals a run meets: a terminal that goes away (SIGHUP) never ends it; SIGTERM stops it cleanly.

The app runs in a real pseudo-terminal, as its controlling terminal in a session of its own, so
closing the terminal's master side hangs it up exactly as a dropped SSH connection or a killed
tmux session does: the kernel sends the SIGHUP. Every run trains on a small slice of the real
MNIST. Waits poll the run folder; no assertion depends on how fast anything happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import EXIT_FAILED, EXIT_OK, EXIT_TERMINATED
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import (
    TERMINAL_TYPES,
    BatchEnd,
    Evaluated,
    RunFailed,
    RunFinished,
    RunStopped,
)
from mnist_tui.runs.channel import read_state, send_command
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import follow_run, read_events
from mnist_tui.runs.signals import (
    StopSignals,
    TerminalWriter,
    live_run,
    silence_terminal,
    survive_hang_up,
)
from mnist_tui.runs.writer import RunWriter
from tests.helpers.cluster import finish, free_ports, start_headless, tf_config_spec
from tests.helpers.live_processes import WAIT_SECONDS, Terminal, wait_until
from tests.helpers.recorded_runs import record_run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the processes: every user directory inside tmp_path."""
    home = tmp_path / "home"
    return {**os.environ, "TERM": "xterm-256color", "TF_CPP_MIN_LOG_LEVEL": "3",
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state"),
            "XDG_CACHE_HOME": str(home / "cache")}


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Terminals to close (and processes to kill) however the test ends."""
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def training_flags(mnist_path: Path, runs_dir: Path) -> list[str]:
    """Two epochs of 6,000 images (160 batches): a few seconds of training."""
    return ["--epochs", "2", "--train-size", "6000", "--seed", "0", "--data", str(mnist_path),
            "--runs-dir", str(runs_dir)]


def the_run(runs_dir: Path) -> Path:
    """The one run folder under `runs_dir`, once it is there."""
    wait_until(lambda: runs_dir.is_dir() and any(runs_dir.iterdir()), "the run has a folder")
    (run_dir,) = runs_dir.iterdir()
    return run_dir


def pause_mid_run(run_dir: Path) -> None:
    """Pause the run through its control channel once it has trained; wait until it obeys.

    A paused run is surely mid-run when the test then hangs up or signals.
    """
    wait_until(lambda: any(isinstance(e, BatchEnd) for e in read_events(run_dir)),
               "the run logged a batch")
    send_command(run_dir, "pause", "paused by the test")
    wait_until(lambda: read_state(run_dir).get("paused"), "the run is paused")


def last_line(run_dir: Path) -> object:
    """The last line of the run's log, as an event (the log must end in a whole line)."""
    text = (run_dir / "events.jsonl").read_text()
    assert text.endswith("\n"), "the log ends in a whole line"
    return event_from_json(text.splitlines()[-1])


def assert_stopped_by_sigterm(run_dir: Path) -> None:
    """The run stopped cleanly on SIGTERM: evaluated, saved, and logged as such."""
    events = read_events(run_dir)
    final = events[-1]
    assert isinstance(final, RunStopped), final
    assert final.reason == "terminated by SIGTERM"
    kinds = [type(e) for e in events]
    assert Evaluated in kinds and kinds.index(Evaluated) < len(kinds) - 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["reason"] == "terminated by SIGTERM"
    assert summary["test_accuracy"] is not None
    assert (run_dir / "model.keras").is_file()


def test_silencing_points_the_terminal_and_only_it_at_dev_null(tmp_path: Path) -> None:
    master, slave = os.openpty()
    copy = os.dup(slave)
    other = os.open(tmp_path / "a-file", os.O_WRONLY | os.O_CREAT)
    null = os.stat(os.devnull).st_rdev
    try:
        silenced = silence_terminal({os.fstat(slave).st_rdev})
        assert {slave, copy} <= set(silenced) and other not in silenced
        assert os.fstat(slave).st_rdev == os.fstat(copy).st_rdev == null
        os.write(copy, b"gone\n")  # no terminal any more: the write vanishes
        assert os.fstat(other).st_ino == os.stat(tmp_path / "a-file").st_ino
    finally:
        for fd in (master, slave, copy, other):
            os.close(fd)


def test_the_ui_stream_survives_its_terminal_hanging_up() -> None:
    """Before the descriptors are silenced, a write to a hung-up terminal fails with EIO: the
    UI's stream drops it, so Textual's output thread cannot die of it."""
    master, slave = os.openpty()
    plain = os.fdopen(os.dup(slave), "w")
    writer = TerminalWriter.on(os.dup(slave), "utf-8")
    os.close(master)
    with pytest.raises(OSError, match="Input/output error"):
        plain.write("x\n")
        plain.flush()
    assert writer.write("drawn on nothing\n") == 17
    writer.flush()
    writer.close()
    assert writer.closed
    os.close(slave)
    with contextlib.suppress(OSError):
        plain.close()


def test_sighup_handling_leaves_an_ignored_sighup_alone_and_restores_the_old_one() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with survive_hang_up():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, "nohup stays in force"
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with survive_hang_up():
            assert callable(signal.getsignal(signal.SIGHUP))
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_the_sigcont_that_follows_a_hang_up_does_not_restart_the_ui() -> None:
    """The kernel sends a session leader SIGCONT right after SIGHUP: Textual's handler for it
    (the end of a Ctrl+Z) would start a second UI on /dev/null, so it no longer runs. Before
    the hang-up it does. In a process of its own: a hang-up redirects the terminal's fds."""
    code = textwrap.dedent("""
        import os, signal
        from mnist_tui.runs.signals import survive_hang_up
        seen = []
        signal.signal(signal.SIGCONT, lambda *_: seen.append("sigcont"))
        both = {signal.SIGHUP, signal.SIGCONT}
        with survive_hang_up(lambda: seen.append("hang-up")):
            os.kill(os.getpid(), signal.SIGCONT)  # a Ctrl+Z ended: still Textual's
            signal.pthread_sigmask(signal.SIG_BLOCK, both)
            os.kill(os.getpid(), signal.SIGHUP)  # as the kernel sends them, back to back
            os.kill(os.getpid(), signal.SIGCONT)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
            os.kill(os.getpid(), signal.SIGCONT)
        print(",".join(seen))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=WAIT_SECONDS,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "sigcont,hang-up"


def test_a_second_signal_closes_every_live_log(tmp_path: Path) -> None:
    """One handler for SIGINT and SIGTERM: the first asks for a stop, the second ends the log
    of each run this process writes with a `run_failed` before leaving."""
    stops: list[int] = []
    quits: list[tuple[int, list[Path]]] = []
    config = TrainConfig(train_size=1000)
    writer = RunWriter(tmp_path, "run", config)
    handler = StopSignals(stops.append, lambda code, folders: quits.append((code, folders)))
    with live_run(writer, config):
        handler.handle(signal.SIGTERM)
        assert stops == [signal.SIGTERM] and not quits and handler.exit_code(0) == 143
        handler.handle(signal.SIGINT)
    assert quits == [(EXIT_TERMINATED, [writer.run_dir])]
    final = last_line(writer.run_dir)
    assert isinstance(final, RunFailed) and final.error == "quit at once by a second Ctrl+C"
    assert writer.closed
    with live_run(writer, config):
        pass
    assert StopSignals(stops.append).exit_code(1) == 1, "no SIGTERM came: the code stands"


@pytest.mark.slow
def test_a_hang_up_takes_the_app_but_not_its_run(mnist_path: Path, tmp_path: Path,
                                                 env: dict[str, str],
                                                 terminals: list[Terminal]) -> None:
    """The terminal of the app goes away mid-run: the UI leaves, the run trains on in the
    same process, can be watched, paused and resumed, and ends with its model and summary."""
    runs_dir = tmp_path / "runs"
    app = Terminal(["-m", "mnist_tui", "--start", *training_flags(mnist_path, runs_dir)], env)
    terminals.append(app)
    run_dir = the_run(runs_dir)
    pause_mid_run(run_dir)
    app.hang_up()
    assert app.proc.poll() is None, "the process goes on"
    (info,) = list_runs(runs_dir)
    assert info.status == "running"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "watch", "--headless", "--runs-dir", str(runs_dir),
         run_dir.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    send_command(run_dir, "resume")
    wait_until(lambda: read_state(run_dir).get("paused") is False, "the run obeys the resume")
    events: list = []
    end = follow_run(run_dir, events.append, poll=0.05)
    assert end.outcome == "ended" and isinstance(events[-1], RunFinished)
    assert [e.step for e in events if isinstance(e, BatchEnd)] == list(range(1, 161))
    assert app.proc.wait(WAIT_SECONDS) == EXIT_OK
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_completed"] == 2
    assert (run_dir / "model.keras").is_file()
    assert list_runs(runs_dir)[0].status == "finished"
    out, err = watcher.communicate(timeout=WAIT_SECONDS)
    assert watcher.returncode == EXIT_OK, err
    assert json.loads(out)["status"] == "finished"
    assert "epoch 2/2" in err, "the watcher followed it live to its end"


def test_a_terminal_gone_without_a_sighup_still_ends_the_app(tmp_path: Path,
                                                             env: dict[str, str],
                                                             terminals: list[Terminal]) -> None:
    """A terminal that is not the app's controlling one (`setsid`, a container's exec) sends
    no SIGHUP when it goes: the app finds it hung up and leaves as after one, instead of
    reading end of file forever on a core of its own."""
    run_dir = record_run(tmp_path / "runs", "20250101-000000-aaaa",
                         TrainConfig(epochs=1, train_size=1000))
    app = Terminal(["-m", "mnist_tui", "watch", str(run_dir)], env, controlling=False)
    terminals.append(app)
    wait_until(lambda: b"Confusion matrix" in re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"",
                                                     bytes(app.output)),
               "the watched run's summary is drawn")
    app.hang_up()
    assert app.proc.wait(WAIT_SECONDS) == EXIT_OK, "the app left (a finished run's watch)"


@pytest.mark.slow
def test_a_hang_up_leaves_a_headless_run_training(mnist_path: Path, tmp_path: Path,
                                                  env: dict[str, str],
                                                  terminals: list[Terminal]) -> None:
    """`mnist-tui --headless` on a terminal, without nohup: its progress bar goes with the
    terminal (writes there would fail with EIO), the run goes on to its end."""
    runs_dir = tmp_path / "runs"
    run = Terminal(["-m", "mnist_tui", "--headless", *training_flags(mnist_path, runs_dir)],
                   env)
    terminals.append(run)
    run_dir = the_run(runs_dir)
    pause_mid_run(run_dir)
    wait_until(lambda: b"epoch 1/2" in run.output, "the progress bar is on the terminal")
    run.hang_up()
    send_command(run_dir, "resume")
    assert run.wait() == EXIT_OK
    final = last_line(run_dir)
    assert isinstance(final, RunFinished) and final.summary["status"] == "finished"
    assert json.loads((run_dir / "summary.json").read_text())["epochs_completed"] == 2
    assert (run_dir / "model.keras").is_file()


def signal_headless(mnist_path: Path, runs_dir: Path, env: dict[str, str],
                    send: Callable[[subprocess.Popen[str]], object],
                    ) -> tuple[int, Path, str, str]:
    """Run `mnist-tui --headless` (no terminal), paused mid-run, then `send(process)` signals.

    Returns its exit code, its run folder, its stdout and its stderr.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "--headless", *training_flags(mnist_path, runs_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        run_dir = the_run(runs_dir)
        pause_mid_run(run_dir)
        send(proc)
        out, err = proc.communicate(timeout=WAIT_SECONDS)
    finally:
        proc.kill()
    return proc.returncode, run_dir, out, err


@pytest.mark.slow
def test_sigterm_stops_a_headless_run_cleanly(mnist_path: Path, tmp_path: Path,
                                              env: dict[str, str]) -> None:
    code, run_dir, out, err = signal_headless(
        mnist_path, tmp_path / "runs", env, lambda proc: proc.send_signal(signal.SIGTERM))
    assert code == EXIT_TERMINATED == 143, err
    assert "send SIGTERM again to quit at once" in err
    summary = json.loads(out)
    assert summary["status"] == "stopped" and summary["stopped_early"] is True
    assert_stopped_by_sigterm(run_dir)


@pytest.mark.slow
def test_sigterm_to_the_app_is_a_quit_confirmed(mnist_path: Path, tmp_path: Path,
                                                env: dict[str, str],
                                                terminals: list[Terminal]) -> None:
    runs_dir = tmp_path / "runs"
    app = Terminal(["-m", "mnist_tui", "--start", *training_flags(mnist_path, runs_dir)], env)
    terminals.append(app)
    run_dir = the_run(runs_dir)
    pause_mid_run(run_dir)
    app.proc.send_signal(signal.SIGTERM)
    assert app.wait() == EXIT_TERMINATED
    assert_stopped_by_sigterm(run_dir)
    shown = bytes(app.output)
    assert shown.rfind(b"\x1b[?1049l") > shown.rfind(b"\x1b[?1049h") >= 0, \
        "the app left the alternate screen: the terminal is given back"
    assert f"mnist-tui run {run_dir.name}: stopped (terminated by SIGTERM)".encode() in shown


@pytest.mark.slow
def test_a_second_signal_quits_at_once_with_a_closed_log(mnist_path: Path, tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    """Ctrl+C, then SIGTERM before the run could end: both arrive while the process is
    stopped, so the second surely comes mid-stop. The log ends in a whole `run_failed`."""

    def interrupt_then_terminate(proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGSTOP)
        wait_until(lambda: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1]
                   .split()[0] == "T", "the process is stopped")
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCONT):
            proc.send_signal(signum)

    code, run_dir, out, err = signal_headless(mnist_path, tmp_path / "runs", env,
                                              interrupt_then_terminate)
    assert code == EXIT_TERMINATED, err
    assert out == "" and f"quit; the log up to now is in {run_dir}" in err
    final = last_line(run_dir)
    assert isinstance(final, RunFailed) and final.error == "quit at once by a second SIGTERM"
    assert isinstance(final, TERMINAL_TYPES)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"


@pytest.mark.slow
@pytest.mark.xdist_group("clusters")  # with test_strategy.py's, one at a time
def test_sigterm_on_one_worker_stops_the_whole_cluster(mnist_path: Path, tmp_path: Path) -> None:
    """Once the cluster is up, TensorFlow sets a SIGTERM handler of its own over ours (a
    preemption notifier that only takes note, so the run went on to its end); the worker takes
    the signal back, and a SIGTERM stops every worker cleanly."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [start_headless(mnist_path, tmp_path / f"w{i}",
                              {"TF_CONFIG": tf_config_spec("worker", i, **cluster)},
                              "--strategy", "multi-worker", "--train-size", "30000", "--seed",
                              "0")
               for i in range(2)]
    try:
        wait_until(lambda: any('"batch_end"' in p.read_text()
                               for p in tmp_path.glob("w0/*/events.jsonl")),
                   "the cluster trains")
        workers[1].send_signal(signal.SIGTERM)
        (code0, chief, err0), (code1, other, err1) = [finish(w) for w in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert (code0, code1) == (EXIT_FAILED, EXIT_TERMINATED), err0 + err1
    assert other["status"] == chief["status"] == "stopped"
    assert other["reason"] == "terminated by SIGTERM"
    assert chief["reason"] == "stopped by another worker"
    assert chief["batches"] == other["batches"] < 399
    assert chief["test_accuracy"] is not None and other["test_accuracy"] is not None
