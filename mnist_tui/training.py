"""The trainer: loads MNIST, builds the seed's model, fits it and evaluates it, emitting events.

Keras and TensorFlow are imported inside `Trainer.run`, in the thread that trains, so that
front ends can show themselves before TensorFlow's seconds-long import.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from mnist_tui.config import TrainConfig
from mnist_tui.control import RunControl
from mnist_tui.data import DataError, MnistData, load_mnist
from mnist_tui.events import (
    BatchEnd,
    DigitSample,
    Emit,
    EpochEnd,
    Evaluated,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)

EVAL_BATCH_SIZE = 1024
FIRST_SAMPLES = 16  # test images shown in the gallery from the front of the test set
WRONG_SAMPLES = 16  # extra misclassified test images shown after them
CROSSENTROPY_EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps]
_IMPORT_LOCK = threading.Lock()


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ and Python log lines, which would corrupt a terminal UI."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def import_keras() -> Any:
    """Import Keras quietly (TensorFlow backend) and return the module.

    TensorFlow's C++ code logs a few lines to file descriptor 2 while it loads, whatever
    `TF_CPP_MIN_LOG_LEVEL` says (absl logs before it is initialised), so the import runs with
    descriptor 2 pointed at the null device.
    """
    quiet_tensorflow()
    with _IMPORT_LOCK:
        if "tensorflow" not in sys.modules:
            sys.stderr.flush()
            saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 2)
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(null)
    import absl.logging
    import keras
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    return keras


def prepare_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) images → float32 (N, 28, 28, 1) in 0..1, as the seed feeds them."""
    return (x.astype(np.float32) / 255.0)[..., np.newaxis]


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def check_data_fits(config: TrainConfig, data: MnistData) -> None:
    """Raise DataError when the data holds fewer training images than the config asks for."""
    if data.x_train.shape[0] < config.train_size:
        raise DataError(
            f"{data.source} holds {data.x_train.shape[0]:,} training images but the training "
            f"size is {config.train_size:,}; use a training size of at most "
            f"{data.x_train.shape[0]:,}"
        )


def make_bridge(keras: Any, config: TrainConfig, emit: Emit, control: RunControl) -> Any:
    """The thin Keras callback that turns `fit`'s hooks into events and obeys `control`."""

    class BridgeCallback(keras.callbacks.Callback):
        """One `batch_end` per reported batch, one `epoch_end` per epoch; stop, pause, NaN."""

        def __init__(self) -> None:
            super().__init__()
            self.batch_size = config.batch_size
            self.train_samples = config.train_samples
            self.batches_per_epoch = config.batches_per_epoch
            self.step = 0
            self.seen = 0
            self.epoch = 0
            self.epoch_batches = 0
            self.epoch_seen = 0
            self.prev_loss = 0.0
            self.prev_acc = 0.0
            self.epochs_completed = 0
            self.last_logs: dict[str, float] = {}
            self.nan_message = ""
            self.train_start = 0.0
            self.epoch_start = 0.0
            self.epoch_paused = 0.0
            self.train_seconds = 0.0

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.train_start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1
            self.epoch_batches = 0
            self.epoch_seen = 0
            self.prev_loss = 0.0
            self.prev_acc = 0.0
            self.epoch_start = time.perf_counter()
            self.epoch_paused = control.paused_seconds

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            done = batch + 1  # with steps_per_execution, `batch` is the last step run
            new_batches = done - self.epoch_batches
            seen_now = min(done * self.batch_size, self.train_samples)
            new_seen = seen_now - self.epoch_seen
            loss = float(logs.get("loss", math.nan))
            acc = logs.get("accuracy")
            acc = None if acc is None else float(acc)
            # Keras reports running means since the epoch began; recover this batch's own value.
            batch_loss = (loss * seen_now - self.prev_loss * self.epoch_seen) / max(new_seen, 1)
            batch_acc = None
            if acc is not None:
                batch_acc = (acc * seen_now - self.prev_acc * self.epoch_seen) / max(new_seen, 1)
                self.prev_acc = acc
            self.prev_loss = loss
            self.step += new_batches
            self.seen += new_seen
            self.epoch_batches = done
            self.epoch_seen = seen_now
            elapsed = time.perf_counter() - self.train_start - control.paused_seconds
            emit(BatchEnd(step=self.step, epoch=self.epoch, batch=done, loss=loss, accuracy=acc,
                          batch_loss=batch_loss, batch_accuracy=batch_acc, seen=self.seen,
                          elapsed=elapsed))
            if not math.isfinite(loss):
                self.nan_message = (
                    f"the loss became {loss} at epoch {self.epoch}, batch {done}: training "
                    f"diverged; try a lower learning rate than {config.learning_rate}"
                )
                self.model.stop_training = True
            elif control.stop_requested:
                self.model.stop_training = True
            else:
                control.wait_if_paused()
                if control.stop_requested:
                    self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.last_logs = {k: float(v) for k, v in logs.items()}
            if self.epoch_batches >= self.batches_per_epoch:
                self.epochs_completed += 1
            seconds = (time.perf_counter() - self.epoch_start
                       - (control.paused_seconds - self.epoch_paused))
            emit(EpochEnd(epoch=epoch + 1, step=self.step, loss=float(logs.get("loss", math.nan)),
                          accuracy=_float_or_none(logs.get("accuracy")),
                          val_loss=_float_or_none(logs.get("val_loss")),
                          val_accuracy=_float_or_none(logs.get("val_accuracy")), seconds=seconds))

        def on_train_end(self, logs: dict | None = None) -> None:
            self.train_seconds = (time.perf_counter() - self.train_start
                                  - control.paused_seconds)

    return BridgeCallback()


def evaluate_predictions(probs: np.ndarray, y_true: np.ndarray, x_test: np.ndarray,
                         seconds: float = 0.0) -> Evaluated:
    """Build the `Evaluated` event from predicted probabilities on the test set."""
    y_true = y_true.astype(np.int64)
    predicted = probs.argmax(axis=1)
    picked = np.clip(probs[np.arange(len(y_true)), y_true], CROSSENTROPY_EPSILON,
                     1.0 - CROSSENTROPY_EPSILON)
    loss = float(-np.log(picked).mean())
    accuracy = float((predicted == y_true).mean())
    confusion = np.bincount(y_true * 10 + predicted, minlength=100).reshape(10, 10)
    totals = confusion.sum(axis=1)
    per_class = np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), 0.0)
    first = list(range(min(FIRST_SAMPLES, len(y_true))))
    wrong = [int(i) for i in np.flatnonzero(predicted != y_true) if i >= len(first)]
    samples = tuple(
        DigitSample.from_image(i, y_true[i], predicted[i], probs[i, predicted[i]], x_test[i])
        for i in first + wrong[:WRONG_SAMPLES]
    )
    return Evaluated(test_loss=loss, test_accuracy=accuracy, test_samples=len(y_true),
                     confusion=tuple(tuple(int(c) for c in row) for row in confusion),
                     per_class_accuracy=tuple(float(a) for a in per_class),
                     samples=samples, seconds=seconds)


class Trainer:
    """Runs one training run in the calling thread and reports it as events.

    `data_path` is where to look for MNIST first (see `load_mnist`), or `data` the images
    themselves; `run_dir` is the run's folder, named in the summary, where the trained model is
    saved as `model.keras` (None keeps it in memory only, as `self.model`).
    """

    def __init__(self, data_path: str | Path | None = None, run_dir: Path | None = None,
                 data: MnistData | None = None) -> None:
        self.data_path = data_path
        self.run_dir = run_dir
        self.save_model_to = None if run_dir is None else Path(run_dir) / "model.keras"
        self.data = data
        self.model: Any = None

    def run(self, config: TrainConfig, emit: Emit, control: RunControl | None = None,
            run_id: str = "") -> dict[str, Any]:
        """Train `config` and return the summary; every outcome ends in a terminal event."""
        control = control or RunControl()
        summary: dict[str, Any] = {
            "run_id": run_id, "status": "failed", "reason": "", "params": None,
            "epochs": config.epochs, "epochs_completed": 0, "stopped_early": False,
            "val_loss": None, "val_accuracy": None, "test_loss": None, "test_accuracy": None,
            "seconds": 0.0, "samples_per_second": 0.0, "train_samples": config.train_samples,
            "config": config.to_dict(),
        }
        if self.run_dir is not None:
            summary["run_dir"] = str(self.run_dir)
        try:
            return self._run(config, emit, control, summary)
        except DataError as exc:
            summary["reason"] = str(exc)
            emit(RunFailed(error=str(exc), detail="", summary=summary))
        except Exception as exc:  # any fault becomes a readable run_failed event
            message = f"{type(exc).__name__}: {exc}"
            summary["reason"] = message
            emit(RunFailed(error=message, detail=traceback.format_exc(), summary=summary))
        return summary

    def _run(self, config: TrainConfig, emit: Emit, control: RunControl,
             summary: dict[str, Any]) -> dict[str, Any]:
        errors = config.validate()
        if errors:
            raise ValueError("invalid config: " + "; ".join(errors.values()))
        emit(Phase(phase="loading_data", message="loading MNIST"))
        data = self.data or load_mnist(self.data_path)
        check_data_fits(config, data)
        emit(Phase(phase="building_model", message="importing TensorFlow, building the model"))
        keras = import_keras()
        from mnist_tui.model import build_model

        x = prepare_images(data.x_train[: config.train_size])
        y = data.y_train[: config.train_size].astype(np.int32)
        split = config.train_samples
        if config.seed is not None:
            keras.utils.set_random_seed(config.seed)
        model = build_model(config)
        self.model = model
        summary["params"] = int(model.count_params())
        devices = tuple(d.name for d in _logical_devices())
        emit(RunStarted(run_id=summary["run_id"], config=config.to_dict(),
                        total_batches=config.total_batches,
                        batches_per_epoch=config.batches_per_epoch, epochs=config.epochs,
                        train_samples=split, val_samples=config.val_samples,
                        test_samples=len(data.y_test), params=summary["params"],
                        data_source=data.source, devices=devices))
        if control.stop_requested:
            summary.update(status="stopped", reason=control.reason, stopped_early=True)
            emit(RunStopped(reason=control.reason, summary=summary))
            return summary
        emit(Phase(phase="training", message=f"training on {split:,} images"))
        bridge = make_bridge(keras, config, emit, control)
        model.fit(x[:split], y[:split], batch_size=config.batch_size, epochs=config.epochs,
                  validation_data=(x[split:], y[split:]), shuffle=True, verbose=0,
                  callbacks=[bridge])
        logs = bridge.last_logs
        summary.update(
            epochs_completed=bridge.epochs_completed, seconds=bridge.train_seconds,
            samples_per_second=bridge.seen / bridge.train_seconds if bridge.train_seconds else 0.0,
            val_loss=logs.get("val_loss"), val_accuracy=logs.get("val_accuracy"),
            train_loss=logs.get("loss"), train_accuracy=logs.get("accuracy"),
            batches=bridge.step, seen=bridge.seen,
        )
        if bridge.nan_message:
            summary["reason"] = bridge.nan_message
            emit(RunFailed(error=bridge.nan_message, summary=summary))
            return summary
        emit(Phase(phase="evaluating", message=f"evaluating on {len(data.y_test):,} test images"))
        start = time.perf_counter()
        probs = model.predict(prepare_images(data.x_test), batch_size=EVAL_BATCH_SIZE, verbose=0)
        evaluated = evaluate_predictions(probs, data.y_test, data.x_test,
                                         time.perf_counter() - start)
        emit(evaluated)
        summary.update(test_loss=evaluated.test_loss, test_accuracy=evaluated.test_accuracy)
        if self.save_model_to is not None:
            emit(Phase(phase="saving", message=f"saving the model to {self.save_model_to}"))
            try:
                model.save(self.save_model_to)
                summary["model_path"] = str(self.save_model_to)
            except OSError as exc:
                summary["model_error"] = f"could not save the model: {exc}"
        if control.stop_requested:
            summary.update(status="stopped", reason=control.reason,
                           stopped_early=bridge.epochs_completed < config.epochs)
            emit(RunStopped(reason=control.reason, summary=summary))
        else:
            summary["status"] = "finished"
            emit(RunFinished(summary=summary))
        return summary


def _logical_devices() -> list[Any]:
    import tensorflow as tf

    return tf.config.list_logical_devices()
