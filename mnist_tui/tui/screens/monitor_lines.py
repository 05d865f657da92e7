"""The monitor's two lines of words: the header (what runs, where) and the progress line.

Plain functions of the history, so the monitor, tests and anything else that shows a run
say the same thing the same way.
"""

from __future__ import annotations

import math

from mnist_tui.core.formatting import format_duration, format_percent
from mnist_tui.tui.state.history import TrainingHistory


def best_validation(history: TrainingHistory) -> str:
    """" · best val 97.8% (epoch 2)" for a run of several epochs once one has a validation
    accuracy; "" otherwise."""
    if history.epochs <= 1:
        return ""
    scored = [(end.val_accuracy, end.epoch) for end in history.epoch_ends
              if end.val_accuracy is not None and math.isfinite(end.val_accuracy)]
    if not scored:
        return ""
    accuracy, epoch = max(scored, key=lambda pair: (pair[0], -pair[1]))  # the first best
    return f" · best val {format_percent(accuracy)} (epoch {epoch})"


def header_line(history: TrainingHistory) -> str:
    """The header line: run id, learning rate, best validation accuracy so far, model and
    size, devices, data."""
    started = history.started
    if started is None:
        return f"mnist-tui · {history.phase_message or 'starting…'}"
    model = history.config.get("model", "?")
    data = f" · {started.data_source}" if started.data_source else ""
    images = (f" · {started.train_samples:,} train / {started.val_samples:,} val images"
              if started.val_samples else "")  # unknown to a Keras callback's run
    devices = [d.rsplit("device:", 1)[-1] for d in started.devices]
    where = ""
    if started.strategy and started.strategy != "default":
        where = f" · {started.strategy} on {', '.join(devices) or '?'}"
    elif devices:
        where = f" · {devices[0]}"
    if started.precision:
        where += f" · {started.precision}"
    rate = history.learning_rate
    lr = f" · lr {rate:.3g}" if rate is not None else ""
    # What changes as the run goes comes first, so that a narrow terminal keeps it.
    return (f"run {history.run_id}{lr}{best_validation(history)} · {model}, "
            f"{history.params:,} params{where}{images}{data}")


def progress_line(history: TrainingHistory, *, paused: bool = False,
                  stopping: bool = False) -> str:
    """The line under the bar: batch n/N, epoch e/E, elapsed, ETA, samples/s, state."""
    if history.started is None:
        return history.phase_message or "starting…"
    rate = history.samples_per_second()
    parts = [
        # A script's input of unknown length: a count, no total, until its first epoch ends.
        f"batch {history.step:,}/{history.total_batches:,}" if history.total_batches
        else f"batch {history.step:,} (epoch length unknown)",
        f"epoch {max(history.epoch, 1)}/{history.epochs}",
        f"elapsed {format_duration(history.elapsed)}",
        f"ETA {format_duration(history.eta_seconds())}",
        f"{rate:,.0f} img/s" if rate is not None else "— img/s",
    ]
    # The state goes first so that a narrow terminal never cuts it off.
    if history.finished:
        parts.insert(0, history.log_lines[-1] if history.log_lines else "done")
    elif paused:
        parts.insert(0, "PAUSED")
    elif stopping:
        parts.insert(0, "stopping…")
    elif history.phase not in ("training", ""):
        parts.insert(0, history.phase_message)
    return " · ".join(parts)
