"""FollowingApp: the app's monitor on a run that another process writes (`mnist-tui watch`,
a detached run, a run of the Runs screen that is still going).

A thread worker reads the run's log with `runs.follow_run` and emits the same events a
training worker would; pause and stop go through the run's control channel
(`channel.RemoteControl`). The monitor shows once the log written so far is folded, so a long
replay is never drawn event by event. Quitting leaves the run going.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.worker import get_current_worker

from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.sweeping import SweepingApp

if TYPE_CHECKING:
    from mnist_tui.core.config import TrainConfig
    from mnist_tui.core.events import Emit
    from mnist_tui.runs.reading import FollowEnd
    from mnist_tui.tui.state.messages import CaughtUp


class FollowingApp(SweepingApp):
    """An app that can show the monitor on another process's run (see the module)."""

    config: TrainConfig
    _show_monitor: Callable[[], None]  # the app's

    @property
    def run_active(self) -> bool:
        """Whether a run has started and its terminal event has not arrived yet."""
        return self.session.active

    def follow_run_folder(self, run_dir: Path) -> None:
        """Show the monitor on a run that another process writes, following its log."""
        from mnist_tui.tui.state.session import RunSession

        if self.run_active:
            self.notify("A run is already going here; its monitor is one escape away.",
                        severity="warning")
            return
        from mnist_tui.runs.channel import RemoteControl, has_control_channel
        from mnist_tui.tui.state.watching import watched_config

        run_dir = Path(run_dir)
        control = (RemoteControl(run_dir, on_error=self._steering_failed)
                   if has_control_channel(run_dir) else None)
        session = RunSession(control=control, watching=True, run_dir=run_dir)
        config = watched_config(run_dir)
        if config is not None:
            self.config = config  # so that "edit settings" and "train again" start from it
            if isinstance(self.screen_stack[0], FormScreen):  # else built from it when shown
                self.screen_stack[0].load(config)
        from mnist_tui.tui.state.messages import CaughtUp

        def caught_up() -> None:
            self.post_message(CaughtUp(session.pending))

        # The monitor shows once the log written so far is folded (a finished run's goes
        # straight to its summary): a long replay is never drawn event by event.
        self._begin(session, lambda emit: self._follow(run_dir, session.stop_following, emit,
                                                       caught_up), monitor=False)

    def on_caught_up(self, message: CaughtUp) -> None:
        """A watched run's log so far is folded: show its monitor (it goes on)."""
        if message.pending is self.session.pending and not self.session.history.finished:
            self._show_monitor()

    def _steering_failed(self, message: str) -> None:
        self.notify(message, title="Cannot steer the run", severity="error")

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _follow(self, run_dir: Path, stop: threading.Event, emit: Emit,
                caught_up: Callable[[], None]) -> FollowEnd:
        """The watching worker: emit the run's logged events as a training worker would."""
        from mnist_tui.runs.reading import liveness_unknown
        from mnist_tui.tui.state.watching import follow_events

        worker = get_current_worker()
        unknown = liveness_unknown(run_dir)
        if unknown:
            self.call_from_thread(self.notify, f"{unknown[:1].upper()}{unknown[1:]}; q stops "
                                  "watching.", title="Watching", severity="warning", timeout=20)
        return follow_events(run_dir, emit, lambda: stop.is_set() or worker.is_cancelled,
                             caught_up)

