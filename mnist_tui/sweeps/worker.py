"""A sweep worker: a process that takes trials from the study until the budget is spent.

Any number of workers, on this machine or others, share one study: each asks the study for a
trial (a queued one first: a grid's points, trials to re-run), trains it as a run (`trial`),
its heartbeat recorded meanwhile, and tells the study how it ended. Before each trial it
fails the trials of crashed workers (no heartbeat: `heartbeat.py`), queued again to be
re-run; once the budget is taken it waits while trials run elsewhere, so that a crash near
the end is re-run too. The budget counts complete, pruned, failed and running
trials; a worker that asks one trial too many (two asked at once for the last place) marks
it surplus and ends. SIGTERM or Ctrl+C stops the running trial cleanly: it is told as
interrupted (`--resume` runs it again) and the worker ends, exit 143 after a SIGTERM.

`python -m mnist_tui.sweeps.worker SWEEP_FOLDER` runs one (what `--parallel` starts).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, MnistTuiError
from mnist_tui.runs.signals import StopSignals, stop_reason, survive_hang_up
from mnist_tui.runs.writer import default_runs_dir
from mnist_tui.sweeps.progress import trial_line
from mnist_tui.sweeps.study import (
    SweepPlace,
    find_sweep,
    load_study,
    make_pruner,
    make_sampler,
)
from mnist_tui.sweeps.trial import TrialResult, train_trial
from mnist_tui.training.data import load_run_data

if TYPE_CHECKING:
    import optuna

    from mnist_tui.core.sweep_plan import SweepPlan

OUTCOME_ATTR = "outcome"  # a trial's user attribute: complete, pruned, failed, interrupted...


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial spends the budget: done, pruned, running, or failed by itself (not
    interrupted, not surplus)."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(OUTCOME_ATTR) == "failed"


def budget_spent(study: optuna.Study, plan: SweepPlan) -> bool:
    """Whether the trials that count already fill the budget."""
    return sum(map(counts_toward_budget, study.get_trials(deepcopy=False))) >= plan.trials


class SweepWorker:
    """Takes trials of one sweep until its budget is spent or it is stopped.

    `say` hears one line per trial begun and ended. `index` seeds its sampler apart from
    the other workers (worker k: the sweep's seed + k).
    """

    def __init__(self, place: SweepPlace, *, runs_dir: Path | None = None,
                 data_path: str | Path | None = None, index: int = 0,
                 say: Callable[[str], None] | None = None) -> None:
        self.place = place
        self.runs_dir = Path(runs_dir or default_runs_dir())
        self.data_path = data_path
        self.index = index
        self.say = say or (lambda line: None)
        self.control = RunControl()
        self.stopping = False
        self.trained = 0

    def stop(self, reason: str) -> None:
        """Stop the running trial (it is told as interrupted) and take no more."""
        self.stopping = True
        self.control.stop(reason)

    def run(self, wait: Callable[[threading.Thread], None] | None = None) -> int:
        """Take trials until the budget is spent; EXIT_OK, or EXIT_FAILED when every trial
        this worker trained failed. `wait` waits for a trial's thread (signals are handled
        in the main thread while it does)."""
        from mnist_tui.sweeps.heartbeat import beating, fail_stale, wait_for_others

        study, plan = load_study(self.place)
        study.sampler = make_sampler(plan, self.index)
        study.pruner = make_pruner(plan)
        data = None
        failures = 0
        while not self.stopping:
            fail_stale(study)  # trials of crashed workers: failed, queued again
            if data is None and not budget_spent(study, plan):
                data = load_run_data(plan.space.base, self.data_path)  # once, when needed
            trial = self._ask(study, plan)
            if trial is None:
                if (wait_for_others(study, lambda: self.stopping, self.say)
                        and not budget_spent(study, plan)):
                    continue  # a crashed trial to re-run
                break
            self.control = RunControl()
            with beating(study, trial):
                result = self._train(trial, plan, data, wait)
            self._tell(study, trial, result)
            self.trained += 1
            failures += result.state == "failed"
            self.say(trial_line(trial.number, plan, trial.params, result))
        return EXIT_FAILED if self.trained and failures == self.trained else EXIT_OK

    def _ask(self, study: optuna.Study, plan: SweepPlan) -> optuna.Trial | None:
        """The next trial, or None when the budget is spent (or a grid has no point left)."""
        from optuna.trial import TrialState

        from mnist_tui.sweeps.heartbeat import quietly

        trials = study.get_trials(deepcopy=False)
        if sum(map(counts_toward_budget, trials)) >= plan.trials:
            return None
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if plan.space.is_grid and not waiting:
            return None
        with quietly():
            trial = study.ask()
        trials = study.get_trials(deepcopy=False)
        ahead = sum(1 for t in trials if t.number < trial.number and counts_toward_budget(t))
        mine = next(t for t in trials if t.number == trial.number)
        queued = "fixed_params" in mine.system_attrs
        if ahead >= plan.trials or (plan.space.is_grid and not queued):
            trial.set_user_attr(OUTCOME_ATTR, "surplus")
            study.tell(trial, state=TrialState.FAIL)
            return None
        return trial

    def _train(self, trial: optuna.Trial, plan: SweepPlan, data: Any,
               wait: Callable[[threading.Thread], None] | None) -> TrialResult:
        """Train the trial in a thread of its own, so that signals reach the main thread."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = train_trial(trial, plan, self.runs_dir, self.control, data=data,
                                            data_path=self.data_path,
                                            storage=self.place.storage_url and
                                            self.place.describe_storage())
            except Exception as exc:  # a trial that breaks fails alone; the sweep goes on
                box["result"] = TrialResult("failed", None, None, None,
                                            f"{type(exc).__name__}: {exc}")

        self.say(f"trial {trial.number}: starting")
        thread = threading.Thread(target=work, name=f"mnist-tui-trial-{trial.number}",
                                  daemon=True)
        thread.start()
        (wait or (lambda t: t.join()))(thread)
        result: TrialResult = box["result"]
        return result

    def _tell(self, study: optuna.Study, trial: optuna.Trial, result: TrialResult) -> None:
        """Tell the study how the trial ended (its outcome and reason kept as attributes)."""
        from optuna.trial import TrialState

        trial.set_user_attr(OUTCOME_ATTR, result.state)
        if result.reason:
            trial.set_user_attr("reason", result.reason)
        if result.value is not None:
            trial.set_user_attr("value", result.value)  # the run's last figure
        if result.summary is not None:
            trial.set_user_attr("epochs", result.summary.epochs_completed)
            trial.set_user_attr("seconds", result.summary.seconds)
            trial.set_user_attr("batches", result.summary.batches)
        if result.state == "complete":
            study.tell(trial, result.value)
        elif result.state == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)


def run_worker(place: SweepPlace, *, runs_dir: Path | None = None,
               data_path: str | Path | None = None, index: int = 0,
               say: Callable[[str], None] | None = None) -> int:
    """Run a worker in this process's main thread with the signals handled: the first
    SIGTERM or Ctrl+C interrupts its trial and ends it (exit 143 after a SIGTERM)."""
    worker = SweepWorker(place, runs_dir=runs_dir, data_path=data_path, index=index, say=say)
    stops = StopSignals(lambda signum: worker.stop(stop_reason(signum)))

    def wait(thread: threading.Thread) -> None:
        while thread.is_alive():
            thread.join(0.2)
            stops.rearm()

    with survive_hang_up(), stops:
        code = worker.run(wait)
    return stops.exit_code(code)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mnist_tui.sweeps.worker SWEEP [--storage URL] [--runs-dir D] [--data P]
    [--index K]`: one worker; its lines go to stderr."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tui.sweeps.worker")
    parser.add_argument("sweep")
    parser.add_argument("--storage", default=None)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        sys.stderr.write(f"[worker {args.index}] {line}\n")
        sys.stderr.flush()

    try:
        place = find_sweep(args.sweep, args.runs_dir, args.storage)
        return run_worker(place, runs_dir=args.runs_dir, data_path=args.data,
                          index=args.index, say=say)
    except MnistTuiError as exc:
        sys.stderr.write(f"mnist-tui sweep: {exc}\n")
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
