"""Running the real trainer in a test and keeping every event it emits."""

from __future__ import annotations

from collections.abc import Callable

from mnist_tui.config import TrainConfig
from mnist_tui.control import RunControl
from mnist_tui.events import Event
from mnist_tui.training import Trainer


def collect_run(trainer: Trainer, config: TrainConfig, control: RunControl | None = None,
                hook: Callable[[Event], None] | None = None) -> tuple[list[Event], dict]:
    """Train `config`; return the events in order and the summary. `hook` sees each event."""
    events: list[Event] = []

    def emit(event: Event) -> None:
        events.append(event)
        if hook is not None:
            hook(event)

    return events, trainer.run(config, emit, control, run_id="test")
