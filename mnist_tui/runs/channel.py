"""The control channel of a run: how watchers in other processes pause and stop it.

The channel is the file `control` in the run folder, created with mode 0600 so that only its
owner may write it. Watchers append one JSON command per line (`send_command`); the run reads
new lines from a side thread a few times a second (`ControlChannel`), never in the training
thread, turns them into `RunControl` calls, and publishes what it obeys in
`control-state.json`, which every watcher reads (`RemoteControl`). Every run that
`runs.execute_run` trains has one, as do detached runs and `MonitorCallback` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnist_tui.core.config import check_learning_rate
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.jsonio import dumps_strict, read_json_dict, write_json_atomic

CONTROL_FILE = "control"
STATE_FILE = "control-state.json"
COMMANDS = ("pause", "resume", "stop", "learning_rate")
POLL_SECONDS = 0.2  # how often the run reads its control file
STATE_CACHE_SECONDS = 0.2  # how long a watcher trusts what it last read of the state


class ControlError(MnistTuiError, RuntimeError):
    """A command could not be sent: the run has no control channel, or it is not ours."""


def create_control_file(run_dir: Path) -> Path:
    """Make the run's control file, readable and writable by its owner only (mode 0600)."""
    path = Path(run_dir) / CONTROL_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    return path


def _safe_to_trust(fd: int) -> bool:
    """The file is a regular file of ours that nobody else may write."""
    info = os.fstat(fd)
    return (stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def has_control_channel(run_dir: Path) -> bool:
    """Whether the run takes commands through its folder (detached and callback runs do)."""
    return (Path(run_dir) / CONTROL_FILE).is_file()


def send_command(run_dir: Path, command: str, reason: str = "",
                 value: float | None = None) -> None:
    """Ask the run in `run_dir` to pause, resume or stop (stop: after the current batch), or
    to train at learning rate `value` from its next batch (`learning_rate`).

    Appends one line to its control file; raises ControlError when there is none to write
    or it is not safe (not ours, or writable by others).
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; use one of {', '.join(COMMANDS)}")
    message: dict[str, Any] = {"command": command, "reason": reason, "time": time.time()}
    if command == "learning_rate":
        problem = check_learning_rate(value)
        if problem:
            raise ValueError(problem)
        message["value"] = value
    line = dumps_strict(message) + "\n"
    try:
        fd = os.open(Path(run_dir) / CONTROL_FILE, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    except OSError as exc:
        raise ControlError(f"cannot steer this run (no control channel): {exc}") from None
    try:
        if not _safe_to_trust(fd):
            raise ControlError("the run's control file is not yours alone; not writing to it")
        os.write(fd, line.encode("utf-8"))  # one short O_APPEND write: never interleaved
    finally:
        os.close(fd)


def read_state(run_dir: Path) -> dict[str, Any]:
    """What the run last said it obeys: paused, stop_requested, reason, time ({} if unknown)."""
    return read_json_dict(Path(run_dir) / STATE_FILE) or {}


class ControlChannel:
    """The run's side of the channel: a thread that reads commands into a `RunControl`.

    `start()` begins polling the control file (made if missing); `close()` ends it. Lines
    already in the file when the run starts count too (a pause sent before training began).
    """

    def __init__(self, run_dir: Path, control: RunControl, poll: float = POLL_SECONDS) -> None:
        self.run_dir = Path(run_dir)
        self.control = control
        self.poll = poll
        self._offset = 0
        self._pending = b""
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mnist-tui-control",
                                        daemon=True)
        self.refused = False  # the file was not safe to obey (said once on stderr)

    def start(self) -> ControlChannel:
        """Make the control file if needed, publish the state, and start polling.

        A folder where the file cannot be made (missing, read-only, full) leaves the run
        without a channel; its writer says what cannot be written.
        """
        if not has_control_channel(self.run_dir):
            try:
                create_control_file(self.run_dir)
            except OSError:
                return self
        self.read_commands()
        self._publish()
        self._thread.start()
        return self

    def close(self) -> None:
        """Read the last commands and stop polling."""
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._closed.wait(self.poll):
            self.read_commands()
        self.read_commands()

    def read_commands(self) -> int:
        """Apply the commands appended since the last read; return how many were applied."""
        try:
            fd = os.open(self.run_dir / CONTROL_FILE, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return 0
        try:
            if not _safe_to_trust(fd):
                if not self.refused:
                    sys.stderr.write(f"mnist-tui: {self.run_dir / CONTROL_FILE} is not this "
                                     "user's alone; its commands are ignored\n")
                self.refused = True
                return 0
            os.lseek(fd, self._offset, os.SEEK_SET)
            chunk = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        if not chunk:
            return 0
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        applied = sum(self._apply(line) for line in lines if line.strip())
        if applied:
            self._publish()
        return applied

    def _apply(self, line: bytes) -> bool:
        try:
            data = json.loads(line)
            command, reason = data["command"], str(data.get("reason") or "")
        except (ValueError, KeyError, TypeError):
            return False  # a garbled line is skipped, as in the event log
        if command == "pause":
            self.control.pause()
        elif command == "resume":
            self.control.resume()
        elif command == "stop":
            self.control.stop(reason or "stopped from a watcher")
        elif command == "learning_rate" and not check_learning_rate(data.get("value")):
            self.control.set_learning_rate(float(data["value"]))
        else:
            return False
        return True

    def _publish(self) -> None:
        # A full or read-only disk leaves watchers with the last state they read; the run
        # obeys all the same, and its writer reports the fault.
        with contextlib.suppress(OSError):
            write_json_atomic(self.run_dir / STATE_FILE, {
                "paused": self.control.paused, "stop_requested": self.control.stop_requested,
                "reason": self.control.reason, "time": time.time()})


class RemoteControl:
    """A watcher's `Controller` for a run in another process.

    Requests go through the control file; `paused` and `stop_requested` are what the run
    last published, or this watcher's own request until the run has answered it. Many
    watchers may hold one each. A request that cannot be sent goes to `on_error` if given.
    """

    def __init__(self, run_dir: Path, cache_seconds: float = STATE_CACHE_SECONDS,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.cache_seconds = cache_seconds  # how long what was read of the state is trusted
        self.on_error = on_error  # told when a request cannot be sent; else ControlError
        self._asked: dict[str, Any] = {}
        self._asked_at = 0.0
        self._state: dict[str, Any] = {}
        self._read_at = -1.0

    def _current(self) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._read_at >= self.cache_seconds:
            self._state, self._read_at = read_state(self.run_dir), now
        if self._asked and float(self._state.get("time") or 0) < self._asked_at:
            return {**self._state, **self._asked}
        return self._state

    def _send(self, command: str, asked: dict[str, Any], reason: str = "") -> None:
        try:
            send_command(self.run_dir, command, reason)
        except ControlError as exc:
            if self.on_error is None:
                raise
            self.on_error(str(exc))
            return
        self._asked, self._asked_at = asked, time.time()

    def pause(self) -> None:
        """Ask the run to pause after its current batch."""
        self._send("pause", {"paused": True})

    def resume(self) -> None:
        """Ask a paused run to go on."""
        self._send("resume", {"paused": False})

    def set_learning_rate(self, rate: float) -> None:
        """Ask the run to train at `rate` from its next batch (it logs the change)."""
        try:
            send_command(self.run_dir, "learning_rate", value=rate)
        except ControlError as exc:
            if self.on_error is None:
                raise
            self.on_error(str(exc))

    def stop(self, reason: str = "stopped by user") -> None:
        """Ask the run to stop after its current batch; it still evaluates on the test set."""
        self._send("stop", {"stop_requested": True, "paused": False, "reason": reason}, reason)

    @property
    def paused(self) -> bool:
        """Whether the run is paused (or this watcher just asked it to pause)."""
        return bool(self._current().get("paused"))

    @property
    def stop_requested(self) -> bool:
        """Whether the run was asked to stop, by any watcher."""
        return bool(self._current().get("stop_requested"))

    @property
    def reason(self) -> str:
        """Why the run was asked to stop."""
        return str(self._current().get("reason") or "")
