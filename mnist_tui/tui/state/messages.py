"""How a worker thread's events reach the UI thread: a buffer per run, and a message saying so.

A run's worker calls `emit(event)` for every event, up to thousands a second on a GPU. Each
event goes into its run's `PendingEvents` (a list under a lock); only the event that finds the
buffer empty posts an `EventsPending` message, so a burst of events (the trainer reports 16
batches at once) wakes the UI thread once. The app's handler drains the buffer and folds every
event in order: nothing is lost or reordered, because the events never travel in the messages.
Queued messages of one run still merge (`can_replace`), should several be waiting.

A run's last event, and every `REMIND_EVERY`th event a buffer holds, posts too: a message that
reached an app as it closed is never handled, and the next post is how the worker learns that
the app is gone (`post` says so), so that the events left are not kept for nobody.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from mnist_tui.core.events import TERMINAL_TYPES, Emit, Event

REMIND_EVERY = 1024  # events waiting in a buffer between two posts, at most


class PendingEvents:
    """The events of one run on their way from its worker thread to the UI thread, in order.

    The object also names its run: a message for a buffer that is no longer the app's
    current one comes from an earlier run (a worker still tearing down) and is ignored.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def emitter(self, post: Callable[[Message], object]) -> Emit:
        """An `emit` for the run's worker: keep the event here, and `post` the news if the
        buffer was empty (otherwise a message is already on its way, and its drain takes this
        event too), or the run ended, or `REMIND_EVERY` events are waiting."""

        def emit(event: Event) -> None:
            with self._lock:
                self._events.append(event)
                waiting = len(self._events)
            if waiting % REMIND_EVERY == 1 or isinstance(event, TERMINAL_TYPES):
                post(EventsPending(self))

        return emit

    @property
    def waiting(self) -> int:
        """How many events have arrived and not been drained yet."""
        with self._lock:
            return len(self._events)

    def drain(self) -> list[Event]:
        """Take every event that has arrived so far, oldest first."""
        with self._lock:
            events, self._events = self._events, []
        return events


@dataclass
class EventsPending(Message):
    """Events of a run wait in `pending`: the handler drains and folds them all."""

    pending: PendingEvents

    def can_replace(self, message: Message) -> bool:
        """Whether the next queued `message` may stand for this one: it names the same run.

        The events wait in the buffer, not in the message, so dropping this one loses none.
        """
        return isinstance(message, EventsPending) and message.pending is self.pending


@dataclass
class CaughtUp(Message):
    """A watched run's logged events are all in `pending`: its monitor may show now."""

    pending: PendingEvents
