"""`MonitorCallback`: any Keras `model.fit` logs a run that `mnist-tui watch` shows live.

    from mnist_tui import MonitorCallback
    model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[MonitorCallback(name="my-net")])

then, in another terminal (or after an SSH reconnect): `mnist-tui watch`.

It works under each Keras 3 backend (TensorFlow, JAX, PyTorch). The test accuracy reaches
the run in two ways: `evaluate_test=True` with `test_data` evaluates that test set at the end
of `fit` (the app's order: `Evaluated`, then the run's end; with the confusion matrix when
the labels name 10 classes), and a later `model.evaluate(..., callbacks=[callback])`
amends the run it logged last: an `Evaluated` and the same end again, its summary (and
`summary.json`, rewritten atomically) holding the test loss and accuracy, which readers
(`runs.reading.follow`) put in the app's order. Evaluations inside `fit` (validation) are
the epochs' validation figures, not a test.

The run folder is the same as the app's (config, events.jsonl, summary.json, process.json),
with what a callback can know: the model's name, optimizer, learning rate, parameter count,
epochs and steps per epoch. It is the app's own translation of `fit` into events
(`training.translator.KerasTranslator`), configured for any model: per batch it turns `logs`
into one `BatchEnd` and hands it to the run's writer (a buffered append; the writer flushes
about once a second) through `BatchFolding` (past 20 batches a second, a block of them per
half second), nothing more. A metric named like accuracy ("accuracy", "acc",
"sparse_categorical_accuracy", ...) is charted as accuracy; without one, only the loss is. The
run also takes pause and stop from watchers through its control file, like a detached run.

This module imports Keras; `import mnist_tui` does not (it loads this module on first use).
"""

from __future__ import annotations

import atexit
import re
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mnist_tui.core.batch_folding import BatchFolding, fold_rate
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    Emit,
    Evaluated,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    ShownDigits,
)
from mnist_tui.core.summary import RunSummary, Status
from mnist_tui.runs.channel import ControlChannel
from mnist_tui.runs.writer import RunWriter, default_runs_dir, new_run_id
from mnist_tui.training.batch_metrics import FitHook
from mnist_tui.training.evaluation import keras_evaluation, logged_evaluation
from mnist_tui.training.predictions import PREDICT_SHARE, PredictionHook, choose_digits
from mnist_tui.training.rate_control import LearningRateHook, optimizer_rate_lock
from mnist_tui.training.system_load import LoadHook
from mnist_tui.training.translator import FitShape, KerasTranslator, metric_value, numeric_logs

ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                 "binary_accuracy")


def _slug(name: str) -> str:
    """`name` made safe for a folder name, as the tail of a run id."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-.")[:40]


class MonitorCallback(KerasTranslator):
    """Log a Keras training run as an mnist-tui run folder, for `mnist-tui watch` and `runs`.

    `runs_dir`: where the folder goes (default: the app's runs folder, `$MNIST_TUI_RUNS_DIR`
    or the user data dir). `name`: a label shown as the run's model (and added to its id).
    `batch_size`: the fit's batch size, if you want samples/s and the table to show it
    (Keras does not tell callbacks). `config`: more settings to record (JSON-ready).
    `test_data`: `(x_test, y_test)` with 28x28 images (uint8, or floats in 0..1) to show a
    strip of live test predictions in the monitor (the model must take such images as they
    are); without it there is no strip. `evaluate_test`: evaluate `test_data` at the end of
    each `fit` (its test loss and accuracy, the confusion matrix, the summary's digits).
    A `model.evaluate` given this callback after `fit` adds its test loss and accuracy to
    the run the callback logged last. Each `fit` with this callback starts a new run;
    `run_dir` names the latest. The system load is logged once a second, and a watcher may
    set the learning rate when the optimizer's is a plain value (not a schedule).

    As a `KerasTranslator` it is configured with its own run folder's writer and control,
    the accuracy under any of `ACCURACY_KEYS`, no NaN check (the script decides), and its
    hooks' `epoch_end` after an epoch a stop cut short too (no test evaluation follows).
    """

    def __init__(self, runs_dir: str | Path | None = None, name: str | None = None, *,
                 batch_size: int | None = None, config: dict[str, Any] | None = None,
                 test_data: tuple[Any, Any] | None = None,
                 evaluate_test: bool = False) -> None:
        if evaluate_test and test_data is None:
            raise ValueError("evaluate_test=True needs the test set to evaluate: give "
                             "test_data=(x_test, y_test) too")
        self._fold_rate = fold_rate()  # a bad $MNIST_TUI_FOLD_RATE is said here, before fit
        super().__init__(BatchFolding(self._write, self._fold_rate), RunControl(),
                         accuracy_keys=ACCURACY_KEYS, cut_epoch_hooks=True)
        self.runs_dir = Path(runs_dir).expanduser() if runs_dir is not None else None
        self.name = name
        self.batch_size = batch_size
        self.extra_config = dict(config or {})
        self.run_dir: Path | None = None
        self._writer: RunWriter | None = None
        self._channel: ControlChannel | None = None
        self.epochs = self.steps = 0
        self.test_data = test_data
        self.evaluate_test = evaluate_test
        self._fitting = False  # between on_train_begin and on_train_end: evaluations validate
        self._ended: RunSummary | None = None  # the summary the latest run ended with
        self._test_began = time.perf_counter()
        self._shown: ShownDigits | None = None  # the strip's digits, chosen once
        self._shown_inputs: np.ndarray | None = None  # their rows of x_test, as the model takes
        if test_data is not None:  # a test set that cannot be shown fails here, before `fit`
            x_test = np.asarray(test_data[0])
            self._shown = choose_digits(x_test, np.asarray(test_data[1]))
            self._shown_inputs = x_test[list(self._shown.indices)]
        self._run_config: dict[str, Any] = {}  # as the fit began (its rate may change)
        self._rate_hook: LearningRateHook | None = None
        self._load_hook: LoadHook | None = None

    def _config(self) -> dict[str, Any]:
        """What a callback can know of the run's settings, plus the `config` given."""
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        rate = metric_value(getattr(optimizer, "learning_rate", None))
        optimizer_name = getattr(optimizer, "name", None)
        if rate is not None:
            rate = float(f"{rate:.7g}")  # a float32 0.01 reads 0.009999999776...
        config: dict[str, Any] = {
            "name": self.name or model.name,
            "model": model.name,
            # Keras numbers unnamed optimizers per process ("adam_2"): the kind is the name.
            "optimizer": (re.sub(r"_\d+$", "", str(optimizer_name))
                          if optimizer_name else None),
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
        config = self._run_config = self._config()
        self.control = RunControl()
        self.emit = folded = BatchFolding(self._write, self._fold_rate)  # a fold per run
        self._writer = RunWriter(self.runs_dir or default_runs_dir(), run_id, config)
        self._fitting, self._ended = True, None
        self.run_dir = self._writer.run_dir
        self._channel = ControlChannel(self.run_dir, self.control).start()
        atexit.register(self._abandoned)
        self.epochs = int(self.params.get("epochs") or 0)
        self.steps = int(self.params.get("steps") or 0)
        self.last_logs = {}
        per_batch = self.batch_size or 1  # without a batch size, images count batches
        self.set_shape(FitShape(self.steps, per_batch, self.steps * per_batch))
        self.start_run()  # each fit is a run of its own
        train_samples = self.steps * self.batch_size if self.steps and self.batch_size else 0
        folded(Phase(phase="training", message=f"training {config['name']}"))
        rate_hook = LearningRateHook(self.control, folded,
                                     optimizer_rate_lock(getattr(self.model, "optimizer", None)))
        folded(RunStarted(
            run_id=run_id, config=config, total_batches=self.steps * self.epochs,
            batches_per_epoch=self.steps, epochs=self.epochs, train_samples=train_samples,
            val_samples=0, test_samples=0, params=int(self.model.count_params()),
            data_source="keras model.fit", rate_locked=rate_hook.locked))
        self._load_hook, self._rate_hook = LoadHook(folded), rate_hook
        self._load_hook.sample_now()
        hooks: list[FitHook] = [self._load_hook, rate_hook]
        if self._shown is not None:
            folded(self._shown)
            predictions = PredictionHook(self._shown, folded, inputs=self._shown_inputs,
                                         share=PREDICT_SHARE)
            predictions.prepare(self.model)  # traced before the first batch
            if predictions.failure:
                warnings.warn(f"mnist-tui: the model cannot predict the test digits given "
                              f"as test_data, so the monitor shows none: "
                              f"{predictions.failure}", stacklevel=2)
            hooks.append(predictions)
        self.hooks = tuple(hooks)

    def _write(self, event: Event) -> None:
        if self._writer is not None:
            self._writer.write(event)

    def _summary(self, status: Status, reason: str = "") -> RunSummary:
        """The run's summary as a callback knows it (no test evaluation)."""
        seconds = self.progress.train_seconds()
        completed = self.progress.epochs_completed
        key = self.accuracy_key(self.last_logs)
        hooks_saw: dict[str, Any] = {}  # the rates that ran, the peak memory
        if self._rate_hook is not None:
            hooks_saw.update(self._rate_hook.summary_fields())
        if self._load_hook is not None:
            self._load_hook.sample_now()
            hooks_saw["peak_memory"] = self._load_hook.peak_memory
        return RunSummary(
            run_id=self._writer.run_id if self._writer else "",
            run_dir=str(self._writer.run_dir) if self._writer else None,
            config=self._run_config, epochs=self.epochs,
            train_samples=self.steps * self.batch_size if self.batch_size else None,
            status=status, reason=reason, params=int(self.model.count_params()),
            epochs_completed=completed, stopped_early=completed < self.epochs,
            val_loss=self.last_logs.get("val_loss"),
            val_accuracy=self.last_logs.get(f"val_{key}") if key else None, seconds=seconds,
            samples_per_second=self.progress.seen / seconds if self.batch_size and seconds > 0
            else None,
            metrics=dict(self.last_logs), **hooks_saw)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report the epoch; an input of unknown length (a generator) is known from its first
        whole epoch on."""
        super().on_epoch_end(epoch, logs)
        if not self.steps and not self.control.stop_requested and self.progress.epoch_batches:
            self.steps = self.progress.epoch_batches
            per_batch = self.batch_size or 1
            self.set_shape(FitShape(self.steps, per_batch, self.steps * per_batch))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Evaluate `test_data` if asked to, then RunFinished (or RunStopped when a watcher
        stopped it); the log is then closed."""
        super().on_train_end(logs)
        self._fitting = False
        stopped = self.control.stop_requested
        reason = self.control.reason if stopped else ""
        summary = self._summary("stopped" if stopped else "finished", reason)
        if self.evaluate_test and self.test_data is not None:
            summary = self._evaluate_test_data(summary)
        self._end(summary, self.emit)
        self._finish()

    def _evaluate_test_data(self, summary: RunSummary) -> RunSummary:
        """Evaluate `test_data` (`Evaluated`) and return `summary` with its figures; a model
        that cannot be evaluated on it leaves `summary` as it is, with a warning."""
        x_test, y_test = self.test_data  # type: ignore[misc]
        self.emit(Phase(phase="evaluating",
                          message=f"evaluating on {len(np.asarray(y_test)):,} test images"))
        try:
            evaluated, logs = keras_evaluation(self.model, x_test, y_test,
                                               batch_size=self.batch_size,
                                               accuracy_keys=self.accuracy_keys)
        except Exception as exc:  # a user's model and data: the run still ends well
            warnings.warn(f"mnist-tui: the model could not be evaluated on test_data, so the "
                          f"run has no test figures: {type(exc).__name__}: {exc}",
                          stacklevel=3)
            return summary
        self.emit(evaluated)
        return _tested(summary, evaluated, logs)

    def _end(self, summary: RunSummary, write: Emit) -> None:
        """Write the run's terminal event with `summary` through `write`, and keep it."""
        if summary.status == "stopped":
            write(RunStopped(reason=summary.reason, summary=summary))
        else:
            write(RunFinished(summary=summary))
        self._ended = summary

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start the clock of an evaluation."""
        self._test_began = time.perf_counter()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """After `fit`, a `model.evaluate` with this callback: amend the latest run with its
        test loss and accuracy (inside `fit` an evaluation is the validation: nothing)."""
        ended = self._ended
        if self._fitting or ended is None or not ended.run_dir:
            return
        run_dir = Path(ended.run_dir)
        if not (run_dir / "events.jsonl").is_file():
            return  # the folder is gone (deleted, moved): nothing to amend
        logs = numeric_logs(logs or {})
        evaluated = logged_evaluation(logs, self.accuracy_key(logs),
                                      time.perf_counter() - self._test_began)
        writer = RunWriter(run_dir.parent, run_dir.name, self._run_config, exist_ok=True)
        writer.write(evaluated)
        self._end(_tested(ended, evaluated, logs), writer.write)
        writer.close()

    def _finish(self) -> None:
        """Close the control channel and the log; nothing is logged after this."""
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
            self.emit(RunFailed(error=reason, summary=self._summary("failed", reason)))
        self._finish()


def _tested(summary: RunSummary, evaluated: Evaluated, logs: dict[str, float]) -> RunSummary:
    """`summary` with the test figures of `evaluated` (a NaN, an accuracy not measured, left
    out) and each logged test metric under `test_` + its name."""
    def finite(value: float) -> float | None:
        return value if np.isfinite(value) else None

    metrics = {**(summary.metrics or {}), **{f"test_{k}": v for k, v in logs.items()}}
    return replace(summary, test_loss=finite(evaluated.test_loss),
                   test_accuracy=finite(evaluated.test_accuracy), metrics=metrics)
