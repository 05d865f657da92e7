"""Messages that carry the training thread's events into the UI."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from mnist_tui.events import BatchEnd, Event


@dataclass
class EventMessage(Message):
    """One event of a run, posted from the training worker's `emit` (thread-safe).

    `run` tells runs apart, so that late events of an earlier run (a worker still tearing down)
    never land in the history of the current one.

    Under a flood (a GPU finishing thousands of batches a second) consecutive queued batch
    messages of one run merge into one dispatch, and nothing is lost: the message that takes
    the place of another carries that one's events along in `earlier`. Only a `BatchEnd`
    followed by a `BatchEnd` merges; phases, epoch ends, the evaluation and the terminal event
    always keep their own message, in order.
    """

    event: Event
    run: int = 0
    earlier: list[Event] = field(default_factory=list)

    @property
    def events(self) -> list[Event]:
        """The events this message delivers, oldest first."""
        return [*self.earlier, self.event]

    def can_replace(self, message: Message) -> bool:
        """Whether the queued `message` (the next one) may stand for this one as well.

        Textual then drops this message; so that its events are not lost, they are handed to
        `message` here (both live in the UI thread by now).
        """
        mergeable = (
            isinstance(message, EventMessage)
            and message.run == self.run
            and isinstance(self.event, BatchEnd)
            and isinstance(message.event, BatchEnd)
        )
        if mergeable:
            assert isinstance(message, EventMessage)
            message.earlier = [*self.earlier, self.event, *message.earlier]
        return mergeable
