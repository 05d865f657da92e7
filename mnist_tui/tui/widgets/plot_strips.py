"""plotext figures drawn straight into Textual strips, skipping the ANSI round trip.

textual-plotext's `PlotextPlot.render` has plotext write its figure as one ANSI string, which
Rich parses back into styled text and Textual converts again into strips: two thirds of a
chart's drawing time. `FastPlot` stops plotext after it has built its character matrix and
turns the matrix into strips itself, one segment per run of equally coloured cells, with the
very style the ANSI path gives that run (worked out once per colour and cached), so the two
draw the same cells. `tests/test_tui_charts.py` checks that they do.
"""

from __future__ import annotations

import time
from typing import Any

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.app import RenderResult
from textual.content import Content
from textual.css.styles import RulesMap
from textual.geometry import Region
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual_plotext import PlotextPlot

Colours = tuple[Any, Any, Any]  # plotext's (foreground, style, background) of a cell
Run = tuple[str, Colours]


class MatrixVisual(Visual):
    """A built plotext matrix as lines of runs: text with the colours plotext gave it."""

    def __init__(self, lines: list[list[Run]], width: int,
                 styles: dict[tuple[Colours, Style], RichStyle]) -> None:
        self.lines = lines
        self.width = width
        self._styles = styles  # shared by the widget's renders: the cache of run styles

    def render_strips(self, width: int, height: int | None, style: Style,
                      options: RenderOptions) -> list[Strip]:
        """One strip per line, each run styled as the ANSI path would have styled it."""
        lines = self.lines if height is None else self.lines[:height]
        styles = self._styles
        at = RichStyle.from_meta
        strips = []
        for y, line in enumerate(lines):
            segments = []
            x = 0
            for text, colours in line:
                rich_style = styles.get((colours, style))
                if rich_style is None:
                    rich_style = styles[colours, style] = _ansi_style(colours, style, options)
                # Each run carries its cell offset, as Textual's own text does (for selection).
                segments.append(Segment(text, rich_style + at({"offset": (x, y)})))
                x += len(text)
            strips.append(Strip(segments, x))
        return strips

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        """The figure's width."""
        return self.width

    def get_height(self, rules: RulesMap, width: int) -> int:
        """The figure's height."""
        return len(self.lines)


def _ansi_style(colours: Colours, style: Style, options: RenderOptions) -> RichStyle:
    """The style the ANSI path gives a run of these colours over the widget's `style`."""
    from plotext._utility import colors_to_ansi

    fullground, text_style, background = colours
    ansi = colors_to_ansi(fullground, text_style, background) + "x"
    content = Content.from_rich_text(Text.from_ansi(ansi))
    segment = next(iter(content.render_strips(1, 1, style, options)[0]))
    return segment.style.clear_meta_and_links() if segment.style else RichStyle()


def matrix_runs(matrix: Any) -> list[list[Run]]:
    """A plotext matrix's rows, top first, as runs of cells that share their colours."""
    lines = []
    for row in reversed(matrix.Rows):
        markers, fg, st, bg = (matrix.marker[row], matrix.fullground[row], matrix.style[row],
                               matrix.background[row])
        runs: list[Run] = []
        start = 0
        current = (fg[0], st[0], bg[0])
        for col in range(1, len(markers)):
            colours = (fg[col], st[col], bg[col])
            if colours != current:
                runs.append(("".join(markers[start:col]), current))
                start, current = col, colours
        runs.append(("".join(markers[start:]), current))
        lines.append(runs)
    return lines


class FastPlot(PlotextPlot):
    """A `PlotextPlot` that draws its figure without the ANSI round trip (see the module).

    `build_seconds` is the UI thread's CPU time that drawing the figure last took: plotext's
    build, the strips and Textual's work on them.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.build_seconds = 0.0
        self._built = False
        self._run_styles: dict[tuple[Colours, Style], RichStyle] = {}

    def render_lines(self, crop: Region) -> list[Strip]:
        """The widget's lines (Textual asks on every frame and mostly gets them from its
        cache); when they were drawn anew, their cost goes in `build_seconds`."""
        start = time.thread_time()
        self._built = False
        lines = super().render_lines(crop)
        if self._built:
            self.build_seconds = time.thread_time() - start
        return lines

    def render(self) -> RenderResult:
        """Build the figure at the widget's size in the theme's colours; its matrix as a
        Visual."""
        self._built = True
        plot: Any = self.plt
        width, height = self.size
        plot.plotsize(width, height)
        plot._set_size(width, height)  # as PlotextPlot.render does; see its comment
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        plot._set_sizes()
        plot._build_matrix()
        return MatrixVisual(matrix_runs(plot.monitor.matrix), width, self._run_styles)
