"""How a run meets signals: SIGTERM and Ctrl+C stop it cleanly, a second one quits at once, and a
terminal that goes away (SIGHUP) takes the front end's output with it, never the run.

- `StopSignals` is the one handler of SIGINT and SIGTERM for every front end (headless,
  detached, a cluster's workers, the app): the first asks the front end to stop its run (the
  batch ends, the test set is evaluated, the model saved, `run_stopped` logged with a reason
  that names the signal); a second closes the log of every run this process writes with a
  `run_failed` (`close_live_runs`) and leaves at once. After a SIGTERM the process exits
  `EXIT_TERMINATED` (143).
- `survive_hang_up` catches SIGHUP: every file descriptor open on the terminal is pointed at
  /dev/null (a write to a hung-up terminal fails with EIO, a read sees end of file), later
  hang-ups are ignored, and the front end is told, so the run goes on to its end.
- `live_run` registers a run's writer while `runs.execute_run` trains it.
- `TerminalWriter` is the UI's stream on the terminal, which never fails on a hung-up one.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import EXIT_FAILED, EXIT_TERMINATED
from mnist_tui.core.events import RunFailed
from mnist_tui.core.summary import RunSummary

if TYPE_CHECKING:
    from mnist_tui.runs.writer import RunWriter

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
CONTROLLING_TTY = os.makedev(5, 0)  # /dev/tty, the process's controlling terminal by any name

_live: dict[int, tuple[RunWriter, TrainConfig]] = {}
_live_lock = threading.Lock()


def signal_name(signum: int) -> str:
    """How people call the signal: Ctrl+C for SIGINT, else its name (SIGTERM)."""
    return "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name


def stop_reason(signum: int) -> str:
    """Why a run stopped on the signal, as its `run_stopped` event and summary say."""
    if signum == signal.SIGINT:
        return "interrupted (Ctrl+C)"
    return f"terminated by {signal_name(signum)}"


def quit_reason(signum: int) -> str:
    """Why a run's log ends in `run_failed` when a second signal quit at once."""
    return f"quit at once by a second {signal_name(signum)}"


def failed_summary(writer: RunWriter, config: TrainConfig, reason: str = "") -> RunSummary:
    """The summary of a run that failed before its trainer could report one: named after
    the writer's run and folder (if it made one), and what of the folder could not be written."""
    problem = writer.storage.problem
    return RunSummary(run_id=writer.run_id, config=config.to_dict(), epochs=config.epochs,
                      train_samples=config.train_samples, status="failed", reason=reason,
                      run_dir=str(writer.run_dir) if writer.has_folder else None,
                      storage_error=problem.message if problem is not None else None)


@contextlib.contextmanager
def live_run(writer: RunWriter, config: TrainConfig) -> Iterator[None]:
    """While the block runs, a quit at once (`close_live_runs`) ends this run's log."""
    with _live_lock:
        _live[id(writer)] = (writer, config)
    try:
        yield
    finally:
        with _live_lock:
            _live.pop(id(writer), None)


def close_live_runs(reason: str) -> list[Path]:
    """End the log of every run this process is writing with a `run_failed` saying `reason`.

    Returns their folders. A log already closed (its run ended) is left as it is.
    """
    with _live_lock:
        runs = list(_live.values())
    for writer, config in runs:
        writer.write(RunFailed(error=reason, summary=failed_summary(writer, config, reason)))
    return [writer.run_dir for writer, _ in runs]


class StopSignals:
    """SIGINT and SIGTERM for one front end: the first stops its run, a second quits at once.

    `on_stop(signum)` hears the first; it stops the run with `stop_reason(signum)` and says so.
    A second signal of either kind ends every live run's log (`close_live_runs`), then
    `on_quit(code, folders)` leaves the process soon (without it: `os._exit(code)` at once; a
    third signal does that in any case); `code` is `EXIT_TERMINATED` once a SIGTERM came, else
    `EXIT_FAILED`. Handlers run in the main thread: use it as a context manager there.
    """

    def __init__(self, on_stop: Callable[[int], None],
                 on_quit: Callable[[int, list[Path]], None] | None = None) -> None:
        self.on_stop = on_stop
        self.on_quit = on_quit
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}

    @property
    def terminated(self) -> bool:
        """Whether a SIGTERM came."""
        return signal.SIGTERM in self.received

    def exit_code(self, code: int) -> int:
        """The process's exit code: `EXIT_TERMINATED` after a SIGTERM, else `code`."""
        return EXIT_TERMINATED if self.terminated else code

    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        """The signal handler (public so that tests and front ends can deliver one by hand)."""
        self.received.append(signum)
        if len(self.received) == 1:
            self.on_stop(signum)
            return
        folders = close_live_runs(quit_reason(signum))
        code = self.exit_code(EXIT_FAILED)
        if self.on_quit is None or len(self.received) > 2:
            os._exit(code)
        self.on_quit(code, folders)

    def rearm(self) -> None:
        """Take the signals back (main thread only, inside the block; else a no-op).

        TensorFlow's multi-worker runtime, once the cluster is up, sets a SIGTERM handler of
        its own (a preemption notifier that only notes it) over ours: front ends call this
        every fraction of a second while a run goes.
        """
        for signum in self._previous:
            signal.signal(signum, self.handle)

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _terminal_devices() -> set[int]:
    """The device numbers of the terminals on standard input, output and error."""
    devices = {CONTROLLING_TTY}
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                devices.add(os.fstat(fd).st_rdev)
    return devices


def _open_fds() -> list[int]:
    """The file descriptors this process has open (all that may be, without /proc or /dev/fd)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return [int(name) for name in os.listdir(folder) if name.isdigit()]
    return list(range(256))


def silence_terminal(devices: set[int]) -> list[int]:
    """Point every file descriptor open on one of the terminal `devices` at /dev/null.

    The descriptors stay valid, so nothing that holds one (Python's streams, Textual's driver,
    a saved duplicate) fails on it; writes vanish and reads see end of file. Returns them.
    """
    null = os.open(os.devnull, os.O_RDWR)
    silenced = []
    try:
        for fd in _open_fds():
            if fd == null:
                continue
            try:
                info = os.fstat(fd)
            except OSError:
                continue  # closed meanwhile (the listing's own descriptor, say)
            if stat.S_ISCHR(info.st_mode) and info.st_rdev in devices:
                os.dup2(null, fd)
                silenced.append(fd)
    finally:
        os.close(null)
    return silenced


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal handler that does nothing."""


@contextlib.contextmanager
def survive_hang_up(on_hang_up: Callable[[], None] | None = None) -> Iterator[None]:
    """While the block runs, a hang-up (SIGHUP) does not end the process.

    The first SIGHUP points the terminal's descriptors at /dev/null, then `on_hang_up()` is
    told (in the main thread, as signal handlers run). From then on SIGHUP stays ignored, after
    the block too: the shell that leaves with the terminal may send more. So is SIGCONT, which
    the kernel sends a session leader (`ssh -t host mnist-tui`) right after the SIGHUP: Textual
    takes it for the end of a Ctrl+Z and would start its UI again on /dev/null, leaving a stray
    output thread behind. A SIGHUP already ignored (`nohup`, a detached run) stays ignored and
    nothing is installed.
    """
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        yield
        return
    devices = _terminal_devices()
    hung_up = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal hung_up
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if hung_up:
            return
        hung_up = True
        # A handler, not SIG_IGN: a SIGCONT already pending would make Python raise "signal
        # ignored due to race condition" wherever the main thread happens to be.
        signal.signal(signal.SIGCONT, _ignore)
        silence_terminal(devices)
        if on_hang_up is not None:
            on_hang_up()

    previous = signal.signal(signal.SIGHUP, handle)
    try:
        yield
    finally:
        if not hung_up:
            signal.signal(signal.SIGHUP, previous)


def terminal_hung_up(fd: int = 0) -> bool:
    """Whether the terminal on `fd` (one when the process started: a hung-up terminal is no
    longer a tty to `isatty`) has hung up: its other end is closed (an SSH connection or a
    terminal window gone) although no SIGHUP came, as when it is not this process's
    controlling terminal (`setsid`, a container's exec). Textual's input thread then reads
    end of file over and over, a core's worth of CPU, until the process is killed."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)  # a hang-up is reported whatever is asked
        return any(events & select.POLLHUP for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def reader_gone() -> Iterator[None]:
    """Drop the error of a write whose reader has gone, raise any other: a terminal that hung
    up (EIO, until `survive_hang_up` points it at /dev/null) or a closed pipe (EPIPE)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EIO, errno.EPIPE):
            raise


class TerminalWriter(io.TextIOWrapper):
    """A text stream on a terminal that drops, rather than raises, writes that fail because the
    terminal hung up (EIO): a thread drawing on it (Textual's output thread) must not die in
    the moment before `survive_hang_up` points the terminal at /dev/null."""

    @classmethod
    def on(cls, fd: int, encoding: str) -> TerminalWriter:
        """A writer on file descriptor `fd`, which it owns (and closes)."""
        return cls(open(fd, "wb"), encoding=encoding, errors="replace",
                   line_buffering=os.isatty(fd))

    def write(self, text: str) -> int:
        """Write `text`; on a hung-up terminal it is dropped."""
        with reader_gone():
            return super().write(text)
        return len(text)

    def flush(self) -> None:
        """Flush; on a hung-up terminal what waits is kept for /dev/null."""
        with reader_gone():
            super().flush()

    def close(self) -> None:
        """Close, dropping what a hung-up terminal would not take."""
        with reader_gone():
            super().close()
