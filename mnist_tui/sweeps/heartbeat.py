"""Crashed workers: a trial whose worker died (SIGKILL, a machine lost) is failed and re-run.

While a worker trains a trial it records the trial's heartbeat every `interval` seconds
(`beating`). A running trial whose last heartbeat is older than the grace period is stale:
every worker, before it asks for a trial, fails the stale ones (Optuna's
`fail_stale_trials`), whose callback (`rerun_stale`) queues each again with the same
parameters (up to MAX_RERUNS times), so another worker re-runs it; a worker whose budget is
spent waits while a trial with a heartbeat still runs elsewhere (`wait_for_others`), so a
crash near the end is re-run too.

The heartbeat is Optuna's own: with a storage URL, `RDBStorage(heartbeat_interval=...,
grace_period=..., heartbeat_stale_trial_callback=...)`. Optuna 5.1's `JournalStorage` has no
heartbeat (optuna#6615; its pull request was closed unmerged), so for the journal file
`BeatingJournalStorage` adds one in the same shape: `BaseHeartbeat`'s methods, the beat kept
as a trial system attribute (one short journal line per beat), seconds since the epoch of
the beating machine's clock (machines sharing a journal file need their clocks set).
`BaseHeartbeat` and `is_heartbeat_enabled` come from Optuna's private `_heartbeat` module
(what `RDBStorage` itself implements; pyproject pins Optuna 5).
`$MNIST_TUI_SWEEP_HEARTBEAT` sets the interval (default HEARTBEAT_SECONDS); the grace period
is GRACE_BEATS intervals.

Import it only where Optuna is wanted: it imports Optuna (the study's storage needs it).
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from mnist_tui.core import environment
from mnist_tui.core.errors import MnistTuiError

if TYPE_CHECKING:
    import optuna
    from optuna.storages.journal import BaseJournalBackend

HEARTBEAT_SECONDS = 10
GRACE_BEATS = 3  # beats missed before a trial is stale
MAX_RERUNS = 2  # a trial that crashes its worker every time is not re-run for ever
BEAT_ATTR = "mnist_tui_heartbeat"  # the journal's: a trial's last beat, time.time()
BEATING_ATTR = "heartbeat"  # a user attribute: the trial beats every this many seconds
RERUN_OF = "rerun_of"  # a user attribute: the trial it re-runs
CRASH_RERUNS = "crash_reruns"  # a user attribute: re-runs after crashes, in its chain


class HeartbeatError(MnistTuiError):
    """A heartbeat interval that is not a whole number of seconds ≥ 1."""


def heartbeat_seconds(environ: Mapping[str, str] | None = None) -> int:
    """The heartbeat interval: `$MNIST_TUI_SWEEP_HEARTBEAT`, else HEARTBEAT_SECONDS. Raises
    HeartbeatError for a value that is not a whole number of seconds ≥ 1."""
    raw = environment.sweep_heartbeat_text(environ)
    if not raw:
        return HEARTBEAT_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise HeartbeatError(f"{environment.SWEEP_HEARTBEAT} must be a whole number of seconds "
                         f"≥ 1 (between a trial's heartbeats), got {raw!r}")
    return seconds


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """Without Optuna's warnings that its heartbeat is experimental and meant for `optimize`:
    the worker asks and tells by itself, and beats as `optimize` would."""
    import optuna

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Hh]eartbeat.*")
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


class BeatingJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal storage with a heartbeat (`BaseHeartbeat`), the beat a trial system
    attribute; `fail_stale_trials` and the stale-trial callback work with it as with
    `RDBStorage`."""

    def __init__(self, backend: BaseJournalBackend, *, heartbeat_interval: int,
                 grace_period: int,
                 stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None
                 ) -> None:
        super().__init__(backend)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        """The trial is alive now."""
        self.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Running trials whose last beat is older than the grace period (never beaten:
        not stale, as in `RDBStorage`)."""
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running
                if isinstance(t.system_attrs.get(BEAT_ATTR), (int, float))
                and now - t.system_attrs[BEAT_ATTR] > self.grace_period]

    def get_heartbeat_interval(self) -> int | None:
        """Seconds between two beats."""
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(
            self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        """What runs for each trial failed as stale (`rerun_stale`)."""
        return self.stale_trial_callback


def rerun_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's stale-trial callback: queue the crashed trial again with its parameters
    (the re-run says which trial it re-runs), unless its chain has crashed MAX_RERUNS times
    (a fresh trial then takes its place in the budget). Optuna's
    `RetryHeartbeatStaleTrialCallback` would copy the dead trial's user attributes (its run
    folder, host and pid) onto the re-run; this queues it as `--resume` does."""
    reruns = int(trial.user_attrs.get(CRASH_RERUNS, 0))
    if reruns >= MAX_RERUNS:
        return
    params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params", {}))
    if not params:
        return  # it died before it chose its values: a fresh trial takes its place
    study.enqueue_trial(params, user_attrs={RERUN_OF: trial.number, CRASH_RERUNS: reruns + 1,
                                            "rerun_why": "crashed"},
                        skip_if_exists=False)


def fail_stale(study: optuna.Study) -> None:
    """Fail the study's stale trials (each queued again by `rerun_stale`)."""
    import optuna

    if is_heartbeat_enabled(study._storage):
        with quietly():
            optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def beating(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat every interval while the block runs (nothing when the
    storage has none); the beats stop before the block's end is told."""
    storage = study._storage
    if not is_heartbeat_enabled(storage):
        yield
        return
    assert isinstance(storage, BaseHeartbeat)
    interval = storage.get_heartbeat_interval() or HEARTBEAT_SECONDS
    trial.set_user_attr(BEATING_ATTR, interval)
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat: the next one may land
                storage.record_heartbeat(trial._trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"mnist-tui-heartbeat-{trial.number}",
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def beating_elsewhere(study: optuna.Study) -> int:
    """Trials with a heartbeat that run now (in other workers: they end, or go stale)."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if BEATING_ATTR in t.user_attrs)


def wait_for_others(study: optuna.Study, stopping: Callable[[], bool],
                    say: Callable[[str], None]) -> bool:
    """While trials with a heartbeat run elsewhere, wait (failing those that go stale);
    True when a crashed one was queued to be re-run here."""
    storage = study._storage
    if not is_heartbeat_enabled(storage):
        return False
    assert isinstance(storage, BaseHeartbeat)
    interval = storage.get_heartbeat_interval() or HEARTBEAT_SECONDS
    said = False
    while not stopping():
        fail_stale(study)
        if any(t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False)):
            return True
        running = beating_elsewhere(study)
        if not running:
            return False
        if not said:
            trials = "trial" if running == 1 else "trials"
            say(f"the budget is taken: waiting for {running} {trials} running elsewhere to "
                "end (re-run here if its worker crashed)")
            said = True
        time.sleep(min(interval, 2))
    return False
