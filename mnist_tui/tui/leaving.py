"""How the app leaves: q asks first and stops the run, SIGTERM stops it without asking, and a
terminal that goes away (SIGHUP) takes only the UI, never the run.

`LeavingApp` holds the app's side (the run on screen is its `session`); `run_app` runs it in
the main thread with the signals handled (`mnist_tui.runs.signals`), in an event loop of its own so
that it can wait, after the UI has left, for a run that goes on, or leave at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

from mnist_tui.core.errors import EXIT_FAILED, EXIT_OK
from mnist_tui.core.summary import RunSummary
from mnist_tui.runs.signals import StopSignals, stop_reason, survive_hang_up, terminal_hung_up
from mnist_tui.tui.screens.dialogs import ConfirmScreen

if TYPE_CHECKING:
    from mnist_tui.tui.state.session import RunSession

REARM_SECONDS = 0.5  # how often SIGTERM is taken back from TensorFlow (see StopSignals.rearm)


class LeavingApp(App[RunSummary | None]):
    """The app's ways out, around the run on screen (`session`).

    `left_running` says which watched run goes on after the app, if any; `hung_up` that the
    terminal went away (the process then waits for a run of its own to end).
    """

    def __init__(self) -> None:
        super().__init__()
        self._session: RunSession | None = None
        self.left_running: str | None = None
        self.hung_up = False
        self._exit_when_idle = False
        self._exit_code = EXIT_OK

    @property
    def session(self) -> RunSession:
        """The run on screen; an empty one until the first. Made when first asked for, so
        that the form comes up before the run machinery (events, history) is imported."""
        if self._session is None:
            from mnist_tui.tui.state.session import RunSession

            self._session = RunSession()
        return self._session

    @session.setter
    def session(self, session: RunSession) -> None:
        self._session = session

    def on_unmount(self) -> None:
        """However the app ends, ask a running training to stop, unless the terminal hung up.

        The process cannot exit before the worker thread does; without this an app closed
        some other way than `quit` would wait for the whole run to finish. After a hang-up
        the run goes on to its end (`run_app` waits for it). A watched run is another
        process's: it goes on, only the following ends.
        """
        self.session.close("the app was closed", keep_run=self.hung_up)

    def hang_up(self) -> None:
        """The terminal went away: the UI leaves at once; a run of this process goes on."""
        self.hung_up = True
        self.exit(self.session.summary)

    @property
    def _shutting_down(self) -> bool:
        return not self.is_running or not self.screen_stack

    def _exit_if_idle(self) -> None:
        if self._exit_when_idle and self.session.worker_done:
            self.exit(self.session.summary, return_code=self._exit_code)

    async def action_quit(self) -> None:
        """Quit; while a run is going, ask first, then stop it cleanly before exiting.

        A watched run is left going, without asking.
        """
        if self.session.watching or not self.session.active:
            self.stop_and_exit()
            return
        if isinstance(self.screen, ConfirmScreen):
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_and_exit()

        self.push_screen(ConfirmScreen(
            "Stop the run and quit? The test set is still evaluated and the run's log "
            "completed before the app exits."), answered)

    def stop_and_exit(self, reason: str = "quit by user", code: int = EXIT_OK) -> None:
        """Exit with `code` once the run on screen is done with: a run of this process stops
        after its current batch (saying `reason`) and completes its log first; a watched run
        goes on. A SIGTERM comes here too, as a quit confirmed."""
        session = self.session
        self._exit_when_idle = True
        self._exit_code = code
        if session.watching and session.active:
            from mnist_tui.tui.state.watching import left_running_note  # not needed before

            self.left_running = left_running_note(session.run_dir.name if session.run_dir
                                                  else "")
            session.stop_following.set()
        elif session.active and session.control is not None:
            session.control.stop(reason)
            self.notify("Stopping: evaluating on the test set and completing the run log…",
                        timeout=30)
        elif not session.worker_done:
            self.notify("Finishing the run's files before quitting…", timeout=30)
        self._exit_if_idle()


def run_app(app: LeavingApp) -> int:
    """Run `app` until it, and any run it leaves going, is done; return the exit code.

    - SIGHUP, or a terminal found hung up without one (`terminal_hung_up`, checked with the
      signals): the terminal's descriptors go to /dev/null, the UI leaves without touching the
      terminal again, and a run of this process goes on to its end (its log, model and
      summary all written) before this returns; the code then says how the run ended.
    - SIGTERM (or SIGINT): a quit confirmed: the run stops after its batch, is evaluated and
      saved, and the app exits 143 (1 for SIGINT). A second one closes the run's log with
      `run_failed` and leaves at once, once the UI has given the terminal back.
    """
    loop = asyncio.new_event_loop()
    quit_code: list[int] = []

    def in_app(callback: Callable[..., object], *args: object) -> None:
        # Signal handlers interrupt the loop's own code: hand the call to the loop through its
        # thread-safe door, then to the app as a message, where Textual expects it.
        loop.call_soon_threadsafe(app.call_later, callback, *args)

    def on_hang_up() -> None:
        app.hung_up = True  # at once: an exit already under way must not stop the run
        in_app(app.hang_up)

    def on_stop(signum: int) -> None:
        if app.is_running:
            in_app(app.stop_and_exit, stop_reason(signum), stops.exit_code(EXIT_FAILED))
        else:  # the UI has gone (a hang-up): stop the run it left going
            app.session.close(stop_reason(signum))

    def on_quit(code: int, folders: list[Path]) -> None:
        if not app.is_running:
            os._exit(code)
        quit_code.append(code)
        in_app(app.exit, None, code)

    on_a_terminal = os.isatty(0)

    def rearm() -> None:
        stops.rearm()
        if on_a_terminal and not app.hung_up and terminal_hung_up(0):
            os.kill(os.getpid(), signal.SIGHUP)  # gone without a SIGHUP: as if one came
        loop.call_later(REARM_SECONDS, rearm)

    stops = StopSignals(on_stop, on_quit)
    with survive_hang_up(on_hang_up), stops:
        loop.call_soon(rearm)
        try:
            app.run(loop=loop)
            if quit_code:
                os._exit(quit_code[0])  # the run's log is closed; the terminal given back
            # The worker threads run in the loop's default executor: a run the UI left going
            # ends here, and SIGTERM still stops it.
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
    if not app.hung_up:
        return stops.exit_code(app.return_code or EXIT_OK)
    summary = app.session.summary
    finished = summary is None or summary.get("status") == "finished"
    return stops.exit_code(EXIT_OK if finished else EXIT_FAILED)

