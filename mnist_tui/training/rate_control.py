"""The learning rate changed while a run trains: from the monitor, a watcher, or a plateau.

A rate asked for (`RunControl.set_learning_rate`, from the monitor's key or a watcher's
`learning_rate` command through the control channel) is taken by `LearningRateHook` in the
training thread between two calls into TensorFlow and assigned to the optimizer's
learning-rate variable: no recompile, the compiled train step reads the variable, so the
next execution's first batch is the first trained at the new rate (a seeded run changed
after batch k ends bit for bit as one given Keras's `PiecewiseConstantDecay` with boundary
k - 1: see tests/test_rate_control.py). Each change the hook makes
or sees is a `LearningRateChanged` event, and the summary gets the list of them
(`learning_rate_changes`) and the rate the run ended at (`learning_rate`).

Only an optimizer whose rate is a variable can be steered: the constant and plateau schedules
(a plain float, see `schedules.make_learning_rate`) and a Keras script's optimizer made with a
float rate. A cosine or step schedule is a Keras `LearningRateSchedule` computed from the
optimizer's batch count, with nothing to set; `config_rate_lock` and `optimizer_rate_lock`
say why in one sentence (shown by the monitor, carried in `RunStarted.rate_locked`), and a
request that comes anyway (a watcher's command) is dropped.

The optimizer's variables, this one included, are in the run's checkpoint: a resumed run goes
on at the rate it had. The changes before its checkpoint are in its log
(`earlier_rate_changes`), so that its summary shows the whole schedule that ran.

Keras is never imported here: the hook reads and assigns the variable it is handed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, Event, LearningRateChanged, RunResumed
from mnist_tui.training.batch_metrics import FitState

USER = "user"  # `LearningRateChanged.by` for a rate asked for
PLATEAU = "plateau"  # for a change the epoch rules made


def config_rate_lock(config: TrainConfig) -> str:
    """Why a run of `config` cannot have its rate set while it trains ("" when it can)."""
    schedule = config.lr_schedule
    if schedule in ("cosine", "step"):
        return (f"this run's learning rate follows its {schedule} schedule; pick the "
                "constant or plateau schedule to set it while it trains")
    return ""


def _rate_variable(optimizer: Any) -> Any | None:
    """The optimizer's learning-rate variable, or None when its rate is not one (a schedule,
    a callable, no optimizer)."""
    if optimizer is None:
        return None
    try:
        rate = optimizer.learning_rate  # Keras: the variable itself, or a schedule's value
    except Exception:  # an optimizer of another kind that cannot even say
        return None
    return rate if callable(getattr(rate, "assign", None)) else None


def optimizer_rate_lock(optimizer: Any) -> str:
    """Why `optimizer`'s rate cannot be set while it trains ("" when it can)."""
    if optimizer is None:
        return "the model has no optimizer (it was not compiled), so no learning rate to set"
    if _rate_variable(optimizer) is not None:
        return ""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's own
    schedule = getattr(inner, "_learning_rate", None)
    what = (f"a schedule ({type(schedule).__name__})" if callable(schedule)
            else "not a variable")
    return (f"this optimizer's learning rate is {what}, which cannot be set while it trains; "
            "give the optimizer a float learning rate to set it")


def _float32(variable: Any) -> np.float32:
    """A learning-rate variable's value, exactly."""
    return np.float32(np.asarray(variable, dtype=np.float32))


def shown_rate(value: Any) -> float:
    """A float32 rate as the log records it: rounded to 7 significant digits, as
    `MonitorCallback` records a script's (a float32 0.003 reads 0.0030000000260770321)."""
    return float(f"{float(value):.7g}")


def earlier_rate_changes(events: Iterable[Event], step: int) -> list[LearningRateChanged]:
    """The rate changes that a run resumed from its checkpoint at `step` carries with it, from
    its log's `events` (in order): those at or before `step` of the segments the run kept.

    A change at step s is in a checkpoint at step s (the hook runs before the checkpoint is
    written); the changes an earlier segment made after the checkpoint it was resumed from
    were lost with those batches.
    """
    kept: list[LearningRateChanged] = []
    for event in events:
        if isinstance(event, RunResumed):
            kept = [change for change in kept if change.step <= event.step]
        elif isinstance(event, LearningRateChanged):
            kept.append(event)
    return [change for change in kept if change.step <= step]


def change_record(change: LearningRateChanged) -> dict[str, Any]:
    """One change as the summary's `learning_rate_changes` holds it."""
    return {"step": change.step, "epoch": change.epoch, "previous": change.previous,
            "rate": change.rate, "by": change.by}


class LearningRateHook:
    """A `FitHook` that applies the rates asked for through `control` from the next batch,
    and reports every change of the optimizer's rate (asked for, or a plateau's).

    `locked` says why the run's rate cannot be set ("" when it can): a request is then
    dropped (kept in `ignored`), nothing is logged. `earlier` are the changes a resumed run
    made before its checkpoint (`earlier_rate_changes` of its log), kept for its summary.
    Per execution the hook only takes the request (a lock); it reads the optimizer's
    variable when a rate came, after the first execution, and at every epoch end. A change
    seen at an epoch end and not made here is the plateau's (epoch rules run before hooks).
    """

    def __init__(self, control: RunControl, emit: Emit, locked: str = "",
                 earlier: Sequence[LearningRateChanged] = ()) -> None:
        self.control = control
        self.emit = emit
        self.locked = locked
        self.changes: list[LearningRateChanged] = list(earlier)
        self.ignored: list[float] = []  # rates asked for while locked
        self.rate: float | None = None  # the optimizer's rate as last read or set (shown)
        self._exact: np.float32 | None = None  # the same, as the variable holds it
        self._started = False  # whether the first execution has been seen

    def _variable(self, fit: FitState) -> Any | None:
        """The optimizer's rate variable; None (and locked, said why) when there is none."""
        optimizer = getattr(fit.model, "optimizer", None)
        variable = _rate_variable(optimizer)
        if variable is None and not self.locked:
            self.locked = optimizer_rate_lock(optimizer)
        return variable

    def after_execution(self, fit: FitState) -> None:
        """Apply a rate asked for since the last execution."""
        wanted = self.control.take_learning_rate()
        if wanted is None and self._started:
            return
        variable = self._variable(fit)
        if not self._started:  # the first execution: the rate the run began with
            self._started = True
            if variable is not None:
                self._note(_float32(variable))
        if wanted is None:
            return
        if self.locked or variable is None:
            self.ignored.append(wanted)  # a watcher's command; the monitor sends none
            return
        previous = _float32(variable)
        self._note(previous)
        if np.float32(wanted) == previous:
            return  # the rate it has already
        variable.assign(wanted)
        self._report(fit, previous, _float32(variable), USER)

    def epoch_end(self, fit: FitState) -> None:
        """Report a change the epoch rules made (a plateau)."""
        variable = self._variable(fit)
        if variable is None:
            return
        rate, known = _float32(variable), self._exact
        if known is not None and rate != known:
            self._report(fit, known, rate, PLATEAU)
        self._note(rate)

    def _note(self, rate: np.float32) -> None:
        """The optimizer's rate is now `rate`."""
        self._exact, self.rate = rate, shown_rate(rate)

    def _report(self, fit: FitState, previous: np.float32, rate: np.float32, by: str) -> None:
        """Log the change of the rate to `rate`, from batch `fit.progress.step + 1` on."""
        self._note(rate)
        change = LearningRateChanged(step=fit.progress.step, epoch=fit.progress.epoch,
                                     previous=shown_rate(previous), rate=shown_rate(rate),
                                     by=by)
        self.changes.append(change)
        self.emit(change)

    def summary_fields(self) -> dict[str, Any]:
        """The run's summary keys it knows: the changes (if any) and the last rate; {}
        when the rate never changed."""
        if not self.changes:
            return {}
        return {"learning_rate_changes": [change_record(c) for c in self.changes],
                "learning_rate": self.rate if self.rate is not None else self.changes[-1].rate}
