"""The trainer: loads MNIST, builds the seed's model, fits it and evaluates it, emitting events.

`Trainer.run` is a sequence of named steps (check, load, place, build, start, fit, evaluate
while the model is saved, end), each adding what it learnt to the run's summary (made anew,
never changed in place); every outcome ends in one terminal event carrying it. Keras and
TensorFlow are imported in the thread that trains (unless `warmup.py` has imported them
already), so front ends show themselves before TensorFlow's slow import; what the warmup
made ready (the data, a traced model for these settings) the run takes.

The fast path (measured in the README's speed section): the images go in as uint8 through
`pipeline.py` and are scaled in the graph; on the default strategy Keras runs
STEPS_PER_EXECUTION batches per call into TensorFlow and `bridge.py` still reports every batch.
`TrainConfig.strategy` picks where it trains (`strategy.py`); the test-set evaluation is
`evaluation.py`'s.

A run with a folder keeps a checkpoint there (`checkpoint.py`, written by the bridge); a
`Trainer` made with `resume=True` goes on from it (`mnist-tui resume`, see `resume.py`).
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui.core import environment
from mnist_tui.core.batch_folding import BatchFolding, fold_rate
from mnist_tui.core.config import ConfigError, TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import (
    Emit,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.core.summary import RunSummary
from mnist_tui.training.batch_metrics import FitHook
from mnist_tui.training.checkpoint import (
    Checkpointer,
    CheckpointInfo,
    checkpoint_seconds,
    fit_from,
    resumable_checkpoint,
    resuming_message,
    summary_at_checkpoint,
)
from mnist_tui.training.data import MnistData, load_run_data
from mnist_tui.training.divergence import FirstLoss, warn_if_diverged
from mnist_tui.training.evaluation import evaluate_predictions, predict
from mnist_tui.training.keras_runtime import import_keras
from mnist_tui.training.pipeline import eval_dataset, make_datasets
from mnist_tui.training.precision import resolve_precision
from mnist_tui.training.predictions import PredictionHook, choose_digits
from mnist_tui.training.rate_control import (
    LearningRateHook,
    config_rate_lock,
    earlier_rate_changes,
)
from mnist_tui.training.run_model import BuiltModel, PlacedRun, build_run_model
from mnist_tui.training.saving import ModelSave
from mnist_tui.training.strategy import make_placement
from mnist_tui.training.system_load import LoadHook
from mnist_tui.training.warmup import STEPS_PER_EXECUTION, Warmup
from mnist_tui.training.warmup import current as current_warmup

if TYPE_CHECKING:
    from mnist_tui.training.bridge import BridgeCallback
    from mnist_tui.training.tensorboard_log import TensorBoardLog

__all__ = ["STEPS_PER_EXECUTION", "HookMaker", "Trainer"]

HookMaker = Callable[[TrainConfig, MnistData, Emit], Sequence[FitHook]]
"""Makes a caller's own `FitHook`s for a run, from its config, data and emit (a sweep's
trial: `slice_validation.SliceValidationHook`)."""

ABANDONED_NO_MODEL = "no model saved: a pruned trial is neither tested nor kept"


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
    `warmup` holds the data and a model made ready ahead of the run (`warmup.py`; default:
    this process's, if the app started one). `hook_makers` add the caller's own hooks (not
    on a cluster).
    """

    def __init__(self, data_path: str | Path | None = None, run_dir: Path | None = None,
                 data: MnistData | None = None, steps_per_execution: int | None = None, *,
                 checkpoints: bool = True, resume: bool = False,
                 earlier_events: Sequence[Event] = (), live: bool | None = None,
                 warmup: Warmup | None = None, hook_makers: Sequence[HookMaker] = ()) -> None:
        self.data_path = data_path
        self.hook_makers = tuple(hook_makers)
        self.steps_per_execution = steps_per_execution
        self.run_dir = run_dir
        self.checkpoints = checkpoints
        self.resume = resume
        self.earlier_events = earlier_events  # the log before a resume: its rate changes
        self.live = live if live is not None else environment.live()
        self.save_model_to = None if run_dir is None else Path(run_dir) / "model.keras"
        self.data = data
        self.model: Any = None
        self._tensorboard: TensorBoardLog | None = None  # with `config.tensorboard`
        self.hook_seconds = 0.0  # what the live parts took of the training thread's time
        self._summary = RunSummary()  # the run's so far: each step makes a new one
        self._folding: BatchFolding | None = None  # the run's emit, once it is placed
        self.warmup = warmup  # what was made ready ahead; None: this process's, if any
        self._warmup: Warmup | None = None
        self._forward: Any = None  # the prepared model's traced forward pass, if any

    def run(self, config: TrainConfig, emit: Emit, control: RunControl | None = None,
            run_id: str = "") -> RunSummary:
        """Train `config` and return the summary; every outcome ends in a terminal event."""
        control = control or RunControl()
        self._summary = RunSummary(
            run_id=run_id, run_dir=None if self.run_dir is None else str(self.run_dir),
            config=config.to_dict(), epochs=config.epochs, train_samples=config.train_samples)
        self._first_loss = FirstLoss(emit)  # for the divergence check at the end
        self._folding = None
        self._warmup = self.warmup or current_warmup()
        usable = (not self.resume and config.strategy == "default"
                  and self.steps_per_execution in (None, STEPS_PER_EXECUTION))
        held = (contextlib.nullcontext() if self._warmup is None
                else self._warmup.hold(config if usable else None))  # no preparing meanwhile
        try:
            with held:
                return self._run(config, self._first_loss, control)
        except MnistTuiError as exc:
            return self._failed(self._batches_passed(emit), str(exc))
        except Exception as exc:  # any fault becomes a readable run_failed event
            return self._failed(self._batches_passed(emit), f"{type(exc).__name__}: {exc}",
                                traceback.format_exc())
        finally:
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None

    def _batches_passed(self, emit: Emit) -> Emit:
        """`emit`, once the batches still held in a block have been passed on (a fault)."""
        if self._folding is not None:
            self._folding.flush()
        return emit

    def _run(self, config: TrainConfig, emit: Emit, control: RunControl) -> RunSummary:
        """`run`'s steps, in order: a fault a person can fix raises a `MnistTuiError`."""
        resume, interval = self._check(config)
        emit(Phase(phase="loading_data", message="loading MNIST"))
        data = load_run_data(config, self.data_path, data=self.data or (
            self._warmup.data(self.data_path) if self._warmup is not None else None))
        run = self._place(config, emit, control, data, resume, interval)
        built = self._build(run)
        datasets = make_datasets(config, data, run.placement.multi_worker)
        hooks, rate_hook = self._start(run, built)
        if control.stop_requested and not run.placement.multi_worker:
            return self._stopped(run.emit, control.reason, stopped_early=True)
        bridge = self._fit(run, built, hooks, rate_hook, datasets)
        if bridge.nan_message:
            return self._failed(run.emit, bridge.nan_message)
        if control.abandoned:  # a pruned trial: its test figures and model serve nobody
            self._summary = replace(self._summary, model_error=ABANDONED_NO_MODEL)
            return self._stopped(run.emit, control.reason, stopped_early=True)
        built.rules.finish()  # early stopping: the best epoch's weights, evaluated and saved
        self._summary = replace(self._summary, **built.rules.outcome())
        saved = self._save_meanwhile(run, built.model)
        self._evaluate(run, built.model)
        self._save(run, saved)
        return self._end(run, bridge)

    def _check(self, config: TrainConfig) -> tuple[CheckpointInfo | None, float]:
        """Refuse an invalid config and a bad checkpoint interval; find the checkpoint a
        resumed run goes on from (and what it had done by then, for its summary)."""
        errors = config.validate()
        if errors:
            raise ConfigError(errors)
        interval = checkpoint_seconds()
        resume = resumable_checkpoint(self.run_dir, config) if self.resume else None
        if resume is not None:
            self._summary = summary_at_checkpoint(self._summary, resume)
        return resume, interval

    def _place(self, config: TrainConfig, emit: Emit, control: RunControl, data: MnistData,
               resume: CheckpointInfo | None, interval: float) -> PlacedRun:
        """Import TensorFlow, make the run's strategy (before any other TensorFlow work: a
        cluster needs a fresh one), route its events, and resolve its arithmetic."""
        emit(Phase(phase="building_model", message="importing TensorFlow, building the model"))
        keras = import_keras()
        placement = make_placement(config.strategy)  # first: multi-worker needs a fresh TF
        emit = placement.reporting(emit)
        if placement.is_chief and config.tensorboard and self.run_dir is not None:
            from mnist_tui.training.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog

            self._tensorboard = TensorBoardLog(self.run_dir / TENSORBOARD_DIR, emit)
            emit = self._tensorboard.tee(emit)
        emit = self._folding = BatchFolding(emit, fold_rate())  # fast batches in blocks
        precision = resolve_precision(config.precision)
        self._summary = replace(
            self._summary, strategy=placement.name, replicas=placement.replicas,
            devices=list(placement.devices), precision=precision, task=placement.task or None)
        return PlacedRun(config, emit, control, data, placement, precision, resume, interval, keras)

    def _build(self, run: PlacedRun) -> BuiltModel:
        """Seed, then build and compile the model on the run's devices with its epoch rules
        (`run_model.build_run_model`); its parameter count goes into the summary."""
        built = build_run_model(run, self.steps_per_execution, self._warmup, self.run_dir)
        self.model, self._forward = built.model, built.forward
        self._summary = replace(self._summary, params=built.params)
        return built

    def _start(self, run: PlacedRun, built: BuiltModel) -> tuple[list[FitHook], LearningRateHook]:
        """Say what will run (`RunStarted`), and make the hooks that run between executions:
        the learning rate asked for, and on a live run the load and the shown digits."""
        config, placement, data = run.config, run.placement, run.data
        earlier = (earlier_rate_changes(self.earlier_events, run.resume.position.step)
                   if run.resume is not None else ())
        rate_hook = LearningRateHook(run.control, run.emit, config_rate_lock(config) or (
            "a multi-worker run keeps the rate it started with" if placement.multi_worker
            else ""), earlier=earlier)
        run.emit(RunStarted(run_id=self._summary.run_id, config=config.to_dict(),
                            total_batches=config.total_batches,
                            batches_per_epoch=config.batches_per_epoch, epochs=config.epochs,
                            train_samples=config.train_samples, val_samples=config.val_samples,
                            test_samples=len(data.y_test), params=built.params,
                            data_source=data.source, strategy=placement.name,
                            devices=placement.devices, precision=run.precision,
                            rate_locked=rate_hook.locked))
        hooks: list[FitHook] = [rate_hook]
        if placement.is_chief and self.live:
            hooks = self._live_hooks(data, run.emit, rate_hook)
        if not placement.multi_worker:
            hooks += [hook for make in self.hook_makers for hook in make(config, data, run.emit)]
        return hooks, rate_hook

    def _live_hooks(self, data: MnistData, emit: Emit,
                    rate_hook: LearningRateHook) -> list[FitHook]:
        """The hooks of a run the monitor watches live: system load, the rate asked for,
        and (when asked for) predictions of a fixed set of test digits."""
        load = LoadHook(emit)
        load.sample_now()
        hooks: list[FitHook] = [load, rate_hook]
        if len(data.y_test):
            warm = self._warmup.shown_for(data) if self._warmup is not None else None
            shown = warm or choose_digits(data.x_test, data.y_test)
            emit(shown)
            predictions = PredictionHook(shown, emit)
            if warm is not None and self._forward is not None:  # traced ahead for them
                predictions.use_forward(self.model, self._forward)
            predictions.prepare(self.model)
            hooks.append(predictions)
        return hooks

    def _fit(self, run: PlacedRun, built: BuiltModel, hooks: list[FitHook],
             rate_hook: LearningRateHook, datasets: tuple[Any, Any]) -> BridgeCallback:
        """Train: the bridge reports every batch, obeys the control, keeps the checkpoints
        and runs the hooks. What the hooks saw goes into the summary even when `fit` fails,
        what the bridge measured once it returns."""
        from mnist_tui.training.bridge import BridgeCallback

        placement, resume = run.placement, run.resume
        where = "" if placement.is_chief else (
            f" as {placement.task} of a multi-worker run (the chief reports its progress)")
        run.emit(Phase(phase="training", message=resuming_message(run.config, resume) +
                       f"training on {run.config.train_samples:,} images{where}"))
        checkpointer = None
        if self.checkpoints and self.run_dir is not None and not placement.multi_worker:
            checkpointer = Checkpointer(self.run_dir, run.emit, run.interval)
        bridge = BridgeCallback(run.config, run.emit, run.control, built.recorder, placement,
                                checkpointer=checkpointer,
                                start=resume.position if resume is not None else None,
                                rules=built.rules, hooks=hooks)
        if resume is not None:
            bridge.last_logs = dict(resume.last_logs)
        try:
            fit_from(built.model, *datasets, run.config, bridge, resume)
        finally:
            self.hook_seconds = bridge.hook_seconds
            self._summary = replace(self._summary, **_what_hooks_saw(hooks, rate_hook))
        self._summary = _trained(self._summary, bridge)
        return bridge

    def _evaluate(self, run: PlacedRun, model: Any) -> None:
        """Evaluate the trained model on the test set (`Evaluated`), for the summary too."""
        data = run.data
        run.emit(Phase(phase="evaluating",
                       message=f"evaluating on {len(data.y_test):,} test images"))
        start = time.perf_counter()
        probs = predict(model, run.placement, eval_dataset(data.x_test))
        evaluated = evaluate_predictions(probs, data.y_test, data.x_test,
                                         time.perf_counter() - start)
        run.emit(evaluated)
        self._summary = replace(self._summary, test_loss=evaluated.test_loss,
                                test_accuracy=evaluated.test_accuracy)

    def _save_meanwhile(self, run: PlacedRun, model: Any) -> ModelSave | None:
        """Start saving the model in the run's folder (the chief alone), in a thread of its
        own while the test set is evaluated (`saving.py`)."""
        if self.save_model_to is None or not run.placement.is_chief:
            return None
        return ModelSave(model, self.save_model_to)

    def _save(self, run: PlacedRun, saving: ModelSave | None) -> None:
        """Wait for the model's save; the summary names the file, or why it could not be
        written."""
        if saving is not None:
            run.emit(Phase(phase="saving", message=f"saving the model to {saving.path}"))
            path, error = saving.outcome()
            self._summary = replace(self._summary, model_path=path, model_error=error)

    def _end(self, run: PlacedRun, bridge: BridgeCallback) -> RunSummary:
        """The run's end after its evaluation: stopped (asked to, or by another worker), or
        finished, with a warning when it looks diverged."""
        control = run.control
        if control.stop_requested or bridge.stopped_by_cluster:
            reason = control.reason if control.stop_requested else "stopped by another worker"
            return self._stopped(run.emit, reason,
                                 stopped_early=bridge.epochs_completed < run.config.epochs)
        summary = warn_if_diverged(replace(self._summary, status="finished"),
                                   self._first_loss.loss, run.config.learning_rate)
        run.emit(RunFinished(summary=summary))
        return summary

    def _stopped(self, emit: Emit, reason: str, *, stopped_early: bool) -> RunSummary:
        """End the run as stopped for `reason`: its summary, in a `RunStopped`."""
        summary = replace(self._summary, status="stopped", reason=reason,
                          stopped_early=stopped_early)
        emit(RunStopped(reason=reason, summary=summary))
        return summary

    def _failed(self, emit: Emit, message: str, detail: str = "") -> RunSummary:
        """End the run as failed with `message`: its summary so far, in a `RunFailed`."""
        summary = replace(self._summary, status="failed", reason=message)
        emit(RunFailed(error=message, detail=detail, summary=summary))
        return summary


def _trained(summary: RunSummary, bridge: BridgeCallback) -> RunSummary:
    """`summary` with what the bridge measured of `fit`."""
    logs, seconds = bridge.last_logs, bridge.train_seconds
    return replace(summary, epochs_completed=bridge.epochs_completed, seconds=seconds,
                   samples_per_second=bridge.seen / seconds if seconds else 0.0,
                   val_loss=logs.get("val_loss"), val_accuracy=logs.get("val_accuracy"),
                   train_loss=logs.get("loss"), train_accuracy=logs.get("accuracy"),
                   batches=bridge.step, seen=bridge.seen)


def _what_hooks_saw(hooks: Sequence[FitHook], rate_hook: LearningRateHook) -> dict[str, Any]:
    """Summary keys from the hooks: the rates that ran, and the peak memory after one last
    load sample."""
    keys = rate_hook.summary_fields()
    for hook in hooks:
        if isinstance(hook, LoadHook):
            hook.sample_now()
            keys["peak_memory"] = hook.peak_memory
    return keys
