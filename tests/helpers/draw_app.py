"""The draw screen under Pilot: its size, where its canvas is, a drag of the mouse over it,
and what an image MNIST's preprocessing gives must look like."""

from __future__ import annotations

from typing import Any

import numpy as np
from textual.pilot import Pilot

from mnist_tui.training.drawing import CENTRE, FIT, bounding_box, center_of_mass
from mnist_tui.tui.screens.draw import DrawApp
from mnist_tui.tui.widgets.draw_canvas import DrawCanvas

SIZE = (100, 30)
CANVAS_LEFT, CANVAS_TOP = 1, 1  # the canvas's border: content cell (x, y) is at (x+1, y+1)


def assert_mnist_shaped(image: np.ndarray) -> None:
    """The digit fills MNIST's 20x20 box by its longer side, centred by its mass."""
    box = bounding_box(image, threshold=0.0)
    assert box is not None
    top, left, bottom, right = box
    assert max(bottom - top, right - left) == FIT, "the longer side fills the 20x20 box"
    assert bottom - top <= FIT and right - left <= FIT
    x, y = center_of_mass(image)
    # MNIST moved its digits by whole pixels: the centre of mass is within half of one.
    assert abs(x - CENTRE) <= 0.5 + 1e-5 and abs(y - CENTRE) <= 0.5 + 1e-5, (x, y)


def canvas_of(app: DrawApp) -> DrawCanvas:
    """The canvas of the draw screen on top."""
    return app.screen.query_one(DrawCanvas)


async def drag(pilot: Pilot[Any], cells: list[tuple[int, int]], button: int = 1) -> None:
    """Press at the first content cell of the canvas, move through the rest, release."""
    canvas = pilot.app.screen.query_one(DrawCanvas)
    (x, y), rest = cells[0], cells[1:]
    await pilot.mouse_down(canvas, (x + CANVAS_LEFT, y + CANVAS_TOP), button=button)
    for x, y in rest:
        await pilot.hover(canvas, (x + CANVAS_LEFT, y + CANVAS_TOP))
    await pilot.mouse_up(canvas, (x + CANVAS_LEFT, y + CANVAS_TOP))
