"""Heartbeats on a real Optuna journal file, without training: a trial whose beats stopped is
failed by whoever looks, shown crashed, and queued again with its values (a few times at
most); one that beats is left alone; a bad interval is refused with a message."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.sweeps.heartbeat import (
    BEAT_ATTR,
    GRACE_BEATS,
    MAX_RERUNS,
    HeartbeatError,
    beating,
    fail_stale,
    heartbeat_seconds,
)
from mnist_tui.sweeps.progress import status_of
from mnist_tui.sweeps.study import create_sweep, load_study
from mnist_tui.sweeps.trial import suggest


def sweep(tmp_path: Path) -> tuple:
    space, errors = parse_search({"learning_rate": "1e-4..1e-1 log", "optimizer": "adam,sgd"})
    assert errors == {}
    return load_study(create_sweep(SweepPlan("beats", space, 6, seed=1), tmp_path, ""))


def ask(study):  # as the worker does, without Optuna's "meant for optimize" warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return study.ask()


def beat_at(study, trial, seconds_ago: float) -> None:
    study._storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR, time.time() - seconds_ago)


def test_a_silent_trial_is_failed_shown_crashed_and_queued_again(tmp_path: Path) -> None:
    study, plan = sweep(tmp_path)
    beats = heartbeat_seconds()
    silent, alive = ask(study), ask(study)
    values = suggest(silent, plan)
    suggest(alive, plan)
    beat_at(study, silent, beats * GRACE_BEATS + 5)  # its worker was killed a while ago
    beat_at(study, alive, 1)
    fail_stale(study)

    rows = {r.number: r for r in status_of(study, plan).rows}
    assert rows[silent.number].state == "crashed"
    assert rows[alive.number].state == "running"
    rerun = next(t for t in study.get_trials() if t.user_attrs.get("rerun_of") == silent.number)
    assert rows[silent.number].reason == ("its worker stopped without a word (no heartbeat): "
                                          f"re-run as trial {rerun.number}")
    assert rows[rerun.number].state == "waiting"
    assert rerun.system_attrs["fixed_params"] == values  # the same values again
    fail_stale(study)  # looked at again, by another worker: queued once only
    assert sum(t.user_attrs.get("rerun_of") == silent.number for t in study.get_trials()) == 1


def test_a_trial_that_crashes_every_time_is_rerun_a_few_times_only(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    study, plan = sweep(tmp_path)
    trial = ask(study)
    values = suggest(trial, plan)
    for _ in range(MAX_RERUNS + 1):
        beat_at(study, trial, 10_000)  # it kills its worker every time
        fail_stale(study)
        waiting = study.get_trials(states=(TrialState.WAITING,))
        if not waiting:
            break
        trial = ask(study)  # the re-run, popped
        assert trial.number == waiting[0].number and suggest(trial, plan) == values
    reruns = [t for t in study.get_trials() if "rerun_of" in t.user_attrs]
    assert [t.user_attrs["crash_reruns"] for t in reruns] == list(range(1, MAX_RERUNS + 1))
    assert all(t.state == TrialState.FAIL for t in study.get_trials())  # then a fresh one


def test_a_trial_beats_while_it_trains(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MNIST_TUI_SWEEP_HEARTBEAT", "1")
    study, plan = sweep(tmp_path)
    trial = ask(study)
    suggest(trial, plan)
    with beating(study, trial):
        deadline = time.monotonic() + 30
        while BEAT_ATTR not in study.trials[trial.number].system_attrs:
            assert time.monotonic() < deadline, "no heartbeat recorded"
            time.sleep(0.05)
    frozen = study.trials[trial.number]
    assert frozen.user_attrs["heartbeat"] == 1
    assert time.time() - frozen.system_attrs[BEAT_ATTR] < 60


@pytest.mark.parametrize("raw", ["0", "-3", "1.5", "soon"])
def test_a_bad_heartbeat_interval_is_refused(raw: str) -> None:
    with pytest.raises(HeartbeatError, match=f"MNIST_TUI_SWEEP_HEARTBEAT must be a whole number "
                                             f"of seconds ≥ 1 .*got '{raw}'"):
        heartbeat_seconds({"MNIST_TUI_SWEEP_HEARTBEAT": raw})
    assert heartbeat_seconds({}) == 10
