"""Headless front end: progress on stderr, the summary as one JSON object on stdout.

On a terminal the progress is a rich progress bar; anywhere else (a log file, CI, `nohup`) it
is plain lines, never a carriage return or backspace, at most one every few seconds plus one
per epoch. Ctrl+C or SIGTERM stops after the current batch and still evaluates; a second one
quits at once with the run's log closed and readable. A terminal that hangs up takes the
progress with it, never the run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import EXIT_FAILED, EXIT_OK, MnistTuiError
from mnist_tui.core.events import (
    BatchEnd,
    Emit,
    EpochEnd,
    Evaluated,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StorageProblem,
    SystemLoad,
)
from mnist_tui.core.formatting import format_bytes, format_duration, format_loss, format_percent
from mnist_tui.core.jsonio import dumps_strict
from mnist_tui.core.summary import RunSummary
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.reading import follow_run, liveness_unknown
from mnist_tui.runs.signals import (
    StopSignals,
    failed_summary,
    reader_gone,
    signal_name,
    stop_reason,
    survive_hang_up,
)
from mnist_tui.runs.writer import RunWriter, default_runs_dir, new_run_id
from mnist_tui.training.data import load_run_data
from mnist_tui.training.epoch_rules import outcome_text
from mnist_tui.training.strategy import read_tf_config
from mnist_tui.training.warmup import start_import

PLAIN_INTERVAL = 5.0  # seconds between plain progress lines
MISSING = "n/a"  # how a value the run does not have reads in its lines


def _pct(value: Any) -> str:
    """A fraction as a percentage, as every headless line shows one."""
    return format_percent(value, missing=MISSING)


def _num(value: Any) -> str:
    """A loss, as every headless line shows one; a diverged one reads "nan" (or "inf")."""
    return format_loss(value, missing=MISSING if value is None else str(value))


def _duration(seconds: Any) -> str:
    """A time span as "m:ss"; unknown or negative reads 0:00, as before any progress."""
    return format_duration(seconds, missing="0:00")


class HeadlessConsole:
    """An `Emit` that reports a run on a stream: a rich bar on a terminal, plain lines elsewhere."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None,
                 interval: float = PLAIN_INTERVAL) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval
        self.total = 0
        self.epochs = 0
        self.scheduled = False  # the learning rate moves: each epoch's line says it
        self._last_line = 0.0
        self._progress: Any = None
        self._task: Any = None
        self.unsaved = False  # a part of the run folder could not be written
        self.memory = ""  # the process's memory as the last `SystemLoad` said, e.g. "812 MB"

    def __call__(self, event: Event) -> None:
        """Report one event."""
        if isinstance(event, BatchEnd):
            self._batch(event)
        elif isinstance(event, RunStarted):
            self.total, self.epochs = event.total_batches, event.epochs
            self.scheduled = event.config.get("lr_schedule", "constant") != "constant"
            self._last_line = time.monotonic()
            precision = f" in {event.precision}" if event.precision else ""
            self.say(f"run {event.run_id}: {event.config['model']} model, {event.params:,} "
                     f"parameters{precision}, {event.train_samples:,} training / "
                     f"{event.val_samples:,} validation images, {event.total_batches:,} batches")
            self._start_bar()
        elif isinstance(event, Phase):
            self.say(f"{event.message}...")
        elif isinstance(event, EpochEnd):
            rate = (f"  lr {event.learning_rate:.3g}"
                    if self.scheduled and event.learning_rate is not None else "")
            self.say(f"epoch {event.epoch}/{self.epochs}: loss {_num(event.loss)} "
                     f"accuracy {_pct(event.accuracy)}  val loss {_num(event.val_loss)} "
                     f"val accuracy {_pct(event.val_accuracy)}{rate}  ({event.seconds:.1f} s)")
        elif isinstance(event, Evaluated):
            self.stop_bar()
            on = f" on {event.test_samples:,} images" if event.test_samples else ""
            self.say(f"test: loss {_num(event.test_loss)} accuracy "
                     f"{_pct(event.test_accuracy)}{on}")
        elif isinstance(event, (RunFinished, RunStopped, RunFailed)):
            self.stop_bar()
            self.say(self._final_line(event))
            for line in _after_words(event.summary):
                self.say(line)
        elif isinstance(event, StorageProblem):
            self.unsaved = True
            self.say(f"mnist-tui: {event.message}")
        elif isinstance(event, SystemLoad):
            self._load(event)
        # ShownDigits, Predictions and the rest: nothing to say on a console

    def _load(self, event: SystemLoad) -> None:
        """Keep the process's memory for the progress lines (and the bar), printing nothing."""
        self.memory = format_bytes(event.memory, missing="")
        if self._progress is not None:
            self._progress.update(self._task, memory=self._memory_text())

    def _memory_text(self) -> str:
        """The memory figure as the progress shows it: " · 812 MB", or "" before any."""
        return f" · {self.memory}" if self.memory else ""

    def _final_line(self, event: RunFinished | RunStopped | RunFailed) -> str:
        """The last line of a run: how it ended, its accuracies and where it is saved."""
        if isinstance(event, RunFailed):
            return f"failed: {event.error}"
        summary = event.summary
        where = f"; run saved in {summary['run_dir']}" if summary.get("run_dir") else ""
        if where and self.unsaved:
            where = f"; run partly saved in {summary['run_dir']} (see above)"
        head = "finished" if isinstance(event, RunFinished) else f"stopped ({event.reason})"
        return (f"{head}: validation accuracy {_pct(summary.get('val_accuracy'))}, test "
                f"accuracy {_pct(summary.get('test_accuracy'))} in "
                f"{_duration(summary.get('seconds'))}{where}")

    def _batch(self, event: BatchEnd) -> None:
        """Move the bar, or write a plain line when the last is `interval` seconds old."""
        if self._progress is not None:
            self._progress.update(self._task, completed=event.step,
                                  description=f"epoch {event.epoch}/{self.epochs}",
                                  loss=event.loss)
            return
        now = time.monotonic()
        if now - self._last_line < self.interval and event.step != self.total:
            return
        self._last_line = now
        rate = event.seen / event.elapsed if event.elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - event.step) * event.elapsed / event.step if event.step else 0.0
            where = (f"batch {event.step}/{self.total} ({100.0 * event.step / self.total:.1f}%)")
            left = f" eta {_duration(eta)}"
        else:  # a total not known: a count and a rate, nothing made up
            where, left = f"batch {event.step}", ""
        self.say(f"epoch {event.epoch}/{self.epochs} {where} loss {event.loss:.4f} accuracy "
                 f"{_pct(event.accuracy)} {rate:,.0f} images/s elapsed "
                 f"{_duration(event.elapsed)}{left}{self._memory_text()}")

    def _start_bar(self) -> None:
        """Start the rich progress bar, on a terminal only."""
        if not self.interactive or self._progress is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("loss {task.fields[loss]:.4f}{task.fields[memory]}"),
            console=Console(file=self.stream), transient=False,
        )
        self._task = self._progress.add_task("training", total=self.total or None,
                                             loss=float("nan"),
                                             memory=self._memory_text())
        self._progress.start()

    def stop_bar(self) -> None:
        """End the progress bar (if any), leaving it drawn; later lines go below it."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def say(self, line: str) -> None:
        """Write one line: above the progress bar while there is one."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()


def _after_words(summary: Mapping[str, Any]) -> list[str]:
    """The lines after a run's last line: what early stopping did, a divergence warning, a
    model that was not saved."""
    lines = [outcome_text(summary)] if outcome_text(summary) else []
    lines += [f"warning: {summary['warning']}"] if summary.get("warning") else []
    if summary.get("model_error"):
        lines.append(f"mnist-tui: {summary['model_error']}")
    return lines


def summary_json(summary: RunSummary) -> str:
    """The JSON object printed on stdout: the documented keys first, then any others."""
    return dumps_strict(summary.to_json(), default=str)


def exit_code(summary: Mapping[str, Any]) -> int:
    """0 when every epoch finished, 1 otherwise (failed, diverged, or stopped early)."""
    return EXIT_OK if summary.get("status") == "finished" else EXIT_FAILED


def _tolerant(report: Emit) -> Emit:
    """`report`, for the training thread: progress whose reader has gone is lost, never the
    run (`reader_gone`)."""

    def emit(event: Event) -> None:
        with reader_gone():
            report(event)

    return emit


def _own_stderr() -> TextIO:
    """A stream on a duplicate of file descriptor 2: what is said stays said while
    TensorFlow's quiet import, in another thread, points descriptor 2 at the null device."""
    sys.stderr.flush()
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    return open(os.dup(2), "w", buffering=1, encoding=encoding, errors="replace")


def run_headless(config: TrainConfig, *, runs_dir: Path | None = None,
                 data_path: str | Path | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None, writer: RunWriter | None = None,
                 control: RunControl | None = None) -> int:
    """Train without a UI and return the process exit code (0, 1, 2, or 143 after a SIGTERM).

    `writer` trains into a run folder already made (a detached run's), where data that
    cannot be used is logged as a failed run; `control` lets another thread stop or pause.
    SIGINT and SIGTERM stop the run cleanly, a second one quits at once (`StopSignals`); a
    terminal that hangs up leaves it training (`survive_hang_up`).
    """

    stdout = stdout or sys.stdout
    stderr = stderr or _own_stderr()
    console = HeadlessConsole(stderr)
    start_import()  # TensorFlow loads while MNIST does
    try:
        if config.strategy == "multi-worker":
            read_tf_config()
        data = load_run_data(config, data_path)
    except MnistTuiError as exc:
        stderr.write(f"mnist-tui: {exc}\n")
        if writer is not None:
            writer.write(RunFailed(error=str(exc),
                                   summary=failed_summary(writer, config, str(exc))))
        return exc.exit_code
    if writer is None:
        writer = RunWriter(runs_dir or default_runs_dir(), new_run_id(), config,
                           report=_tolerant(console))
    control = control or RunControl()
    outcome: dict[str, RunSummary] = {}

    def train() -> None:
        outcome["summary"] = execute_run(config, _tolerant(console), control, writer=writer,
                                         data=data)[1]

    thread = threading.Thread(target=train, name="mnist-tui-trainer", daemon=True)

    def on_stop(signum: int) -> None:
        control.stop(stop_reason(signum))
        again = "press Ctrl+C" if signum == signal.SIGINT else f"send {signal_name(signum)}"
        with reader_gone():
            console.say(f"stopping after this batch, then evaluating on the test set; "
                        f"{again} again to quit at once")

    def on_quit(code: int, folders: list[Path]) -> None:
        with reader_gone():
            console.stop_bar()
            stderr.write(f"quit; the log up to now is in {writer.run_dir}\n")
            stderr.flush()
        os._exit(code)

    stops = StopSignals(on_stop, on_quit)
    with survive_hang_up(), stops:
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
            stops.rearm()
    summary = outcome.get("summary") or failed_summary(writer, config)
    stdout.write(summary_json(summary) + "\n")
    stdout.flush()
    return stops.exit_code(exit_code(summary))


def watch_headless(run_dir: Path, *, stdout: TextIO | None = None,
                   stderr: TextIO | None = None) -> int:
    """Follow a run another process writes, reporting it like a headless run; the exit code.

    A replay for a finished run. 0 when it finished, 1 when it stopped early, failed or
    died without a final event (said on stderr, with how long ago its last event came).
    Ctrl+C stops watching, never the run.
    """

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    console = HeadlessConsole(stderr)
    console.say(f"watching {run_dir}")
    unknown = liveness_unknown(run_dir)
    if unknown:
        console.say(f"{unknown}; Ctrl+C stops watching")
    try:
        end = follow_run(run_dir, console)
    except KeyboardInterrupt:
        console.stop_bar()
        stderr.write("stopped watching; the run goes on\n")
        return EXIT_OK
    console.stop_bar()
    if end.outcome == "died":
        stderr.write(f"mnist-tui: {end.died_message()}\n")
        return EXIT_FAILED
    ended = end.last_event
    summary = ended.summary if isinstance(ended, (RunFinished, RunStopped, RunFailed)) else (
        RunSummary())
    summary = summary.in_folder(run_dir)  # a log of an older version may not name it
    stdout.write(summary_json(summary) + "\n")
    stdout.flush()
    return exit_code(summary)


def detached_main(argv: Sequence[str] | None = None) -> int:
    """The detached process: train the config in RUN_DIR headless (its control channel is
    opened by `execute_run`, like every run's)."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tui.headless",
                                     description="Train a prepared run folder in the "
                                                 "background (started by mnist-tui --detach).")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", metavar="PATH")
    parser.add_argument("--resume", action="store_true",
                        help="go on from the run's checkpoint (mnist-tui resume --detach)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a hung-up terminal must not end the run
    run_dir = args.run_dir
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text("utf-8")))
    writer = RunWriter(run_dir.parent, run_dir.name, config, exist_ok=True, resume=args.resume)
    return run_headless(config, data_path=args.data, writer=writer)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(detached_main())
