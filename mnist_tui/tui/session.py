"""RunSession: everything the app holds about the run it shows, replaced whole per run.

Starting a run or following another process's run makes a new session in one assignment, so
nothing of the previous run (its history, control, folder, worker, summary) can leak into
the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.worker import Worker

from mnist_tui.control import Controller
from mnist_tui.events import TERMINAL_TYPES, Emit
from mnist_tui.run_summary import RunSummary, as_summary, new_summary
from mnist_tui.tui.history import TrainingHistory
from mnist_tui.tui.messages import PendingEvents


@dataclass
class RunSession:
    """One run as the app sees it.

    `pending` carries the worker's events to the UI thread (and names the run); `control`
    steers the run (None for a recorded run without a control channel); `watching` says the
    run is another process's, followed from its folder until `stop_following` is set.
    `run_dir` and `summary` arrive as the run goes; `worker` is the thread that trains or
    follows it (None for the empty session the app starts with).
    """

    history: TrainingHistory = field(default_factory=TrainingHistory)
    pending: PendingEvents = field(default_factory=PendingEvents)
    control: Controller | None = None
    watching: bool = False
    run_dir: Path | None = None
    stop_following: threading.Event = field(default_factory=threading.Event)
    worker: Worker[Any] | None = None
    summary: RunSummary | None = None

    @property
    def active(self) -> bool:
        """Whether the run has started and its terminal event has not arrived yet."""
        return (self.worker is not None and not self.worker.is_finished
                and not self.history.finished)

    def emitter(self, post: Callable[[Message], bool]) -> Emit:
        """The worker's `emit`: each event waits in `pending` and `post` tells the app.

        Once `post` says no (the app has closed: the terminal hung up and the run goes on),
        nobody folds the events any more, so none are kept but how the run ended (`summary`).
        """

        def post_or_drop(message: Message) -> None:
            if post(message):
                return
            for event in self.pending.drain():
                if isinstance(event, TERMINAL_TYPES):
                    self.summary = as_summary(getattr(event, "summary", None))

        return self.pending.emitter(post_or_drop)

    @property
    def worker_done(self) -> bool:
        """Whether no worker of this session is still going (saving files, following)."""
        return self.worker is None or self.worker.is_finished

    def failed(self, message: str, config: Mapping[str, Any]) -> None:
        """The worker failed before the run's final event: log it, and sum the run up so.

        `config` stands in for the run's own when no `RunStarted` came.
        """
        history = self.history
        history.note(f"failed: {message}")
        self.summary = new_summary(history.run_id, history.config or config,
                                   epochs=history.epochs or None, train_samples=None,
                                   reason=message, epochs_completed=len(history.epoch_ends))

    def close(self, reason: str, *, keep_run: bool = False) -> None:
        """The app is going: stop following, and stop a run of this process (with `reason`).

        With `keep_run` (the terminal hung up) the run goes on to its end without its UI. A
        watched run is another process's and goes on in any case.
        """
        self.stop_following.set()
        if self.control is not None and not self.watching and not keep_run:
            self.control.stop(reason)
