"""The process `warm_process.WarmProcess` starts: get a run ready, then train it.

`python -m mnist_tui.runs.warm_child --events-fd N [--data PATH]`, in a session of its own
(no controlling terminal; SIGHUP ignored). It lowers its CPU priority (`lower_priority`) and
starts this process's warmup (`training/warmup.py`: MNIST, TensorFlow, a model traced for
the settings it is told), then reads commands on its stdin (see `warm_process`). On `run` it
gets its priority back, points its output at the run folder's `output.log` and trains the
config into that folder with `execute_run`, sending each event on descriptor N as it goes
(a side thread writes them, so a reader that is slow or gone never holds the run up; once
the pipe breaks, nothing more is sent and the run goes on). SIGTERM or SIGINT stops the run
cleanly, a second one quits at once with the log closed (`StopSignals`). End of file on
stdin before a run: it leaves at once (`Commands`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import resource
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import EXIT_FAILED, EXIT_OK, MnistTuiError
from mnist_tui.core.events import Event, RunFailed
from mnist_tui.runs.detach import OUTPUT_FILE
from mnist_tui.runs.signals import StopSignals, failed_summary, stop_reason
from mnist_tui.runs.writer import RunWriter

if TYPE_CHECKING:
    from mnist_tui.training.warmup import Warmup

AUTOGROUP = Path("/proc/self/autogroup")
SEND_SECONDS = 10.0  # at the end, how long the last events may take to be sent


def lower_priority(nice: int) -> int | None:
    """Lower this process's CPU priority by `nice` where it can be raised back later
    (`restore_priority`); the threads' nice value to go back to (None: nothing lowered).

    Linux shares the CPU first between sessions (the scheduler's autogroups), so the
    session's own priority is what counts against the front end's: its owner may lower it
    and raise it back to 0. The threads' own nice values are lowered too where they can be
    raised back (root, or a limit that allows it), for systems without autogroups.
    """
    lowered = False
    with contextlib.suppress(OSError):
        AUTOGROUP.write_text(f"{nice}\n")
        lowered = True
    before = os.getpriority(os.PRIO_PROCESS, 0)  # the starter's (`nice mnist-tui`: above 0)
    if _may_raise_back(before):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, before + nice)  # new threads inherit it
            lowered = True
    return before if lowered else None


def _may_raise_back(nice: int) -> bool:
    """Whether this process may set its threads' nice value back to `nice`."""
    limit = resource.getrlimit(resource.RLIMIT_NICE)[0]
    return os.geteuid() == 0 or limit == resource.RLIM_INFINITY or 20 - nice <= limit


def restore_priority(nice: int) -> None:
    """Put the session's priority back to 0 and every thread's nice value back to `nice`
    (what it can)."""
    for _ in range(20):  # the kernel takes one autogroup change per 0.1 s from a non-admin
        try:
            AUTOGROUP.write_text("0\n")
            break
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            break
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):
                if os.getpriority(os.PRIO_PROCESS, int(task)) != nice:
                    os.setpriority(os.PRIO_PROCESS, int(task), nice)


class EventSender:
    """An `Emit` that sends each event as a line on a pipe, from a side thread.

    The run never waits on the reader: lines queue up; once a write fails (the reader has
    gone: EPIPE), nothing more is sent and the run goes on.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.broken = False
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._send, name="mnist-tui-events",
                                        daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        """Queue `event` to be sent."""
        if not self.broken:
            self._lines.put((event.to_json() + "\n").encode("utf-8"))

    def prepared(self, config: TrainConfig) -> None:
        """Say that a model for `config` is ready (a line that is no event: before the run)."""
        if not self.broken:
            self._lines.put((json.dumps({"prepared": config.to_dict()}) + "\n").encode())

    def _send(self) -> None:
        while (line := self._lines.get()) is not None:
            if self.broken:
                continue
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError:
                self.broken = True  # the reader went away; the run is not its
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def close(self, timeout: float = SEND_SECONDS) -> None:
        """Send what is queued (waiting up to `timeout` s), then close the pipe."""
        self._lines.put(None)
        self._thread.join(timeout)


class Commands:
    """The front end's commands, read from stdin by a side thread from the start (so that
    the process leaves at once when its front end goes before the run, even mid-import)."""

    def __init__(self) -> None:
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, name="mnist-tui-commands", daemon=True).start()

    def _read(self) -> None:
        for raw in sys.stdin.buffer:
            self._lines.put(raw)
            with contextlib.suppress(ValueError, TypeError):
                if "run" in json.loads(raw):
                    return  # nothing more is read: an end of file cannot stop the run
        self._lines.put(None)
        self.gone()

    def gone(self) -> None:
        """No run will come: leave (nothing to save; TensorFlow's teardown would only take
        time), unless the run's command came first."""
        os._exit(EXIT_OK)

    def until_run(self, warmup: Warmup) -> tuple[TrainConfig, Path]:
        """Hand the settings to `warmup` until the run's command: its config and folder."""
        while (raw := self._lines.get()) is not None:
            try:
                message = json.loads(raw)
                if "run" in message:
                    return TrainConfig.from_dict(message["run"]), Path(message["run_dir"])
                if "want" in message:
                    warmup.want(TrainConfig.from_dict(message["want"]))
            except (ValueError, KeyError, TypeError, MnistTuiError):
                continue  # a line that says nothing usable
        self.gone()
        raise SystemExit(EXIT_OK)  # not reached


def _to_output(run_dir: Path) -> None:
    """Point descriptors 1 and 2 at the run folder's `output.log` (TensorFlow's own lines)."""
    with contextlib.suppress(OSError):
        fd = os.open(run_dir / OUTPUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


def train(config: TrainConfig, run_dir: Path, send: EventSender,
          data_path: str | None) -> int:
    """Train `config` into the prepared folder `run_dir`, sending its events; the exit code
    (0 finished, 1 otherwise, 143 after SIGTERM)."""
    from mnist_tui.runs.driver import execute_run  # TensorFlow's trainer: imported by now

    writer = RunWriter(run_dir.parent, run_dir.name, config, exist_ok=True)
    control = RunControl()
    outcome: dict[str, int] = {}

    def run() -> None:
        try:
            summary = execute_run(config, send, control, writer=writer,
                                  data_path=data_path)[1]
            outcome["code"] = EXIT_OK if summary.status == "finished" else EXIT_FAILED
        except Exception as exc:  # the trainer reports its own faults; this is a last resort
            error = f"{type(exc).__name__}: {exc}"
            failed = RunFailed(error=error, summary=failed_summary(writer, config, error))
            writer.write(failed)
            send(failed)

    def on_quit(code: int, folders: list[Path]) -> None:
        send.close(1.0)
        os._exit(code)

    thread = threading.Thread(target=run, name="mnist-tui-trainer", daemon=True)
    stops = StopSignals(lambda signum: control.stop(stop_reason(signum)), on_quit)
    with stops:
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
            stops.rearm()
    return stops.exit_code(outcome.get("code", EXIT_FAILED))


def main(argv: Sequence[str] | None = None) -> int:
    """The process's life: warm up, wait for the run, train it, leave (see the module)."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tui.runs.warm_child",
                                     description="Get a run ready, then train it (started "
                                                 "by mnist-tui's app).")
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--data", metavar="PATH")
    parser.add_argument("--nice", type=int, default=0, choices=range(20),
                        help="how much lower its CPU priority is until it trains")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a hung-up terminal must not end the run
    before = lower_priority(args.nice) if args.nice else None
    commands = Commands()
    send = EventSender(args.events_fd)
    from mnist_tui.training.warmup import start_warmup  # numpy, MNIST and TensorFlow to come

    warmup = start_warmup(args.data)
    warmup.on_prepared = send.prepared
    config, run_dir = commands.until_run(warmup)
    if before is not None:
        restore_priority(before)
    _to_output(run_dir)
    code = train(config, run_dir, send, args.data)
    send.close()
    print(f"mnist-tui: models prepared ahead {warmup.prepared_count}, trained "
          f"{warmup.taken_count}", flush=True)
    warmup.close(5.0)
    os._exit(code)  # the run is all written; skip TensorFlow's teardown


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
