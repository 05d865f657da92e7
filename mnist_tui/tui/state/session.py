"""RunSession: everything the app holds about the run it shows, replaced whole per run.

Starting a run or following another process's run makes a new session in one assignment, so
nothing of the previous run (its history, control, folder, worker, summary) can leak into
the next one.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.worker import Worker

from mnist_tui.core.control import Controller
from mnist_tui.core.events import (
    TERMINAL_TYPES,
    BatchEnd,
    Emit,
    Event,
    RunFailed,
    RunFinished,
    RunStopped,
)
from mnist_tui.core.summary import RunSummary
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.state.messages import PendingEvents


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
    frozen: bool = field(default=False, init=False)  # see `fold`
    shown: bool = field(default=False, init=False)  # whether its monitor has been shown

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
                if isinstance(event, (RunFinished, RunStopped, RunFailed)):
                    self.summary = event.summary

        return self.pending.emitter(post_or_drop)

    def fold(self, event: Event) -> None:
        """Fold `event` into the history; while the run trains, keep the garbage collector off
        the objects that were there when it began.

        TensorFlow, Keras and the traced model are hundreds of thousands of objects that live
        as long as the run, and every collection of the older generations walked them all,
        holding the GIL the training thread needs (a full one took 0.3 s). The UI thread
        allocates the most (drawing), so it ran most of them: 0.2 to 0.5 s of its CPU per run.
        Frozen at the first batch, they are left out until the run ends, when whatever garbage
        is among them can be collected again.
        """
        self.history.fold(event)
        if not self.frozen and isinstance(event, BatchEnd):
            gc.freeze()
            self.frozen = True
        elif self.frozen and isinstance(event, TERMINAL_TYPES):
            self.thaw()

    def thaw(self) -> None:
        """Give the objects frozen by `fold` back to the garbage collector."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False

    @property
    def worker_done(self) -> bool:
        """Whether no worker of this session is still going (saving files, following)."""
        return self.worker is None or self.worker.is_finished

    def failed(self, message: str, config: Mapping[str, Any]) -> None:
        """The worker failed before the run's final event: log it, and sum the run up so.

        `config` stands in for the run's own when no `RunStarted` came.
        """
        self.thaw()
        history = self.history
        history.note(f"failed: {message}")
        self.summary = RunSummary(run_id=history.run_id, config=history.config or config,
                                  epochs=history.epochs or None, train_samples=None,
                                  status="failed", reason=message,
                                  epochs_completed=len(history.epoch_ends))

    def close(self, reason: str, *, keep_run: bool = False) -> None:
        """The app is going: stop following, and stop a run of this process (with `reason`).

        With `keep_run` (the terminal hung up) the run goes on to its end without its UI. A
        watched run is another process's and goes on in any case.
        """
        self.stop_following.set()
        if self.control is not None and not self.watching and not keep_run:
            self.control.stop(reason)
