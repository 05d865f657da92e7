"""`mnist-tui` with a probe of the UI thread's CPU time while a run trains, for `overhead.py`.

    python benchmarks/ui_probe.py OUT.json [mnist-tui arguments...]

The app holds no benchmark code: this script wraps `RunSession.fold`, where the UI thread
folds every event of the run, and measures that thread's CPU time from the first batch folded
to the end of the last epoch (or of the run), then writes it to OUT.json as `ui_cpu_s` (CPU
seconds) and `wall_s` (seconds); then it runs `mnist-tui` with the other arguments.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mnist_tui.core.events import TERMINAL_TYPES, BatchEnd, EpochEnd, Event


class TrainingCpuProbe:
    """The UI thread's CPU time while a run trains, written to `path` once it is known."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._start: tuple[float, float] | None = None
        self._done = False

    def observe(self, event: Event, epochs: int) -> None:
        """Start at the first batch; stop and write at the last epoch's end or the run's."""
        if self._done:
            return
        if self._start is None:
            if isinstance(event, BatchEnd):
                self._start = (time.thread_time(), time.monotonic())
            return
        if isinstance(event, TERMINAL_TYPES) or (isinstance(event, EpochEnd)
                                                 and event.epoch >= epochs):
            self._done = True
            cpu, wall = time.thread_time() - self._start[0], time.monotonic() - self._start[1]
            self.path.write_text(json.dumps({"ui_cpu_s": cpu, "wall_s": wall}),
                                 encoding="utf-8")


def install(path: Path) -> TrainingCpuProbe:
    """Make every `RunSession` show its folded events to a probe that writes to `path`."""
    from mnist_tui.tui.state.session import RunSession

    probe = TrainingCpuProbe(path)
    fold = RunSession.fold

    def probed(session: RunSession, event: Event) -> None:
        fold(session, event)
        probe.observe(event, session.history.epochs)

    RunSession.fold = probed  # type: ignore[method-assign]
    return probe


def main(argv: Sequence[str] | None = None) -> int:
    """Install the probe writing to the first argument, then run `mnist-tui` with the rest."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write("usage: python benchmarks/ui_probe.py OUT.json [mnist-tui args...]\n")
        return 2
    install(Path(args[0]))
    from mnist_tui.cli import main as mnist_tui

    return mnist_tui(args[1:])


if __name__ == "__main__":
    sys.exit(main())
