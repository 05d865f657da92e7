"""One trial of a sweep, trained as a normal run, pruned through the run's own control.

`suggest` asks the Optuna trial for the values of the fields that vary; `train_trial` trains
the trial's config with `runs.execute_run` into a run folder tagged with the sweep and the
trial number, reports the validation figure at every epoch end, and, when the pruner says
so, stops the run through its `RunControl` with the reason ("pruned at epoch 2: below the
median of earlier trials"), so a pruned trial ends as a normal stopped run. `outcome` says
how the trial ends for the study.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, EpochEnd, Event
from mnist_tui.core.jsonio import write_json_atomic
from mnist_tui.core.search_space import Choices
from mnist_tui.core.summary import RunSummary
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.listing import TRIAL_FILE
from mnist_tui.runs.writer import RunWriter, new_run_id
from mnist_tui.training.data import MnistData

if TYPE_CHECKING:
    import optuna



def prune_why(pruner: optuna.pruners.BasePruner, direction: str) -> str:
    """Why the pruner stops a trial, in words: "below the median of earlier trials"."""
    import optuna

    worse = "below" if direction == "maximize" else "above"
    if isinstance(pruner, optuna.pruners.MedianPruner):
        return f"{worse} the median of earlier trials at this epoch"
    if isinstance(pruner, optuna.pruners.HyperbandPruner):
        return "hyperband kept only the best trials of its bracket at this epoch"
    if isinstance(pruner, optuna.pruners.ThresholdPruner):
        return "past the threshold the pruner allows"
    return f"{type(pruner).__name__} stopped it"


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
    """An `Emit` that reports each epoch's validation figure to the trial, and stops the run
    through `control` when the pruner says so (never after the last epoch)."""

    def __init__(self, trial: optuna.Trial, plan: SweepPlan, control: RunControl,
                 epochs: int) -> None:
        self.trial = trial
        self.plan = plan
        self.control = control
        self.epochs = epochs
        self.pruned_at: int | None = None
        self.reason = ""

    def __call__(self, event: Event) -> None:
        """Report an `EpochEnd`; the rest passes by."""
        if not isinstance(event, EpochEnd) or self.pruned_at is not None:
            return
        value = getattr(event, self.plan.objective, None)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        self.trial.report(float(value), event.epoch)
        if event.epoch >= self.epochs or self.control.stop_requested:
            return
        if self.trial.should_prune():
            why = prune_why(self.trial.study.pruner, self.plan.direction)
            self.pruned_at = event.epoch
            self.reason = f"pruned at epoch {event.epoch}: {why}"
            self.control.stop(self.reason)


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

    run_dir, summary = execute_run(config, both, control, writer=writer, data=data,
                                   data_path=data_path)
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
