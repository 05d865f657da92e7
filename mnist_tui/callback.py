"""`MonitorCallback`: any Keras `model.fit` logs a run that `mnist-tui watch` shows live.

    from mnist_tui import MonitorCallback
    model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[MonitorCallback(name="my-net")])

then, in another terminal (or after an SSH reconnect): `mnist-tui watch`.

The run folder is the same as the app's (config, events.jsonl, summary.json, process.json),
with what a callback can know: the model's name, optimizer, learning rate, parameter count,
epochs and steps per epoch. Per batch it turns `logs` into one `BatchEnd` and hands it to the
run's writer (a buffered append; the writer flushes about once a second), nothing more. A
metric named like accuracy ("accuracy", "acc", "sparse_categorical_accuracy", ...) is charted
as accuracy; without one, only the loss is. The run also takes pause and stop from watchers
through its control file, like a detached run.

This module imports Keras; `import mnist_tui` does not (it loads this module on first use).
"""

from __future__ import annotations

import atexit
import math
import re
import time
from pathlib import Path
from typing import Any

import keras

from mnist_tui.control import RunControl
from mnist_tui.detach import ControlChannel
from mnist_tui.events import (
    BatchEnd,
    EpochEnd,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.runs import RunWriter, default_runs_dir, new_run_id

ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                 "binary_accuracy")


def _accuracy_key(logs: dict[str, Any]) -> str | None:
    return next((key for key in ACCURACY_KEYS if key in logs), None)


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-.")[:40]


class MonitorCallback(keras.callbacks.Callback):
    """Log a Keras training run as an mnist-tui run folder, for `mnist-tui watch` and `runs`.

    `runs_dir`: where the folder goes (default: the app's runs folder, `$MNIST_TUI_RUNS_DIR`
    or the user data dir). `name`: a label shown as the run's model (and added to its id).
    `batch_size`: the fit's batch size, if you want samples/s and the table to show it
    (Keras does not tell callbacks). `config`: more settings to record (JSON-ready).
    Each `fit` with this callback starts a new run; `run_dir` names the latest.
    """

    def __init__(self, runs_dir: str | Path | None = None, name: str | None = None, *,
                 batch_size: int | None = None, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir).expanduser() if runs_dir is not None else None
        self.name = name
        self.batch_size = batch_size
        self.extra_config = dict(config or {})
        self.run_dir: Path | None = None
        self._writer: RunWriter | None = None
        self._channel: ControlChannel | None = None
        self.control = RunControl()
        self.epochs = self.steps = self.step = self.seen = self.epochs_completed = 0
        self.epoch = self.epoch_batches = 0
        self.prev_loss = self.prev_acc = 0.0
        self.last_logs: dict[str, float] = {}
        self.start = self.epoch_start = self.epoch_paused = 0.0

    def _config(self) -> dict[str, Any]:
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        rate = _number(getattr(optimizer, "learning_rate", None))
        if rate is not None:
            rate = float(f"{rate:.7g}")  # a float32 0.01 reads 0.009999999776...
        config: dict[str, Any] = {
            "name": self.name or model.name,
            "model": model.name,
            "optimizer": getattr(optimizer, "name", None),
            "learning_rate": rate,
            "epochs": self.params.get("epochs"),
            "steps_per_epoch": self.params.get("steps"),
            "batch_size": self.batch_size,
            "source": "keras callback",
        }
        config.update(self.extra_config)
        return config

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Create the run folder and log RunStarted."""
        run_id = new_run_id() + (f"-{_slug(self.name)}" if self.name and _slug(self.name)
                                 else "")
        config = self._config()
        self.control = RunControl()
        self._writer = RunWriter(self.runs_dir or default_runs_dir(), run_id, config)
        self.run_dir = self._writer.run_dir
        self._channel = ControlChannel(self.run_dir, self.control).start()
        atexit.register(self._abandoned)
        self.epochs = int(self.params.get("epochs") or 0)
        self.steps = int(self.params.get("steps") or 0)
        self.step = self.seen = self.epochs_completed = 0
        self.epoch = self.epoch_batches = 0
        self.last_logs = {}
        self.start = self.epoch_start = time.perf_counter()
        train_samples = self.steps * self.batch_size if self.steps and self.batch_size else 0
        self._write(Phase(phase="training", message=f"training {config['name']}"))
        self._write(RunStarted(
            run_id=run_id, config=config, total_batches=self.steps * self.epochs,
            batches_per_epoch=self.steps, epochs=self.epochs, train_samples=train_samples,
            val_samples=0, test_samples=0, params=int(self.model.count_params()),
            data_source="keras model.fit"))

    def _write(self, event: Any) -> None:
        if self._writer is not None:
            self._writer.write(event)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Note where the epoch starts."""
        self.epoch = epoch + 1
        self.epoch_batches = 0
        self.prev_loss = self.prev_acc = 0.0
        self.epoch_start = time.perf_counter()
        self.epoch_paused = self.control.paused_seconds

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """One `BatchEnd` from Keras's running means; obey a stop or pause from a watcher."""
        logs = logs or {}
        done = batch + 1
        new = max(1, done - self.epoch_batches)
        loss = _number(logs.get("loss"))
        loss = math.nan if loss is None else loss
        key = _accuracy_key(logs)
        acc = _number(logs.get(key)) if key else None
        # Running means over the epoch; batches of equal size give this batch's own value.
        batch_loss = (loss * done - self.prev_loss * self.epoch_batches) / new
        batch_acc = None
        if acc is not None:
            batch_acc = (acc * done - self.prev_acc * self.epoch_batches) / new
            self.prev_acc = acc
        self.prev_loss = loss
        self.step += new
        self.seen += new * (self.batch_size or 1)
        self.epoch_batches = done
        elapsed = time.perf_counter() - self.start - self.control.paused_seconds
        self._write(BatchEnd(step=self.step, epoch=self.epoch, batch=done, loss=loss,
                             accuracy=acc, batch_loss=batch_loss, batch_accuracy=batch_acc,
                             seen=self.seen, elapsed=elapsed))
        if not self.control.stop_requested:
            self.control.wait_if_paused()
        if self.control.stop_requested:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """One `EpochEnd` with the epoch's means and validation metrics."""
        logs = logs or {}
        self.last_logs = {k: v for k, v in ((k, _number(v)) for k, v in logs.items())
                          if v is not None}
        if not self.steps or self.epoch_batches >= self.steps:
            self.epochs_completed += 1
        key = _accuracy_key(logs)
        seconds = (time.perf_counter() - self.epoch_start
                   - (self.control.paused_seconds - self.epoch_paused))
        loss = _number(logs.get("loss"))
        self._write(EpochEnd(
            epoch=epoch + 1, step=self.step, loss=math.nan if loss is None else loss,
            accuracy=_number(logs.get(key)) if key else None,
            val_loss=_number(logs.get("val_loss")),
            val_accuracy=_number(logs.get(f"val_{key}")) if key else None, seconds=seconds))

    def _summary(self, status: str, reason: str = "") -> dict[str, Any]:
        seconds = time.perf_counter() - self.start - self.control.paused_seconds
        key = _accuracy_key(self.last_logs)
        return {
            "run_id": self._writer.run_id if self._writer else "", "status": status,
            "reason": reason, "params": int(self.model.count_params()),
            "epochs": self.epochs, "epochs_completed": self.epochs_completed,
            "stopped_early": self.epochs_completed < self.epochs,
            "val_loss": self.last_logs.get("val_loss"),
            "val_accuracy": self.last_logs.get(f"val_{key}") if key else None,
            "test_loss": None, "test_accuracy": None, "seconds": seconds,
            "samples_per_second": self.seen / seconds if self.batch_size and seconds > 0
            else None,
            "train_samples": self.steps * self.batch_size if self.batch_size else None,
            "config": self._config(), "metrics": dict(self.last_logs),
        }

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """RunFinished, or RunStopped when a watcher stopped it; the log is then closed."""
        if self.control.stop_requested:
            reason = self.control.reason
            self._write(RunStopped(reason=reason, summary=self._summary("stopped", reason)))
        else:
            self._write(RunFinished(summary=self._summary("finished")))
        self._finish()

    def _finish(self) -> None:
        atexit.unregister(self._abandoned)
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _abandoned(self) -> None:
        """At exit, a run whose `fit` never ended (an exception, Ctrl+C) is logged as failed."""
        if self._writer is not None and not self._writer.closed:
            reason = "the training script ended before fit() finished"
            self._write(RunFailed(error=reason, summary=self._summary("failed", reason)))
        self._finish()
