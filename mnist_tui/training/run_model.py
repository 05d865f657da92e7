"""A run's model, built for the trainer: `PlacedRun` (what the trainer's steps share once the
run is placed), `BuiltModel`, and `build_run_model`, which seeds, then builds and compiles the
model on the run's devices, or takes the one the warmup traced for these settings
(`warmup.py`), and restores a resumed run's weights and epoch rules from its checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit
from mnist_tui.training.checkpoint import CheckpointInfo, read_best_weights, restore_checkpoint
from mnist_tui.training.data import MnistData
from mnist_tui.training.epoch_rules import EpochRules
from mnist_tui.training.model import build_model
from mnist_tui.training.strategy import MULTI_WORKER_SEED, Placement
from mnist_tui.training.warmup import STEPS_PER_EXECUTION, PreparedModel, Warmup, model_key


@dataclass(frozen=True)
class PlacedRun:
    """What the steps of one run share once it is placed: its settings, where its events go
    (quieter on a cluster's other workers, also to TensorBoard when asked), its data, devices
    and arithmetic, the checkpoint it goes on from, and the interval between checkpoints."""

    config: TrainConfig
    emit: Emit
    control: RunControl
    data: MnistData
    placement: Placement
    precision: str
    resume: CheckpointInfo | None
    interval: float
    keras: Any


class BuiltModel(NamedTuple):
    """The run's compiled model, its parameter count, its epoch rules, its batch recorder
    (None off the default strategy) and the warmup's traced forward pass for the monitor's
    digits (None when the model was not prepared ahead)."""

    model: Any
    params: int
    rules: EpochRules
    recorder: Any
    forward: Any


def build_run_model(run: PlacedRun, steps_per_execution: int | None, warmup: Warmup | None,
                    run_dir: Path | None) -> BuiltModel:
    """Seed, then build and compile the model on the run's devices with its epoch rules;
    `steps_per_execution` None: the default strategy's STEPS_PER_EXECUTION, else 1. A resumed
    run's weights and rules come back from its checkpoint in `run_dir`."""
    from mnist_tui.training.bridge import record_batch_metrics  # imports Keras

    config, placement = run.config, run.placement
    seed = config.seed
    if seed is None and placement.multi_worker:
        seed = MULTI_WORKER_SEED  # every worker must draw the same order of images
    steps = steps_per_execution
    if steps is None:
        steps = STEPS_PER_EXECUTION if placement.name == "default" else 1
    prepared = _take_prepared(run, steps, warmup)
    if seed is not None:
        run.keras.utils.set_random_seed(seed)
    if prepared is not None:
        model, recorder = prepared.model, prepared.recorder
        if seed is not None:  # the same random draws as an unprepared run, then its values
            prepared.start_from(build_model(config, steps_per_execution=steps,
                                            precision=run.precision))
    else:
        with placement.scope():
            model = build_model(config, steps_per_execution=steps, precision=run.precision)
        placement.adapt(model)
        recorder = record_batch_metrics(model) if placement.name == "default" else None
    rules = EpochRules(config)
    rules.attach(model)
    if run.resume is not None and run_dir is not None:
        # After the model is built and before the datasets are made: the same random
        # calls in the same order as the run it resumes (see pipeline.py).
        with placement.scope():
            restore_checkpoint(run_dir, model)
        rules.restore(run.resume.rules, read_best_weights(run_dir))
    return BuiltModel(model, int(model.count_params()), rules, recorder,
                      None if prepared is None else prepared.forward)


def _take_prepared(run: PlacedRun, steps: int, warmup: Warmup | None) -> PreparedModel | None:
    """The warmup's model for this run's settings, if it made one (`warmup.py`)."""
    if (warmup is None or run.resume is not None or run.placement.name != "default"
            or steps != STEPS_PER_EXECUTION):
        return None
    return warmup.take(model_key(run.config, steps, run.precision))
