"""End to end: the real app trains real Keras on a slice of the real MNIST, as a user sees it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from textual.widgets import Digits

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import BatchEnd, Event, RunFinished
from mnist_tui.core.formatting import format_percent
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.summary import SummaryScreen

DEADLINE = 600.0  # seconds: TensorFlow's import, 14 batches and the test set on 2 busy cores


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the remembered theme of this test out of the user's config directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.mark.slow
async def test_train_on_real_mnist_from_start_to_summary_and_quit(
        tmp_path: Path, mnist_path: Path, folded_events: list[Event]) -> None:
    """Start at once, wait for the summary, check it and the run folder, quit with q."""
    folded = folded_events
    runs_dir = tmp_path / "runs"
    config = TrainConfig(train_size=1000, seed=0)  # 850 train images: 14 batches of 64
    app = MnistApp(config, start=True, runs_dir=runs_dir, data_path=mnist_path)
    async with app.run_test(size=(100, 30)) as pilot:
        # Poll, not time: a deadline only stops a hang from hanging the test run.
        deadline = time.monotonic() + DEADLINE
        while not (isinstance(app.screen, SummaryScreen) and app.run_dir is not None):
            assert time.monotonic() < deadline, f"no summary yet; showing {app.screen!r}"
            await pilot.pause(0.1)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)

        summary = screen.summary
        assert summary["status"] == "finished"
        shown = screen.query_one("#test-accuracy", Digits).value
        assert re.fullmatch(r"\d{1,3}\.\d%", shown), shown
        assert shown == format_percent(summary["test_accuracy"])
        # 14 batches only reach about 30%; above 15% the network has learned beyond chance (10%).
        assert 0.15 < summary["test_accuracy"] <= 1.0
        assert screen.evaluated is not None and len(screen.evaluated.samples) > 0

        run_dir = app.run_dir
        assert run_dir.parent == runs_dir
        for name in ("events.jsonl", "summary.json", "model.keras"):
            assert (run_dir / name).is_file(), name
        on_disk = json.loads((run_dir / "summary.json").read_text())
        assert on_disk["test_accuracy"] == summary["test_accuracy"]
        assert on_disk["run_dir"] == str(run_dir)

        history = app.history
        assert history is not None
        total = config.batches_per_epoch * config.epochs
        assert history.total_batches == total == 14
        steps = [e.step for e in folded if isinstance(e, BatchEnd)]
        assert steps == list(range(1, total + 1))  # every batch reached the UI, in order
        logged = [event_from_json(line) for line in
                  (run_dir / "events.jsonl").read_text().splitlines()]
        assert [e.step for e in logged if isinstance(e, BatchEnd)] == steps
        assert isinstance(logged[-1], RunFinished)

        await pilot.press("q")
        deadline = time.monotonic() + DEADLINE
        while app.is_running:
            assert time.monotonic() < deadline, "the app did not exit after q"
            await pilot.pause(0.1)
    assert app.final_summary is not None
    assert app.final_summary["status"] == "finished"
    assert app.return_value == app.final_summary
