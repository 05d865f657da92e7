"""The loss and accuracy charts of the monitor (plotext, through textual-plotext).

Following textual-plotext's `textual_towers_weather.py`: a `PlotextPlot` subclass keeps its
data, and `replot()` clears the figure, plots and refreshes. Building a plotext figure is pure
Python on the UI thread (a few milliseconds at 60x24 through `FastPlot`, which skips the ANSI
round trip), so the monitor calls `show()` on a timer, a couple of times a second at most,
with series already thinned to about the chart's width.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

from mnist_tui.tui.state.series import ChartData
from mnist_tui.tui.theming import ThemeAware, theme_color
from mnist_tui.tui.widgets.plot_strips import FastPlot

MAX_POINTS = 150  # per series; more points only cost drawing time, the width can't show them
MIN_POINTS = 16


class MetricChart(ThemeAware, FastPlot):
    """A chart of one metric: per-batch training values, their EMA, validation per epoch.

    The curves carry no plotext legend; `legend_markup()` gives the shared one.
    """

    METRIC: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: ChartData | None = None
        self.note = ""  # said after the title, e.g. that a run does not report this metric
        self._plot_seconds = 0.0

    @property
    def data(self) -> ChartData | None:
        """What the chart shows now (None before the first `show`)."""
        return self._data

    @property
    def max_points(self) -> int:
        """Points per series worth drawing at the current width."""
        return max(MIN_POINTS, min(MAX_POINTS, self.size.width))

    def on_mount(self) -> None:
        """Draw the (empty) figure."""
        self.replot()

    def apply_theme(self) -> None:
        """Plot again: the curves' colours are the theme's."""
        self.replot()

    @property
    def draw_seconds(self) -> float:
        """The UI thread's CPU time that the last `show` took, drawing included."""
        return self._plot_seconds + self.build_seconds

    def show(self, data: ChartData) -> None:
        """Replace the plotted data and redraw once."""
        start = time.thread_time()
        self._data = data
        self.replot()
        self._plot_seconds = time.thread_time() - start

    def _colour(self, name: str, fallback: str) -> tuple[int, int, int]:
        return theme_color(self.app, name, fallback).rgb

    def replot(self) -> None:
        """Clear the figure, plot the current data in the theme's colours, refresh."""
        plt: Any = self.plt
        plt.clear_data()
        plt.title(f"{self.TITLE} ({self.note})" if self.note else self.TITLE)
        data = self._data
        if data is None:
            self.refresh()
            return
        plt.xlim(data.x_min, data.x_max)
        ticks = step_ticks(data.x_max, max(2, self.size.width // 10), data.x_min)
        plt.xticks(ticks, [tick_label(t) for t in ticks])
        primary = self._colour("primary", "blue")
        for step in data.marks:  # where the learning rate changed
            plt.vline(step, color=self._colour("warning", "yellow"))
        xs, ys = data.train
        if data.smooth is not None:
            if xs:
                plt.plot(xs, ys, marker="braille", color=self._colour("secondary", "cyan"))
            sx, sy = data.smooth
            if sx:
                plt.plot(sx, sy, marker="braille", color=primary)
        elif xs:
            plt.plot(xs, ys, marker="braille", color=primary)
        vx, vy = data.val
        if vx:
            plt.scatter(vx, vy, marker="●", color=self._colour("success", "green"))
        self.refresh()


def step_ticks(x_max: int, most: int, x_min: int = 0) -> list[int]:
    """Round batch numbers from `x_min` to `x_max` for the x axis: at most `most` + 1.

    plotext's own ticks split the axis evenly, which gives labels like 398.5 for a batch axis.
    """
    most = max(1, most)
    span = max(1, x_max - x_min)
    magnitude = 10 ** max(0, math.floor(math.log10(max(1, span / most))))
    step = next(m * magnitude for m in (1, 2, 5, 10) if span // (m * magnitude) <= most)
    first = -(-x_min // step) * step  # the first multiple of `step` at or after x_min
    return list(range(first, x_max + 1, step))


def tick_label(value: int) -> str:
    """A short axis label: 800, 1.6k, 24k, 1.2M."""
    if value < 1000:
        return str(value)
    for unit, size in (("M", 1_000_000), ("k", 1000)):
        if value >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return text + unit if float(text) < 10 else f"{value / size:.0f}{unit}"
    return str(value)  # pragma: no cover


def legend_markup(smooth: bool) -> str:
    """The charts' shared legend, in the same theme colours as the curves (Content markup).

    One line above both charts instead of plotext's legend, which would cover three rows of
    each small chart, right where the loss starts.
    """
    val = "[$success]●[/] validation (per epoch)"
    if smooth:
        return ("[$secondary]⣿[/] train (per batch)  [$primary]⣿[/] train, smoothed (EMA)  "
                + val)
    return f"[$primary]⣿[/] train (per batch)  {val}"


class LossChart(MetricChart):
    """Training loss per batch and validation loss per epoch, on the run's step axis."""

    METRIC = "loss"
    TITLE = "loss"


class AccuracyChart(MetricChart):
    """Training accuracy per batch and validation accuracy per epoch (fractions 0..1)."""

    METRIC = "accuracy"
    TITLE = "accuracy"
