"""`DigitSample`: one test image with its true and predicted label, as events carry it.

The test digits of `Evaluated` (the summary's gallery); `events` reads and writes them in
its JSON form, where the image is 784 bytes of base64.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np  # imported where used: the app's form must not wait for it


@dataclass(frozen=True, kw_only=True)
class DigitSample:
    """One test image with its true and predicted label; `pixels` is 784 bytes, base64."""

    index: int
    label: int
    predicted: int
    confidence: float
    pixels: str

    @property
    def correct(self) -> bool:
        """Whether the prediction was right."""
        return self.label == self.predicted

    def pixel_bytes(self) -> bytes:
        """The image as 784 bytes, row by row (0 = paper, 255 = ink); no numpy needed."""
        return base64.b64decode(self.pixels)

    def image(self) -> np.ndarray:
        """The 28x28 uint8 image."""
        import numpy as np

        return np.frombuffer(base64.b64decode(self.pixels), dtype=np.uint8).reshape(28, 28)

    @classmethod
    def from_image(cls, index: int, label: int, predicted: int, confidence: float,
                   image: np.ndarray) -> DigitSample:
        """Make a sample from a 28x28 image (uint8, or floats in 0..1)."""
        import numpy as np

        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        pixels = base64.b64encode(arr.reshape(28, 28).tobytes()).decode("ascii")
        return cls(index=int(index), label=int(label), predicted=int(predicted),
                   confidence=float(confidence), pixels=pixels)
