"""The loss and accuracy charts of the monitor (plotext, through textual-plotext).

Following textual-plotext's `textual_towers_weather.py`: a `PlotextPlot` subclass keeps its
data, and `replot()` clears the figure, plots and refreshes. Building a plotext figure is pure
Python on the UI thread (about 19 ms at 118x22 with 100 points, 65 ms with 2,400), so the
monitor calls `show()` on a timer, a couple of times a second at most, with series already
thinned to about the chart's width.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual_plotext import PlotextPlot

from mnist_tui.tui.history import ChartData
from mnist_tui.tui.themes import theme_color

MAX_POINTS = 150  # per series; more points only cost drawing time, the width can't show them
MIN_POINTS = 16


class MetricChart(PlotextPlot):
    """A chart of one metric: per-batch training values, their EMA, validation per epoch."""

    METRIC: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: ChartData | None = None
        self.redraws = 0  # how many figures were set up; lets tests and benchmarks count

    @property
    def max_points(self) -> int:
        """Points per series worth drawing at the current width."""
        return max(MIN_POINTS, min(MAX_POINTS, self.size.width))

    def on_mount(self) -> None:
        """Redraw with the new theme's colours when the theme changes."""
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.replot())
        self.replot()

    def show(self, data: ChartData) -> None:
        """Replace the plotted data and redraw once."""
        self._data = data
        self.replot()

    def _colour(self, name: str, fallback: str) -> tuple[int, int, int]:
        return theme_color(self.app, name, fallback).rgb

    def replot(self) -> None:
        """Clear the figure, plot the current data in the theme's colours, refresh."""
        plt: Any = self.plt
        plt.clear_data()
        plt.title(self.TITLE)
        data = self._data
        if data is None:
            self.refresh()
            return
        self.redraws += 1
        plt.xlim(0, data.x_max)
        primary = self._colour("primary", "blue")
        xs, ys = data.train
        if data.smooth is not None:
            if xs:
                plt.plot(xs, ys, marker="braille", color=self._colour("secondary", "cyan"),
                         label="train (batch)")
            sx, sy = data.smooth
            if sx:
                plt.plot(sx, sy, marker="braille", color=primary, label="train (EMA)")
        elif xs:
            plt.plot(xs, ys, marker="braille", color=primary, label="train (batch)")
        vx, vy = data.val
        if vx:
            plt.scatter(vx, vy, marker="●", color=self._colour("warning", "yellow"),
                        label="val (epoch)")
        self.refresh()


class LossChart(MetricChart):
    """Training loss per batch and validation loss per epoch, on the run's step axis."""

    METRIC = "loss"
    TITLE = "loss"


class AccuracyChart(MetricChart):
    """Training accuracy per batch and validation accuracy per epoch (fractions 0..1)."""

    METRIC = "accuracy"
    TITLE = "accuracy"
