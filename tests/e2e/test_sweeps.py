"""Sweeps with real processes on a slice of the real MNIST: two workers joining one journal
file (and one PostgreSQL study), pruning that stops a trial, SIGTERM then --resume.

Trials are tiny (600-1000 images, 1-2 epochs). Waits poll files; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, EpochEnd, Evaluated, Event, SliceValidated
from mnist_tui.core.jsonio import read_json_dict
from mnist_tui.core.report_points import ReportPoints, point_batches
from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.runs.listing import TRIAL_FILE, scan_runs
from mnist_tui.runs.reading import read_events
from mnist_tui.sweeps.progress import read_status
from mnist_tui.sweeps.study import create_sweep, find_sweep, load_study
from mnist_tui.sweeps.trial import train_trial
from mnist_tui.training.batch_metrics import FitHook
from mnist_tui.training.data import MnistData
from mnist_tui.training.slice_validation import SliceValidationHook
from mnist_tui.training.trainer import ABANDONED_NO_MODEL, Trainer
from mnist_tui.training.warmup import STEPS_PER_EXECUTION
from tests.helpers.live_processes import WAIT_SECONDS, wait_until
from tests.helpers.trainer_runs import collect_run

POSTGRES_ENV = "MNIST_TUI_TEST_POSTGRES"  # a PostgreSQL URL; .ci/run starts one and sets it
TINY = {"train_size": "600", "epochs": "1", "batch_size": "64"}


def plan_of(name: str, trials: int, **values: str) -> SweepPlan:
    space, errors = parse_search({**TINY, "learning_rate": "1e-3..1e-1 log",
                                  "optimizer": "adam,rmsprop", **values})
    assert errors == {}
    return SweepPlan(name, space, trials, pruning="none", seed=4)


def mnist_tui(*args: str, mnist: Path, **more: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MNIST_TUI_DATA": str(mnist), "TF_CPP_MIN_LOG_LEVEL": "3", **more}
    return subprocess.Popen([sys.executable, "-m", "mnist_tui", *args], env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes to kill if a test leaves them running (a failed assertion mid-sweep)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=WAIT_SECONDS)
    return proc.returncode, out, err


def two_workers_share(place_name: str, runs: Path, mnist: Path, trials: int,
                      procs: list[subprocess.Popen[str]], *storage: str) -> None:
    """Two `--join` workers at once take every trial of the budget, each once."""
    for _ in range(2):
        procs.append(mnist_tui("sweep", "--join", place_name, "--headless", "--runs-dir",
                               str(runs), *storage, mnist=mnist))
    results = [finish(proc) for proc in procs]
    for code, out, err in results:
        assert code == 0, err
        assert json.loads(out)["sweep"] == place_name  # each as it stood when it ended
    status = read_status(find_sweep(place_name, runs, storage[1] if storage else None))
    assert [r.number for r in status.rows] == list(range(trials))
    assert all(r.state == "done" and r.value is not None for r in status.rows)
    assert len({tuple(sorted(r.params.items())) for r in status.rows}) == trials
    tags = [r.sweep for r in scan_runs(runs).runs if r.sweep]
    assert sorted(t["trial"] for t in tags) == list(range(trials))  # one run folder each
    workers = {pid for r in status.rows for pid in [_pid(runs, r.run_id)]}
    assert len(workers) == 2  # both took trials


def _pid(runs: Path, run_id: str) -> int:
    process = read_json_dict(runs / run_id / "process.json") or {}
    return int(process.get("pid", 0))


def a_killed_worker_s_trial_is_rerun(name: str, runs: Path, mnist: Path, trials: int,
                                     procs: list[subprocess.Popen[str]], *storage: str) -> None:
    """Two `--join` workers, one killed with SIGKILL mid-trial: the other fails its trial
    when its heartbeat stops, re-runs it with the same parameters and spends the budget."""
    for _ in range(2):
        procs.append(mnist_tui("sweep", "--join", name, "--headless", "--runs-dir", str(runs),
                               *storage, mnist=mnist, MNIST_TUI_SWEEP_HEARTBEAT="1"))
    killed = procs[0]

    def killed_trains() -> str:
        for run in scan_runs(runs).runs:
            if _pid(runs, run.run_id) == killed.pid and any(
                    e.TYPE == "batch_end" for e in read_events(run.run_dir)):
                return run.run_id
        return ""

    wait_until(killed_trains, "the first worker trains a trial")
    cut_run = killed_trains()
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=WAIT_SECONDS)
    code, out, err = finish(procs[1])
    assert code == 0, err
    place = find_sweep(name, runs, storage[1] if storage else None)
    status = read_status(place)
    crashed = [r for r in status.rows if r.state == "crashed"]
    assert [r.run_id for r in crashed] == [cut_run]
    study, _ = load_study(place)
    rerun = next(t for t in study.trials if t.user_attrs.get("rerun_of") == crashed[0].number)
    assert crashed[0].reason == ("its worker stopped without a word (no heartbeat): re-run as "
                                 f"trial {rerun.number}")
    rows = {r.number: r for r in status.rows}
    assert rows[rerun.number].state == "done" and rows[rerun.number].params == crashed[0].params
    assert _pid(runs, rows[rerun.number].run_id) == procs[1].pid
    assert sum(r.state == "done" for r in status.rows) == trials  # the budget, spent
    assert json.loads(out)["ended"] == trials


def test_two_joined_workers_on_one_journal_file(tmp_path: Path, mnist_path: Path,
                                                procs: list[subprocess.Popen[str]]) -> None:
    create_sweep(plan_of("joined", 4), tmp_path, "")
    two_workers_share("joined", tmp_path, mnist_path, 4, procs)


def test_two_workers_share_a_postgresql_study(tmp_path: Path, mnist_path: Path,
                                              procs: list[subprocess.Popen[str]]) -> None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: .ci/run starts PostgreSQL on 127.0.0.1 and "
                    "sets it to its URL")
    name = f"pg-{uuid.uuid4().hex[:8]}"  # the database outlives the test
    place = create_sweep(plan_of(name, 2), tmp_path / "maker", url)
    assert not place.journal.exists()
    two_workers_share(name, tmp_path, mnist_path, 2, procs, "--storage", url)


def test_a_worker_killed_mid_trial_has_its_trial_rerun_on_a_journal_file(
        tmp_path: Path, mnist_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    create_sweep(plan_of("crash", 3, train_size="2000", epochs="2"), tmp_path, "")
    a_killed_worker_s_trial_is_rerun("crash", tmp_path, mnist_path, 3, procs)


def test_a_worker_killed_mid_trial_has_its_trial_rerun_on_postgresql(
        tmp_path: Path, mnist_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: .ci/run starts PostgreSQL on 127.0.0.1 and "
                    "sets it to its URL")
    name = f"pg-crash-{uuid.uuid4().hex[:8]}"
    create_sweep(plan_of(name, 3, train_size="2000", epochs="2"), tmp_path / "maker", url)
    a_killed_worker_s_trial_is_rerun(name, tmp_path, mnist_path, 3, procs, "--storage", url)


def test_a_threshold_prunes_a_bad_trial_within_its_first_epoch(
        tmp_path: Path, small_mnist: MnistData) -> None:
    import optuna

    # 850 training images in batches of 16: 54 batches an epoch, report points at three
    # execution ends within it; sgd at 1e-6 learns nothing, far below the threshold
    space, errors = parse_search({"train_size": "1000", "batch_size": "16", "epochs": "2",
                                  "optimizer": "sgd", "learning_rate": "1e-6, 2e-6"})
    assert errors == {}
    plan = SweepPlan("pruned", space, 1, pruning="median", seed=0)
    study, plan = load_study(create_sweep(plan, tmp_path, ""))
    study.pruner = optuna.pruners.ThresholdPruner(lower=0.5)
    trial = study.ask()
    result = train_trial(trial, plan, tmp_path, RunControl(), data=small_mnist)

    first = point_batches(54, plan.points, STEPS_PER_EXECUTION)[1]  # the first point's batch
    assert result.state == "pruned"
    assert re.fullmatch(rf"pruned at {round(100 * first / 54)}% of epoch 1: validation "
                        r"accuracy \d+\.\d% \(slice of 150\), past the threshold the pruner "
                        "allows", result.reason), result.reason
    summary = result.summary
    assert summary is not None and (summary.status, summary.reason) == ("stopped", result.reason)
    assert summary.epochs_completed == 0 and summary.batches == first  # not one batch more
    assert result.run_dir is not None
    # nobody picks a pruned trial: no test evaluation, no model saved
    assert summary.test_accuracy is None and summary.model_path is None
    assert summary.model_error == ABANDONED_NO_MODEL  # and it says so (no "d Draw")
    assert not (result.run_dir / "model.keras").exists()
    assert not any(isinstance(e, Evaluated) for e in read_events(result.run_dir))
    ended = read_json_dict(result.run_dir / "summary.json") or {}
    assert (ended["status"], ended["reason"]) == ("stopped", result.reason)
    checks = [e for e in read_events(result.run_dir) if isinstance(e, SliceValidated)]
    assert [(c.epoch, c.batch, c.point, c.points, c.slice_size) for c in checks] == [
        (1, first, 1, 4, 150)]
    assert checks[0].val_accuracy < 0.5
    assert trial.study.trials[0].intermediate_values == {1: checks[0].val_accuracy}
    assert read_json_dict(result.run_dir / TRIAL_FILE) == {
        "sweep": "pruned", "trial": 0, "params": trial.params, "storage": ""}


def test_slice_validation_leaves_a_seeded_run_bit_identical(small_mnist: MnistData) -> None:
    """Measuring the validation slice within epochs draws no random numbers and touches no
    weight: with dropout on, a seeded run's figures and weights are those of a run without."""
    import numpy as np

    config = TrainConfig(train_size=1000, batch_size=16, epochs=2, seed=5, dropout=0.3)

    def slices(config: TrainConfig, data: MnistData, emit: Emit) -> list[FitHook]:
        return [SliceValidationHook(config, data, ReportPoints(4, 100), emit)]

    runs = []
    for makers in ([slices], []):
        trainer = Trainer(data=small_mnist, live=False, hook_makers=makers)
        events, _ = collect_run(trainer, config)
        runs.append((events, trainer.model.get_weights()))
    (with_slices, weights_sliced), (without, weights_plain) = runs
    checks = [e for e in with_slices if isinstance(e, SliceValidated)]
    assert [(c.epoch, c.point) for c in checks] == [(e, k) for e in (1, 2) for k in (1, 2, 3)]
    assert all(c.slice_size == 100 and 0.0 <= c.val_accuracy <= 1.0 for c in checks)
    assert not any(isinstance(e, SliceValidated) for e in without)

    def figures(events: list[Event]) -> list[tuple]:
        return [(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in events
                if isinstance(e, EpochEnd)]

    assert figures(with_slices) == figures(without)
    for a, b in zip(weights_sliced, weights_plain, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sigterm_interrupts_a_trial_and_resume_finishes_the_budget(
        tmp_path: Path, mnist_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    flags = ["--runs-dir", str(tmp_path), "--headless"]
    procs.append(mnist_tui("sweep", "--name", "cut", "--train-size", "1000", "--epochs", "2",
                           "--learning-rate", "1e-3..1e-1:log", "--optimizer", "adam,rmsprop",
                           "--trials", "2", "--pruning", "none", "--seed", "3", *flags,
                           mnist=mnist_path))

    def training() -> bool:
        runs = scan_runs(tmp_path).runs
        return bool(runs) and any(e.TYPE == "batch_end" for e in read_events(runs[0].run_dir))

    wait_until(training, "the first trial trains")
    procs[0].send_signal(signal.SIGTERM)
    code, _, err = finish(procs[0])
    assert code == 143, err
    place = find_sweep("cut", tmp_path)
    first = read_status(place).rows[0]
    assert first.state == "interrupted"
    cut = read_json_dict(Path(first.run_dir) / "summary.json") or {}
    assert cut["status"] == "stopped" and "SIGTERM" in cut["reason"]

    procs.append(mnist_tui("sweep", "--resume", "cut", *flags, mnist=mnist_path))
    code, out, err = finish(procs[1])
    assert code == 0, err
    assert "trial 0 was interrupted: it is re-run from the start with the same parameters" in err
    rows = read_status(place).rows
    done = [r for r in rows if r.state == "done"]
    assert len(done) == 2 and json.loads(out)["ended"] == 2
    assert first.params in [r.params for r in done]
