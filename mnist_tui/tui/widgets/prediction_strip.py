"""The monitor's live test predictions: a row of fixed test digits and the model's guesses.

Each digit is drawn small, 8 columns by 4 rows of "▀" half blocks (its 28x28 pixels less a
2-pixel border, averaged 3x3 into 8x8), in greys blended between the theme's paper and ink
as `digits.py` draws the big ones. Under each sits the current guess and its confidence
("7 98%"), in the theme's success colour when right and its error colour when wrong ("✗3
54%", bold, so a monochrome terminal tells them apart too); above them one title line says
how many of the digits shown are right. As many digits as the width holds are shown.

The strip is drawn from cached lines, rebuilt only when the history holds new predictions
(every ~2 s of training), the theme changes or the width does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

from mnist_tui.core.events import Predictions, ShownDigits
from mnist_tui.tui.theming import ThemeAware, theme_color
from mnist_tui.tui.widgets.digits import HalfBlocks

if TYPE_CHECKING:
    import numpy as np  # only for images given as arrays: the run's digits come as bytes

THUMB_COLUMNS = 8  # text columns of one digit, one pixel each
THUMB_ROWS = 4  # text rows of one digit, two pixel rows each
GAP = 2  # columns between two digits
STRIP_HEIGHT = 1 + THUMB_ROWS + 1  # the title, the digits, their captions
LEVELS = 32  # grey levels drawn
WHITE = Color(255, 255, 255)
BLACK = Color(0, 0, 0)


def thumbnail(image: bytes | np.ndarray) -> list[list[int]]:
    """A 28x28 image (0 paper, 255 ink) as 8x8 grey levels 0..`LEVELS` - 1.

    MNIST's digits sit in the middle 20x20; the 2-pixel border is cropped and each 3x3 block
    of the remaining 24x24 averaged. `image` is 784 bytes row by row (a `ShownDigits`
    image, read without numpy, which the monitor would otherwise import just for this) or
    an array.
    """
    if isinstance(image, (bytes, bytearray)):
        if len(image) != 28 * 28:
            raise ValueError(f"a digit image must be 28x28 (784 bytes), got {len(image)} bytes")
        flat: list[float] = list(image)
    else:
        import numpy as np

        pixels = np.asarray(image, dtype=np.float64)
        if pixels.shape != (28, 28):
            raise ValueError(f"a digit image must be 28x28, got {pixels.shape}")
        flat = pixels.reshape(-1).tolist()
    levels = []
    for top in range(2, 26, 3):
        row = []
        for left in range(2, 26, 3):
            mean = sum(flat[28 * y + x] for y in range(top, top + 3)
                       for x in range(left, left + 3)) / 9
            row.append(round(min(max(mean, 0.0), 255.0) * (LEVELS - 1) / 255))
        levels.append(row)
    return levels


def digits_that_fit(width: int) -> int:
    """How many digits (and the gaps between them) fit in `width` columns (at least 1)."""
    return max(1, (width + GAP) // (THUMB_COLUMNS + GAP))


def caption(predicted: int, confidence: float, right: bool) -> str:
    """The words under one digit: "7 98%" when right, "✗3 54%" when wrong."""
    return f"{'' if right else '✗'}{predicted} {confidence:.0%}"


class PredictionStrip(ThemeAware):
    """A row of the run's shown test digits with the model's latest guess under each.

    `show(shown, predictions)` takes the history's `shown_digits` and `predictions`; it costs
    nothing when they are the same objects as last time. The monitor hides the strip when the
    run shows no digits, or when the user hides it.
    """

    DEFAULT_CSS = f"""
    PredictionStrip {{
        height: {STRIP_HEIGHT};
        padding: 0 1;
    }}
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.shown: ShownDigits | None = None
        self.predictions: Predictions | None = None
        self._thumbs: list[list[list[int]]] = []
        self._colours: tuple[Color, Color, Color, Color] | None = None
        self._lines: tuple[tuple[Any, ...], list[Strip]] | None = None

    def show(self, shown: ShownDigits | None, predictions: Predictions | None) -> None:
        """Take the digits and their latest guesses; redraw only if either changed."""
        if shown is self.shown and predictions is self.predictions:
            return
        if shown is not self.shown:
            self.shown = shown
            self._thumbs = ([thumbnail(shown.pixel_bytes(k)) for k in range(len(shown.labels))]
                            if shown is not None else [])
        if predictions is not None and (
                shown is None or len(predictions.predicted) != len(shown.labels)):
            predictions = None  # guesses for other digits than these
        self.predictions = predictions
        self._lines = None
        self.refresh()

    @property
    def count(self) -> int:
        """How many digits are drawn at the current width."""
        return min(len(self._thumbs), digits_that_fit(self.size.width))

    def right_of_shown(self) -> tuple[int, int] | None:
        """(right, drawn) over the digits drawn now; None before the first guesses."""
        shown, predictions = self.shown, self.predictions
        if shown is None or predictions is None:
            return None
        count = self.count
        right = sum(p == label for p, label in zip(predictions.predicted[:count],
                                                   shown.labels[:count], strict=True))
        return right, count

    def title(self) -> str:
        """The line above the digits: "Test digits: 7 of 8 right · batch 1,200"."""
        score = self.right_of_shown()
        if score is None or self.predictions is None:
            return f"Test digits: {self.count} shown, no guesses yet"
        right, count = score
        return f"Test digits: {right} of {count} right · batch {self.predictions.step:,}"

    def captions(self) -> list[tuple[str, bool]]:
        """Each drawn digit's caption and whether its guess is right ("", True: none yet)."""
        shown, predictions = self.shown, self.predictions
        if shown is None:
            return []
        if predictions is None:
            return [("", True)] * self.count
        return [(caption(p, c, p == label), p == label)
                for p, c, label in zip(predictions.predicted[:self.count],
                                       predictions.confidence[:self.count],
                                       shown.labels[:self.count], strict=True)]

    def apply_theme(self) -> None:
        """Draw again in the new theme's colours."""
        self._colours = None
        self._lines = None
        self.refresh()

    def _theme_colours(self) -> tuple[Color, Color, Color, Color]:
        """Ink, paper, right and wrong, from the theme (read once per theme)."""
        if self._colours is None:
            dark = self.app.current_theme.dark
            self._colours = (theme_color(self.app, "foreground", WHITE if dark else BLACK),
                             theme_color(self.app, "background", BLACK if dark else WHITE),
                             theme_color(self.app, "success", "green"),
                             theme_color(self.app, "error", "red"))
        return self._colours

    def render_line(self, y: int) -> Strip:
        """One line of the strip, from the cached drawing."""
        lines = self._drawing()
        if 0 <= y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _drawing(self) -> list[Strip]:
        """All the strip's lines, rebuilt only when what they show or how changed."""
        colours = self._theme_colours()
        key = (self.size.width, colours, self.rich_style)
        if self._lines is None or self._lines[0] != key:
            self._lines = (key, self._draw(self.size.width, colours))
        return self._lines[1]

    def _draw(self, width: int, colours: tuple[Color, Color, Color, Color]) -> list[Strip]:
        ink, paper, right_colour, wrong_colour = colours
        base = self.rich_style
        count = self.count
        lines = [self._title_strip(width, base)]
        painter = HalfBlocks(ink, paper, LEVELS)
        gap = Segment(" " * GAP, base)
        for row in range(THUMB_ROWS):
            segments: list[Segment] = []
            for k in range(count):
                if k:
                    segments.append(gap)
                thumb = self._thumbs[k]
                segments.extend(Segment(cells, style) for cells, style
                                in painter.row(thumb[2 * row], thumb[2 * row + 1]))
            lines.append(Strip(segments).adjust_cell_length(width, base))
        right_style = base + Style(color=right_colour.rich_color)
        wrong_style = base + Style(color=wrong_colour.rich_color, bold=True)
        segments = []
        for k, (text, right) in enumerate(self.captions()):
            if k:
                segments.append(gap)
            segments.append(Segment(text.center(THUMB_COLUMNS)[:THUMB_COLUMNS],
                                    right_style if right else wrong_style))
        lines.append(Strip(segments).adjust_cell_length(width, base))
        return lines

    def _title_strip(self, width: int, base: Style) -> Strip:
        title = self.title()
        head, sep, tail = title.partition(": ")
        if not sep:
            return Strip([Segment(title, base)]).adjust_cell_length(width, base)
        score, dot, rest = tail.partition(" · ")
        segments = [Segment(head + sep, base + Style(dim=True)), Segment(score, base + Style(
            bold=True))]
        if dot:
            segments.append(Segment(dot + rest, base + Style(dim=True)))
        return Strip(segments).crop(0, width).adjust_cell_length(width, base)
