"""Digits drawn with half blocks: size, colours, captions, gallery columns."""

from __future__ import annotations

import numpy as np
import pytest
from rich.color import Color as RichColor
from rich.style import Style
from rich.text import Text
from textual.color import Color

from mnist_tui.core.events import DigitSample
from mnist_tui.tui.widgets.digits import DigitGallery, digit_caption, gallery_title, render_digit


def style_at(text: Text, row: int, col: int) -> Style:
    """The style of the cell at (row, col) of a rendered digit (lines are 28 cells + newline)."""
    offset = row * 29 + col
    styles = [span.style for span in text.spans if span.start <= offset < span.end]
    assert len(styles) == 1, f"cell {row},{col} has {len(styles)} styles"
    style = styles[0]
    assert isinstance(style, Style)
    return style


def rgb(color: RichColor | None) -> tuple[int, int, int]:
    assert color is not None and color.triplet is not None
    return tuple(color.triplet)  # type: ignore[return-value]


def test_a_digit_is_14_rows_of_28_half_blocks() -> None:
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    text = render_digit(image)
    lines = text.plain.split("\n")
    assert len(lines) == 14
    assert all(line == "▀" * 28 for line in lines)


def test_upper_pixel_is_the_foreground_and_lower_pixel_the_background() -> None:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[0, 0] = 255  # white on top, black below: row 0, col 0
    image[3, 5] = 255  # black on top, white below: row 1, col 5
    text = render_digit(image)
    first = style_at(text, 0, 0)
    assert rgb(first.color) == (255, 255, 255)
    assert rgb(first.bgcolor) == (0, 0, 0)
    second = style_at(text, 1, 5)
    assert rgb(second.color) == (0, 0, 0)
    assert rgb(second.bgcolor) == (255, 255, 255)
    blank = style_at(text, 13, 27)
    assert rgb(blank.color) == rgb(blank.bgcolor) == (0, 0, 0)


def test_grey_levels_blend_between_paper_and_ink() -> None:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[0, 0], image[1, 0] = 255, 128
    ink, paper = Color(20, 30, 40), Color(240, 230, 220)  # a light theme: dark ink on paper
    text = render_digit(image, ink=ink, paper=paper)
    cell = style_at(text, 0, 0)
    assert rgb(cell.color) == ink.rgb
    middle = rgb(cell.bgcolor)
    for channel, low, high in zip(middle, ink.rgb, paper.rgb, strict=True):
        assert min(low, high) < channel < max(low, high)
    assert rgb(style_at(text, 5, 5).color) == paper.rgb


def test_float_images_are_accepted_and_bad_shapes_refused() -> None:
    image = np.zeros((28, 28), dtype=np.float32)
    image[0, 0] = 1.0
    assert rgb(style_at(render_digit(image), 0, 0).color) == (255, 255, 255)
    with pytest.raises(ValueError, match="28x28"):
        render_digit(np.zeros((27, 28), dtype=np.uint8))


def test_captions_say_prediction_and_truth_and_mark_the_wrong_ones() -> None:
    image = np.zeros((28, 28), dtype=np.uint8)
    right = DigitSample.from_image(0, 7, 7, 0.991, image)
    wrong = DigitSample.from_image(1, 5, 3, 0.54, image)
    assert digit_caption(right) == "pred 7 (true 7) 99%"
    assert digit_caption(wrong) == "✗ pred 3, true 5 54%"
    assert gallery_title([right, wrong]) == "2 test digits, 1 wrong (✗)"
    assert gallery_title([right]) == "1 test digit, all right"


@pytest.mark.parametrize(("width", "columns"), [(10, 1), (60, 1), (61, 2), (92, 3), (118, 3)])
def test_gallery_fits_as_many_cards_as_the_width_holds(width: int, columns: int) -> None:
    assert DigitGallery.columns_for(width) == columns
