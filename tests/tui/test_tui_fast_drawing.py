"""The monitor's cheap drawing draws what it replaced: the charts what textual-plotext's ANSI
path draws, the progress line what Textual's ProgressBar draws."""

from __future__ import annotations

import math
from typing import Any

import pytest
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widgets import ProgressBar
from textual.widgets._progress_bar import Bar, PercentageStatus

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, EpochEnd, RunStarted
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.themes import register_themes
from mnist_tui.tui.widgets.charts import AccuracyChart, LossChart, MetricChart
from mnist_tui.tui.widgets.plot_strips import MatrixVisual
from mnist_tui.tui.widgets.progress import ProgressTrack, RunProgress


class ChartsApp(App[None]):
    """Both charts side by side, as on the monitor."""

    CSS = "Horizontal { height: 1fr; } MetricChart { width: 1fr; height: 100%; }"

    def __init__(self, theme: str) -> None:
        super().__init__()
        register_themes(self)
        self.wanted = theme

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield LossChart(id="loss-chart")
            yield AccuracyChart(id="accuracy-chart")

    def on_mount(self) -> None:
        self.theme = self.wanted


def history_of(batches: int, per_epoch: int = 400) -> TrainingHistory:
    """A two-epoch run's history after `batches` batches, with a plausible loss curve."""
    history = TrainingHistory()
    history.fold(RunStarted(run_id="r1", config=TrainConfig().to_dict(),
                            total_batches=2 * per_epoch, batches_per_epoch=per_epoch, epochs=2,
                            train_samples=51_000, val_samples=9_000, test_samples=10_000,
                            params=33_194))
    for step in range(1, batches + 1):
        loss = 2.3 * math.exp(-step / 90) + 0.05 * math.sin(step)
        history.fold(BatchEnd(step=step, epoch=1 + (step - 1) // per_epoch,
                              batch=1 + (step - 1) % per_epoch, loss=loss,
                              accuracy=1 - loss / 2.5, batch_loss=loss,
                              batch_accuracy=1 - loss / 2.5, seen=64 * step,
                              elapsed=0.01 * step))
        if step % per_epoch == 0:
            history.fold(EpochEnd(epoch=step // per_epoch, step=step, loss=loss,
                                  accuracy=0.8, val_loss=loss, val_accuracy=0.9,
                                  seconds=1.0))
    return history


def simplified(strips: list[Strip]) -> list[list[tuple[str, Any]]]:
    """The cells and their styles (less the cell offsets Textual adds for text selection),
    with neighbouring segments of one style joined."""
    return [[(s.text, s.style) for s in Segment.simplify(
        Segment(s.text, s.style and s.style.clear_meta_and_links()) for s in strip)]
        for strip in strips]


@pytest.mark.parametrize("theme", ["mnist-dark", "mnist-light", "mnist-high-contrast"])
@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_fast_path_draws_what_the_ansi_path_draws(theme: str, size: tuple[int, int]
                                                        ) -> None:
    app = ChartsApp(theme)
    history = history_of(500)
    async with app.run_test(size=size) as pilot:
        for chart in app.query(MetricChart).results(MetricChart):
            for smooth in (True, False):
                chart.show(history.chart(chart.METRIC, smooth=smooth,
                                         max_points=chart.max_points))
                await pilot.pause()
                width, height = chart.size
                fast = chart.render()
                assert isinstance(fast, MatrixVisual)
                ansi = visualize(chart, Text.from_ansi(chart.plt.build()))
                style = chart.visual_style
                drawn = simplified(Visual.to_strips(chart, fast, width, height, style))
                expected = simplified(Visual.to_strips(chart, ansi, width, height, style))
                assert len(drawn) == height
                assert drawn == expected
                assert chart.build_seconds > 0


class ProgressApp(App[None]):
    """Textual's progress bar over the monitor's, laid out as the monitor lays out its own."""

    CSS = """
    ProgressBar, RunProgress { height: 1; padding: 0 1; width: 100%; }
    ProgressBar Bar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=160, show_eta=False)
        yield RunProgress()


@pytest.mark.parametrize("width", [40, 80, 200])
async def test_the_progress_line_draws_what_textuals_progress_bar_draws(width: int) -> None:
    app = ProgressApp()
    async with app.run_test(size=(width, 4)) as pilot:
        theirs, ours = app.query_one(ProgressBar), app.query_one(RunProgress)
        for done in (0, 1, 7, 30, 80, 121, 159, 160):
            theirs.update(progress=done)
            ours.update(progress=done, total=160)
            await pilot.pause()
            bar, track = theirs.query_one(Bar), ours.query_one(ProgressTrack)
            assert (track.region.x, track.region.width) == (bar.region.x, bar.region.width)
            expected = simplified(bar.render_lines(bar.size.region))
            assert simplified(track.render_lines(track.size.region)) == expected, done
            label = ours.query_one("Label")
            percent = theirs.query_one(PercentageStatus)
            assert (label.region.x, label.region.width) == (percent.region.x,
                                                            percent.region.width)
            assert (simplified(label.render_lines(label.size.region))
                    == simplified(percent.render_lines(percent.size.region))), done
        assert ours.percentage == 1.0 and str(label.render()) == "100%"
