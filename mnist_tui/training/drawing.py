"""Hand-drawn digits: a soft brush on a 28x28 canvas, and MNIST's own preprocessing.

Images are float arrays of shape (28, 28) with 0 for paper and 1 for ink; pixel (row, col)
has its centre at the point (x=col, y=row). The brush paints capsules (a round brush dragged
along a segment) with a solid core and grey, anti-aliased edges, so strokes come out as thick
and soft as MNIST's (2-3 dark pixels across, with grey edges).

`preprocess` is how the MNIST digits were made from the scans: the digit's bounding box
scaled to fit 20x20 (aspect ratio kept, anti-aliased), then placed in a 28x28 field so that
its centre of mass is at the centre. A digit drawn large, small or off-centre reaches the
network in the form it learned. Pure numpy: no Keras here.
"""

from __future__ import annotations

import numpy as np

SIDE = 28  # the canvas and the network input are SIDE x SIDE pixels
FIT = 20  # the digit's bounding box is scaled to fit FIT x FIT
BRUSH_RADIUS = 2.0  # ink fades to nothing at this distance from the stroke's centre line
BRUSH_SOFTNESS = 1.5  # the width of the grey edge; full ink within RADIUS - SOFTNESS
INK_THRESHOLD = 0.1  # fainter pixels do not count toward the bounding box
# Where MNIST's digits have their centre of mass (the mean over its test set is (14.0, 14.0),
# half a pixel right of and below the field's middle, 13.5): what the network learned.
CENTRE = SIDE / 2
_YS, _XS = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)


def blank_canvas() -> np.ndarray:
    """An empty canvas: SIDE x SIDE float32 zeros."""
    return np.zeros((SIDE, SIDE), dtype=np.float32)


def brush_mask(start: tuple[float, float], end: tuple[float, float] | None = None, *,
               radius: float = BRUSH_RADIUS, softness: float = BRUSH_SOFTNESS) -> np.ndarray:
    """How much ink (0..1) the brush lays on each pixel when dragged from `start` to `end`.

    Points are (x, y) in pixels; `end` None is a single dab at `start`. Ink is 1 within
    `radius - softness` of the segment and falls linearly to 0 at `radius`.
    """
    if radius <= 0 or not 0 < softness <= radius:
        raise ValueError(f"need radius > 0 and 0 < softness <= radius, got {radius}, "
                         f"{softness}")
    x0, y0 = start
    x1, y1 = start if end is None else end
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    if length2 == 0:
        t = np.zeros_like(_XS)
    else:
        t = np.clip(((_XS - x0) * dx + (_YS - y0) * dy) / length2, 0.0, 1.0)
    distance = np.hypot(_XS - (x0 + t * dx), _YS - (y0 + t * dy))
    return np.clip((radius - distance) / softness, 0.0, 1.0)


def paint(canvas: np.ndarray, start: tuple[float, float], end: tuple[float, float] | None = None,
          *, erase: bool = False) -> bool:
    """Drag the brush over `canvas` in place (ink, or paper with `erase`); True if it changed.

    Overlapping strokes never add up beyond full ink: each pixel keeps the darker of what it
    had and what the brush lays (or, erasing, the lighter).
    """
    mask = brush_mask(start, end).astype(canvas.dtype)
    before = canvas.copy()
    if erase:
        np.minimum(canvas, 1 - mask, out=canvas)
    else:
        np.maximum(canvas, mask, out=canvas)
    return not np.array_equal(before, canvas)


def bounding_box(image: np.ndarray, threshold: float = INK_THRESHOLD
                 ) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the pixels above `threshold`, ends exclusive; None if none."""
    rows = np.flatnonzero((image > threshold).any(axis=1))
    cols = np.flatnonzero((image > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """The ink's centre of mass as (x, y) in pixel coordinates; `CENTRE` for a blank image."""
    total = float(image.sum())
    if total <= 0:
        return CENTRE, CENTRE
    ys, xs = np.indices(image.shape)
    return float((image * xs).sum() / total), float((image * ys).sum() / total)


def _resampling(size_in: int, scale: float) -> np.ndarray:
    """The matrix of a 1-D resize by `scale` to ceil(size_in * scale) pixels, the content
    centred: a triangle filter, widened when shrinking so that every input pixel counts
    (anti-aliasing), and renormalised at the edges so that they keep their ink."""
    size_out = max(1, int(np.ceil(size_in * scale - 1e-9)))
    pad = (size_out - size_in * scale) / 2
    source = (np.arange(size_out) + 0.5 - pad) / scale - 0.5
    support = max(1.0, 1.0 / scale)
    weights = np.clip(1.0 - np.abs(np.arange(size_in)[None, :] - source[:, None]) / support,
                      0.0, None)
    sums = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)


def preprocess(image: np.ndarray) -> np.ndarray:
    """An image as MNIST made its digits: bounding box fitted into 20x20, aspect kept,
    centre of mass moved to the centre of 28x28 (`CENTRE`, to the nearest pixel as in MNIST,
    and only as far as keeps the whole digit in the field). float32 in 0..1; blank stays
    blank."""
    pixels = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if pixels.shape != (SIDE, SIDE):
        raise ValueError(f"a drawing must be {SIDE}x{SIDE}, got {pixels.shape}")
    box = bounding_box(pixels)
    if box is None:
        return blank_canvas()
    top, left, bottom, right = box
    crop = pixels[top:bottom, left:right]
    scale = FIT / max(crop.shape)
    fitted = _resampling(crop.shape[0], scale) @ crop @ _resampling(crop.shape[1], scale).T
    mass_x, mass_y = center_of_mass(fitted)
    height, width = fitted.shape
    row = int(np.clip(round(CENTRE - mass_y), 0, SIDE - height))
    col = int(np.clip(round(CENTRE - mass_x), 0, SIDE - width))
    out = blank_canvas()
    out[row:row + height, col:col + width] = np.clip(fitted, 0.0, 1.0)
    return out
