"""Whole lines of a run's log as events, and a replay's long backlog read fast, folded.

`events_of(lines)` parses each line (`event_from_json`), skipping what it cannot read. A
replay (`watch` of a long run, a chart of a recorded one) asks for `fold=True`: then, in a
chunk of many lines (the log written so far, read at once), the runs of exact `batch_end`
lines are folded into `BatchBlock`s of about `len(lines) / REPLAY_POINTS` batches each, as
the producers fold fast batches (`core.batch_folding`): a 200-epoch log of 159,400 batch
lines becomes a few thousand events, and each folded line is checked by one regular
expression (`BATCH_ROW`) and two number conversions instead of a JSON parse and an event. Lines the
expression does not take (another layout, a non-finite value, anything garbled) and the
block's last line (whose event the block carries) are parsed whole, as before; the last
`KEEP_EXACT` lines stay exact, so a chart zoomed in on the end of the run is as it was.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from mnist_tui.core.batch_folding import BlockBuilder
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import BatchEnd, Event, RunResumed

REPLAY_POINTS = 2048  # a folded backlog charts at least about this many points
FOLD_FROM = 4 * REPLAY_POINTS  # fewer lines than this are read one by one
KEEP_EXACT = 1280  # the backlog's last lines, left exact (a zoomed-in chart's points)
BATCH_PREFIX = '{"type":"batch_end",'
BATCH_ROW = re.compile(
    r'\{"type":"batch_end","time":[^,]*,"step":(\d+),"epoch":(\d+),"batch":\d+,"loss":[^,]*,'
    r'"accuracy":[^,]*,"batch_loss":([^,]*),"batch_accuracy":([^,]*),"seen":\d+,'
    r'"elapsed":[^,}\n]*\}\n')
"""A whole batch line as `BatchEnd.to_json` writes it (with its newline): its step, epoch, own
loss and own accuracy. The values it does not take are not checked (the block's last line,
whose event the block carries, is parsed whole), a scan cheap enough for 40 MB."""


def events_of(lines: list[str], *, fold: bool = False) -> Iterator[Event]:
    """The events of whole `lines` in order (blank and garbled lines skipped); with `fold`,
    a long run of batch lines comes as blocks (see the module)."""
    size = len(lines) // REPLAY_POINTS if fold and len(lines) >= FOLD_FROM else 1
    cut = max(0, len(lines) - KEEP_EXACT) if size > 1 else 0
    if cut:
        yield from _folded(lines, cut, size)
    for line in lines[cut:] if cut else lines:
        event = _event(line)
        if event is not None:
            yield event


def _event(line: str) -> Event | None:
    if not line.strip():
        return None
    try:
        return event_from_json(line)
    except ValueError:
        return None


def _folded(lines: list[str], end: int, size: int) -> Iterator[Event]:
    """The events of `lines[:end]`, the runs of exact batch lines in blocks of `size`."""
    others = [k for k in range(end) if not lines[k].startswith(BATCH_PREFIX)]
    previous: int | None = None  # the step of the last batch before what comes next
    begin = 0
    for k in [*others, end]:
        if k > begin:  # lines[begin:k] all look like batch lines
            for event in _batch_run(lines, begin, k, size, previous):
                previous = event.step if isinstance(event, BatchEnd) else previous
                yield event
        other = _event(lines[k]) if k < end else None
        if other is not None:
            if isinstance(other, (BatchEnd, RunResumed)):
                previous = other.step
            yield other
        begin = k + 1


def _batch_run(lines: list[str], begin: int, end: int, size: int,
               previous: int | None) -> Iterator[Event]:
    """The events of `lines[begin:end]`, lines that begin as batch lines do: blocks of `size`
    per epoch when every one is an exact batch line, one step after the other, with finite
    values (`BATCH_ROW` over them all at once), else line by line."""
    rows = BATCH_ROW.findall("\n".join(lines[begin:end]) + "\n") if end - begin > 1 else []
    if len(rows) != end - begin:
        yield from _one_by_one(lines[begin:end])
        return
    steps, epochs, loss_texts, acc_texts = zip(*rows, strict=True)
    at = 0
    while at < len(rows):  # each epoch's lines (a log without epoch ends has several)
        epoch = epochs[at]
        upto = at + 1
        while upto < len(rows) and epochs[upto] == epoch:
            upto += 1
        yield from _epoch_run(lines, begin + at, steps[at:upto], loss_texts[at:upto],
                              acc_texts[at:upto], size, previous)
        previous, at = int(steps[upto - 1]), upto


def _epoch_run(lines: list[str], begin: int, steps: tuple[str, ...],
               loss_texts: tuple[str, ...], acc_texts: tuple[str, ...], size: int,
               previous: int | None) -> Iterator[Event]:
    """The events of one epoch's batch lines from `begin` (their step, own loss and accuracy
    as written): blocks when they are clean, else line by line."""
    count = len(steps)
    first, last = int(steps[0]), int(steps[-1])
    accs_null = acc_texts.count("null")
    consecutive = last - first == count - 1 and (previous is None or first == previous + 1)
    if consecutive and accs_null in (0, count):
        try:
            losses = list(map(float, loss_texts))
            accs = None if accs_null else list(map(float, acc_texts))
        except ValueError:  # "1.2.3" and the like
            losses, accs = [math.nan], None
        if math.isfinite(sum(losses)) and (accs is None or math.isfinite(sum(accs))):
            yield from _blocks(lines, begin, losses, accs, size)
            return
    yield from _one_by_one(lines[begin:begin + count])


def _one_by_one(lines: list[str]) -> Iterator[Event]:
    for line in lines:
        event = _event(line)
        if event is not None:
            yield event


def _blocks(lines: list[str], begin: int, losses: list[float], accs: list[float] | None,
            size: int) -> Iterator[Event]:
    """Blocks of `size` batch lines from `begin`, their own values given; a block whose
    last line will not parse whole is read line by line."""
    for at in range(0, len(losses), size):
        upto = min(at + size, len(losses))
        last = _event(lines[begin + upto - 1])
        if not isinstance(last, BatchEnd):
            yield from _one_by_one(lines[begin + at:begin + upto])
            continue
        builder = BlockBuilder()
        builder.add_batches(losses[at:upto], None if accs is None else accs[at:upto])
        yield builder.build(last)
