"""The run summary: built once, read as a mapping, the JSON form of `summary.json` and events;
and the environment variables, read in one place."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from mnist_tui.core import environment
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import RunFailed, RunFinished, RunStopped
from mnist_tui.core.summary import HEADLINE_KEYS, RunSummary


def test_the_json_form_has_every_headline_key_in_order_then_the_known_optional_ones() -> None:
    summary = RunSummary(run_id="r", status="finished", epochs=2, devices=["CPU:0"],
                         peak_memory=12)
    data = summary.to_json()
    assert list(data) == [*HEADLINE_KEYS, "devices", "peak_memory"]
    assert list(summary) == list(data) and dict(summary) == data and summary == data
    assert summary["devices"] == ["CPU:0"] and summary.get("warning") is None
    assert "warning" not in summary and "run_dir" in summary and summary["run_dir"] is None
    assert RunSummary.from_json(json.loads(json.dumps(data))) == summary


def test_a_summary_cannot_be_written_into() -> None:
    config = {"epochs": 2}
    summary = RunSummary(config=config)
    config["epochs"] = 3  # the producer's dict is not the summary's
    assert summary["config"] == {"epochs": 2}
    with pytest.raises(TypeError):
        summary["status"] = "finished"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.status = "finished"  # type: ignore[misc]
    assert not hasattr(summary, "update") and not hasattr(summary, "setdefault")
    assert dataclasses.replace(summary, status="finished")["status"] == "finished"
    assert summary.status == "failed"


def test_old_and_damaged_summaries_read_with_their_bad_values_left_out() -> None:
    old = {"run_id": "r", "status": "stopped", "seconds": "12 s", "epochs": True,
           "devices": ["CPU:0", 1], "metrics": [1], "config": {"epochs": 5},
           "train_loss": None, "nonfinite": {"val_loss": "NaN"}, "val_loss": None,
           "from_the_future": 1}
    summary = RunSummary.from_json(old, fallback={"epochs": 5, "status": "failed"})
    assert (summary.status, summary.seconds, summary.epochs) == ("stopped", 0.0, 5)
    assert summary.devices is None and summary.metrics is None
    assert math.isnan(summary["val_loss"])
    assert "from_the_future" not in summary and "train_loss" not in summary
    assert RunSummary.from_json({"status": "died"}).status == "failed"


def test_terminal_events_carry_a_summary_and_keep_their_json() -> None:
    failed = RunFailed(error="boom")
    assert (failed.summary.status, failed.summary.reason) == ("failed", "boom")
    stopped = RunStopped(reason="enough", summary={"status": "stopped", "epochs": 3})
    assert isinstance(stopped.summary, RunSummary) and stopped.summary.reason == "enough"
    line = RunFinished(summary=RunSummary(status="finished", train_loss=math.nan)).to_json()
    data = json.loads(line)
    assert list(data) == ["type", "time", "summary"]
    assert list(data["summary"])[:len(HEADLINE_KEYS)] == list(HEADLINE_KEYS)
    assert data["summary"]["nonfinite"] == {"train_loss": "NaN"}
    back = event_from_json(line)
    assert isinstance(back, RunFinished) and math.isnan(back.summary["train_loss"])


def test_a_summary_names_a_folder_only_when_it_names_none() -> None:
    assert RunSummary().in_folder(Path("/runs/a")).run_dir == "/runs/a"
    assert RunSummary(run_dir="/runs/b").in_folder(Path("/runs/a")).run_dir == "/runs/b"
    assert RunSummary().in_folder(None).run_dir is None


def test_the_environment_is_read_in_one_place(tmp_path: Path) -> None:
    env = {environment.RUNS_DIR: "~/runs", environment.DATA: "", environment.LIVE: "0",
           environment.CUDA_VISIBLE_DEVICES: " 2,3", environment.CHECKPOINT_SECONDS: " 5 "}
    assert environment.runs_dir(env) == Path("~/runs").expanduser()
    assert environment.runs_dir({}) is None and environment.data_path(env) is None
    assert not environment.live(env) and environment.live({})
    assert environment.first_visible_gpu(env) == 2 and environment.first_visible_gpu({}) == 0
    assert environment.checkpoint_seconds_text(env) == "5"
    assert environment.keras_home({environment.KERAS_HOME: str(tmp_path)}) == str(tmp_path)
