"""RunProgress: the monitor's progress bar and percentage, drawn as Textual's ProgressBar draws
them, at a fraction of the cost.

Textual's `ProgressBar` ties three widgets together with reactives, samples an ETA on every
update (the monitor shows its own) and redraws once a second on a timer of its own. Here
`update()` stores two numbers, and each part redraws only when one of its cells changes: the
bar moves by half cells, the percentage by whole percents.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label

BAR, HALF_LEFT, HALF_RIGHT = "━", "╺", "╸"


class ProgressTrack(Widget, can_focus=False):
    """The bar: the done part in the bar colour, the rest of the track in the track colour."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"progress-track--bar", "progress-track--complete"}

    DEFAULT_CSS = """
    ProgressTrack {
        height: 1;
        & > .progress-track--bar {
            color: $primary;
            background: $surface;
        }
        & > .progress-track--complete {
            color: $success;
            background: $surface;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.fraction = 0.0
        self._drawn: tuple[int, int] | None = None

    def _halves(self) -> tuple[int, int]:
        width = self.size.width
        return int(self.fraction * 2 * width), width

    def show(self, fraction: float) -> None:
        """Fill `fraction` (0 to 1) of the track; redraw only if a half cell changes."""
        self.fraction = fraction
        if self._halves() != self._drawn:
            self.refresh()

    def render_line(self, y: int) -> Strip:
        """The one line of the bar, in half cells, as Textual's progress bar draws it."""
        halves, width = self._drawn = self._halves()
        base = self.rich_style
        complete = halves >= 2 * width > 0
        colours = self.get_component_rich_style(
            "progress-track--complete" if complete else "progress-track--bar")
        done = base + Style.from_color(colours.color)
        track = base + Style.from_color(colours.bgcolor)
        if halves == 0:
            return Strip([Segment(BAR * width, track)], width)
        full = halves // 2
        segments = [Segment(BAR * full + (HALF_RIGHT if halves % 2 else ""), done)]
        tail = BAR * (width - full - 1)
        if not halves % 2 and halves < 2 * width:
            tail = HALF_LEFT + tail
        if tail:
            segments.append(Segment(tail, track))
        return Strip(segments, width)


class RunProgress(Widget, can_focus=False):
    """The run's progress: the bar over the width left, then the percentage done."""

    DEFAULT_CSS = """
    RunProgress {
        height: 1;
        layout: horizontal;
        & > ProgressTrack {
            width: 1fr;
        }
        & > Label {
            width: 5;
            content-align-horizontal: right;
        }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.progress = 0.0
        self.total = 1.0
        self._track = ProgressTrack()
        self._label = Label("0%", markup=False)

    def compose(self) -> ComposeResult:
        """The bar, then the percentage."""
        yield self._track
        yield self._label

    @property
    def percentage(self) -> float | None:
        """The fraction done, 0 to 1; None while the total is not known."""
        return min(1.0, max(0.0, self.progress / self.total)) if self.total > 0 else None

    def update(self, *, progress: float, total: float) -> None:
        """Show `progress` of `total`; only the parts whose cells change are redrawn. A total
        of 0 is not known (a script's input of unknown length): an empty track and "—"."""
        self.progress, self.total = progress, total
        fraction = self.percentage
        self._track.show(fraction or 0.0)
        label = "—" if fraction is None else f"{round(fraction * 100)}%"
        if label != self._label.content:
            self._label.update(label, layout=False)
