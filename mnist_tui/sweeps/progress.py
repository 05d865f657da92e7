"""Where a sweep stands: its trials as rows (state, parameters, objective, epochs, time),
the best so far, parameter importances, and the plain lines the CLI prints.

`read_status` reads the study (any worker's, any machine's) without changing it: what the
sweep screen, `mnist-tui watch SWEEP` and `mnist-tui sweep` show.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui.core.fields import FIELD_SPECS
from mnist_tui.core.formatting import format_duration
from mnist_tui.core.sweep_plan import SweepPlan

if TYPE_CHECKING:
    import optuna

    from mnist_tui.sweeps.study import SweepPlace
    from mnist_tui.sweeps.trial import TrialResult

IMPORTANCE_AFTER = 4  # finished trials before parameter importances mean anything
STATE_WORDS = {"complete": "done", "pruned": "pruned", "failed": "failed",
               "interrupted": "interrupted", "crashed": "crashed", "running": "running",
               "waiting": "waiting"}


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table shows it."""

    number: int
    state: str  # running, done, pruned, failed, interrupted, crashed, waiting
    params: dict[str, Any]
    value: float | None
    epochs: int
    seconds: float | None
    run_id: str = ""
    run_dir: str = ""
    reason: str = ""


@dataclass(frozen=True)
class SweepStatus:
    """A sweep at one moment: its plan, its trials, the best one and the importances."""

    plan: SweepPlan
    rows: list[TrialRow]
    best: int | None  # the number of the best trial so far
    importances: dict[str, float] = field(default_factory=dict)

    @property
    def counted(self) -> int:
        """Trials that spend the budget (running ones included)."""
        return sum(r.state in ("done", "pruned", "failed", "running") for r in self.rows)

    @property
    def ended(self) -> int:
        """Trials that ended for good (done, pruned or failed)."""
        return sum(r.state in ("done", "pruned", "failed") for r in self.rows)

    @property
    def running(self) -> int:
        """Trials training now."""
        return sum(r.state == "running" for r in self.rows)

    @property
    def complete(self) -> bool:
        """Whether the budget is spent and nothing runs."""
        return self.ended >= self.plan.trials and not self.running


def _row(trial: optuna.trial.FrozenTrial, now: float, points: int = 1) -> TrialRow | None:
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    outcome = attrs.get("outcome")
    if outcome == "surplus":
        return None
    if trial.state == TrialState.RUNNING:
        state = "running"
    elif trial.state == TrialState.WAITING:
        state = "waiting"
    elif trial.state == TrialState.COMPLETE:
        state = "done"
    elif trial.state == TrialState.PRUNED:
        state = "pruned"
    else:
        # failed with no outcome told: by another worker, its own gone silent (heartbeat.py)
        state = {"interrupted": "interrupted", None: "crashed"}.get(outcome, "failed")
    seconds = attrs.get("seconds")
    if seconds is None and trial.datetime_start is not None:
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else now
        seconds = max(0.0, end - trial.datetime_start.timestamp())
    value = trial.value if state == "done" else attrs.get("value", trial.value)
    if value is None and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params", {}))
    reported = max(trial.intermediate_values, default=0)  # steps: `points` per epoch
    return TrialRow(trial.number, state, params, value,
                    int(attrs.get("epochs", reported // points)), seconds,
                    str(attrs.get("run_id", "")), str(attrs.get("run_dir", "")),
                    str(attrs.get("reason", "")))


def _crash_reason(rerun: int | None) -> str:
    """Why a trial is marked crashed, and what became of it."""
    said = "its worker stopped without a word (no heartbeat)"
    return said + (f": re-run as trial {rerun}" if rerun is not None else "")


def status_of(study: optuna.Study, plan: SweepPlan, *, importance: bool = False
              ) -> SweepStatus:
    """The sweep's rows, best trial and (when asked, and enough trials are done) the
    parameter importances (Optuna's evaluator)."""
    now = time.time()
    trials = study.get_trials(deepcopy=False)
    rows = [r for r in (_row(t, now, plan.points) for t in trials) if r]
    reruns = {t.user_attrs.get("rerun_of"): t.number for t in trials}
    rows = [replace(r, reason=_crash_reason(reruns.get(r.number))) if r.state == "crashed"
            else r for r in rows]
    done = [r for r in rows if r.state == "done" and r.value is not None]
    best = None
    if done:
        pick = max if plan.direction == "maximize" else min
        best = pick(done, key=lambda r: float(r.value or 0.0)).number
    weights: dict[str, float] = {}
    if importance and len(done) >= IMPORTANCE_AFTER and len(plan.space.params) > 1:
        weights = param_importances(study)
    return SweepStatus(plan, rows, best, weights)


def param_importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances over the done trials ({} when it cannot tell)."""
    import optuna

    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def read_status(place: SweepPlace, *, importance: bool = False) -> SweepStatus:
    """Open the sweep's study and read where it stands."""
    from mnist_tui.sweeps.study import load_study

    study, plan = load_study(place)
    return status_of(study, plan, importance=importance)


def show_value(value: Any) -> str:
    """A parameter's value, short: 0.00316 rather than 0.0031622776601683794."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def show_params(params: dict[str, Any]) -> str:
    """`learning rate 0.001 · optimizer adam`."""
    return " · ".join(f"{FIELD_SPECS[n].label.lower() if n in FIELD_SPECS else n} "
                      f"{show_value(v)}" for n, v in params.items())


def show_objective(value: float | None, objective: str) -> str:
    """92.31% for an accuracy, 0.2345 for a loss, n/a without one."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:.2f}%" if objective == "val_accuracy" else f"{value:.4f}"


def trial_line(number: int, plan: SweepPlan, params: dict[str, Any],
               result: TrialResult) -> str:
    """How a trial ended, in one line: `trial 3 done: val accuracy 97.10% (lr 0.001 · ...)`."""
    word = STATE_WORDS.get(result.state, result.state)
    figure = f"{plan.objective.replace('_', ' ')} {show_objective(result.value, plan.objective)}"
    why = f" ({result.reason})" if result.reason else ""
    where = f"; run {Path(result.run_dir).name}" if result.run_dir else ""
    return f"trial {number} {word}{why}: {figure} with {show_params(params)}{where}"


def format_status(status: SweepStatus) -> str:
    """The sweep as a plain table: one line per trial, the best marked with *."""
    plan = status.plan
    head = (f"sweep {plan.name}: {status.ended}/{plan.trials} trials ended, "
            f"{status.running} running; {plan.space.describe()}")
    lines = [head, f"{'':2}{'#':>3}  {'state':<11} {plan.objective:>12}  {'epochs':>6}  "
                   f"{'time':>6}  parameters"]
    for row in status.rows:
        mark = "*" if row.number == status.best else " "
        lines.append(f"{mark:2}{row.number:>3}  {row.state:<11} "
                     f"{show_objective(row.value, plan.objective):>12}  {row.epochs:>6}  "
                     f"{format_duration(row.seconds, missing='--'):>6}  "
                     f"{show_params(row.params)}")
    if status.importances:
        lines.append("importance: " + ", ".join(
            f"{FIELD_SPECS[n].label.lower() if n in FIELD_SPECS else n} {w:.2f}"
            for n, w in status.importances.items()))
    return "\n".join(lines)
