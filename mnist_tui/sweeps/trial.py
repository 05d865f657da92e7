"""One trial of a sweep, trained as a normal run, pruned through the run's own control.

`suggest` asks the Optuna trial for the values of the fields that vary; `train_trial` trains
the trial's config with `runs.execute_run` into a run folder tagged with the sweep and the
trial number, reports the validation figure to the pruner at every report point (a few
times per epoch: `core.report_points`; within an epoch measured on a slice of the validation
images by `training.slice_validation`), and, when the pruner says so, stops the run through
its `RunControl` with the reason ("pruned at 25% of epoch 1: validation accuracy 41.2%
(slice of 900) below the median 87.0% of earlier trials"), so a pruned trial ends as a
normal stopped run, but without the test evaluation and the model save (`RunControl.abandon`):
nobody picks a pruned trial. `outcome` says how the trial ends for the study.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, EpochEnd, Event, SliceValidated
from mnist_tui.core.jsonio import write_json_atomic
from mnist_tui.core.report_points import describe_point
from mnist_tui.core.search_space import Choices
from mnist_tui.core.summary import RunSummary
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.listing import TRIAL_FILE
from mnist_tui.runs.writer import RunWriter, new_run_id
from mnist_tui.training.batch_metrics import FitHook
from mnist_tui.training.data import MnistData
from mnist_tui.training.slice_validation import SliceValidationHook

if TYPE_CHECKING:
    import optuna



def _figure(value: float, objective: str) -> str:
    """A reported figure for people: "validation accuracy 41.2%", "validation loss 0.412"."""
    if objective == "val_accuracy":
        return f"validation accuracy {value * 100:.1f}%"
    return f"validation loss {value:.3f}"


def _median_at(study: optuna.Study, step: int) -> float | None:
    """The median of the complete trials' figures at `step` (what the MedianPruner compares
    with); None when none reported there."""
    from optuna.trial import TrialState

    values = [t.intermediate_values[step] for t in
              study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if step in t.intermediate_values and math.isfinite(t.intermediate_values[step])]
    return statistics.median(values) if values else None


def prune_why(trial: optuna.Trial, plan: SweepPlan, step: int, value: float,
              measured_on: str = "") -> str:
    """Why the pruner stops a trial at `step`, having reported `value` (measured on what
    `measured_on` says), in words: "validation accuracy 41.2% (slice of 1,000) below the
    median 87.0% of earlier trials"."""
    import optuna

    pruner = trial.study.pruner
    figure = _figure(value, plan.objective) + measured_on
    worse = "below" if plan.direction == "maximize" else "above"
    if isinstance(pruner, optuna.pruners.MedianPruner):
        median = _median_at(trial.study, step)
        if median is None:
            return f"{figure} {worse} the median of earlier trials"
        return f"{figure} {worse} the median {_figure(median, plan.objective).split()[-1]} " \
               "of earlier trials"
    if isinstance(pruner, optuna.pruners.HyperbandPruner):
        return f"{figure}: hyperband kept only the best trials of its bracket"
    if isinstance(pruner, optuna.pruners.ThresholdPruner):
        return f"{figure}, past the threshold the pruner allows"
    return f"{figure}: {type(pruner).__name__} stopped it"


def suggest(trial: optuna.Trial, plan: SweepPlan) -> dict[str, Any]:
    """The trial's value of every field that varies (a queued trial's are fixed)."""
    values: dict[str, Any] = {}
    for name, param in plan.space.params.items():
        if isinstance(param, Choices):
            values[name] = trial.suggest_categorical(name, list(param.values))
        elif param.integer:
            values[name] = trial.suggest_int(name, int(param.low), int(param.high),
                                             step=int(param.step or 1), log=param.log)
        else:
            values[name] = trial.suggest_float(name, param.low, param.high, log=param.log,
                                               step=param.step)
    return values


def objective_value(summary: RunSummary | dict[str, Any] | None, objective: str
                    ) -> float | None:
    """The run's validation accuracy or loss; None when it has none (or it is not finite)."""
    if summary is None:
        return None
    value = summary.get(objective)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class PruningHook:
    """An `Emit` that reports the validation figure to the trial at every report point
    (`SliceValidated` within an epoch, `EpochEnd` at its end: `core.report_points`), and stops
    the run through `control` when the pruner says so (never after the last epoch)."""

    def __init__(self, trial: optuna.Trial, plan: SweepPlan, control: RunControl,
                 epochs: int) -> None:
        self.trial = trial
        self.plan = plan
        self.points = plan.report_points
        self.control = control
        self.epochs = epochs
        self.pruned_at: int | None = None  # the pruner's step it was pruned at
        self.reason = ""

    def __call__(self, event: Event) -> None:
        """Report a `SliceValidated` or an `EpochEnd`; the rest passes by."""
        if self.pruned_at is not None:
            return
        if isinstance(event, SliceValidated):
            step = self.points.step(event.epoch, event.point)
            where = describe_point(event.epoch, event.batch, event.batches_per_epoch)
            sliced = f" (slice of {event.slice_size:,})"
        elif isinstance(event, EpochEnd):
            step = self.points.epoch_end_step(event.epoch)
            where, sliced = f"the end of epoch {event.epoch}", ""
        else:
            return
        value = getattr(event, self.plan.objective, None)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        self.trial.report(float(value), step)
        last = isinstance(event, EpochEnd) and event.epoch >= self.epochs
        if last or self.control.stop_requested:
            return
        if self.trial.should_prune():
            why = prune_why(self.trial, self.plan, step, float(value), sliced)
            self.pruned_at = step
            self.reason = f"pruned at {where}: {why}"
            self.control.abandon(self.reason)  # no test evaluation, no model saved


@dataclass(frozen=True)
class TrialResult:
    """How a trial ended: complete, pruned, failed or interrupted (re-run on --resume)."""

    state: str
    value: float | None
    run_dir: Path | None
    summary: RunSummary | None
    reason: str = ""


def train_trial(trial: optuna.Trial, plan: SweepPlan, runs_dir: Path, control: RunControl,
                *, data: MnistData | None = None, data_path: str | Path | None = None,
                emit: Emit | None = None, storage: str = "") -> TrialResult:
    """Train one trial as a run in `runs_dir` and say how it ended (the caller tells the
    study). `control` stops it from outside (SIGTERM: the trial is interrupted)."""
    values = suggest(trial, plan)
    config: TrainConfig = plan.space.config_for(values)
    problems = config.validate()
    if problems:  # a combination the fields allow one by one, but not together
        return TrialResult("failed", None, None, None, "; ".join(problems.values()))
    run_id = new_run_id()
    writer = RunWriter(runs_dir, run_id, config, report=emit)
    tag = {"sweep": plan.name, "trial": trial.number, "params": values, "storage": storage}
    if writer.has_folder:
        write_json_atomic(writer.run_dir / TRIAL_FILE, tag)
    for key, value in (("run_id", run_id), ("run_dir", str(writer.run_dir)),
                       ("host", socket.gethostname()), ("pid", os.getpid())):
        trial.set_user_attr(key, value)
    hook = PruningHook(trial, plan, control, config.epochs)

    def both(event: Event) -> None:
        hook(event)
        if emit is not None:
            emit(event)

    def slice_hooks(config: TrainConfig, data: MnistData, emit: Emit) -> list[FitHook]:
        if plan.points <= 1 or plan.pruning == "none":
            return []
        return [SliceValidationHook(config, data, plan.report_points, emit)]

    run_dir, summary = execute_run(config, both, control, writer=writer, data=data,
                                   data_path=data_path, hook_makers=[slice_hooks])
    return outcome(summary, run_dir, hook, plan.objective)


def outcome(summary: RunSummary, run_dir: Path | None, hook: PruningHook,
            objective: str) -> TrialResult:
    """A run's summary as the trial's end: a finished run completes it with its objective,
    a pruned one is pruned, another stop interrupts it, a failure fails it."""
    value = objective_value(summary, objective)
    if summary.status == "finished":
        if value is None:
            return TrialResult("failed", None, run_dir, summary,
                               f"the run has no {objective.replace('_', ' ')}")
        return TrialResult("complete", value, run_dir, summary)
    if summary.status == "stopped" and hook.pruned_at is not None:
        return TrialResult("pruned", value, run_dir, summary, hook.reason)
    if summary.status == "stopped":
        return TrialResult("interrupted", value, run_dir, summary, summary.reason)
    return TrialResult("failed", None, run_dir, summary, summary.reason or "the run failed")
