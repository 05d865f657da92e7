"""Divergence is named: a run that finishes diverged or at chance level carries a warning.

The check itself is a pure function; one real run (SGD at learning rate 10 on 2,000 real
images, which collapses to chance without ever giving a NaN) shows the warning end to end.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static

from mnist_tui.core.events import BatchEnd, EpochEnd, Event, Phase, RunFinished
from mnist_tui.core.summary import RunSummary
from mnist_tui.headless import HeadlessConsole
from mnist_tui.training.divergence import FirstLoss, divergence_warning, warn_if_diverged
from mnist_tui.tui.screens.summary import format_summary_text
from mnist_tui.tui.theming import theme_color
from tests.helpers.summary_app import Host, make_evaluated, make_summary

LN10 = math.log(10)


def test_a_sound_run_gets_no_warning() -> None:
    assert divergence_warning(2.31, 0.21, 0.953, 0.01) == ""


def test_a_loss_that_blew_up_is_named_with_advice() -> None:
    """The real collapse of SGD at rate 10: finite, but twenty orders of magnitude up."""
    warning = divergence_warning(2.3309, 2.786e22, 0.0867, 10.0)
    assert warning.startswith("training diverged: the loss grew from 2.331 (first batch) to "
                              "2.79e+22 (last epoch's mean)")
    assert "validation accuracy 8.7% is chance level" in warning
    assert warning.endswith("try a lower learning rate than 10")


def test_a_grown_loss_alone_is_enough() -> None:
    warning = divergence_warning(2.33, 39.0, 0.52, 0.1)
    assert warning.startswith("training diverged: the loss grew from 2.33")
    assert "chance" not in warning and warning.endswith("lower learning rate than 0.1")


def test_chance_level_alone_names_both_causes() -> None:
    """A short run of a slow optimizer ends at chance too: the advice covers both."""
    warning = divergence_warning(2.325, 2.314, 0.027, 0.01)
    assert warning.startswith("training diverged or learned nothing: validation accuracy "
                              "2.7% is chance level (15% or less on 10 classes)")
    assert "try a lower learning rate than 0.01" in warning
    assert "train longer or on more images" in warning


@pytest.mark.parametrize(("accuracy", "warned"), [(0.15, True), (0.1501, False), (0.0, True)])
def test_chance_level_is_at_most_fifteen_percent(accuracy: float, warned: bool) -> None:
    assert bool(divergence_warning(2.3, 2.0, accuracy, 0.01)) is warned


@pytest.mark.parametrize(("last", "warned"), [(10 * 2.4, False), (10 * 2.4 + 0.01, True)])
def test_the_loss_must_grow_more_than_tenfold(last: float, warned: bool) -> None:
    assert bool(divergence_warning(2.4, last, 0.9, 0.01)) is warned


def test_the_reference_is_at_least_an_untrained_networks_loss() -> None:
    """A resumed run's first batch is already trained (0.02): 0.3 later is not a blow-up."""
    assert divergence_warning(0.02, 0.3, 0.97, 0.01) == ""
    assert divergence_warning(0.02, 10 * LN10 + 0.1, 0.97, 0.01) != ""


@pytest.mark.parametrize("unknown", [None, math.nan, math.inf])
def test_unknown_figures_skip_their_test(unknown: float | None) -> None:
    assert divergence_warning(unknown, 1e9, 0.9, 0.01) == ""
    assert divergence_warning(2.3, unknown, 0.9, 0.01) == ""
    assert divergence_warning(2.3, 0.2, unknown, 0.01) == ""


def test_fewer_classes_raise_chance_level() -> None:
    assert divergence_warning(None, None, 0.45, 0.01, classes=3) != ""
    assert divergence_warning(None, None, 0.51, 0.01, classes=3) == ""


def test_first_loss_keeps_the_first_batch_and_passes_everything_on() -> None:
    seen: list[Event] = []
    first = FirstLoss(seen.append)
    events: list[Event] = [
        Phase(phase="training", message="go"),
        BatchEnd(step=1, epoch=1, batch=1, loss=2.3, accuracy=0.1, batch_loss=2.3,
                 batch_accuracy=0.1, seen=64, elapsed=0.1),
        BatchEnd(step=2, epoch=1, batch=2, loss=9.0, accuracy=0.1, batch_loss=15.7,
                 batch_accuracy=0.1, seen=128, elapsed=0.2),
        EpochEnd(epoch=1, step=2, loss=9.0, accuracy=0.1, val_loss=9.0, val_accuracy=0.1,
                 seconds=0.2),
    ]
    for event in events:
        first(event)
    assert seen == events
    assert first.loss == 2.3


def test_warn_if_diverged_writes_the_summary_key_only_when_warranted() -> None:
    summary = warn_if_diverged(RunSummary(run_id="r", epochs=1, train_samples=1700,
                                          status="finished", train_loss=2.786e22,
                                          val_accuracy=0.0867), 2.33, 10.0)
    assert summary["warning"].startswith("training diverged")
    sound = warn_if_diverged(RunSummary(run_id="r", epochs=1, train_samples=1700,
                                        status="finished", train_loss=0.2, val_accuracy=0.95),
                             2.33, 0.01)
    assert "warning" not in sound


WARNING = ("training diverged: the loss grew from 2.331 (first batch) to 2.79e+22 (last "
           "epoch's mean); try a lower learning rate than 10")


async def test_the_summary_screen_shows_the_warning_in_the_warning_colour() -> None:
    app = Host(make_summary(status="finished", reason="", stopped_early=False,
                            warning=WARNING), make_evaluated())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = app.screen.query_one("#summary-warning", Static)
        assert str(line.render()).startswith("⚠ training diverged")
        assert line.region.height >= 1 and line.region.bottom <= 24
        assert line.styles.color.rgb == theme_color(app, "text-warning", "yellow").rgb


async def test_a_sound_run_has_no_warning_line() -> None:
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.screen.query("#summary-warning")


def test_the_exit_text_and_headless_say_the_warning() -> None:
    summary = make_summary(status="finished", reason="", warning=WARNING)
    assert f"  warning: {WARNING}" in format_summary_text(summary).splitlines()
    out = io.StringIO()
    console = HeadlessConsole(out, interactive=False)
    console(RunFinished(summary=summary))  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("finished: validation accuracy 97.8%")
    assert lines[1] == f"warning: {WARNING}"


def test_a_real_run_that_collapses_finishes_with_the_warning(mnist_path: Path,
                                                             tmp_path: Path) -> None:
    """SGD at rate 10 on 2,000 images: the loss reaches ~1e22 without a NaN and the network
    settles at chance; the run finishes (exit 0) and says it diverged, everywhere."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "--headless", "--data", str(mnist_path),
         "--runs-dir", str(tmp_path), "--seed", "0", "--learning-rate", "10", "--optimizer",
         "sgd", "--train-size", "2000"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "finished"
    assert summary["val_accuracy"] <= 0.15
    assert summary["train_loss"] > 1e6  # blew up, finite: not a NaN failure
    warning = summary["warning"]
    assert warning.startswith("training diverged: the loss grew from ")
    assert "chance level" in warning and warning.endswith("lower learning rate than 10")
    assert proc.stderr.splitlines()[-1] == f"warning: {warning}"
    on_disk = json.loads((Path(summary["run_dir"]) / "summary.json").read_text())
    assert on_disk["warning"] == warning and on_disk["status"] == "finished"
