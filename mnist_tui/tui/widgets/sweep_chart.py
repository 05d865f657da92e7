"""The sweep screen's chart: each trial's objective against its number (plotext).

Done trials are dots, pruned ones crosses at the figure they were stopped with; the best so
far is a line. Drawn only when the sweep's rows change (at most once a second).
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
        plt.title(f"{self.objective.replace('_', ' ')} by trial")
        done = [(n, v) for n, v, s in self.points if s == "done"]
        pruned = [(n, v) for n, v, s in self.points if s == "pruned"]
        if done:
            plt.scatter([n for n, _ in done], [v for _, v in done], marker="●",
                        color=theme_color(self.app, "success", "green").rgb)
            best: list[float] = []
            pick = max if self.maximize else min
            for _, value in sorted(done):
                best.append(value if not best else pick(best[-1], value))
            plt.plot([n for n, _ in sorted(done)], best, marker="braille",
                     color=theme_color(self.app, "primary", "blue").rgb)
        if pruned:
            plt.scatter([n for n, _ in pruned], [v for _, v in pruned], marker="x",
                        color=theme_color(self.app, "warning", "yellow").rgb)
        if self.points:
            last = max(n for n, _, _ in self.points)
            plt.xlim(-0.5, last + 0.5)
            plt.xticks(list(range(0, last + 1, max(1, (last + 1) // 8))))
        self.refresh()
