"""Reading a run folder's log: every event so far, or following it as it is written.

A run folder holds `config.json`, `events.jsonl` (one event per line), `summary.json` (written
atomically when the run ends, and again when a script evaluates its model afterwards),
`model.keras`, and `process.json` (which process writes the log, so a watcher can tell a live
run from one that died). `writer.RunWriter` writes it; readers never write into it, and skip
what they cannot read.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.core.events import TERMINAL_TYPES, Emit, Evaluated, Event, RunResumed
from mnist_tui.core.jsonio import read_json_dict
from mnist_tui.runs.log_lines import events_of
from mnist_tui.runs.writer import PROCESS_FILE, start_ticks

LIVENESS_SECONDS = 1.0  # how often `follow_run` asks whether the writer is still alive


def process_alive(run_dir: Path) -> bool | None:
    """Whether the process that writes the run's log still runs; None when nobody can tell.

    None for a folder without `process.json`, or a run on another host. A zombie (exited,
    not yet reaped) counts as gone; so does a pid that now belongs to another process.
    """
    info = read_json_dict(Path(run_dir) / PROCESS_FILE) or {}
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
        return None  # none, or garbage: a kill(0 or -1) would ask about other processes
    if info.get("host") != socket.gethostname():
        return None
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
    return recorded is None or start_ticks(pid) in (None, recorded)


def liveness_unknown(run_dir: Path) -> str:
    """Why a watcher of a run that has not ended cannot tell whether it still trains ("" when
    it has ended or its process can be checked): its folder has no process.json (an older
    run, or a copy), or its process runs on another host (a shared folder)."""
    run_dir = Path(run_dir)
    if (run_dir / "summary.json").exists() or process_alive(run_dir) is not None:
        return ""
    info = read_json_dict(run_dir / PROCESS_FILE)
    host = (info or {}).get("host")
    if info is None:
        why = f"its folder has no {PROCESS_FILE}"
    elif isinstance(host, str) and host and host != socket.gethostname():
        why = f"its process runs on {host}"
    else:
        why = f"its {PROCESS_FILE} names no process"
    return (f"cannot tell whether this run still trains ({why}): its log is followed until "
            "it ends, however long it stays silent")


def read_events(run_dir: Path, *, fold: bool = False) -> list[Event]:
    """Every whole event in a run's log; a half-written last line is left out. `fold`: a
    long log's batches in blocks, for a chart (see `follow`)."""
    return list(follow(run_dir, wait=False, fold=fold))


def follow(run_dir: Path, *, wait: bool = True, poll: float = 0.2,
           stop: Callable[[], bool] | None = None, fold: bool = False,
           caught_up: Callable[[], None] | None = None) -> Iterator[Event]:
    """Yield a run's events as they are written, from the first.

    With `wait`, keeps polling for new lines until a terminal event arrives or `stop()` says
    so; without it, ends at the current end of the file. A half-written last line is held back
    until its newline arrives; a garbled whole line is skipped. A terminal event followed by
    a `RunResumed` was superseded (the run went on): it is left out and following goes on; a
    terminal event at the end of what is written ends it. An `Evaluated` after the terminal
    event (a `MonitorCallback` script's `model.evaluate` after its `fit`) is yielded before
    it, and the terminal event written after that one (the same end, its summary holding the
    test figures) replaces it: readers see the order of an app run.
    With `fold`, the many batch lines of a long log read at once (a replay's backlog) come
    folded into blocks, fast (`log_lines.events_of`): what a replay shows, not what an export
    of every batch needs. `caught_up()` is called once, when what was written before has been
    yielded and following goes on (never for a run that has ended).
    """
    path = Path(run_dir) / "events.jsonl"
    pending = ""
    offset = 0
    ended: Event | None = None  # a terminal event, unless a RunResumed comes right after it
    while True:
        chunk = ""
        if path.exists():
            # A log that cannot be read (a folder, no permission) reads as empty.
            with contextlib.suppress(OSError), open(path, encoding="utf-8",
                                                    errors="replace") as fh:
                fh.seek(offset)
                chunk = fh.read()
                offset = fh.tell()
        if chunk:
            pending += chunk
            *lines, pending = pending.split("\n")
            for event in events_of(lines, fold=fold):
                if ended is not None:
                    if isinstance(event, Evaluated):
                        yield event  # a script's evaluation after its fit ended
                        continue
                    if isinstance(event, TERMINAL_TYPES):
                        ended = event  # the same end, amended by that evaluation
                        continue
                    if not isinstance(event, RunResumed):
                        yield ended
                        return
                    ended = None
                if isinstance(event, TERMINAL_TYPES):
                    ended = event
                else:
                    yield event
        if ended is not None:
            yield ended
            return
        if not wait or (stop is not None and stop()):
            return
        if caught_up is not None:
            caught_up()
            caught_up = None
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
               poll: float = 0.2, caught_up: Callable[[], None] | None = None) -> FollowEnd:
    """Hand every event of a run to `emit` as it is written (a replay first, its batches
    folded as `follow` folds them, then `caught_up()` if the run goes on), like `follow`.

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

    for event in follow(run_dir, wait=True, poll=poll, stop=should_stop, fold=True,
                        caught_up=caught_up):
        last = event
        emit(event)
    if isinstance(last, TERMINAL_TYPES):
        return FollowEnd("ended", last)
    return FollowEnd("died" if gone else "left", last)
