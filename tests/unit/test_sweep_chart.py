"""The sweep screen's chart line and importance panel, from trial rows."""

from __future__ import annotations

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.sweeps.progress import IMPORTANCE_AFTER, SweepStatus, TrialRow
from mnist_tui.tui.screens.sweep import importance_text
from mnist_tui.tui.widgets.sweep_chart import best_so_far

pytestmark = pytest.mark.unit


def test_the_best_line_runs_from_the_first_done_trial_to_the_last_trial() -> None:
    points = [(0, 40.0, "pruned"), (1, 90.0, "done"), (2, 95.0, "done"), (3, 10.0, "pruned"),
              (4, 92.0, "done"), (5, 20.0, "pruned")]
    assert best_so_far(points, maximize=True) == ([1, 2, 3, 4, 5],
                                                  [90.0, 95.0, 95.0, 95.0, 95.0])
    losses = [(0, 0.5, "done"), (1, 0.7, "done"), (2, 0.3, "done")]
    assert best_so_far(losses, maximize=False) == ([0, 1, 2], [0.5, 0.5, 0.3])
    assert best_so_far([(0, 9.0, "pruned")], maximize=True) == ([], [])


def status(values: dict[str, str], states: list[str]) -> SweepStatus:
    space, errors = parse_search(values, base=TrainConfig())
    assert not errors
    rows = [TrialRow(n, state, {}, 0.9, 1, 1.0) for n, state in enumerate(states)]
    return SweepStatus(SweepPlan("s", space, len(states), seed=0), rows, None)


def test_the_importance_panel_says_what_it_waits_for() -> None:
    two = {"learning_rate": "0.001, 0.01", "optimizer": "adam, rmsprop"}
    waiting = importance_text({}, status(two, ["done", "done", "pruned", "pruned", "running"]))
    assert f"after {IMPORTANCE_AFTER} trials that ran to the end (2 so far" in waiting
    one = importance_text({}, status({"learning_rate": "0.001, 0.01"}, ["done"] * 5))
    assert "one setting varies" in one
    shown = importance_text({"learning_rate": 0.75, "optimizer": 0.25},
                            status(two, ["done"] * 4))
    assert shown.startswith("Parameter importance\n") and "learning rate" in shown.lower()


def test_a_pruned_trial_reads_pruned_in_the_run_tables(tmp_path) -> None:
    from mnist_tui.runs.compare import run_record
    from mnist_tui.runs.listing import RunInfo

    pruned = {"status": "stopped", "reason": "pruned at epoch 1: below the median"}
    trial = {"sweep": "s", "trial": 2}
    assert run_record(RunInfo("a", tmp_path, {}, pruned, trial))["status"] == "pruned"
    # A run stopped by hand stays "stopped", in a sweep or not.
    by_hand = {"status": "stopped", "reason": "stopped by you"}
    assert run_record(RunInfo("b", tmp_path, {}, by_hand, trial))["status"] == "stopped"
    assert run_record(RunInfo("c", tmp_path, {}, pruned, None))["status"] == "stopped"


def test_the_line_under_the_trials_says_how_the_trial_ended() -> None:
    from mnist_tui.tui.screens.sweep import trial_line

    pruned = TrialRow(3, "pruned", {}, 0.41, 1, 4.0, "r3", "/runs/r3",
                      "pruned at 40% of epoch 1: validation accuracy 41.0% below the median")
    assert trial_line(pruned, "val_accuracy") == (
        "Trial 3 · pruned at 40% of epoch 1: validation accuracy 41.0% below the median")
    crashed = TrialRow(5, "crashed", {}, None, 0, None, reason="its worker stopped without a word")
    assert trial_line(crashed, "val_accuracy") == (
        "Trial 5 · crashed: its worker stopped without a word")
    done = TrialRow(0, "done", {}, 0.9356, 2, 7.0, "r0", "/runs/r0")
    line = trial_line(done, "val_accuracy")
    assert line.startswith("Trial 0 · done: val accuracy 93.56% after 2 epoch(s) · run r0")
    assert "Enter opens its live monitor" in trial_line(
        TrialRow(1, "running", {}, None, 1, None, "r1", "/runs/r1"), "val_accuracy")
    assert trial_line(TrialRow(4, "waiting", {}, None, 0, None), "val_loss") == (
        "Trial 4 · waiting for a worker")
