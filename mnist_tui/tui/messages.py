"""How a worker thread's events reach the UI thread: a buffer per run, and a message saying so.

A run's worker calls `emit(event)` for every event, up to thousands a second on a GPU. Each
event goes into its run's `PendingEvents` (a list under a lock) and an `EventsPending` message
is posted. Under a flood the queued messages of one run merge (`can_replace`), and the app's
handler drains the buffer and folds every event in order: nothing is lost or reordered,
however many messages were merged, because the events never travel in the messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from mnist_tui.events import Emit, Event


class PendingEvents:
    """The events of one run on their way from its worker thread to the UI thread, in order.

    The object also names its run: a message for a buffer that is no longer the app's
    current one comes from an earlier run (a worker still tearing down) and is ignored.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def emitter(self, post: Callable[[Message], object]) -> Emit:
        """An `emit` for the run's worker: keep the event here, and `post` the news."""

        def emit(event: Event) -> None:
            with self._lock:
                self._events.append(event)
            post(EventsPending(self))

        return emit

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
