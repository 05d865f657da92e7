"""The drawing widgets: a 28x28 canvas in half blocks, and the model's ten probabilities.

The canvas is `digits.render_digit`'s picture (two pixel rows per text row) that the mouse
and the keys paint on with `drawing.paint`'s soft brush. A terminal cell is one pixel wide
and two high (at `scale` 2, where the terminal has room, a pixel is two cells wide and one
high), so the mouse paints at the middle of its cell; the keyboard cursor moves by single
pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Offset
from textual.message import Message

from mnist_tui.training.drawing import SIDE, blank_canvas, paint
from mnist_tui.tui.theming import ThemeAware, theme_color
from mnist_tui.tui.widgets.digits import BLACK, WHITE, render_digit

Point = tuple[float, float]
LEFT_BUTTON, RIGHT_BUTTON = 1, 3  # Textual's numbers for the mouse buttons
EIGHTHS = " ▏▎▍▌▋▊▉"


def cell_point(offset: Offset, scale: int = 1) -> Point:
    """The pixel point (x, y) at the middle of a canvas cell: at scale 1 the cell holds two
    pixel rows, at scale 2 half of one pixel."""
    return (offset.x + 0.5) / scale - 0.5, (offset.y + 0.5) * 2.0 / scale - 0.5


class DrawCanvas(ThemeAware, can_focus=True):
    """A 28x28 drawing in the theme's ink on its paper: left button draws, right erases;
    arrows move a cursor, space paints there (shift+arrows paint as they move), x erases.

    `image` holds the pixels (float32, 0 paper, 1 ink); `version` counts its changes, and
    each change posts `DrawCanvas.Changed`. `scale` 2 (the class `-large`) draws each pixel
    two cells wide and one high: 56x28 cells.
    """

    ALLOW_SELECT = False  # a drag draws; it never selects text
    DEFAULT_CSS = """
    DrawCanvas {
        width: 30;
        height: 16;
        border: round $primary;
        border-title-color: $text-muted;
    }
    DrawCanvas.-large {
        width: 58;
        height: 30;
    }
    DrawCanvas:focus {
        border: round $accent;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "paint", "Paint"),
        Binding("x", "paint(True)", "Erase", show=False),
        *(Binding(key, f"move({dx}, {dy})", show=False) for key, dx, dy in (
            ("left", -1, 0), ("right", 1, 0), ("up", 0, -1), ("down", 0, 1))),
        *(Binding(f"shift+{key}", f"move({dx}, {dy}, True)", show=False) for key, dx, dy in (
            ("left", -1, 0), ("right", 1, 0), ("up", 0, -1), ("down", 0, 1))),
    ]

    class Changed(Message):
        """The drawing changed (a stroke, a clear, a loaded digit)."""

        def __init__(self, canvas: DrawCanvas) -> None:
            super().__init__()
            self.canvas = canvas

        @property
        def control(self) -> DrawCanvas:
            """The canvas that changed."""
            return self.canvas

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.image = blank_canvas()
        self.version = 0
        self.cursor = (SIDE // 2, SIDE // 2)  # (x, y) pixel of the keyboard cursor
        self._stroke: tuple[bool, Point] | None = None  # (erasing, last point) while dragging

    @property
    def scale(self) -> int:
        """Cells per pixel across: 1, or 2 when the canvas is large."""
        return 2 if self.has_class("-large") else 1

    def stroke(self, points: Sequence[Point], *, erase: bool = False) -> None:
        """Drag the brush through `points` (pixel (x, y)); one point is a single dab."""
        changed = False
        for start, end in list(pairwise(points)) or [(point, point) for point in points[:1]]:
            changed |= paint(self.image, start, end, erase=erase)
        if changed:
            self._changed()

    def clear(self) -> None:
        """Blank the drawing."""
        if self.image.any():
            self.image = blank_canvas()
            self._changed()

    def load(self, image: np.ndarray) -> None:
        """Replace the drawing by a 28x28 image (uint8 0..255, or floats 0..1)."""
        pixels = np.asarray(image)
        if pixels.shape != (SIDE, SIDE):
            raise ValueError(f"a drawing must be {SIDE}x{SIDE}, got {pixels.shape}")
        scale = 255.0 if pixels.dtype == np.uint8 else 1.0
        self.image = np.clip(pixels.astype(np.float32) / scale, 0.0, 1.0)
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self.refresh()
        self.post_message(self.Changed(self))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        """Start a stroke: the left button draws, the right one erases."""
        offset = event.get_content_offset(self)
        if offset is None or event.button not in (LEFT_BUTTON, RIGHT_BUTTON):
            return
        event.stop()
        point = cell_point(offset, self.scale)
        self._stroke = (event.button == RIGHT_BUTTON, point)
        self.capture_mouse()
        self.stroke([point], erase=self._stroke[0])

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """Go on with the stroke under way, joining the last point to this one."""
        if self._stroke is None:
            return
        erase, last = self._stroke
        point = cell_point(event.get_content_offset_capture(self), self.scale)
        self._stroke = (erase, point)
        self.stroke([last, point], erase=erase)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        """End the stroke."""
        if self._stroke is not None:
            self._stroke = None
            self.release_mouse()

    def action_move(self, dx: int, dy: int, painting: bool = False) -> None:
        """Move the keyboard cursor a pixel; `painting` draws along the way."""
        x, y = self.cursor
        new = (min(max(x + dx, 0), SIDE - 1), min(max(y + dy, 0), SIDE - 1))
        self.cursor = new
        if painting:
            self.stroke([(float(x), float(y)), (float(new[0]), float(new[1]))])
        self.refresh()

    def action_paint(self, erase: bool = False) -> None:
        """Paint (or erase) a dab at the keyboard cursor."""
        self.stroke([(float(self.cursor[0]), float(self.cursor[1]))], erase=erase)

    def on_focus(self) -> None:
        """Show the keyboard cursor."""
        self.refresh()

    def on_blur(self) -> None:
        """Hide the keyboard cursor."""
        self.refresh()

    def render(self) -> Text:
        """The drawing in the theme's ink and paper, with the cursor when focused."""
        dark = self.app.current_theme.dark
        ink = theme_color(self.app, "foreground", WHITE if dark else BLACK)
        paper = theme_color(self.app, "background", BLACK if dark else WHITE)
        scale = self.scale
        text = render_digit(self.image, ink, paper, scale=scale)
        if self.has_focus:
            x, y = self.cursor
            mark = theme_color(self.app, "accent", "orange").rich_color
            if scale == 1:
                start = (y // 2) * (SIDE + 1) + x  # each text row is SIDE cells and a newline
                text.stylize(Style(color=mark) if y % 2 == 0 else Style(bgcolor=mark),
                             start, start + 1)
            else:
                start = y * (2 * SIDE + 1) + 2 * x  # a pixel: two whole cells of one row
                text.stylize(Style(color=mark, bgcolor=mark), start, start + 2)
        return text


def probability_bars(probabilities: np.ndarray | None, width: int, *, bar: Style,
                     best: Style, empty: Style) -> Text:
    """Ten lines "7 ████▌     93.1%", one per digit; the most probable in `best`.

    `width` is the whole line's; without probabilities the bars are empty and read "—".
    """
    bar_width = max(4, width - 9)
    winner = None if probabilities is None else int(np.argmax(probabilities))
    text = Text(no_wrap=True, overflow="crop", end="")
    for digit in range(10):
        p = None if probabilities is None else float(probabilities[digit])
        style = best if digit == winner else bar
        text.append(f"{digit} ", style=Style(bold=True) if digit == winner else None)
        eighths = round((p or 0.0) * bar_width * 8)
        full, part = divmod(eighths, 8)
        filled = "█" * full + (EIGHTHS[part] if part else "")
        text.append(filled, style=style)
        text.append(" " * (bar_width - len(filled)), style=empty)
        text.append(" —" if p is None else f"{p:6.1%}", style=style if digit == winner else None)
        if digit < 9:
            text.append("\n")
    return text


class ProbabilityBars(ThemeAware):
    """The model's ten class probabilities as bars, the predicted digit highlighted."""

    DEFAULT_CSS = """
    ProbabilityBars {
        height: 10;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.probabilities: np.ndarray | None = None

    def show(self, probabilities: np.ndarray | None) -> None:
        """Draw these probabilities (None: empty bars)."""
        self.probabilities = probabilities
        self.refresh()

    def render(self) -> Text:
        """The bars, in the theme's colours."""
        app = self.app
        bar = Style(color=theme_color(app, "primary", "blue").rich_color)
        best = Style(color=theme_color(app, "success", "green").rich_color, bold=True)
        empty = Style(bgcolor=theme_color(app, "panel", "grey23").rich_color)
        return probability_bars(self.probabilities, self.content_size.width, bar=bar,
                                best=best, empty=empty)
