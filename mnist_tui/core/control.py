"""How a front end asks a run to stop or pause: the `Controller` seam and `RunControl`.

`RunControl` steers a run in this process, from any thread; `channel.RemoteControl` steers one
in another process through its folder. Screens hold a `Controller` and never know which.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Controller(Protocol):
    """What a screen may ask of a run: stop, pause, resume, and what was asked."""

    def stop(self, reason: str = "stopped by user") -> None:
        """Ask the run to stop after its current batch; the test evaluation still runs."""

    def pause(self) -> None:
        """Ask the run to wait at the end of its current batch."""

    def resume(self) -> None:
        """Let a paused run go on."""

    def set_learning_rate(self, rate: float) -> None:
        """Ask the run to train from its next batch at learning rate `rate` (validated)."""

    @property
    def paused(self) -> bool:
        """Whether a pause is requested."""

    @property
    def stop_requested(self) -> bool:
        """Whether a stop was requested."""

    @property
    def reason(self) -> str:
        """Why the run was asked to stop ("" when it was not)."""


class RunControl:
    """Thread-safe stop and pause requests for one run.

    The front end calls `stop()`, `pause()`, `resume()`; the training thread calls
    `wait_if_paused()` at the end of each batch, which blocks while paused (but returns at once
    when a stop is requested) and returns how many seconds it waited.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._reason = ""
        self._abandoned = False
        self._paused_seconds = 0.0
        self._rate: float | None = None  # a learning rate asked for and not yet taken

    def stop(self, reason: str = "stopped by user") -> None:
        """Ask the run to stop after the current batch; the test evaluation still runs."""
        with self._lock:
            if not self._stop.is_set():
                self._reason = reason
            self._stop.set()
            self._running.set()

    def abandon(self, reason: str) -> None:
        """Stop the run after the current batch and skip its test evaluation and model save:
        nobody will look at them (a sweep's pruned trial)."""
        with self._lock:
            self._abandoned = not self._stop.is_set()
        self.stop(reason)

    @property
    def abandoned(self) -> bool:
        """Whether the run was stopped by `abandon` (first): no test evaluation, no model."""
        return self._abandoned

    def pause(self) -> None:
        """Ask the training thread to wait at the end of the current batch."""
        # Under the lock, so a stop() from another thread cannot slip in between the check
        # and the clear and leave a stopped run paused for ever.
        with self._lock:
            if not self._stop.is_set():
                self._running.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._running.set()

    def set_learning_rate(self, rate: float) -> None:
        """Ask the training thread to use learning rate `rate` from its next batch on.

        The caller validates `rate` (see `config.check_learning_rate`); the latest request
        wins when several come before the trainer takes one.
        """
        with self._lock:
            self._rate = float(rate)

    def take_learning_rate(self) -> float | None:
        """The training thread's side: the rate asked for since the last call, if any."""
        with self._lock:
            rate, self._rate = self._rate, None
        return rate

    @property
    def paused(self) -> bool:
        """Whether a pause is requested (the trainer may still be finishing its batch)."""
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        """Whether `stop()` was called."""
        return self._stop.is_set()

    @property
    def reason(self) -> str:
        """Why the run was asked to stop."""
        return self._reason

    @property
    def paused_seconds(self) -> float:
        """Total seconds the training thread has spent waiting in pauses."""
        return self._paused_seconds

    def wait_if_paused(self) -> float:
        """Block while paused (until resumed or stopped); return the seconds waited."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        self._running.wait()
        waited = time.perf_counter() - start
        with self._lock:
            self._paused_seconds += waited
        return waited
