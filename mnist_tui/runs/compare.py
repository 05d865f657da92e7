"""Runs side by side: the rows of the runs table, the settings that differ, CSV exports.

Shared by `mnist-tui runs` and the app's Runs screen, so both show the same values. Only reads
run folders (through `mnist_tui.runs.reading`). In the CSV exports a value that is unknown, and a
number that is not finite (a diverged run's NaN loss), is an empty cell.

The learning rate shown is the schedule that ran: the config's rate, then each change made
while it trained (the summary's `learning_rate_changes`, see `rate_control.py`) as
"→rate@batch", the first batch at that rate (as the log and the summary screen say "from
batch N"); the CSV has the config's rate as a number and the changes in `lr_changes` as
"step:rate;step:rate", each step as logged (the last batch at the old rate).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from mnist_tui.core.events import BatchBlock, BatchEnd, EpochEnd, Evaluated, Event, RunResumed
from mnist_tui.core.formatting import MISSING, format_duration, format_percent
from mnist_tui.runs.listing import RunInfo
from mnist_tui.runs.reading import read_events

COLUMNS = ("id", "started", "status", "model", "epochs", "learning rate", "optimizer",
           "batch size", "precision", "val accuracy", "test accuracy", "time")
"""The columns of the runs table, in order."""

CSV_EXTRA = ("run_dir", "lr_changes")
"""Columns the runs CSV has after `COLUMNS`: the run folder, and the learning-rate changes."""

SHOWN_CHANGES = 2  # the most rate changes the table lists; more show the first and the last

METRIC_FIELDS = ("run_id", "kind", "epoch", "step", "loss", "accuracy", "val_loss",
                 "val_accuracy", "batches", "loss_min", "loss_max", "accuracy_min",
                 "accuracy_max")
"""Columns of the metrics CSV: one row per batch (kind "batch", that batch's own loss and
accuracy) or per block of batches the run's log folded (kind "block": `step` its last batch,
`batches` how many, the means of their loss and accuracy with the least and greatest), one
per epoch (kind "epoch", the epoch's means and validation metrics), and a "test" row when
the run was evaluated."""


def started_at(run: RunInfo) -> float | None:
    """When the run started (Unix seconds), read from its id (`YYYYmmdd-HHMMSS-...`)."""
    try:
        return time.mktime(time.strptime(run.run_id[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return None


def _plain(value: Any) -> str:
    """A setting as the table shows it: 0.01 rather than 0.010000, "—" when unknown."""
    if isinstance(value, float):
        return f"{value:g}"
    return MISSING if value is None or value == "" else str(value)


def model_name(run: RunInfo) -> str | None:
    """The run's model: the name given to a Keras callback run, else the config's model."""
    name = run.config.get("name") or run.config.get("model")
    return None if name is None else str(name)


def rate_changes(summary: Any) -> list[tuple[int, float, float]]:
    """(step, previous, rate) of each learning-rate change in a run's summary, in order; []
    when there were none (or what is there cannot be read)."""
    changes = summary.get("learning_rate_changes") if isinstance(summary, dict) else None
    if not isinstance(changes, list):
        return []
    found = []
    for change in changes:
        if not isinstance(change, dict):
            continue
        step, previous, rate = (change.get("step"), _rate(change.get("previous")),
                                _rate(change.get("rate")))
        if (isinstance(step, int) and not isinstance(step, bool) and previous is not None
                and rate is not None):
            found.append((step, previous, rate))
    return found


def _rate(value: Any) -> float | None:
    """`value` as a rate, if it is a finite number (a summary read from a file may hold
    anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def rate_schedule_text(rate: Any, changes: Sequence[tuple[int, float, float]]) -> str:
    """The learning rate that ran, for the table: "0.01", or "0.01→0.003@401" (0.003 from
    batch 401 on), "0.01→0.003@401→0.001@801", with more changes "0.01→0.003@401→…→0.0001@1601".
    """
    if not changes:
        return _plain(rate)
    first = _rate(rate)
    steps = [f"{new:g}@{step + 1}" for step, _previous, new in changes]
    if len(steps) > SHOWN_CHANGES:
        steps = [steps[0], "…", steps[-1]]
    return "→".join([_plain(first if first is not None else changes[0][1]), *steps])


def rate_changes_cell(changes: Sequence[tuple[int, float, float]]) -> str:
    """The changes as a CSV cell: "400:0.003;800:0.001" (step: the rate from the next batch
    on, as logged); "" without any."""
    return ";".join(f"{step}:{new!r}" for step, _previous, new in changes)


def run_record(run: RunInfo) -> dict[str, Any]:
    """One run as raw values keyed by `COLUMNS` (numbers stay numbers; None when unknown),
    and its learning-rate changes under "lr_changes" (see `rate_changes`)."""
    summary = run.summary or {}
    config = run.config
    started = started_at(run)
    return {
        "id": run.run_id,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        if started is not None else None,
        "status": run.shown_status,
        "model": model_name(run),
        "epochs": config.get("epochs", summary.get("epochs")),
        "learning rate": config.get("learning_rate"),
        "optimizer": config.get("optimizer"),
        "batch size": config.get("batch_size"),
        # As trained (an "auto" config resolved); a run still going has only its config's.
        "precision": summary.get("precision") or config.get("precision"),
        "val accuracy": summary.get("val_accuracy"),
        "test accuracy": summary.get("test_accuracy"),
        "time": summary.get("seconds"),
        "lr_changes": rate_changes(summary),
    }


def run_row(run: RunInfo) -> tuple[str, ...]:
    """One run as the table shows it, in `COLUMNS` order."""
    record = run_record(run)
    summary = run.summary or {}
    epochs = _plain(record["epochs"])
    if summary.get("epochs_completed") is not None and summary.get("epochs_completed") != (
            record["epochs"]):
        epochs = f"{summary['epochs_completed']}/{epochs}"
    started = record["started"][:16] if record["started"] else MISSING
    return (run.run_id, started, record["status"], _plain(record["model"]), epochs,
            rate_schedule_text(record["learning rate"], record["lr_changes"]),
            _plain(record["optimizer"]),
            _plain(record["batch size"]), _plain(record["precision"]),
            format_percent(record["val accuracy"]),
            format_percent(record["test accuracy"]), format_duration(record["time"], MISSING))


def format_runs_table(runs: Sequence[RunInfo]) -> str:
    """The runs as an aligned plain-text table with a header line (for the terminal).

    A sweep's trials are grouped under a line naming the sweep, where its newest trial
    would be, each as `  #N id` in trial order."""
    groups: dict[str, list[RunInfo]] = {}
    for run in runs:
        if run.sweep and isinstance(run.sweep.get("sweep"), str):
            groups.setdefault(run.sweep["sweep"], []).append(run)
    rows: list[tuple[str, ...]] = [COLUMNS]
    for run in runs:
        name = run.sweep.get("sweep") if run.sweep else None
        if not isinstance(name, str):
            rows.append(run_row(run))
            continue
        trials = groups.pop(name, None)
        if trials is None:
            continue  # listed with its sweep
        rows.append((f"sweep {name}: {len(trials)} trial{'s' * (len(trials) != 1)}",))
        for trial in sorted(trials, key=lambda r: _trial_number(r.sweep)):
            row = run_row(trial)
            rows.append((f"  #{_trial_number(trial.sweep)} {row[0]}", *row[1:]))
    widths = [max(len(row[i]) for row in rows if len(row) == len(COLUMNS))
              for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
             .rstrip() for row in rows]
    return "\n".join(lines)


def _trial_number(tag: dict[str, Any] | None) -> int:
    number = (tag or {}).get("trial")
    return number if isinstance(number, int) else -1


def write_runs_csv(runs: Iterable[RunInfo], out: TextIO) -> None:
    """The runs table as CSV, with raw numbers (fractions, seconds), the run folder and the
    learning-rate changes (`CSV_EXTRA`)."""
    writer = csv.writer(out)
    writer.writerow([*(c.replace(" ", "_") for c in COLUMNS), *CSV_EXTRA])
    for run in runs:
        record = run_record(run)
        writer.writerow([*(_cell(record[c]) for c in COLUMNS), str(run.run_dir),
                         rate_changes_cell(record["lr_changes"])])


def _cell(value: Any) -> Any:
    """A value as a CSV cell: empty for None and for a NaN or infinite number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def differing_settings(runs: Sequence[RunInfo]) -> list[str]:
    """The config keys whose values are not the same in every run, in a stable order."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run.config if k not in keys)
    return [key for key in keys
            if len({repr(run.config.get(key)) for run in runs}) > 1]


def write_metrics_csv(runs: Iterable[RunInfo], out: TextIO) -> int:
    """Every run's recorded metrics as CSV (see `METRIC_FIELDS`); returns the rows written.

    A resumed run's rows are those that count, as the monitor shows them: what its log holds
    after the checkpoint it went on from (a killed run's last batches, a stopped epoch's
    validation, the test evaluation of an ending that was resumed) is left out.
    """
    writer = csv.DictWriter(out, fieldnames=METRIC_FIELDS)
    writer.writeheader()
    count = 0
    for run in runs:
        for row in metric_rows(read_events(run.run_dir)):
            writer.writerow({"run_id": run.run_id, **{k: _cell(v) for k, v in row.items()}})
            count += 1
    return count


def metric_rows(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The CSV rows (without the run id) of one run's events, a resume taking the rows back
    to its checkpoint."""
    rows: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, BatchBlock):
            rows.append({"kind": "block", "epoch": event.epoch, "step": event.step,
                         "loss": event.batch_loss, "accuracy": event.batch_accuracy,
                         "batches": event.count, "loss_min": event.batch_loss_min,
                         "loss_max": event.batch_loss_max,
                         "accuracy_min": event.batch_accuracy_min,
                         "accuracy_max": event.batch_accuracy_max})
        elif isinstance(event, BatchEnd):
            rows.append({"kind": "batch", "epoch": event.epoch, "step": event.step,
                         "loss": event.batch_loss, "accuracy": event.batch_accuracy,
                         "batches": 1})
        elif isinstance(event, EpochEnd):
            rows.append({"kind": "epoch", "epoch": event.epoch, "step": event.step,
                         "loss": event.loss, "accuracy": event.accuracy,
                         "val_loss": event.val_loss, "val_accuracy": event.val_accuracy})
        elif isinstance(event, Evaluated):  # the latest is the run's (a script's evaluate)
            rows = [row for row in rows if row["kind"] != "test"]
            rows.append({"kind": "test", "loss": event.test_loss,
                         "accuracy": event.test_accuracy})
        elif isinstance(event, RunResumed):
            rows = [row for row in rows if _before_checkpoint(row, event)]
    return rows


def _before_checkpoint(row: dict[str, Any], resumed: RunResumed) -> bool:
    """Whether `row` still counts once the run has gone back to `resumed`'s checkpoint: a
    batch up to it, an epoch ended by it (unless the run resumes within that epoch, which
    then ends again), never a test evaluation (the resumed run is evaluated at its end)."""
    if row["kind"] in ("batch", "block"):
        return bool(row["step"] <= resumed.step)
    if row["kind"] == "epoch":
        whole = resumed.batch >= resumed.batches_per_epoch
        return bool(row["step"] <= resumed.step and (whole or row["epoch"] < resumed.epoch))
    return False
