"""Checkpoints: where a run was, kept in its folder so that `mnist-tui resume` can go on.

One file, `checkpoint.npz` in the run folder: the model's weights (`weight0`, `weight1`, ...),
the optimizer's variables (`optimizer0`, ...: its iteration count, learning rate and, for
RMSprop, the velocities), the state of the dropout layers' random generators (`rng0`, ...),
the weights early stopping keeps (`best0`, ...), and `meta`, a JSON string: the position (the
epoch of the last trained batch, batches done in it, step, images seen, training seconds), the
epochs completed, the last epoch's logs, the batches per epoch and the epoch rules' state
(`epoch_rules.py`: plateau and early-stopping counts). It is written atomically (a temp file, fsync,
`os.replace`): a reader sees the old checkpoint or the new one, never half of one; it is read
with `allow_pickle=False`.

The trainer writes one at every epoch end, at most every CHECKPOINT_SECONDS within an epoch
(`$MNIST_TUI_CHECKPOINT_SECONDS` changes the interval, e.g. a fraction of a second in tests;
0 writes one after every call into TensorFlow), and when `fit` ends (a stop). Saving is numpy
arrays of the variables, a few milliseconds, not a `model.save` archive. Keras is used only
inside the functions that take a model.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mnist_tui.core import environment
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import Checkpointed, Emit
from mnist_tui.core.jsonio import dumps_strict
from mnist_tui.core.storage import StorageGuard
from mnist_tui.core.summary import RunSummary

CHECKPOINT_FILE = "checkpoint.npz"
CHECKPOINT_SECONDS = 30.0  # at most this long between checkpoints within an epoch
CHECKPOINT_SECONDS_ENV = environment.CHECKPOINT_SECONDS
FORMAT = 1  # the layout of `meta`; a checkpoint of another format is refused


class CheckpointError(MnistTuiError):
    """A checkpoint is missing, unreadable or does not fit the run; the message says which."""


@dataclass(frozen=True)
class Position:
    """Where a run was, counted as its events count: `epoch` (from 1) holds the last trained
    batch, `batch` batches of it are done (all of them at an epoch end), `step` batches and
    `seen` images in the whole run, `elapsed` training seconds (pauses excluded)."""

    epoch: int
    batch: int
    step: int
    seen: int
    elapsed: float
    epochs_completed: int

    def resume_at(self, batches_per_epoch: int) -> tuple[int, int]:
        """Where training goes on: Keras's epoch index (from 0) and the batches of that
        epoch already trained, to skip."""
        if self.batch >= batches_per_epoch:
            return self.epoch, 0
        return max(self.epoch - 1, 0), self.batch


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about its run (its `meta`), read without TensorFlow."""

    position: Position
    batches_per_epoch: int
    last_logs: dict[str, float] = field(default_factory=dict)
    time: float = 0.0
    rules: dict[str, Any] = field(default_factory=dict)  # `EpochRules.state()`

    @property
    def epochs_needed(self) -> int:
        """The fewest epochs a resumed run must be configured with to train anything."""
        return self.position.resume_at(self.batches_per_epoch)[0] + 1

    @property
    def fewest_epochs(self) -> int:
        """The fewest epochs a resumed run may be configured with: those it has begun (at
        an epoch end, the epochs done: it then only evaluates and saves the model)."""
        epoch, skip = self.position.resume_at(self.batches_per_epoch)
        return epoch + 1 if skip else max(epoch, 1)

    def to_json(self) -> str:
        """The strict JSON stored as the checkpoint's `meta`."""
        return dumps_strict({"format": FORMAT, "position": asdict(self.position),
                             "batches_per_epoch": self.batches_per_epoch,
                             "last_logs": self.last_logs, "time": self.time,
                             "rules": self.rules})

    @classmethod
    def from_json(cls, text: str) -> CheckpointInfo:
        """Parse a `meta` string; raises ValueError when it is not one this version wrote."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} checkpoint")
        try:
            position = Position(**data["position"])
            logs = {str(k): float(v) for k, v in (data.get("last_logs") or {}).items()
                    if isinstance(v, (int, float))}
            rules = data.get("rules")
            return cls(position, int(data["batches_per_epoch"]), logs,
                       float(data.get("time") or 0.0), rules if isinstance(rules, dict) else {})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad checkpoint metadata: {exc}") from None


def checkpoint_path(run_dir: Path) -> Path:
    """Where a run's checkpoint lives."""
    return Path(run_dir) / CHECKPOINT_FILE


def checkpoint_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The interval between checkpoints within an epoch: `$MNIST_TUI_CHECKPOINT_SECONDS`,
    else CHECKPOINT_SECONDS. Raises CheckpointError for a value that is not seconds ≥ 0."""
    raw = environment.checkpoint_seconds_text(environ)
    if not raw:
        return CHECKPOINT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise CheckpointError(f"{CHECKPOINT_SECONDS_ENV} must be a number of seconds ≥ 0 "
                              f"(0: after every call into TensorFlow), got {raw!r}")
    return seconds


def read_checkpoint_info(run_dir: Path) -> CheckpointInfo | None:
    """The run's checkpoint metadata; None when it has none. Raises CheckpointError when the
    file is there but cannot be read."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return CheckpointInfo.from_json(str(npz["meta"][()]))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"the checkpoint {path} cannot be read ({exc})") from None


def _variables_numpy(variables: Any) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for v in variables]


def _rng_variables(model: Any) -> list[Any]:
    """The dropout layers' random generator states: not weights, but where the masks are."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def save_checkpoint(run_dir: Path, model: Any, info: CheckpointInfo,
                    best_weights: list[np.ndarray] | None = None) -> None:
    """Write the model's weights and optimizer state with `info` as the run's checkpoint,
    atomically, with the weights early stopping keeps, if any. Raises OSError when it cannot
    be written (a full disk)."""
    arrays: dict[str, Any] = {"meta": np.array(info.to_json())}
    arrays.update({f"weight{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update({f"optimizer{i}": v
                   for i, v in enumerate(_variables_numpy(model.optimizer.variables))})
    arrays.update({f"rng{i}": v for i, v in enumerate(_variables_numpy(_rng_variables(model)))})
    arrays.update({f"best{i}": w for i, w in enumerate(best_weights or [])})
    path = checkpoint_path(run_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def restore_checkpoint(run_dir: Path, model: Any) -> CheckpointInfo:
    """Load the run's checkpoint into `model` (built and compiled, in its strategy's scope):
    its weights, then its optimizer's state. Raises CheckpointError when there is none or it
    does not fit the model."""
    path = checkpoint_path(run_dir)
    info = read_checkpoint_info(run_dir)
    if info is None:
        raise CheckpointError(f"{run_dir} has no checkpoint ({CHECKPOINT_FILE}) to resume from")
    with np.load(path, allow_pickle=False) as npz:
        weights = _numbered(npz, "weight")
        slots = _numbered(npz, "optimizer")
        rngs = _numbered(npz, "rng")
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [w.shape for w in weights] != expected:
        raise CheckpointError(f"the checkpoint {path} holds weights of other shapes than the "
                              "run's model; its config.json was changed?")
    model.set_weights(weights)
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(optimizer.variables)
    if [tuple(v.shape) for v in variables] != [s.shape for s in slots]:
        raise CheckpointError(f"the checkpoint {path} holds another optimizer's state than "
                              "the run's")
    for variable, value in zip(variables, slots, strict=True):
        variable.assign(value)
    generators = _rng_variables(model)
    if [tuple(v.shape) for v in generators] == [r.shape for r in rngs]:
        for variable, value in zip(generators, rngs, strict=True):
            variable.assign(value)  # else (an older checkpoint) the masks just differ
    return info


def read_best_weights(run_dir: Path) -> list[np.ndarray]:
    """The weights early stopping kept at the checkpoint; [] when it kept none."""
    with np.load(checkpoint_path(run_dir), allow_pickle=False) as npz:
        return _numbered(npz, "best")


def resumable_checkpoint(run_dir: Path | None, config: TrainConfig) -> CheckpointInfo:
    """The checkpoint a run resumes from, checked against its (resumed) `config` before any
    time goes into loading TensorFlow. Raises CheckpointError when it cannot go on."""
    info = read_checkpoint_info(run_dir) if run_dir is not None else None
    if info is None:
        raise CheckpointError(f"{run_dir} has no checkpoint ({CHECKPOINT_FILE}) to resume from")
    if info.batches_per_epoch != config.batches_per_epoch:
        raise CheckpointError(
            f"the checkpoint counts {info.batches_per_epoch} batches per epoch, the config "
            f"{config.batches_per_epoch}: only the epochs of a resumed run may change")
    if config.epochs < info.fewest_epochs:
        raise CheckpointError(f"the checkpoint is in epoch {info.position.epoch}; resume it "
                              f"with at least {info.fewest_epochs} epochs")
    return info


def fit_from(model: Any, train_data: Any, val_data: Any, config: TrainConfig, callback: Any,
             resume: CheckpointInfo | None) -> None:
    """`model.fit` over the config's epochs, from the start or from the checkpoint `resume`.

    A checkpoint within an epoch goes on with a first `fit` over the rest of that epoch (the
    batches it had trained skipped: the order is the same every epoch under a seed), then
    one over the epochs after it.
    """
    first, skip = (0, 0) if resume is None else resume.position.resume_at(
        config.batches_per_epoch)
    fit_args = {"validation_data": val_data, "shuffle": False, "verbose": 0,
                "callbacks": [callback]}  # the dataset shuffles itself
    if skip:
        model.fit(train_data.skip(skip), initial_epoch=first, epochs=first + 1, **fit_args)
        if model.stop_training:
            return
        first += 1
    if first < config.epochs:
        model.fit(train_data, initial_epoch=first, epochs=config.epochs, **fit_args)


def resuming_message(config: TrainConfig, resume: CheckpointInfo | None) -> str:
    """The start of the training phase's message: where a resumed run goes on from."""
    if resume is None:
        return ""
    where = resume.position
    return (f"resuming at epoch {where.epoch}, batch {where.batch:,} of "
            f"{config.batches_per_epoch:,} (step {where.step:,} of {config.total_batches:,}); ")


def _numbered(npz: Any, prefix: str) -> list[np.ndarray]:
    count = sum(1 for name in npz.files if name.startswith(prefix))
    return [npz[f"{prefix}{i}"] for i in range(count)]


class Checkpointer:
    """The trainer's side: writes the run's checkpoints and says so with `Checkpointed` events.

    `due()` tells whether `interval` seconds have passed since the last one. A checkpoint
    that cannot be written (a full disk) is said once, as a `StorageProblem`, and never stops
    the run; later ones are still tried.
    """

    def __init__(self, run_dir: Path, emit: Emit, interval: float = CHECKPOINT_SECONDS) -> None:
        self.run_dir = Path(run_dir)
        self.emit = emit
        self.interval = interval
        self.saved_step: int | None = None  # the step of the last checkpoint written
        self.storage = StorageGuard(emit)
        self._last = time.monotonic()

    def due(self) -> bool:
        """Whether the last checkpoint (or the start) is `interval` seconds old."""
        return time.monotonic() - self._last >= self.interval

    def save(self, model: Any, position: Position, batches_per_epoch: int,
             last_logs: Mapping[str, float], rules: Mapping[str, Any] | None = None,
             best_weights: list[np.ndarray] | None = None) -> bool:
        """Checkpoint `model` at `position` with the epoch rules' `rules` state and kept
        `best_weights`; False (said once) when it could not be written."""
        start = time.perf_counter()
        info = CheckpointInfo(position, batches_per_epoch, dict(last_logs), time.time(),
                              dict(rules or {}))
        try:
            save_checkpoint(self.run_dir, model, info, best_weights)
        except OSError as exc:
            self._last = time.monotonic()
            self.storage.fault(checkpoint_path(self.run_dir), exc, "the checkpoint",
                               "training goes on, but it could only resume from an earlier "
                               "checkpoint, if any")
            return False
        self._last = time.monotonic()
        self.saved_step = position.step
        self.emit(Checkpointed(epoch=position.epoch, batch=position.batch, step=position.step,
                               seconds=time.perf_counter() - start))
        return True


def summary_at_checkpoint(summary: RunSummary, resume: CheckpointInfo) -> RunSummary:
    """`summary` with what a resumed run had done at its checkpoint, until it does more."""
    where, logs = resume.position, resume.last_logs
    return replace(summary, epochs_completed=where.epochs_completed, seconds=where.elapsed,
                   samples_per_second=where.seen / where.elapsed if where.elapsed else 0.0,
                   val_loss=logs.get("val_loss"), val_accuracy=logs.get("val_accuracy"),
                   batches=where.step, seen=where.seen)
