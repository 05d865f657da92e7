"""The words and numbers of a run's summary, shared by the summary screen and the exit text.

Two kinds of run end on the summary. An MNIST run of the app has a test evaluation: its key
figures are validation and test accuracy. A run of any Keras model logged by
`MonitorCallback` has no test set by design, and maybe no accuracy metric at all: its key
figures are the final training and validation losses (plus validation accuracy if reported).
`is_callback_run` tells them apart and `reported_metrics` finds what such a run did report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnist_tui.core.events import EpochEnd
from mnist_tui.core.formatting import finite, format_bytes, format_loss, format_percent
from mnist_tui.training.epoch_rules import outcome_text
from mnist_tui.tui.state.history import TrainingHistory

CALLBACK_SOURCE = "keras callback"
"""The `source` that `MonitorCallback` writes into a run's config."""


def format_seconds(seconds: float | None) -> str:
    """A duration for people: "42.5 s", "3m 07s", "1h 02m"."""
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_epochs(summary: Mapping[str, Any]) -> str:
    """"1 of 3 epochs", plus " (stopped early)" when the run stopped before its last epoch
    (" (early stopping)" when early stopping ended it)."""
    done, total = summary.get("epochs_completed"), summary.get("epochs")
    text = f"{'?' if done is None else done} of {'?' if total is None else total}"
    text += " epoch" if total == 1 else " epochs"
    if summary.get("early_stopped_epoch"):
        return text + " (early stopping)"
    return text + (" (stopped early)" if summary.get("stopped_early") else "")


def digits_loss(value: float | None) -> str:
    """A loss for the big `Digits` figures: about four significant digits, at most ~6 cells.

    `Digits` draws 0-9, "+", "-" and "E" three cells wide and "." one, in a 19-cell box.
    """
    value = finite(value)
    if value is None:
        return "--"
    size = abs(value)
    if size < 10:
        return f"{value:.4f}"
    if size < 1000:
        return f"{value:.{3 if size < 100 else 2}f}"
    if size < 1_000_000:
        return f"{value:.0f}"
    return f"{value:.1E}".replace("+", "")


def status_line(summary: Mapping[str, Any]) -> str:
    """One line saying how the run ended, with the reason when there is one."""
    status = summary.get("status") or "unknown"
    reason = str(summary.get("reason") or "") or outcome_text(summary, short=True)
    if status == "finished":
        text = "✓ Training finished"
    elif status == "stopped":
        text = "■ Training stopped early" if summary.get("stopped_early") else (
            "■ Training stopped")
    elif status == "failed":
        text = "✗ Training failed"
    else:
        text = f"Training {status}"
    return f"{text}: {reason}" if reason else text


def is_callback_run(summary: Mapping[str, Any], history: TrainingHistory | None = None) -> bool:
    """Whether the run had no test evaluation by design: a `MonitorCallback` run.

    Known from the `source` the callback writes into the run's config, or else from the
    history's `RunStarted` announcing no test images (every MNIST run has a test set).
    """
    config = summary.get("config")
    if isinstance(config, Mapping) and config.get("source") == CALLBACK_SOURCE:
        return True
    started = history.started if history is not None else None
    return started is not None and started.test_samples == 0


def _first(*values: Any) -> float | None:
    return next((number for number in map(finite, values) if number is not None), None)


@dataclass(frozen=True)
class ReportedMetrics:
    """The final figures a run without a test evaluation reported (None where it did not)."""

    loss: float | None
    val_loss: float | None
    val_accuracy: float | None


def reported_metrics(summary: Mapping[str, Any], history: TrainingHistory | None = None
                     ) -> ReportedMetrics:
    """The run's final training loss, validation loss and validation accuracy.

    From the summary (its `metrics` are the last epoch's Keras logs), else from the last
    epoch the history saw, else (training loss only) the running mean of the last batch.
    """
    metrics = summary.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    last = history.epoch_ends[-1] if history is not None and history.epoch_ends else None
    return ReportedMetrics(
        loss=_first(metrics.get("loss"), summary.get("loss"), last.loss if last else None,
                    history.loss if history is not None else None),
        val_loss=_first(summary.get("val_loss"), metrics.get("val_loss"),
                        last.val_loss if last else None),
        val_accuracy=_first(summary.get("val_accuracy"),
                            last.val_accuracy if last else None))


def epoch_line(event: EpochEnd, epochs: int | None) -> str:
    """One epoch of a callback run, naming only the metrics it reported."""
    parts = [f"epoch {event.epoch}" + (f"/{epochs}" if epochs else ""),
             f"loss {format_loss(event.loss)}"]
    if event.accuracy is not None:
        parts.append(f"acc {format_percent(event.accuracy)}")
    if event.val_loss is not None:
        parts.append(f"val loss {format_loss(event.val_loss)}")
    if event.val_accuracy is not None:
        parts.append(f"val acc {format_percent(event.val_accuracy)}")
    parts.append(f"{event.seconds:.1f} s")
    return "  ".join(parts)


def _figures_line(summary: Mapping[str, Any]) -> str:
    if is_callback_run(summary):
        reported = reported_metrics(summary)
        line = f"loss {format_loss(reported.loss)}"
        if reported.val_loss is not None:
            line += f", val loss {format_loss(reported.val_loss)}"
        if reported.val_accuracy is not None:
            line += f", validation accuracy {format_percent(reported.val_accuracy)}"
        if summary.get("test_loss") is not None:  # evaluated (see `callback.MonitorCallback`)
            line += f", test loss {format_loss(summary.get('test_loss'))}"
        if summary.get("test_accuracy") is not None:
            line += f", test accuracy {format_percent(summary.get('test_accuracy'))}"
        return line
    return (f"validation accuracy {format_percent(summary.get('val_accuracy'))}, "
            f"test accuracy {format_percent(summary.get('test_accuracy'))}, "
            f"test loss {format_loss(summary.get('test_loss'))}")


def warning_lines(summary: Mapping[str, Any]) -> list[str]:
    """What a person should not miss about a run that ended: a divergence warning (see
    `divergence.py`), a model or run folder that could not be saved."""
    return [str(summary[key]) for key in ("warning", "model_error", "storage_error")
            if summary.get(key)]


MOST_RATE_CHANGES = 3  # listed one by one; more are summed up


def _rate_changes(summary: Mapping[str, Any]) -> list[tuple[int, float, float, str]]:
    """The summary's learning-rate changes as (step, previous, rate, by), damaged ones left
    out."""
    changes = summary.get("learning_rate_changes")
    found = []
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, Mapping):
            continue
        step, previous, rate = (finite(change.get(key)) for key in ("step", "previous", "rate"))
        if step is not None and previous is not None and rate is not None:
            found.append((int(step), previous, rate, str(change.get("by") or "user")))
    return found


def _who(by: str) -> str:
    return "you" if by == "user" else by


def memory_and_rate_lines(summary: Mapping[str, Any]) -> list[str]:
    """What the run's process held at most and how its learning rate was changed, when the
    summary says: "peak memory 901 MB", "learning rate 0.01 → 0.003 from batch 401 (you)"."""
    lines = []
    peak = finite(summary.get("peak_memory"))
    if peak is not None and peak > 0:
        lines.append(f"peak memory {format_bytes(peak)}")
    changes = _rate_changes(summary)
    if len(changes) > MOST_RATE_CHANGES:
        step, _, rate, by = changes[-1]
        lines.append(f"learning rate {changes[0][1]:.3g} → {rate:.3g} ({len(changes)} changes, "
                     f"the last from batch {step + 1:,}, {_who(by)})")
    elif changes:
        lines.append(f"learning rate {changes[0][1]:.3g}" + "".join(
            f" → {rate:.3g} from batch {step + 1:,} ({_who(by)})"
            for step, _, rate, by in changes))
    return lines


def format_summary_text(summary: Mapping[str, Any]) -> str:
    """A short plain-text summary for the terminal's scrollback once the app has exited."""
    run_id = summary.get("run_id") or "?"
    lines = [f"mnist-tui run {run_id}: {summary.get('status') or 'unknown'}"
             + (f" ({summary['reason']})" if summary.get("reason") else "")]
    lines.append(f"  {_figures_line(summary)}")
    rate = summary.get("samples_per_second")
    unit = "samples/s" if is_callback_run(summary) else "images/s"
    precision = summary.get("precision")
    lines.append(f"  {format_epochs(summary)}, {format_seconds(summary.get('seconds'))} of "
                 "training" + (f", {rate:,.0f} {unit}" if rate else "")
                 + (f" in {precision}" if precision else ""))
    if outcome_text(summary):
        lines.append(f"  {outcome_text(summary)}")
    lines += [f"  {line}" for line in memory_and_rate_lines(summary)]
    lines += [f"  warning: {line}" for line in warning_lines(summary)]
    if summary.get("run_dir"):
        lines.append(f"  run folder: {summary['run_dir']}")
    return "\n".join(lines)
