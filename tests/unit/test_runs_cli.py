"""`mnist-tui runs` and `mnist-tui watch`: the table, the CSV exports, and bad RUN arguments.

No training here: the run folders are written by `recorded_runs.record_run`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from mnist_tui import cli, headless, run_cli, terminal
from mnist_tui.cli import main
from mnist_tui.core.config import TrainConfig
from mnist_tui.runs.compare import (
    COLUMNS,
    differing_settings,
    format_runs_table,
    write_metrics_csv,
)
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.writer import RunWriter, write_process_file
from tests.helpers.recorded_runs import record_run

OLD, MID, NEW = "20250101-090000-aaaaaa", "20250102-090000-bbbbbb", "20250103-090000-cccccc"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """Three runs with different learning rates (one also a different optimizer and precision)."""
    root = tmp_path / "runs"
    record_run(root, OLD, TrainConfig(train_size=1000, learning_rate=0.001, seed=1),
               test_accuracy=0.912)
    record_run(root, MID, TrainConfig(train_size=1000, learning_rate=0.01, seed=1,
                                      optimizer="adam", precision="bfloat16"),
               status="stopped", test_accuracy=0.964)
    record_run(root, NEW, TrainConfig(train_size=1000, learning_rate=0.1, seed=1),
               status="failed")
    return root


@pytest.fixture(autouse=True)
def no_app(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record what would have opened the app instead of opening it."""
    calls: list[dict] = []

    def fake_run_tui(config: object, args: object, **kwargs: object) -> int:
        calls.append({"config": config, "args": args, **kwargs})
        return 0

    monkeypatch.setattr(cli, "run_tui", fake_run_tui)
    monkeypatch.setattr(run_cli, "run_tui", fake_run_tui)  # watch, resume
    return calls


def test_runs_prints_a_table_newest_first(runs_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "started", "status", "model", "epochs", "learning",
                                "rate", "optimizer", "batch", "size", "precision", "val",
                                "accuracy", "test", "accuracy", "time"]
    assert [line.split()[0] for line in lines[1:]] == [NEW, MID, OLD]
    new, mid, old = (line.split() for line in lines[1:])
    assert new[1:4] == ["2025-01-03", "09:00", "failed"]
    assert new[-2] == "—", "a failed run has no test accuracy"
    assert mid[3:11] == ["stopped", "cnn", "1", "0.01", "adam", "64", "bfloat16", "95.4%"]
    assert mid[11:] == ["96.4%", "0:12"]
    assert old[9] == "float32"
    assert old[6:8] == ["0.001", "rmsprop"] and old[-2] == "91.2%"


def test_runs_of_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(tmp_path / "none")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no runs in" in captured.err


def test_runs_writes_csv(runs_dir: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs.csv"
    assert main(["runs", "--runs-dir", str(runs_dir), "--csv", str(out)]) == 0
    assert NEW in capsys.readouterr().out, "the table is still printed"
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == [NEW, MID, OLD]
    assert list(rows[0]) == [*(c.replace(" ", "_") for c in COLUMNS), "run_dir", "lr_changes"]
    assert rows[1]["learning_rate"] == "0.01" and rows[1]["optimizer"] == "adam"
    assert float(rows[1]["test_accuracy"]) == pytest.approx(0.964)
    assert rows[0]["test_accuracy"] == ""
    assert rows[2]["run_dir"] == str(runs_dir / OLD)


def test_runs_csv_to_stdout(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(runs_dir), "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["status"] for r in rows] == ["failed", "stopped", "finished"]


def test_runs_csv_to_a_folder_that_does_not_exist(runs_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(runs_dir), "--csv",
                 str(tmp_path / "no" / "such" / "dir.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_a_run_still_going_and_a_dead_one(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    RunWriter(root, "20250101-000000-live00", TrainConfig())  # this process: alive
    dead = RunWriter(root, "20250101-000000-dead00", TrainConfig())
    dead.close()
    write_process_file(dead.run_dir, 2**22 + 12345)  # no such process
    table = format_runs_table(list_runs(root))
    assert "running" in table.splitlines()[1] + table.splitlines()[2]
    assert "died" in table


def test_metrics_csv_of_compared_runs(runs_dir: Path) -> None:
    runs = [r for r in list_runs(runs_dir) if r.run_id in (OLD, MID)]
    out = io.StringIO()
    count = write_metrics_csv(runs, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count
    per_run = 14 + 1 + 1  # batches, the epoch, the test evaluation
    assert count == 2 * per_run
    batches = [r for r in rows if r["run_id"] == OLD and r["kind"] == "batch"]
    assert [int(r["step"]) for r in batches] == list(range(1, 15))
    epoch = next(r for r in rows if r["run_id"] == MID and r["kind"] == "epoch")
    assert float(epoch["val_accuracy"]) == pytest.approx(0.954)
    test = next(r for r in rows if r["run_id"] == MID and r["kind"] == "test")
    assert float(test["accuracy"]) == pytest.approx(0.964) and test["step"] == ""


def test_the_settings_that_differ(runs_dir: Path) -> None:
    runs = list_runs(runs_dir)
    assert differing_settings(runs) == ["learning_rate", "optimizer", "precision"]
    assert differing_settings(runs[1:]) == ["learning_rate", "optimizer", "precision"]
    assert differing_settings([runs[0], runs[2]]) == ["learning_rate"]


@pytest.mark.parametrize(("run", "message"), [
    ("nope", "no run 'nope' in"),
    ("2025010", "matches 3 runs"),
    ("/not/a/run", "/not/a/run is not a run folder"),
])
def test_watch_a_bad_run_exits_2(runs_dir: Path, run: str, message: str,
                                 capsys: pytest.CaptureFixture[str], no_app: list) -> None:
    assert main(["watch", run, "--runs-dir", str(runs_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("mnist-tui watch: ") and message in captured.err
    assert captured.out == "" and no_app == []


def test_watch_without_runs_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--runs-dir", str(tmp_path)]) == 2
    assert "no runs in" in capsys.readouterr().err


def test_watch_without_a_terminal_replays_headless(runs_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "20250101", "--runs-dir", str(runs_dir)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["run_id"] == OLD and summary["status"] == "finished"
    assert "finished: validation accuracy 90.2%, test accuracy 91.2%" in captured.err


def test_watch_defaults_to_the_latest_run(runs_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--headless", "--runs-dir", str(runs_dir)]) == 1, "it failed"
    assert json.loads(capsys.readouterr().out)["run_id"] == NEW


def test_watch_in_a_terminal_opens_the_app(runs_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           no_app: list) -> None:
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli.sys.__stderr__, "isatty", lambda: True, raising=False)
    assert main(["watch", MID[:12], "--runs-dir", str(runs_dir)]) == 0
    [call] = no_app
    assert call["watch"] == runs_dir / MID and call["config"] is None


def test_the_training_flags_still_work(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    seen: list = []
    monkeypatch.setattr(headless, "run_headless", lambda config, **kw: seen.append(config) or 0)
    assert main(["--headless", "--learning-rate", "0.1"]) == 0
    assert seen == [TrainConfig(learning_rate=0.1)]
    assert main(["--headless", "--epochs", "x"]) == 2
    assert "--epochs: epochs must be a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--headless", "runs"])  # a subcommand only counts as the first argument
    assert info.value.code == 2


def test_detach_with_bad_data_exits_2_without_a_run(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["--headless", "--detach", "--data", str(tmp_path / "missing.npz"),
                 "--runs-dir", str(runs)]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert not runs.exists()


def test_the_app_needs_keys_and_a_screen_but_stdout_may_be_a_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli.sys.__stdout__, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(cli.sys.__stderr__, "isatty", lambda: True, raising=False)
    assert terminal.has_terminal(), "mnist-tui > file still runs the app (Textual draws on stderr)"
    monkeypatch.setattr(cli.sys.__stderr__, "isatty", lambda: False, raising=False)
    assert not terminal.has_terminal()
