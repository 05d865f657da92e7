"""Runs out of process, started ahead: a process that gets a run ready, then trains it.

`WarmProcess.start` starts `python -m mnist_tui.runs.warm_child` (see there) in a session
of its own: it imports TensorFlow, loads MNIST and traces a model for the settings it is
told (`want`) while the front end waits for its user, at a lower CPU priority until it
trains. `run` makes the run folder (config, control file, `process.json`, as a detached
run's) and hands the process its config: it trains into that folder as every run does
(`execute_run`: events.jsonl, summary.json, the model, checkpoints, the control channel)
and sends each event back on a pipe (`ProcessRun.events`). Steering goes through the
folder (`channel.RemoteControl`). The run belongs to its folder: a front end that goes
away (closed terminal, killed process) leaves it training to its summary.

`start_run_process` is the one call for a run out of process, warm or not.

The protocol is JSON lines: to the process on its stdin, `{"want": CONFIG}` and then
`{"run": CONFIG, "run_dir": PATH}`; back on the events pipe, one event per line as in
`events.jsonl` (before the run, `{"prepared": CONFIG}` whenever a model is ready: see
`WarmProcess.prepared`), then end of file once the run has ended. End of file on its stdin before a
run tells the process to leave.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mnist_tui.core import environment
from mnist_tui.core.config import ConfigError, TrainConfig
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import Event
from mnist_tui.core.jsonio import write_json_atomic
from mnist_tui.runs.channel import create_control_file
from mnist_tui.runs.detach import OUTPUT_FILE
from mnist_tui.runs.writer import default_runs_dir, new_run_id, write_process_file

READ_SECONDS = 0.2  # how often a reader of the events looks whether it should stop
WARM_NICE = 5
"""How much lower than its starter's the process's CPU priority is until it trains (the
session's, see `warm_child.lower_priority`): its imports and tracing leave the front end the
CPU it wants, and still get done on a busy machine. `$MNIST_TUI_WARM_NICE` says otherwise."""


class WarmProcessGone(OSError):
    """The process is not there to take a run any more (it died, or was given one)."""


@dataclass
class ProcessRun:
    """A run that a process of its own trains: its id, folder, process id, and the pipe its
    events come back on (read them with `events`)."""

    run_id: str
    run_dir: Path
    pid: int
    _pipe: IO[bytes] | None = field(repr=False, default=None)
    _process: subprocess.Popen[bytes] | None = field(repr=False, default=None)
    _read: bytes = field(repr=False, default=b"")  # the start of a line read before the run

    def events(self, stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
        """The run's events as the process sends them, until it ends (the pipe's end of
        file: the run is over, or its process died) or `stop()` says so (checked a few
        times a second). A line that is not an event is skipped."""
        pipe = self._pipe
        if pipe is None:
            return
        pending, self._read = self._read, b""
        try:
            while not stop():
                if not select.select([pipe], [], [], READ_SECONDS)[0]:
                    continue
                chunk = os.read(pipe.fileno(), 1 << 16)
                if not chunk:
                    return
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    try:
                        event = event_from_json(line.decode("utf-8", "replace"))
                    except ValueError:
                        continue
                    yield event
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading the events (the run goes on; it stops sending them)."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to `timeout` s for the process to end; its exit code (None if it still
        runs, or it is not this process's child)."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self) -> str:
        """The end of what the process wrote to its `output.log` ("" if nothing)."""
        try:
            return (self.run_dir / OUTPUT_FILE).read_text("utf-8", errors="replace")[-2000:]
        except OSError:
            return ""


class WarmProcess:
    """A process started ahead of a run, getting it ready (see the module's docstring).

    Make one with `WarmProcess.start`; tell it the settings the run will likely have with
    `want`; start the run with `run` (once); `close` it when no run will come.
    """

    def __init__(self, process: subprocess.Popen[bytes], events: IO[bytes]) -> None:
        self.process = process
        self._events: IO[bytes] | None = events
        self._lock = threading.Lock()
        self._wanted: TrainConfig | None = None
        self._read = b""  # what came on the pipe before the run, not yet a whole line
        self._prepared: TrainConfig | None = None

    @property
    def prepared(self) -> TrainConfig | None:
        """The settings of the model it has ready, as it last said (None: none yet)."""
        with self._lock:
            events = self._events
            while events is not None and select.select([events], [], [], 0)[0]:
                chunk = os.read(events.fileno(), 1 << 16)
                if not chunk:
                    break
                *lines, self._read = (self._read + chunk).split(b"\n")
                for line in lines:
                    with contextlib.suppress(ValueError, TypeError, KeyError, MnistTuiError):
                        self._prepared = TrainConfig.from_dict(json.loads(line)["prepared"])
            return self._prepared

    @classmethod
    def start(cls, data_path: str | Path | None = None, *,
              python: str | None = None) -> WarmProcess:
        """Start the process; it loads MNIST from `data_path` (as a run would) meanwhile.
        Raises `MnistTuiError` for a bad `$MNIST_TUI_WARM_NICE`, OSError when it cannot."""
        nice = warm_nice()
        read, write = os.pipe()
        command = [python or sys.executable, "-m", "mnist_tui.runs.warm_child",
                   "--events-fd", str(write), "--nice", str(nice)]
        if data_path is not None:
            command += ["--data", str(data_path)]
        env = {environment.TF_CPP_MIN_LOG_LEVEL: "3", **os.environ}  # quiet unless asked
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True, pass_fds=(write,), env=env)
        except OSError:
            os.close(read)
            raise
        finally:
            os.close(write)
        return cls(process, os.fdopen(read, "rb", buffering=0))

    @property
    def alive(self) -> bool:
        """Whether the process still runs and can take a run."""
        return self._events is not None and self.process.poll() is None

    def want(self, config: TrainConfig) -> None:
        """The run will likely train `config`: have a model ready for it (no-op if gone)."""
        with self._lock:
            if config == self._wanted or self._events is None:
                return
            self._wanted = config
            with contextlib.suppress(OSError, ValueError):
                self._send({"want": config.to_dict()})

    def run(self, config: TrainConfig, *, runs_dir: Path | None = None,
            run_id: str | None = None) -> ProcessRun:
        """Train `config` in this process, in a new folder under `runs_dir`; return the run.

        The folder exists when this returns (a watcher can follow it at once). Raises
        `WarmProcessGone` when the process cannot take it (nothing is left behind then),
        ConfigError for settings that are not valid, OSError when the folder cannot be made.
        """
        errors = config.validate()
        if errors:
            raise ConfigError(errors)
        with self._lock:
            events, self._events = self._events, None
        if events is None or self.process.poll() is not None:
            if events is not None:
                events.close()
            raise WarmProcessGone("the run process has ended")
        root = Path(runs_dir or default_runs_dir()).expanduser().resolve()
        run_id = run_id or new_run_id()
        run_dir = root / run_id
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
        except OSError:
            events.close()
            self.close()
            raise
        try:
            write_json_atomic(run_dir / "config.json", config.to_dict())
            create_control_file(run_dir)
            write_process_file(run_dir, self.process.pid)
            self._send({"run": config.to_dict(), "run_dir": str(run_dir)})
        except (OSError, ValueError) as exc:
            events.close()
            self.close()
            shutil.rmtree(run_dir, ignore_errors=True)  # a folder no process will fill
            if isinstance(exc, (BrokenPipeError, ValueError)):  # ValueError: stdin closed
                raise WarmProcessGone("the run process has ended") from exc
            raise
        stdin = self.process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()  # it needs nothing more; no end of file can stop its run now
        _reap(self.process)
        return ProcessRun(run_id, run_dir, self.process.pid, events, self.process,
                          _read=self._read)

    def close(self) -> None:
        """No run will come: the process leaves (at once; it has nothing to save)."""
        with self._lock:
            events, self._events = self._events, None
        if events is not None:
            events.close()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        _reap(self.process)

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        if stdin is None:
            raise WarmProcessGone("the run process takes no commands")
        stdin.write((json.dumps(message, allow_nan=False) + "\n").encode("utf-8"))
        stdin.flush()


def warm_nice(environ: Mapping[str, str] | None = None) -> int:
    """How much the run process lowers its priority until it trains: `$MNIST_TUI_WARM_NICE`,
    else `WARM_NICE`. Raises `MnistTuiError` for anything but a whole number from 0 to 19."""
    raw = environment.warm_nice_text(environ)
    if not raw:
        return WARM_NICE
    if not raw.isdigit() or int(raw) > 19:
        raise MnistTuiError(f"{environment.WARM_NICE} must be a whole number from 0 (the "
                            f"app's priority) to 19 (the lowest), got {raw!r}")
    return int(raw)


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for the process in a side thread, so that none is left a zombie that looks alive
    to a watcher of its run."""
    threading.Thread(target=process.wait, name=f"mnist-tui-reap-{process.pid}",
                     daemon=True).start()


def start_run_process(config: TrainConfig, *, runs_dir: Path | None = None,
                      data_path: str | Path | None = None,
                      warm: WarmProcess | None = None) -> ProcessRun:
    """Train `config` in a process of its own (in its own session: it outlives its caller)
    and return the run, its events to read. `warm` is a process started ahead for it
    (`WarmProcess.start`, told the config with `want`); without one, or when it has gone, a
    new one is started (TensorFlow and MNIST then load after this call)."""
    if warm is not None:
        try:
            return warm.run(config, runs_dir=runs_dir)
        except WarmProcessGone:
            pass
    fresh = WarmProcess.start(data_path)
    return fresh.run(config, runs_dir=runs_dir)
