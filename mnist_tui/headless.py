"""Headless front end: progress on stderr, the summary as one JSON object on stdout.

On a terminal the progress is a rich progress bar; anywhere else (a log file, CI, `nohup`) it
is plain lines, never a carriage return or backspace, at most one every few seconds plus one
per epoch. Ctrl+C stops after the current batch and still evaluates; a second one quits at once
with the run's log closed and readable.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mnist_tui.config import TrainConfig
from mnist_tui.control import RunControl
from mnist_tui.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)

if TYPE_CHECKING:
    from mnist_tui.runs import RunWriter

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
PLAIN_INTERVAL = 5.0  # seconds between plain progress lines
SUMMARY_KEYS = ("run_id", "run_dir", "status", "reason", "params", "epochs", "epochs_completed",
                "stopped_early", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
                "seconds", "samples_per_second", "train_samples", "config")


def format_duration(seconds: float) -> str:
    """`m:ss` or `h:mm:ss`."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


class HeadlessConsole:
    """An `Emit` that reports a run on a stream: a rich bar on a terminal, plain lines elsewhere."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None,
                 interval: float = PLAIN_INTERVAL) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval
        self.total = 0
        self.epochs = 0
        self._last_line = 0.0
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, event: Event) -> None:
        """Report one event."""
        if isinstance(event, BatchEnd):
            self._batch(event)
        elif isinstance(event, RunStarted):
            self.total, self.epochs = event.total_batches, event.epochs
            self._last_line = time.monotonic()
            self._print(f"run {event.run_id}: {event.config['model']} model, {event.params:,} "
                        f"parameters, {event.train_samples:,} training / {event.val_samples:,} "
                        f"validation images, {event.total_batches:,} batches")
            self._start_bar()
        elif isinstance(event, Phase):
            self._print(f"{event.message}...")
        elif isinstance(event, EpochEnd):
            self._print(f"epoch {event.epoch}/{self.epochs}: loss {_num(event.loss)} "
                        f"accuracy {_pct(event.accuracy)}  val loss {_num(event.val_loss)} "
                        f"val accuracy {_pct(event.val_accuracy)}  ({event.seconds:.1f} s)")
        elif isinstance(event, Evaluated):
            self._stop_bar()
            self._print(f"test: loss {_num(event.test_loss)} accuracy "
                        f"{_pct(event.test_accuracy)} on {event.test_samples:,} images")
        elif isinstance(event, (RunFinished, RunStopped, RunFailed)):
            self._stop_bar()
            self._print(self._final_line(event))

    def _final_line(self, event: Event) -> str:
        summary = getattr(event, "summary", {}) or {}
        if isinstance(event, RunFailed):
            return f"failed: {event.error}"
        where = f"; run saved in {summary['run_dir']}" if summary.get("run_dir") else ""
        head = "finished" if isinstance(event, RunFinished) else f"stopped ({event.reason})"
        return (f"{head}: validation accuracy {_pct(summary.get('val_accuracy'))}, test "
                f"accuracy {_pct(summary.get('test_accuracy'))} in "
                f"{format_duration(summary.get('seconds') or 0)}{where}")

    def _batch(self, event: BatchEnd) -> None:
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
        eta = (self.total - event.step) * event.elapsed / event.step if event.step else 0.0
        pct = 100.0 * event.step / self.total if self.total else 0.0
        self._print(f"epoch {event.epoch}/{self.epochs} batch {event.step}/{self.total} "
                    f"({pct:.1f}%) loss {event.loss:.4f} accuracy {_pct(event.accuracy)} "
                    f"{rate:,.0f} images/s elapsed {format_duration(event.elapsed)} "
                    f"eta {format_duration(eta)}")

    def _start_bar(self) -> None:
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
            TextColumn("loss {task.fields[loss]:.4f}"),
            console=Console(file=self.stream), transient=False,
        )
        self._task = self._progress.add_task("training", total=self.total, loss=float("nan"))
        self._progress.start()

    def _stop_bar(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _print(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()


def summary_json(summary: dict[str, Any]) -> str:
    """The JSON object printed on stdout: the documented keys first, then any others."""
    ordered = {key: summary.get(key) for key in SUMMARY_KEYS}
    ordered.update({k: v for k, v in summary.items() if k not in ordered})
    return json.dumps(ordered, default=str)


def exit_code(summary: dict[str, Any]) -> int:
    """0 when every epoch finished, 1 otherwise (failed, diverged, or stopped early)."""
    return EXIT_OK if summary.get("status") == "finished" else EXIT_FAILED


def run_headless(config: TrainConfig, *, runs_dir: Path | None = None,
                 data_path: str | Path | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None, writer: RunWriter | None = None,
                 control: RunControl | None = None) -> int:
    """Train without a UI and return the process exit code (0, 1 or 2).

    `writer` trains into a run folder already made (a detached run's), where data that
    cannot be used is logged as a failed run; `control` lets another thread stop or pause.
    """
    from mnist_tui.data import DataError, load_mnist
    from mnist_tui.runs import RunWriter, default_runs_dir, execute_run, new_run_id
    from mnist_tui.strategy import StrategyError, read_tf_config
    from mnist_tui.training import check_data_fits

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    console = HeadlessConsole(stderr)
    try:
        if config.strategy == "multi-worker":
            read_tf_config()
        data = load_mnist(data_path)
        check_data_fits(config, data)
    except (DataError, StrategyError) as exc:
        stderr.write(f"mnist-tui: {exc}\n")
        if writer is not None:
            writer.write(RunFailed(error=str(exc), summary={
                "run_id": writer.run_id, "status": "failed", "reason": str(exc),
                "config": config.to_dict()}))
        return EXIT_BAD_INPUT
    if writer is None:
        writer = RunWriter(runs_dir or default_runs_dir(), new_run_id(), config)
    control = control or RunControl()
    outcome: dict[str, Any] = {}

    def train() -> None:
        outcome["summary"] = execute_run(config, console, control, writer=writer, data=data)[1]

    thread = threading.Thread(target=train, name="mnist-tui-trainer", daemon=True)
    interrupts = 0

    def on_interrupt(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            control.stop("interrupted (Ctrl+C)")
            console._print("stopping after this batch, then evaluating on the test set; "
                           "press Ctrl+C again to quit at once")
            return
        writer.write(RunFailed(error="quit at once by a second Ctrl+C",
                               summary={"run_id": writer.run_id, "status": "failed",
                                        "reason": "quit at once by a second Ctrl+C"}))
        console._stop_bar()
        stderr.write(f"quit; the log up to now is in {writer.run_dir}\n")
        stderr.flush()
        os._exit(EXIT_FAILED)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = outcome.get("summary") or {"run_id": writer.run_id, "status": "failed"}
    summary.setdefault("run_dir", str(writer.run_dir))
    stdout.write(summary_json(summary) + "\n")
    stdout.flush()
    return exit_code(summary)


def watch_headless(run_dir: Path, *, stdout: TextIO | None = None,
                   stderr: TextIO | None = None) -> int:
    """Follow a run another process writes, reporting it like a headless run; the exit code.

    A replay for a finished run. 0 when it finished, 1 when it stopped early, failed or
    died without a final event (said on stderr, with how long ago its last event came).
    Ctrl+C stops watching, never the run.
    """
    from mnist_tui.runs import follow_run

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    console = HeadlessConsole(stderr)
    console._print(f"watching {run_dir}")
    try:
        end = follow_run(run_dir, console)
    except KeyboardInterrupt:
        console._stop_bar()
        stderr.write("stopped watching; the run goes on\n")
        return EXIT_OK
    console._stop_bar()
    if end.outcome == "died":
        stderr.write(f"mnist-tui: {end.died_message()}\n")
        return EXIT_FAILED
    summary = dict(getattr(end.last_event, "summary", {}) or {})
    summary.setdefault("run_dir", str(run_dir))
    stdout.write(summary_json(summary) + "\n")
    stdout.flush()
    return exit_code(summary)
