"""Messages that carry the training thread's events into the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from mnist_tui.events import BatchEnd, Event


@dataclass
class EventMessage(Message):
    """One event of a run, posted from the training worker's `emit` (thread-safe).

    `run` tells runs apart, so that late events of an earlier run (a worker still tearing down)
    never land in the history of the current one.

    Under a flood (a GPU finishing thousands of batches a second) a `BatchEnd` still waiting in
    the queue is superseded by the next `BatchEnd` of the same run: progress and speed only
    need the latest one and the charts are downsampled anyway. Any other event (phases, epoch
    ends, the evaluation, the terminal event) is never dropped, nor is a batch followed by one.
    """

    event: Event
    run: int = 0

    def can_replace(self, message: Message) -> bool:
        """Let the next queued batch of the same run supersede this batch; nothing else."""
        return (
            isinstance(message, EventMessage)
            and message.run == self.run
            and isinstance(self.event, BatchEnd)
            and isinstance(message.event, BatchEnd)
        )
