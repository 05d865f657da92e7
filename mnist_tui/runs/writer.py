"""Writing a run folder: its config, its log of events, its summary, its process file.

`RunWriter` is the `Emit` that keeps a run's folder (see `runs` for what a folder holds and
who reads it). `events.jsonl` is flushed at every epoch end, at every phase, at the first
batch, at the end, and at least once a second in between, so a killed run leaves a log that
is readable up to its last flush and `watch` sees a live run. A folder that cannot be
written never stops the run (see `storage.py`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from mnist_tui.core import environment
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    TERMINAL_TYPES,
    BatchEnd,
    Emit,
    Event,
    RunFailed,
    RunFinished,
    RunStopped,
)
from mnist_tui.core.jsonio import write_json_atomic
from mnist_tui.core.storage import StorageGuard

FLUSH_SECONDS = 1.0
FLUSH_CHECK_SECONDS = 0.5  # how often a writer looks for batches left unflushed (a paused run)
PROCESS_FILE = "process.json"
RUNS_ENV = environment.RUNS_DIR


def default_runs_dir() -> Path:
    """Where runs are kept: `$MNIST_TUI_RUNS_DIR`, else the user's data dir / runs."""
    chosen = environment.runs_dir()
    if chosen is not None:
        return chosen
    import platformdirs

    return Path(platformdirs.user_data_dir("mnist-tui")) / "runs"


def new_run_id() -> str:
    """A sortable, unique run id: local start time plus a few random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux); tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def write_process_file(run_dir: Path, pid: int | None = None) -> None:
    """Record in the run folder which process writes its log (this one by default)."""
    pid = os.getpid() if pid is None else pid
    write_json_atomic(Path(run_dir) / PROCESS_FILE, {
        "pid": pid, "host": socket.gethostname(), "start_ticks": start_ticks(pid)})


class RunWriter:
    """Writes one run's folder; `write` is an `Emit` to put in the event fan-out.

    `config` is a `TrainConfig`, or any JSON-ready dict (a run of another Keras model).
    `exist_ok` lets a detached run take over the folder its launcher prepared; the log is
    appended to, never truncated. `resume` (implies `exist_ok`) says that the run goes on
    from the checkpoint in its folder (see `resume.py`), which `execute_run` tells the
    trainer. The folder records this process in `process.json`. A side thread flushes
    batches that would otherwise wait in the buffer while no new event comes (a paused or
    stalled run).

    A folder that cannot be written never stops the run: the first fault (the folder cannot
    be made, a write or flush fails) goes once to `report` as a `StorageProblem` (stderr when
    None), and nothing more is written (see `storage.py`). `has_folder` says whether the
    folder was made at all.
    """

    def __init__(self, runs_dir: Path, run_id: str, config: TrainConfig | Mapping[str, Any],
                 *, exist_ok: bool = False, resume: bool = False,
                 report: Emit | None = None) -> None:
        self.run_id = run_id
        self.run_dir = Path(runs_dir) / run_id
        self.resume = resume
        self.storage = StorageGuard(report)
        self.has_folder = False
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._last_flush = time.monotonic()
        self._dirty = False
        self._batch_seen = False  # the first batch is flushed at once: the run has begun
        self.closed = False
        self._closing = threading.Event()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=exist_ok or resume)
        except FileExistsError:
            if not (exist_ok or resume):
                raise  # a run id taken twice is a bug, not a fault of the disk
            self._fault(self.run_dir, NotADirectoryError(errno.ENOTDIR, "not a folder"),
                        "the run folder")
            return
        except OSError as exc:
            self._fault(self.run_dir, exc, "the run folder")
            return
        self.has_folder = True
        data = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
        log = self.run_dir / "events.jsonl"
        try:
            write_json_atomic(self.run_dir / "config.json", data)
            write_process_file(self.run_dir)
            self._file = open(log, "a", encoding="utf-8")  # noqa: SIM115
            if self._file.tell() > 0 and not _ends_a_line(log):
                self._file.write("\n")  # a killed writer's half line stays one garbled line
        except OSError as exc:
            self._fault(self.run_dir, exc, "the run folder")
            return
        threading.Thread(target=self._flush_idle, name=f"mnist-tui-flush-{run_id}",
                         daemon=True).start()

    def _fault(self, path: Path, exc: OSError, what: str) -> None:
        """A write failed: say so once, write nothing more, let the run go on."""
        self.storage.fault(path, exc, what, "training goes on, but nothing more of this run "
                           "is saved" if self.has_folder else "training goes on without "
                           "saving the run")
        self._close_quietly()

    def write(self, event: Event) -> None:
        """Append one event; flush unless it is a batch (but the first) within a second of
        the last flush.

        A terminal event's `summary.json` is written before the event's line, so a reader
        who sees the run's end in the log always finds its summary.
        """
        line = event.to_json() + "\n"
        with self._lock:
            if self.closed or self._file is None:
                return
            summary_error: OSError | None = None
            if isinstance(event, (RunFinished, RunStopped, RunFailed)):
                # The event's summary, named after this run and its folder (a new one).
                summary = replace(event.summary, run_id=event.summary.run_id or self.run_id,
                                  run_dir=str(self.run_dir))
                try:
                    write_json_atomic(self.run_dir / "summary.json", summary.to_json())
                except OSError as exc:
                    summary_error = exc
            try:
                self._file.write(line)
                self._dirty = True
                now = time.monotonic()
                if (not isinstance(event, BatchEnd) or not self._batch_seen
                        or now - self._last_flush >= FLUSH_SECONDS):
                    self._flush(now)
                self._batch_seen = self._batch_seen or isinstance(event, BatchEnd)
            except OSError as exc:
                self._fault(self.run_dir / "events.jsonl", exc, "the run log")
                return
            if summary_error is not None:
                self._fault(self.run_dir / "summary.json", summary_error, "the run summary")
            elif isinstance(event, TERMINAL_TYPES):
                self._close()

    def _flush(self, now: float) -> None:
        if self._file is not None:
            self._file.flush()
        self._last_flush = now
        self._dirty = False

    def _flush_idle(self) -> None:
        while not self._closing.wait(FLUSH_CHECK_SECONDS):
            with self._lock:
                now = time.monotonic()
                if not self.closed and self._dirty and now - self._last_flush >= FLUSH_SECONDS:
                    try:
                        self._flush(now)
                    except OSError as exc:
                        self._fault(self.run_dir / "events.jsonl", exc, "the run log")

    def close(self) -> None:
        """Flush and close the log (safe to call twice)."""
        with self._lock:
            try:
                self._close()
            except OSError as exc:
                self._fault(self.run_dir / "events.jsonl", exc, "the run log")

    def _close(self) -> None:
        self._closing.set()
        if not self.closed:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            self.closed = True

    def _close_quietly(self) -> None:
        """Close after a fault: the buffer's unwritten lines are dropped with the file."""
        self._closing.set()
        self.closed = True
        if self._file is not None:
            with contextlib.suppress(OSError):  # flushing what would not fit fails again
                self._file.close()
            self._file = None


def _ends_a_line(path: Path) -> bool:
    """Whether the file's last byte is a newline."""
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
