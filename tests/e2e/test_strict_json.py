"""Strict JSON: nothing the project writes holds a NaN or Infinity literal (RFC 8259).

One real run that diverges to a NaN loss (SGD at rate 10 with a 4,096-unit dense layer, on
2,000 real images: the loss is NaN by the sixth batch) is parsed everywhere it is written, by
a parser that refuses NaN and Infinity as JavaScript's JSON.parse does.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import BatchEnd, EpochEnd, RunFailed
from mnist_tui.core.jsonio import dumps_strict, json_safe, read_json_dict, write_json_atomic
from mnist_tui.launch import detach_headless
from mnist_tui.runs.compare import write_metrics_csv, write_runs_csv
from mnist_tui.runs.detach import DetachedRun
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import read_events
from mnist_tui.tui.themes import remember_theme

DIVERGING = ("--seed", "0", "--learning-rate", "10", "--optimizer", "sgd", "--dense-units",
             "4096", "--train-size", "2000")


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def strict(text: str) -> Any:
    """Parse JSON as a strict parser would: NaN, Infinity and -Infinity are errors."""
    return json.loads(text, parse_constant=_refuse)


def test_the_strict_parser_refuses_what_python_writes_by_default() -> None:
    with pytest.raises(ValueError, match="NaN is not JSON"):
        strict(json.dumps({"loss": math.nan}))
    assert strict(dumps_strict({"loss": math.nan})) == {"loss": None,
                                                         "nonfinite": {"loss": "NaN"}}


@pytest.fixture(scope="module")
def diverged(mnist_path: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A real headless run whose loss turns NaN; its process result and runs folder."""
    runs_dir = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "--headless", "--data", str(mnist_path),
         "--runs-dir", str(runs_dir), *DIVERGING],
        capture_output=True, text=True, env=env, timeout=300)
    return proc, runs_dir


def test_a_nan_run_fails_and_its_stdout_summary_is_strict(
        diverged: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = diverged
    assert proc.returncode == 1, proc.stderr
    assert "the loss became nan" in proc.stderr
    summary = strict(proc.stdout)
    assert summary["status"] == "failed"
    assert summary["train_loss"] is None
    assert summary["nonfinite"]["train_loss"] == "NaN"  # NaN, not missing


def test_every_file_of_the_run_folder_is_strict_json(
        diverged: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, runs_dir = diverged
    (run_dir,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    json_files = sorted(p.name for p in run_dir.glob("*.json"))
    assert {"config.json", "summary.json", "process.json", "control-state.json"} <= set(
        json_files)
    for path in run_dir.glob("*.json"):
        assert isinstance(strict(path.read_text(encoding="utf-8")), dict), path
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 5
    noted = [record for record in map(strict, lines) if "nonfinite" in record]
    assert any(r["type"] == "batch_end" and r["nonfinite"].get("loss") == "NaN"
               for r in noted)
    failed = strict(lines[-1])
    assert failed["type"] == "run_failed"
    assert failed["summary"]["nonfinite"]["train_loss"] == "NaN"


def test_the_nan_reads_back_as_nan(
        diverged: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """The UI and `watch` see the NaN as before, not a missing value."""
    _, runs_dir = diverged
    (run,) = list_runs(runs_dir)
    events = read_events(run.run_dir)
    nan_batches = [e for e in events if isinstance(e, BatchEnd) and math.isnan(e.loss)]
    assert nan_batches
    assert isinstance(events[-1], RunFailed)
    assert math.isnan(events[-1].summary["train_loss"])
    assert run.summary is not None and math.isnan(run.summary["train_loss"])
    watch = subprocess.run([sys.executable, "-m", "mnist_tui", "watch", "--headless",
                            str(run.run_dir)], capture_output=True, text=True, timeout=120)
    assert watch.returncode == 1
    assert any(line.startswith("epoch 1/1: loss nan") for line in watch.stderr.splitlines())
    assert strict(watch.stdout)["nonfinite"]["train_loss"] == "NaN"


def test_csv_exports_leave_non_finite_numbers_empty(
        diverged: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, runs_dir = diverged
    runs = list_runs(runs_dir)
    out = io.StringIO()
    write_metrics_csv(runs, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert "nan" not in out.getvalue().lower() and "inf" not in out.getvalue().lower()
    first_nan = next(e for e in read_events(runs[0].run_dir)
                     if isinstance(e, BatchEnd) and math.isnan(e.batch_loss))
    row = next(r for r in rows if r["kind"] == "batch" and r["step"] == str(first_nan.step))
    assert row["loss"] == ""
    epoch = next(r for r in rows if r["kind"] == "epoch")
    assert epoch["loss"] == "" and epoch["accuracy"] != ""
    table = io.StringIO()
    write_runs_csv(runs, table)
    assert "nan" not in table.getvalue().lower()


def test_an_event_with_a_non_finite_number_in_a_list_is_still_strict() -> None:
    """Inside a list only `null` can stand for it: there is no object to name it in."""
    event = EpochEnd(epoch=1, step=1, loss=math.inf, accuracy=None, val_loss=None,
                     val_accuracy=None, seconds=0.5)
    assert strict(event.to_json())["nonfinite"] == {"loss": "Infinity"}
    assert json_safe([1.0, math.nan, {"a": -math.inf}]) == [
        1.0, None, {"a": None, "nonfinite": {"a": "-Infinity"}}]
    assert event_from_json(event.to_json()) == event


def test_json_files_are_written_strict_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json_atomic(path, {"paused": False, "seconds": math.nan, "rates": [math.inf]})
    assert strict(path.read_text()) == {"paused": False, "seconds": None, "rates": [None],
                                        "nonfinite": {"seconds": "NaN"}}
    back = read_json_dict(path)
    assert back is not None and math.isnan(back["seconds"]) and back["rates"] == [None]


def test_the_remembered_theme_is_strict_json(tmp_path: Path) -> None:
    assert remember_theme("mnist-light", tmp_path) is None
    (saved,) = tmp_path.glob("*.json")
    assert strict(saved.read_text()) == {"theme": "mnist-light"}


def test_the_detach_line_is_strict_json(mnist_path: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = Namespace(data=str(mnist_path), runs_dir=tmp_path)
    run = DetachedRun("20250101-120000-abcdef", tmp_path / "20250101-120000-abcdef", 4242)
    assert detach_headless(TrainConfig(train_size=1000), args, start=lambda: run) == 0
    assert strict(capsys.readouterr().out) == {"run_id": run.run_id,
                                               "run_dir": str(run.run_dir), "pid": 4242}
