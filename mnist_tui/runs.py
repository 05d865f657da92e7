"""The run log on disk: one folder per run, and readers that list, find and follow runs.

A run folder holds `config.json`, `events.jsonl` (one event per line), `summary.json` (written
atomically when the run ends), `model.keras`, and `process.json` (which process writes the
log, so a watcher can tell a live run from one that died). `events.jsonl` is flushed at every
epoch end, at every phase, at the end, and at least once a second in between, so a killed run
leaves a log that is readable up to its last flush and `watch` sees a live run.
Readers never write into a run folder.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mnist_tui.config import TrainConfig
from mnist_tui.control import RunControl
from mnist_tui.data import MnistData
from mnist_tui.errors import MnistTuiError
from mnist_tui.events import (
    TERMINAL_TYPES,
    BatchEnd,
    Emit,
    Event,
    event_from_json,
)
from mnist_tui.jsonio import read_json_dict, write_json_atomic
from mnist_tui.run_summary import RunSummary, as_summary

RUNS_ENV = "MNIST_TUI_RUNS_DIR"
FLUSH_SECONDS = 1.0
FLUSH_CHECK_SECONDS = 0.5  # how often a writer looks for batches left unflushed (a paused run)
PROCESS_FILE = "process.json"
LIVENESS_SECONDS = 1.0  # how often `follow_run` asks whether the writer is still alive


def default_runs_dir() -> Path:
    """Where runs are kept: `$MNIST_TUI_RUNS_DIR`, else the user's data dir / runs."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("mnist-tui")) / "runs"


def new_run_id() -> str:
    """A sortable, unique run id: local start time plus a few random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _start_ticks(pid: int) -> int | None:
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
        "pid": pid, "host": socket.gethostname(), "start_ticks": _start_ticks(pid)})


def process_alive(run_dir: Path) -> bool | None:
    """Whether the process that writes the run's log still runs; None when nobody can tell.

    None for a folder without `process.json`, or a run on another host. A zombie (exited,
    not yet reaped) counts as gone; so does a pid that now belongs to another process.
    """
    info = read_json_dict(Path(run_dir) / PROCESS_FILE)
    if info is None or not isinstance(info.get("pid"), int):
        return None
    if info.get("host") != socket.gethostname():
        return None
    pid = info["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # the pid exists (another user's now?): the start time below tells
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        if state.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass  # no /proc (not Linux): kill(0) is all we can know
    recorded = info.get("start_ticks")
    return recorded is None or _start_ticks(pid) in (None, recorded)


class RunWriter:
    """Writes one run's folder; `write` is an `Emit` to put in the event fan-out.

    `config` is a `TrainConfig`, or any JSON-ready dict (a run of another Keras model).
    `exist_ok` lets a detached run take over the folder its launcher prepared. The folder
    records this process in `process.json`. A side thread flushes batches that would
    otherwise wait in the buffer while no new event comes (a paused or stalled run).
    """

    def __init__(self, runs_dir: Path, run_id: str, config: TrainConfig | Mapping[str, Any],
                 *, exist_ok: bool = False) -> None:
        self.run_id = run_id
        self.run_dir = Path(runs_dir) / run_id
        self.run_dir.mkdir(parents=True, exist_ok=exist_ok)
        data = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
        write_json_atomic(self.run_dir / "config.json", data)
        write_process_file(self.run_dir)
        self._lock = threading.Lock()
        self._file = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._last_flush = time.monotonic()
        self._dirty = False
        self.closed = False
        self._closing = threading.Event()
        threading.Thread(target=self._flush_idle, name=f"mnist-tui-flush-{run_id}",
                         daemon=True).start()

    def write(self, event: Event) -> None:
        """Append one event; flush unless it is a batch within a second of the last flush."""
        line = event.to_json() + "\n"
        with self._lock:
            if self.closed:
                return
            self._file.write(line)
            self._dirty = True
            now = time.monotonic()
            if not isinstance(event, BatchEnd) or now - self._last_flush >= FLUSH_SECONDS:
                self._flush(now)
            if isinstance(event, TERMINAL_TYPES):
                summary = as_summary(getattr(event, "summary", None))
                summary.setdefault("run_id", self.run_id)
                summary["run_dir"] = str(self.run_dir)
                write_json_atomic(self.run_dir / "summary.json", summary)
                self._close()

    def _flush(self, now: float) -> None:
        self._file.flush()
        self._last_flush = now
        self._dirty = False

    def _flush_idle(self) -> None:
        while not self._closing.wait(FLUSH_CHECK_SECONDS):
            with self._lock:
                now = time.monotonic()
                if not self.closed and self._dirty and now - self._last_flush >= FLUSH_SECONDS:
                    self._flush(now)

    def close(self) -> None:
        """Flush and close the log (safe to call twice)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        self._closing.set()
        if not self.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.closed = True


class Runner(Protocol):
    """What a front end calls to train a config: `execute_run`, or a fake in tests.

    Returns the run folder (None when none was made) and the run's summary.
    """

    def __call__(self, config: TrainConfig, emit: Emit, control: RunControl | None = None, *,
                 runs_dir: Path | None = None, data_path: str | Path | None = None
                 ) -> tuple[Path | None, RunSummary]:
        """Train `config`, reporting every event to `emit` and obeying `control`."""
        ...


def execute_run(config: TrainConfig, emit: Emit, control: RunControl | None = None, *,
                runs_dir: Path | None = None, data_path: str | Path | None = None,
                run_id: str | None = None, writer: RunWriter | None = None,
                data: MnistData | None = None) -> tuple[Path, RunSummary]:
    """Train `config` into a run folder; every event goes to the log and to `emit`.

    The folder is `writer`'s when given, else a new one under `runs_dir`. `data` skips the
    lookup of MNIST (see `load_mnist` for `data_path`). Returns the run folder and the summary
    (which also names the folder as `run_dir`).
    """
    from mnist_tui.training import Trainer

    if writer is None:
        writer = RunWriter(runs_dir or default_runs_dir(), run_id or new_run_id(), config)

    def both(event: Event) -> None:
        writer.write(event)
        emit(event)

    try:
        trainer = Trainer(data_path=data_path, run_dir=writer.run_dir, data=data)
        summary = trainer.run(config, both, control, run_id=writer.run_id)
    finally:
        writer.close()
    return writer.run_dir, summary


def read_events(run_dir: Path) -> list[Event]:
    """Every whole event in a run's log; a half-written last line is left out."""
    return list(follow(run_dir, wait=False))


def follow(run_dir: Path, *, wait: bool = True, poll: float = 0.2,
           stop: Callable[[], bool] | None = None) -> Iterator[Event]:
    """Yield a run's events as they are written, from the first.

    With `wait`, keeps polling for new lines until a terminal event arrives or `stop()` says
    so; without it, ends at the current end of the file. A half-written last line is held back
    until its newline arrives; a garbled whole line is skipped.
    """
    path = Path(run_dir) / "events.jsonl"
    pending = ""
    offset = 0
    while True:
        chunk = ""
        if path.exists():
            with open(path, encoding="utf-8", errors="replace") as fh:
                fh.seek(offset)
                chunk = fh.read()
                offset = fh.tell()
        if chunk:
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    event = event_from_json(line)
                except ValueError:
                    continue
                yield event
                if isinstance(event, TERMINAL_TYPES):
                    return
        if not wait or (stop is not None and stop()):
            return
        time.sleep(poll)


@dataclass(frozen=True)
class FollowEnd:
    """How following a run ended: "ended" (its terminal event came), "died" (its process is
    gone without one) or "left" (the follower was told to stop); and the last event seen."""

    outcome: str
    last_event: Event | None

    def last_event_age(self, now: float | None = None) -> float | None:
        """Seconds since the last event was made (its wall-clock `time`); None if none came."""
        if self.last_event is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.last_event.time)

    def died_message(self, now: float | None = None) -> str:
        """A sentence for people about a run whose process ended without a final event."""
        age = self.last_event_age(now)
        if age is None:
            return "the run's process ended before it logged any event"
        return (f"the run's process ended without a final event; its last event came "
                f"{describe_age(age)} ago")


def describe_age(seconds: float) -> str:
    """A time span for people: "12 s", "3 min 05 s", "2 h 07 min", "3 days 4 h"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


def follow_run(run_dir: Path, emit: Emit, *, stop: Callable[[], bool] | None = None,
               poll: float = 0.2) -> FollowEnd:
    """Hand every event of a run to `emit` as it is written (a replay first), like `follow`.

    Ends at the terminal event, when `stop()` says so, or once the run's process is known to
    be gone (checked about once a second; the log is read once more after that, so nothing
    it wrote before dying is missed). Only reads: any number of followers may share a run.
    """
    last: Event | None = None
    gone = dead = False
    next_check = 0.0

    def should_stop() -> bool:
        nonlocal gone, dead, next_check
        if stop is not None and stop():
            return True
        if dead:
            gone = True
            return True
        now = time.monotonic()
        if now >= next_check:
            next_check = now + LIVENESS_SECONDS
            dead = process_alive(run_dir) is False
        return False

    for event in follow(run_dir, wait=True, poll=poll, stop=should_stop):
        last = event
        emit(event)
    if isinstance(last, TERMINAL_TYPES):
        return FollowEnd("ended", last)
    return FollowEnd("died" if gone else "left", last)


@dataclass(frozen=True)
class RunInfo:
    """What the run list shows of one run folder."""

    run_id: str
    run_dir: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None

    @property
    def status(self) -> str:
        """The summary's status (finished, stopped, failed); without a summary, "running" or
        "died" when its process tells, else "incomplete"."""
        if self.summary is None:
            alive = process_alive(self.run_dir)
            return "incomplete" if alive is None else ("running" if alive else "died")
        return str(self.summary.get("status", "unknown"))


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """All runs under `runs_dir`, newest first; folders without a config are skipped."""
    root = Path(runs_dir or default_runs_dir())
    if not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        config = read_json_dict(folder / "config.json") if folder.is_dir() else None
        if config is None:
            continue
        runs.append(RunInfo(folder.name, folder, config, read_json_dict(folder / "summary.json")))
    return sorted(runs, key=lambda r: r.run_id, reverse=True)


class RunNotFound(MnistTuiError, LookupError):
    """No run matches what the user named; the message says what was looked for, and where."""


def resolve_run(spec: str | Path | None, runs_dir: Path | None = None) -> Path:
    """The run folder that `spec` names: a run id, a unique prefix of one, or a folder path.

    None means the latest run. Raises RunNotFound with a message for people.
    """
    root = Path(runs_dir or default_runs_dir())
    runs = list_runs(root)
    if spec is None or str(spec) == "":
        if not runs:
            raise RunNotFound(f"no runs in {root} yet")
        return runs[0].run_dir
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir() and ((path / "events.jsonl").exists() or (path / "config.json").exists()):
        return path
    if os.sep in text or path.is_absolute():
        raise RunNotFound(f"{text} is not a run folder (it has no events.jsonl)")
    exact = [r for r in runs if r.run_id == text]
    matches = exact or [r for r in runs if r.run_id.startswith(text)]
    if len(matches) == 1:
        return matches[0].run_dir
    if matches:
        shown = ", ".join(r.run_id for r in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise RunNotFound(f"{text!r} matches {len(matches)} runs ({shown}); give more of the id")
    raise RunNotFound(f"no run {text!r} in {root} ({len(runs)} runs there; "
                      "`mnist-tui runs` lists them)")
