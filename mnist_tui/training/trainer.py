"""The trainer: loads MNIST, builds the seed's model, fits it and evaluates it, emitting events.

Keras and TensorFlow are imported inside `Trainer.run`, in the thread that trains, so that
front ends can show themselves before TensorFlow's seconds-long import.

The fast path (measured in the README's speed section): the images go in as uint8 through
`pipeline.py` and are scaled in the graph; on the default strategy Keras runs
STEPS_PER_EXECUTION batches per call into TensorFlow and `bridge.py` still reports every batch.
`TrainConfig.strategy` picks where it trains (`strategy.py`).

A run with a folder keeps a checkpoint there (`checkpoint.py`, written by the bridge); a
`Trainer` made with `resume=True` goes on from it (`mnist-tui resume`, see `resume.py`).
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_tui.core.config import ConfigError, TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import (
    TERMINAL_TYPES,
    DigitSample,
    Emit,
    Evaluated,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.core.summary import RunSummary, new_summary
from mnist_tui.training.batch_metrics import FitHook
from mnist_tui.training.checkpoint import (
    Checkpointer,
    CheckpointInfo,
    checkpoint_seconds,
    fit_from,
    read_best_weights,
    restore_checkpoint,
    resumable_checkpoint,
    resuming_message,
)
from mnist_tui.training.data import DataError, MnistData, load_mnist
from mnist_tui.training.divergence import FirstLoss, warn_if_diverged
from mnist_tui.training.epoch_rules import EpochRules
from mnist_tui.training.keras_runtime import import_keras
from mnist_tui.training.model import build_model
from mnist_tui.training.pipeline import eval_dataset, make_datasets
from mnist_tui.training.precision import resolve_precision
from mnist_tui.training.predictions import PredictionHook, choose_digits
from mnist_tui.training.rate_control import (
    LearningRateHook,
    config_rate_lock,
    earlier_rate_changes,
)
from mnist_tui.training.strategy import MULTI_WORKER_SEED, make_placement
from mnist_tui.training.system_load import LoadHook

if TYPE_CHECKING:
    from mnist_tui.training.bridge import BridgeCallback
    from mnist_tui.training.strategy import Placement
    from mnist_tui.training.tensorboard_log import TensorBoardLog

STEPS_PER_EXECUTION = 16  # batches per call into TensorFlow (default strategy); see bridge.py
FIRST_SAMPLES = 16  # test images shown in the gallery from the front of the test set
WRONG_SAMPLES = 16  # extra misclassified test images shown after them
CROSSENTROPY_EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps]


def check_data_fits(config: TrainConfig, data: MnistData) -> None:
    """Raise DataError when the data holds fewer training images than the config asks for."""
    if data.x_train.shape[0] < config.train_size:
        raise DataError(
            f"{data.source} holds {data.x_train.shape[0]:,} training images but the training "
            f"size is {config.train_size:,}; use a training size of at most "
            f"{data.x_train.shape[0]:,}"
        )


def evaluate_predictions(probs: np.ndarray, y_true: np.ndarray, x_test: np.ndarray,
                         seconds: float = 0.0) -> Evaluated:
    """Build the `Evaluated` event from predicted probabilities on the test set."""
    probs = np.asarray(probs, dtype=np.float32)  # float32 whatever the model computed in
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
    `steps_per_execution` overrides how many batches run per call into TensorFlow
    (STEPS_PER_EXECUTION on the default strategy, 1 under a distribution strategy).
    `checkpoints` keeps a checkpoint in `run_dir` (off only to measure what it costs);
    `resume` goes on from that checkpoint instead of starting afresh.
    `live` predicts a fixed set of test digits every ~2 s for the monitor's strip and samples
    the system load once a second (off only to measure what they cost; $MNIST_TUI_LIVE=0
    turns it off for a run started from the command line).
    """

    def __init__(self, data_path: str | Path | None = None, run_dir: Path | None = None,
                 data: MnistData | None = None, steps_per_execution: int | None = None, *,
                 checkpoints: bool = True, resume: bool = False,
                 earlier_events: Sequence[Event] = (), live: bool | None = None) -> None:
        self.data_path = data_path
        self.steps_per_execution = steps_per_execution
        self.run_dir = run_dir
        self.checkpoints = checkpoints
        self.resume = resume
        self.earlier_events = earlier_events  # the log before a resume: its rate changes
        self.live = live if live is not None else os.environ.get("MNIST_TUI_LIVE") != "0"
        self.save_model_to = None if run_dir is None else Path(run_dir) / "model.keras"
        self.data = data
        self.model: Any = None
        self._tensorboard: TensorBoardLog | None = None  # with `config.tensorboard`
        self.hook_seconds = 0.0  # what the live parts took of the training thread's time

    def run(self, config: TrainConfig, emit: Emit, control: RunControl | None = None,
            run_id: str = "") -> RunSummary:
        """Train `config` and return the summary; every outcome ends in a terminal event."""
        control = control or RunControl()
        summary = new_summary(run_id, config.to_dict(), epochs=config.epochs,
                              train_samples=config.train_samples)
        if self.run_dir is not None:
            summary["run_dir"] = str(self.run_dir)
        self._first_loss = FirstLoss(emit)  # for the divergence check at the end
        try:
            return self._run(config, self._first_loss, control, summary)
        except MnistTuiError as exc:
            summary["reason"] = str(exc)
            emit(RunFailed(error=str(exc), detail="", summary=summary))
        except Exception as exc:  # any fault becomes a readable run_failed event
            message = f"{type(exc).__name__}: {exc}"
            summary["reason"] = message
            emit(RunFailed(error=message, detail=traceback.format_exc(), summary=summary))
        finally:
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None
        return summary

    def _run(self, config: TrainConfig, emit: Emit, control: RunControl,
             summary: RunSummary) -> RunSummary:
        """`run`'s body: a fault a person can fix raises a `MnistTuiError`."""
        errors = config.validate()
        if errors:
            raise ConfigError(errors)
        interval = checkpoint_seconds()
        resume = resumable_checkpoint(self.run_dir, config) if self.resume else None
        if resume is not None:
            _add_position(summary, resume)
        emit(Phase(phase="loading_data", message="loading MNIST"))
        data = self.data or load_mnist(self.data_path)
        check_data_fits(config, data)
        emit(Phase(phase="building_model", message="importing TensorFlow, building the model"))
        keras = import_keras()
        from mnist_tui.training.bridge import BridgeCallback, record_batch_metrics  # imports Keras

        placement = make_placement(config.strategy)  # first: multi-worker needs a fresh TF
        if not placement.is_chief:
            emit = _quiet(emit)
        elif config.tensorboard and self.run_dir is not None:
            from mnist_tui.training.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog

            self._tensorboard = TensorBoardLog(self.run_dir / TENSORBOARD_DIR, emit)
            emit = self._tensorboard.tee(emit)
        precision = resolve_precision(config.precision)
        summary.update({"strategy": placement.name, "replicas": placement.replicas,
                        "devices": list(placement.devices), "precision": precision})
        if placement.task:
            summary["task"] = placement.task
        seed = config.seed
        if seed is None and placement.multi_worker:
            seed = MULTI_WORKER_SEED  # every worker must draw the same order of images
        if seed is not None:
            keras.utils.set_random_seed(seed)
        steps = self.steps_per_execution
        if steps is None:
            steps = STEPS_PER_EXECUTION if placement.name == "default" else 1
        with placement.scope():
            model = build_model(config, steps_per_execution=steps, precision=precision)
        placement.adapt(model)
        recorder = record_batch_metrics(model) if placement.name == "default" else None
        self.model = model
        rules = EpochRules(config)
        rules.attach(model)
        if resume is not None and self.run_dir is not None:
            # After the model is built and before the datasets are made: the same random
            # calls in the same order as the run it resumes (see pipeline.py).
            with placement.scope():
                restore_checkpoint(self.run_dir, model)
            rules.restore(resume.rules, read_best_weights(self.run_dir))
        params = summary["params"] = int(model.count_params())
        train_data, val_data = make_datasets(config, data, placement.multi_worker)
        split = config.train_samples
        earlier = (earlier_rate_changes(self.earlier_events, resume.position.step)
                   if resume is not None else ())
        rate_hook = LearningRateHook(control, emit, config_rate_lock(config) or (
            "a multi-worker run keeps the rate it started with" if placement.multi_worker
            else ""), earlier=earlier)
        emit(RunStarted(run_id=summary["run_id"], config=config.to_dict(),
                        total_batches=config.total_batches,
                        batches_per_epoch=config.batches_per_epoch, epochs=config.epochs,
                        train_samples=split, val_samples=config.val_samples,
                        test_samples=len(data.y_test), params=params,
                        data_source=data.source, strategy=placement.name,
                        devices=placement.devices, precision=precision,
                        rate_locked=rate_hook.locked))
        hooks: list[FitHook] = [rate_hook]
        if placement.is_chief and self.live:
            hooks = self._live_hooks(data, emit, rate_hook)
        if control.stop_requested and not placement.multi_worker:
            summary.update({"status": "stopped", "reason": control.reason,
                            "stopped_early": True})
            emit(RunStopped(reason=control.reason, summary=summary))
            return summary
        where = "" if placement.is_chief else (
            f" as {placement.task} of a multi-worker run (the chief reports its progress)")
        emit(Phase(phase="training", message=resuming_message(config, resume) +
                   f"training on {split:,} images{where}"))
        checkpointer = None
        if self.checkpoints and self.run_dir is not None and not placement.multi_worker:
            checkpointer = Checkpointer(self.run_dir, emit, interval)
        bridge = BridgeCallback(config, emit, control, recorder, placement,
                                checkpointer=checkpointer,
                                start=resume.position if resume is not None else None,
                                rules=rules, hooks=hooks)
        if resume is not None:
            bridge.last_logs = dict(resume.last_logs)
        try:
            fit_from(model, train_data, val_data, config, bridge, resume)
        finally:
            self.hook_seconds = bridge.hook_seconds
            self._end_hooks(summary, hooks, rate_hook)
        _add_training(summary, bridge)
        if bridge.nan_message:
            summary["reason"] = bridge.nan_message
            emit(RunFailed(error=bridge.nan_message, summary=summary))
            return summary
        rules.finish()  # early stopping: the best epoch's weights, evaluated and saved
        summary.update(rules.outcome())
        emit(Phase(phase="evaluating", message=f"evaluating on {len(data.y_test):,} test images"))
        start = time.perf_counter()
        probs = _predict(model, placement, eval_dataset(data.x_test))
        evaluated = evaluate_predictions(probs, data.y_test, data.x_test,
                                         time.perf_counter() - start)
        emit(evaluated)
        summary.update({"test_loss": evaluated.test_loss,
                        "test_accuracy": evaluated.test_accuracy})
        if self.save_model_to is not None and placement.is_chief:
            emit(Phase(phase="saving", message=f"saving the model to {self.save_model_to}"))
            try:
                model.save(self.save_model_to)
                summary["model_path"] = str(self.save_model_to)
            except OSError as exc:
                summary["model_error"] = f"could not save the model: {exc}"
                with contextlib.suppress(OSError):  # no half-written model left to load
                    self.save_model_to.unlink(missing_ok=True)
        if control.stop_requested or bridge.stopped_by_cluster:
            reason = control.reason if control.stop_requested else "stopped by another worker"
            summary.update({"status": "stopped", "reason": reason,
                            "stopped_early": bridge.epochs_completed < config.epochs})
            emit(RunStopped(reason=reason, summary=summary))
        else:
            summary["status"] = "finished"
            warn_if_diverged(summary, self._first_loss.loss, config.learning_rate)
            emit(RunFinished(summary=summary))
        return summary

    def _live_hooks(self, data: MnistData, emit: Emit,
                    rate_hook: LearningRateHook) -> list[FitHook]:
        """The hooks of a run the monitor watches live: system load, the rate asked for,
        and (when asked for) predictions of a fixed set of test digits."""
        load = LoadHook(emit)
        load.sample_now()
        hooks: list[FitHook] = [load, rate_hook]
        if len(data.y_test):
            shown = choose_digits(data.x_test, data.y_test)
            emit(shown)
            predictions = PredictionHook(shown, emit)
            predictions.prepare(self.model)
            hooks.append(predictions)
        return hooks

    @staticmethod
    def _end_hooks(summary: RunSummary, hooks: list[FitHook],
                   rate_hook: LearningRateHook) -> None:
        """What the hooks saw, into the summary: peak memory, the rates that ran."""
        rate_hook.add_to_summary(summary)
        for hook in hooks:
            if isinstance(hook, LoadHook):
                hook.sample_now()
                summary["peak_memory"] = hook.peak_memory


def _add_position(summary: RunSummary, resume: CheckpointInfo) -> None:
    """What a resumed run had done at its checkpoint, in its summary until it does more."""
    where = resume.position
    logs = resume.last_logs
    summary.update({
        "epochs_completed": where.epochs_completed, "seconds": where.elapsed,
        "samples_per_second": where.seen / where.elapsed if where.elapsed else 0.0,
        "val_loss": logs.get("val_loss"), "val_accuracy": logs.get("val_accuracy"),
        "batches": where.step, "seen": where.seen,
    })


def _add_training(summary: RunSummary, bridge: BridgeCallback) -> None:
    """Put what the bridge measured of `fit` into the summary."""
    logs = bridge.last_logs
    seconds = bridge.train_seconds
    summary.update({
        "epochs_completed": bridge.epochs_completed, "seconds": seconds,
        "samples_per_second": bridge.seen / seconds if seconds else 0.0,
        "val_loss": logs.get("val_loss"), "val_accuracy": logs.get("val_accuracy"),
        "train_loss": logs.get("loss"), "train_accuracy": logs.get("accuracy"),
        "batches": bridge.step, "seen": bridge.seen,
    })


def _predict(model: Any, placement: Placement, images: Any) -> np.ndarray:
    """Class probabilities for a dataset of images, on this process alone.

    In a cluster every worker evaluates by itself (a plain forward pass over its copy of the
    weights), so the chief never waits for the others after training.
    """
    if not placement.multi_worker:
        return model.predict(images, verbose=0)
    import tensorflow as tf

    forward = tf.function(lambda batch: model(batch, training=False))
    return np.concatenate([forward(batch).numpy() for batch in images])


def _quiet(emit: Emit) -> Emit:
    """An emit for a cluster's non-chief worker: its phases and its end, no progress."""

    def quiet(event: Event) -> None:
        if isinstance(event, (Phase, *TERMINAL_TYPES)):
            emit(event)

    return quiet
