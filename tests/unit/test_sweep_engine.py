"""The sweep engine without training: seeding, the budget across workers, grids, resume,
the command line's messages and the runs table's groups (a real Optuna journal file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_tui.cli import main
from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.runs.compare import format_runs_table
from mnist_tui.runs.listing import TRIAL_FILE, scan_runs
from mnist_tui.sweeps.launch import core_shares, prepare_resume
from mnist_tui.sweeps.progress import read_status
from mnist_tui.sweeps.study import (
    SweepError,
    create_sweep,
    find_sweep,
    hide_password,
    load_study,
    make_sampler,
)
from mnist_tui.sweeps.trial import suggest
from mnist_tui.sweeps.worker import OUTCOME_ATTR, SweepWorker


def plan_of(name: str, seed: int | None, trials: int = 9, **values: str) -> SweepPlan:
    space, errors = parse_search(values or {"learning_rate": "1e-4..1e-1 log",
                                            "optimizer": "adam,rmsprop",
                                            "dense_units": "16..64 step 16"})
    assert errors == {}
    return SweepPlan(name, space, trials, seed=seed)


def proposals(place_plan: tuple, count: int) -> list[dict]:
    """Ask `count` trials one after another, each told a value made from its parameters."""
    place, _ = place_plan
    study, plan = load_study(place)
    study.sampler = make_sampler(plan)
    asked = []
    for _ in range(count):
        trial = study.ask()
        params = suggest(trial, plan)
        study.tell(trial, params["learning_rate"] * 10 + params["dense_units"] / 1000)
        asked.append(params)
    return asked


def test_a_seeded_sweep_proposes_the_same_trials(tmp_path: Path) -> None:
    def sweep(name: str, seed: int) -> list[dict]:
        plan = plan_of(name, seed)
        return proposals((create_sweep(plan, tmp_path, ""), plan), 6)  # past TPE's start

    first, again, other = sweep("a", 7), sweep("b", 7), sweep("c", 8)
    assert first == again
    assert first != other
    assert all(1e-4 <= p["learning_rate"] <= 0.1 and p["dense_units"] in (16, 32, 48, 64)
               and p["optimizer"] in ("adam", "rmsprop") for p in first)


def test_workers_sharing_a_journal_never_overrun_the_budget(tmp_path: Path) -> None:
    plan = plan_of("shared", 1, trials=3)
    place = create_sweep(plan, tmp_path, "")
    one, two = SweepWorker(place), SweepWorker(find_sweep("shared", tmp_path))
    study1, _ = load_study(one.place)
    study2, _ = load_study(two.place)
    taken = [one._ask(study1, plan), two._ask(study2, plan), one._ask(study1, plan)]
    assert all(t is not None for t in taken)
    assert two._ask(study2, plan) is None  # three running fill the budget of three
    numbers = sorted(t.number for t in taken if t is not None)
    assert numbers == [0, 1, 2]


def test_a_grid_is_queued_once_and_each_point_taken_once(tmp_path: Path) -> None:
    plan = plan_of("grid", 0, trials=4, learning_rate="0.001, 0.01", optimizer="adam,sgd")
    place = create_sweep(plan, tmp_path, "")
    workers = [SweepWorker(place), SweepWorker(find_sweep("grid", tmp_path))]
    studies = [load_study(w.place)[0] for w in workers]
    points = []
    for i in range(5):
        trial = workers[i % 2]._ask(studies[i % 2], plan)
        if trial is None:
            break
        points.append(tuple(sorted(suggest(trial, plan).items())))
        studies[i % 2].tell(trial, 0.5)
    assert len(points) == 4 == len(set(points))


def test_resume_queues_an_interrupted_trial_with_its_parameters(tmp_path: Path) -> None:
    plan = plan_of("resumable", 2, trials=2)
    place = create_sweep(plan, tmp_path, "")
    study, _ = load_study(place)
    worker = SweepWorker(place)
    trial = worker._ask(study, plan)
    assert trial is not None
    params = suggest(trial, plan)
    trial.set_user_attr(OUTCOME_ATTR, "interrupted")
    from optuna.trial import TrialState

    study.tell(trial, state=TrialState.FAIL)
    said = prepare_resume(place)
    assert said and "re-run from the start with the same parameters" in said[0]
    assert prepare_resume(place) == []  # queued once
    again = worker._ask(study, plan)
    assert again is not None and suggest(again, plan) == params
    rows = read_status(place).rows
    assert [r.state for r in rows] == ["interrupted", "running"]


def test_a_name_taken_and_a_sweep_not_there_are_refused(tmp_path: Path) -> None:
    create_sweep(plan_of("taken", 0), tmp_path, "")
    with pytest.raises(SweepError, match="already exists"):
        create_sweep(plan_of("taken", 0), tmp_path, "")
    with pytest.raises(SweepError, match="no sweep 'missing'"):
        find_sweep("missing", tmp_path)
    assert hide_password("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(("flags", "message"), [
    (["--learning-rate", "0..0.1:log"], "--learning-rate: learning rate: a log range must stay "
                                        "above 0"),
    (["--learning-rate", "0.1..0.01"], "is empty: its low end must be below its high end"),
    (["--dense-units", "16..64:step:15"], "step 15 does not divide 16..64"),
    (["--optimizer", "adam,adamw"], "--optimizer: optimizer must be one of"),
    (["--dropout", "0..0.5", "--trials", "0"], "--trials: trials must be a whole number from 1"),
    (["--optimizer", "adam,sgd", "--trials", "3"], "--trials: the grid has 2 combinations"),
    (["--dropout", "0..0.5", "--pruning", "mean"], "--pruning: pruning must be one of median"),
    (["--epochs", "2"], "a sweep needs a field with several values"),
    (["--dropout", "0..0.5", "--report-points", "0"], "--report-points: report points per "
     "epoch must be a whole number from 1 (epoch ends only) to 10, got '0'"),
    (["--dropout", "0..0.5", "--report-points", "many"], "--report-points: report points per "
     "epoch must be a whole number"),
])
def test_bad_sweeps_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          flags: list[str], message: str) -> None:
    assert main(["sweep", "--headless", "--runs-dir", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_a_toml_file_holds_ranges_lists_and_the_sweep_table(tmp_path: Path) -> None:
    from mnist_tui.sweep_cli import build_sweep_parser, plan_from_args

    path = tmp_path / "sweep.toml"
    path.write_text('learning_rate = "1e-4..1e-1 log"\noptimizer = ["adam", "rmsprop"]\n'
                    'epochs = 2\n[sweep]\ntrials = 5\npruning = "hyperband"\nname = "t1"\n')
    plan, parallel = plan_from_args(build_sweep_parser().parse_args(
        ["--config", str(path), "--trials", "6"]))
    assert (plan.name, plan.trials, plan.pruning, parallel) == ("t1", 6, "hyperband", 1)
    assert plan.space.describe() == "learning rate 0.0001..0.1 log · optimizer adam, rmsprop"
    assert plan.space.base.epochs == 2
    assert plan.points == 4  # the default: the pruner hears a trial 4 times an epoch


def test_report_points_from_the_flag_or_the_sweep_table(tmp_path: Path) -> None:
    """`--report-points` (or `report_points` under [sweep]) sets how often a trial reports
    to the pruner; the plan, written to sweep.json, carries it to every worker."""
    from mnist_tui.sweep_cli import build_sweep_parser, plan_from_args

    path = tmp_path / "sweep.toml"
    path.write_text('dropout = "0..0.5"\n[sweep]\nreport_points = 1\n')
    plan, _ = plan_from_args(build_sweep_parser().parse_args(["--config", str(path)]))
    assert plan.points == 1 and plan.report_points.points == 1
    assert plan.describe_pruning() == "median, at epoch ends"
    plan, _ = plan_from_args(build_sweep_parser().parse_args(
        ["--config", str(path), "--report-points", "2"]))
    assert plan.points == 2
    assert SweepPlan.from_json(plan.to_json()).points == 2
    assert plan.describe_pruning() == "median, 2 checks an epoch"


def test_the_runs_table_groups_trials_under_their_sweep(tmp_path: Path) -> None:
    for run_id, trial in (("20260101-000001-aaaaaa", None), ("20260101-000002-bbbbbb", 1),
                          ("20260101-000003-cccccc", 0)):
        folder = tmp_path / run_id
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model": "cnn", "epochs": 1}))
        if trial is not None:
            (folder / TRIAL_FILE).write_text(json.dumps({"sweep": "s1", "trial": trial}))
    (tmp_path / "sweeps" / "s1").mkdir(parents=True)  # the sweep's own folder: no run
    listing = scan_runs(tmp_path)
    assert listing.skipped == [] and len(listing.runs) == 3
    lines = format_runs_table(listing.runs).splitlines()
    assert lines[1] == "sweep s1: 2 trials"
    assert lines[2].startswith("  #0 20260101-000003-cccccc")
    assert lines[3].startswith("  #1 20260101-000002-bbbbbb")
    assert lines[4].startswith("20260101-000001-aaaaaa")


def test_parallel_workers_share_the_cores() -> None:
    assert core_shares(2, [0, 1, 2, 3]) == [[0, 1], [2, 3]]
    assert core_shares(2, [0, 1, 2]) == [[0, 1], [2]]
    assert core_shares(3, [0, 1]) == [[0], [1], [0]]
