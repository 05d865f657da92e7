"""The run log on disk: one folder per run, and readers that list and follow runs.

A run folder holds `config.json`, `events.jsonl` (one event per line), `summary.json` (written
atomically when the run ends) and `model.keras`. `events.jsonl` is flushed at every epoch end,
at every phase, at the end, and at least once a second in between, so a killed run leaves a log
that is readable up to its last flush and `watch` sees a live run.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_tui.config import TrainConfig
from mnist_tui.control import RunControl
from mnist_tui.data import MnistData
from mnist_tui.events import (
    TERMINAL_TYPES,
    BatchEnd,
    Emit,
    Event,
    event_from_json,
)

RUNS_ENV = "MNIST_TUI_RUNS_DIR"
FLUSH_SECONDS = 1.0


def default_runs_dir() -> Path:
    """Where runs are kept: `$MNIST_TUI_RUNS_DIR`, else the user's data dir / runs."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("mnist-tui")) / "runs"


def new_run_id() -> str:
    """A sortable, unique run id: local start time plus a few random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` so that readers see either the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunWriter:
    """Writes one run's folder; `write` is an `Emit` to put in the event fan-out."""

    def __init__(self, runs_dir: Path, run_id: str, config: TrainConfig) -> None:
        self.run_id = run_id
        self.run_dir = Path(runs_dir) / run_id
        self.run_dir.mkdir(parents=True, exist_ok=False)
        write_json_atomic(self.run_dir / "config.json", config.to_dict())
        self._lock = threading.Lock()
        self._file = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._last_flush = time.monotonic()
        self.closed = False

    def write(self, event: Event) -> None:
        """Append one event; flush unless it is a batch within a second of the last flush."""
        line = event.to_json() + "\n"
        with self._lock:
            if self.closed:
                return
            self._file.write(line)
            now = time.monotonic()
            if not isinstance(event, BatchEnd) or now - self._last_flush >= FLUSH_SECONDS:
                self._file.flush()
                self._last_flush = now
            if isinstance(event, TERMINAL_TYPES):
                summary = dict(getattr(event, "summary", {}) or {})
                summary.setdefault("run_id", self.run_id)
                summary["run_dir"] = str(self.run_dir)
                write_json_atomic(self.run_dir / "summary.json", summary)
                self._close()

    def close(self) -> None:
        """Flush and close the log (safe to call twice)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if not self.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.closed = True


def execute_run(config: TrainConfig, emit: Emit, control: RunControl | None = None, *,
                runs_dir: Path | None = None, data_path: str | Path | None = None,
                run_id: str | None = None, writer: RunWriter | None = None,
                data: MnistData | None = None) -> tuple[Path, dict[str, Any]]:
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
class RunInfo:
    """What the run list shows of one run folder."""

    run_id: str
    run_dir: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None

    @property
    def status(self) -> str:
        """The summary's status (finished, stopped, failed), or "incomplete" when no summary
        was written (the run is still going, or died)."""
        if self.summary is None:
            return "incomplete"
        return str(self.summary.get("status", "unknown"))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """All runs under `runs_dir`, newest first; folders without a config are skipped."""
    root = Path(runs_dir or default_runs_dir())
    if not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        config = _read_json(folder / "config.json") if folder.is_dir() else None
        if config is None:
            continue
        runs.append(RunInfo(folder.name, folder, config, _read_json(folder / "summary.json")))
    return sorted(runs, key=lambda r: r.run_id, reverse=True)
