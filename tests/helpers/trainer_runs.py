"""Running the real trainer in a test and keeping every event it emits; the seed's inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Event
from mnist_tui.core.summary import RunSummary
from mnist_tui.training.trainer import Trainer


def float_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) images → float32 (N, 28, 28, 1) in 0..1, as the seed feeds them."""
    return (x.astype(np.float32) / 255.0)[..., np.newaxis]


def collect_run(trainer: Trainer, config: TrainConfig, control: RunControl | None = None,
                hook: Callable[[Event], None] | None = None) -> tuple[list[Event], RunSummary]:
    """Train `config`; return the events in order and the summary. `hook` sees each event."""
    events: list[Event] = []

    def emit(event: Event) -> None:
        events.append(event)
        if hook is not None:
            hook(event)

    return events, trainer.run(config, emit, control, run_id="test")
