"""The sweep screen's chart: each trial's objective against its number (plotext).

Done trials are dots, pruned ones crosses at the figure they were stopped with; the best so
far is a line across every trial after the first done one; accuracy in percent, as
the table shows it. Drawn only when the sweep's rows change (at most once a second).
"""

from __future__ import annotations

from typing import Any

from mnist_tui.tui.theming import ThemeAware, theme_color
from mnist_tui.tui.widgets.plot_strips import FastPlot


class SweepChart(ThemeAware, FastPlot):
    """Objective against trial number; `show(points, objective, maximize)` replaces them.

    `points` are (trial number, value, state) with state "done" or "pruned".
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: list[tuple[int, float, str]] = []
        self.objective = "val_accuracy"
        self.maximize = True

    def on_mount(self) -> None:
        """Draw the (empty) figure."""
        self.replot()

    def apply_theme(self) -> None:
        """Plot again in the theme's colours."""
        self.replot()

    def show(self, points: list[tuple[int, float, str]], objective: str, maximize: bool) -> None:
        """Replace the plotted trials and redraw once (nothing when they are the same)."""
        if (points, objective, maximize) == (self.points, self.objective, self.maximize):
            return
        self.points, self.objective, self.maximize = points, objective, maximize
        self.replot()

    def replot(self) -> None:
        """Clear the figure, plot the trials, refresh."""
        plt: Any = self.plt
        plt.clear_data()
        percent = "accuracy" in self.objective  # shown as the table shows it
        scale = 100.0 if percent else 1.0
        plt.title(f"{self.objective.replace('_', ' ')}{' (%)' if percent else ''} by trial")
        points = [(n, v * scale, s) for n, v, s in sorted(self.points)]
        done = [(n, v) for n, v, s in points if s == "done"]
        pruned = [(n, v) for n, v, s in points if s == "pruned"]
        if done:  # the line first: the trials' marks are drawn over it
            numbers, best = best_so_far(points, self.maximize)
            plt.plot(numbers, best, marker="braille",
                     color=theme_color(self.app, "primary", "blue").rgb)
            plt.scatter([n for n, _ in done], [v for _, v in done], marker="●",
                        color=theme_color(self.app, "success", "green").rgb)
        if pruned:
            plt.scatter([n for n, _ in pruned], [v for _, v in pruned], marker="x",
                        color=theme_color(self.app, "warning", "yellow").rgb)
        if points:
            last = points[-1][0]
            plt.xlim(-0.5, last + 0.5)
            plt.xticks(list(range(0, last + 1, max(1, (last + 1) // 8))))
            low, high = min(v for _, v, _ in points), max(v for _, v, _ in points)
            margin = max((high - low) * 0.1, 0.5 if percent else abs(high) * 0.05 or 0.05)
            top = min(high + margin, 100.0) if percent else high + margin
            plt.ylim(max(low - margin, 0.0) if percent else low - margin, top)
        self.refresh()


def best_so_far(points: list[tuple[int, float, str]], maximize: bool
                ) -> tuple[list[int], list[float]]:
    """The best finished trial's value at each trial number from the first finished one to
    the last trial (pruned ones carry the line on without changing it)."""
    pick = max if maximize else min
    numbers: list[int] = []
    best: list[float] = []
    for number, value, state in sorted(points):
        if state == "done":
            value = value if not best else pick(best[-1], value)
        elif not best:
            continue
        else:
            value = best[-1]
        numbers.append(number)
        best.append(value)
    return numbers, best
