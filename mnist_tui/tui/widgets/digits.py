"""Test digits drawn in the terminal: 28x28 pixels as 28 columns x 14 rows of half blocks.

Each cell is "▀": its foreground paints the upper pixel, its background the lower one, so two
pixel rows share one text row. Grey levels are blended between the theme's paper (background)
and ink (foreground) colours, so a light theme draws dark digits on light paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Static

from mnist_tui.core.digit_sample import DigitSample
from mnist_tui.tui.theming import ThemeAware, theme_color

if TYPE_CHECKING:
    import numpy as np  # only for images given as arrays: a summary's digits come as bytes

UPPER_HALF = "▀"
DIGIT_COLUMNS = 28
DIGIT_ROWS = 14
CARD_WIDTH = DIGIT_COLUMNS + 2  # the digit and its border
CARD_HEIGHT = DIGIT_ROWS + 2
CARD_GUTTER = 1
LEVELS = 64  # grey levels drawn; ends are exact, the rest is invisible quantisation
WHITE = Color(255, 255, 255)
BLACK = Color(0, 0, 0)


class HalfBlocks:
    """Rows of grey levels (0 = paper to `levels` - 1 = ink) as runs of "▀" cells, the upper
    pixel in the foreground and the lower one in the background; one style per pair of
    levels, made once (the digits here and the monitor's strip of test digits use it)."""

    def __init__(self, ink: Color, paper: Color, levels: int) -> None:
        self._palette = [paper.blend(ink, i / (levels - 1)).rich_color for i in range(levels)]
        self._styles: dict[tuple[int, int], Style] = {}

    def row(self, upper: Sequence[int] | np.ndarray, lower: Sequence[int] | np.ndarray
            ) -> list[tuple[str, Style]]:
        """One text row from two pixel rows of levels: (cells, style) per run of equal pairs."""
        runs: list[tuple[str, Style]] = []
        width = len(upper)
        start = 0
        for col in range(1, width + 1):
            if col < width and (upper[col], lower[col]) == (upper[start], lower[start]):
                continue
            key = (int(upper[start]), int(lower[start]))
            style = self._styles.get(key)
            if style is None:
                palette = self._palette
                style = self._styles[key] = Style(color=palette[key[0]],
                                                  bgcolor=palette[key[1]])
            runs.append((UPPER_HALF * (col - start), style))
            start = col
        return runs


def render_digit(image: bytes | np.ndarray, ink: Color = WHITE, paper: Color = BLACK, *,
                 scale: int = 1) -> Text:
    """Draw a 28x28 image (0 = paper, 255 = ink) as 14 lines of 28 half-block cells;
    `scale` 2 draws each pixel as two cells side by side (56 columns x 28 lines).

    `image` is 784 bytes row by row (a `DigitSample`'s, read without numpy, which a summary
    would otherwise import just for this) or an array: uint8, or floats in 0..1.
    """
    levels = _levels(image)
    if scale > 1:
        levels = [[level for level in row for _ in range(scale)]
                  for row in levels for _ in range(scale)]
    painter = HalfBlocks(ink, paper, LEVELS)
    text = Text(no_wrap=True, end="", overflow="crop")
    rows = DIGIT_ROWS * scale
    for row in range(rows):
        for cells, style in painter.row(levels[2 * row], levels[2 * row + 1]):
            text.append(cells, style)
        if row < rows - 1:
            text.append("\n")
    return text


def _levels(image: bytes | np.ndarray) -> list[list[int]]:
    """The image's 28 rows of grey levels, 0 to LEVELS - 1."""
    if isinstance(image, (bytes, bytearray)):
        if len(image) != 28 * 28:
            raise ValueError(f"a digit image must be 28x28 (784 bytes), got {len(image)} bytes")
        flat: list[int] = list(image)
    else:
        import numpy as np

        pixels = np.asarray(image)
        if pixels.shape != (28, 28):
            raise ValueError(f"a digit image must be 28x28, got {pixels.shape}")
        if pixels.dtype != np.uint8:
            pixels = np.clip(np.rint(pixels.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        flat = pixels.reshape(-1).tolist()
    levels = [(value * (LEVELS - 1) + 127) // 255 for value in flat]
    return [levels[start:start + 28] for start in range(0, 28 * 28, 28)]


def digit_caption(sample: DigitSample) -> str:
    """The caption under a digit: "pred 7 (true 7) 99%", or "✗ pred 3, true 5 54%" when wrong."""
    confidence = f"{sample.confidence:.0%}"
    if sample.correct:
        return f"pred {sample.predicted} (true {sample.label}) {confidence}"
    return f"✗ pred {sample.predicted}, true {sample.label} {confidence}"


class DigitCard(ThemeAware):
    """One test digit in a border; the caption (prediction and truth) sits in the bottom border.

    Right predictions get a thin border in the theme's success colour, wrong ones a heavy border
    in its error colour (the weight tells them apart on a monochrome terminal too).
    """

    DEFAULT_CSS = """
    DigitCard {
        width: 30;
        height: 16;
        border: round $success;
        border-title-color: $text-muted;
        border-subtitle-color: $text-success;
        border-subtitle-align: center;
        border-title-align: right;
    }
    DigitCard.-wrong {
        border: heavy $error;
        border-subtitle-color: $text-error;
        border-subtitle-style: bold;
    }
    """

    def __init__(self, sample: DigitSample, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.sample = sample
        self._image = sample.pixel_bytes()
        self._cache: tuple[tuple[Color, Color], Text] | None = None
        self.set_class(not sample.correct, "-wrong")
        self.border_title = f"#{sample.index}"
        self.border_subtitle = digit_caption(sample)

    def render(self) -> Text:
        """The digit in the current theme's ink and paper colours."""
        dark = self.app.current_theme.dark
        ink = theme_color(self.app, "foreground", WHITE if dark else BLACK)
        paper = theme_color(self.app, "background", BLACK if dark else WHITE)
        if self._cache is None or self._cache[0] != (ink, paper):
            self._cache = ((ink, paper), render_digit(self._image, ink, paper))
        return self._cache[1]


class DigitGallery(Widget):
    """A grid of test digits with their predictions, as many per row as the width allows."""

    DEFAULT_CSS = """
    DigitGallery {
        layout: grid;
        grid-size: 2;
        grid-columns: 30;
        grid-rows: 16;
        grid-gutter: 0 1;
        height: auto;
        width: 1fr;
    }
    DigitGallery > .gallery-empty {
        color: $text-muted;
    }
    """

    def __init__(self, samples: Iterable[DigitSample] = (), *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.samples: tuple[DigitSample, ...] = tuple(samples)

    def compose(self) -> ComposeResult:
        """One card per sample, or a note when there are none."""
        if not self.samples:
            yield Static("No test digits to show.", classes="gallery-empty")
        for sample in self.samples:
            yield DigitCard(sample)

    @staticmethod
    def columns_for(width: int) -> int:
        """How many cards fit side by side in `width` cells."""
        return max(1, (width + CARD_GUTTER) // (CARD_WIDTH + CARD_GUTTER))

    def on_resize(self, event: Resize) -> None:
        """Fit as many columns of cards as the new width holds."""
        columns = self.columns_for(event.size.width)
        if self.styles.grid_size_columns != columns:
            self.styles.grid_size_columns = columns


def gallery_title(samples: Sequence[DigitSample]) -> str:
    """A heading for a gallery: how many digits are shown and how many are wrong."""
    wrong = sum(not s.correct for s in samples)
    shown = f"{len(samples)} test digit{'s' if len(samples) != 1 else ''}"
    return f"{shown}, {wrong} wrong (✗)" if wrong else f"{shown}, all right"
