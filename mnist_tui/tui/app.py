"""MnistApp: the form, the live monitor and the summary, around one training worker.

The worker runs the core's `execute_run` in a thread (TensorFlow is imported there, never by
the UI modules); its `emit` hands each event to the UI thread through the run's
`PendingEvents`. The app folds events into the run's `TrainingHistory` and moves between
screens on the run's own events (RunFinished, RunStopped, RunFailed), never on the worker
returning, which can lag seconds behind. Worker failures land in `on_worker_state_changed`
and show an error screen, never a traceback.

A run of another process (`mnist-tui watch`, or one started detached) is followed instead
(`tui/following.py`): the same events, read from its log; quitting then leaves the run going.
Everything about the run on screen is one `RunSession`, replaced per run.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.summary import RunSummary
from mnist_tui.tui.following import FollowingApp
from mnist_tui.tui.screens.dialogs import ErrorScreen
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.pending_form import PendingForm
from mnist_tui.tui.themes import register_themes, remember_theme, use_start_theme
from mnist_tui.tui.widgets.size_notice import guard_size, watch_size

# The form comes first and alone: the other screens, the run machinery and the palette are
# imported when first needed, so that the form is on screen sooner (benchmarks/first_frame.py).
if TYPE_CHECKING:
    from mnist_tui.core.events import Emit, RunFailed, RunFinished, RunStopped
    from mnist_tui.runs.driver import Runner
    from mnist_tui.runs.resume import ResumePlan
    from mnist_tui.sweeps.study import SweepPlace
    from mnist_tui.tui.state.history import TrainingHistory
    from mnist_tui.tui.state.messages import EventsPending
    from mnist_tui.tui.state.session import RunSession


class MnistApp(FollowingApp):
    """Train the MNIST network from a form and watch it learn.

    `config` prefills the form (command-line flags); `start=True` starts a run with it at once.
    `runner` replaces `execute_run` (tests pass a fake); `runs_dir` and `data_path` are handed
    to it. `theme` names a theme to use (else the remembered one, else the default).
    `watch` opens the monitor on that run folder (another process's run) instead; `detach`
    ticks the form's Detach box, so runs start as background processes that are watched.
    `notify` (else the run's config's `notify`) says whether a run's end that happens while
    the app's window is not focused rings the bell and sends a desktop notification.
    `preload` gets runs ready while the form is on screen, once it is all drawn: a process of
    its own imports TensorFlow, loads MNIST and traces a model for the form's settings, and
    trains the run on Enter (`tui/preloading.py`; the command line turns it on; off, runs
    train in a thread of the app, which imports TensorFlow then).
    After `run()` returns, `final_summary` holds the last run's summary (also the app's
    return value; None if no run ended) for the caller to print with
    `summary.format_summary_text`, and `left_running` says which watched run goes on, if any.
    """

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses elsewhere work
    TITLE = "mnist-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("ctrl+o", "runs", "Runs"),
    ]

    def __init__(self, config: TrainConfig | None = None, *, start: bool = False,
                 runner: Runner | None = None, runs_dir: Path | None = None,
                 data_path: str | Path | None = None, theme: str | None = None,
                 watch: Path | None = None, detach: bool = False,
                 resume: ResumePlan | None = None, notify: bool | None = None,
                 preload: bool = False, sweep: SweepPlace | None = None) -> None:
        super().__init__()
        self.init_notify(notify)
        self.config = config or TrainConfig()
        self.start_immediately = start
        self.runner = runner
        self.runs_dir = runs_dir
        self.data_path = data_path
        self.requested_theme = theme
        self.watch_dir = watch
        self.detach = detach
        self.resume_plan = resume  # a run to resume at once (`mnist-tui resume`)
        self.sweep_place = sweep  # a sweep to show at once (`mnist-tui sweep`, `watch SWEEP`)
        self._theme_ready = False
        self.theme_errors = register_themes(self)
        self.init_preload(preload and watch is None, self.config)

    @property
    def final_summary(self) -> RunSummary | None:
        """The summary of the last run, once it ended (None before)."""
        return self.session.summary

    @property
    def history(self) -> TrainingHistory:
        """What is known of the run on screen (empty before the first run)."""
        return self.session.history

    @property
    def run_dir(self) -> Path | None:
        """The folder of the run on screen, once known."""
        return self.session.run_dir

    def get_default_screen(self) -> Screen[Any]:
        """The form, prefilled with the config given to the app; when the app opens on a run
        (`watch`), a stand-in that becomes the form when first shown (see `PendingForm`)."""
        if self.watch_dir is not None:
            return PendingForm(lambda: FormScreen(self.config, detach=self.detach),
                               f"Reading the run in {self.watch_dir} …")
        return FormScreen(self.config, detach=self.detach)

    def on_mount(self) -> None:
        """Pick the theme, report broken theme files, and start at once if asked to."""
        use_start_theme(self, self.requested_theme, self.theme_errors)
        self._theme_ready = True
        watch_size(self)
        if self.sweep_place is not None:
            self.call_after_refresh(self.show_sweep, self.sweep_place)
        elif self.watch_dir is not None:
            self.call_after_refresh(self.follow_run_folder, self.watch_dir)
        elif self.resume_plan is not None:
            self.call_after_refresh(self.start_resume, self.resume_plan)
        elif self.start_immediately:
            # After the form's first layout: a screen pushed over one never laid out can
            # make that screen flip between two sizes forever on the next resize.
            self.call_after_refresh(self.start_run, self.config)

    def on_resize(self, event: Resize) -> None:
        """Say so, in place of a screen the terminal has become too small for."""
        guard_size(self.screen, event.size.width, event.size.height)

    def watch_theme(self, name: str) -> None:
        """Remember a theme chosen while the app runs, for the next start."""
        if self._theme_ready:
            problem = remember_theme(name)
            if problem:
                self.notify(problem, severity="warning")

    def start_run(self, config: TrainConfig, detach: bool | None = None) -> None:
        """Start training `config` in the worker and show the monitor.

        With `detach` (default: as the last run started), the run is a background process of
        its own, and the monitor follows it.
        """
        errors = config.validate()
        if errors:
            self.notify("; ".join(errors.values()), title="Cannot start", severity="error")
            return
        if self.run_active:
            self.notify("A run is already going.", severity="warning")
            return
        self.config = config
        self.detach = self.detach if detach is None else detach  # "train again" does the same
        if self.detach:
            from mnist_tui.runs.detach import start_detached

            try:
                run = start_detached(config, runs_dir=self.runs_dir, data_path=self.data_path)
            except (OSError, MnistTuiError) as exc:
                self.notify(f"Could not start the run: {exc}", severity="error")
                return
            self.follow_run_folder(run.run_dir)
            return
        if self.start_warm_run(config):  # in the process made ready for it
            return
        from mnist_tui.tui.state.session import RunSession

        control = RunControl()
        self._begin(RunSession(control=control),
                    lambda emit: self._train(config, control, emit))

    def start_resume(self, plan: ResumePlan) -> None:
        """Resume a run from its checkpoint in the training worker; the monitor shows its
        whole history (replayed first), then the run going on."""
        from mnist_tui.tui.state.session import RunSession

        if self.run_active:
            self.notify("A run is already going.", severity="warning")
            return
        from mnist_tui.runs.resume import resume_run

        self.config, control = plan.config, RunControl()
        self._begin(RunSession(control=control, run_dir=plan.run_dir), lambda emit: self.run_worker(
            partial(resume_run, plan, emit, control, data_path=self.data_path, replay=True),
            thread=True, exclusive=True, exit_on_error=False, group="training"))

    def _begin(self, session: RunSession, start: Callable[[Emit], Worker[Any]], *,
               monitor: bool = True) -> None:
        """Make `session` the app's, its worker started, and show the monitor on it (or
        later: `_show_monitor`)."""
        session.worker = start(session.emitter(self.post_message))
        self.session = session
        if monitor:
            self._show_monitor()

    def _show_monitor(self) -> None:
        """Show the monitor of the session's run, unless it is shown already."""
        from mnist_tui.tui.screens.monitor import MonitorScreen

        session = self.session
        if session.shown:
            return
        session.shown = True
        self._show_run_screen(MonitorScreen(session.history, session.control))

    def _show_run_screen(self, screen: Screen[Any]) -> None:
        """Put `screen` (the monitor, or a replay's summary) where a run's screen goes: over
        the form, or in place of the screen that shows a run (the Runs screen's too)."""
        if isinstance(self.screen, (FormScreen, PendingForm)) or getattr(
                self.screen, "KEEP_UNDER_MONITOR", False):
            self.push_screen(screen)
        else:
            self._pop_modals()
            # By name: importing the Runs screen to ask brings the charting modules.
            while len(self.screen_stack) > 2 and type(self.screen).__name__ == "RunsScreen":
                self.pop_screen()
            self.switch_screen(screen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _train(self, config: TrainConfig, control: RunControl, emit: Emit
               ) -> tuple[Path | None, RunSummary]:
        """The training worker: call the runner, which reports its events to `emit`."""
        from mnist_tui.runs.driver import execute_run

        runner = self.runner or execute_run  # which imports TensorFlow, in this thread only
        return runner(config, emit, control, runs_dir=self.runs_dir, data_path=self.data_path)

    def on_form_screen_start_requested(self, message: FormScreen.StartRequested) -> None:
        """The form was submitted valid: train it (in the background when detached)."""
        self.start_run(message.config, detach=message.detach)

    def on_events_pending(self, message: EventsPending) -> None:
        """Fold the run's waiting events into its history (cheap); move on when it ends.

        Events of an earlier run (a worker still tearing down) are dropped.
        """
        from mnist_tui.core.events import RunFailed, RunFinished, RunStopped, StorageProblem

        session = self.session
        if message.pending is not session.pending:
            return
        for event in session.pending.drain():
            session.fold(event)
            if isinstance(event, (RunFinished, RunStopped, RunFailed)):
                self._run_ended(event)
            elif isinstance(event, StorageProblem):  # said once by the run's writer
                self.notify(event.message, title="Run not saved", severity="warning",
                            timeout=20)

    def _run_ended(self, event: RunFinished | RunStopped | RunFailed) -> None:
        from mnist_tui.core.events import RunFailed

        session = self.session
        # A watched log of an older version may not name the folder it is in.
        summary = session.summary = event.summary.in_folder(session.run_dir)
        if self._shutting_down:
            return  # the app stopped the run on its way out; no screens to switch
        if self._exit_when_idle:
            self._exit_if_idle()
            return
        self.announce_end(summary)
        if isinstance(event, RunFailed):
            if session.watching:  # over the monitor, so its curves stay a key away
                self._show_monitor()
                self._pop_modals()
                self.push_screen(ErrorScreen("The run failed", event.error, event.detail))
            else:
                self._show_error("Training failed", event.error, event.detail)
            return
        from mnist_tui.tui.screens.summary import SummaryScreen

        screen = SummaryScreen(summary, session.history.evaluated, session.history)
        if not session.shown:  # a replay that ended before its monitor showed
            session.shown = True
            self._show_run_screen(screen)
            return
        self._pop_modals()
        if getattr(self.screen_stack[-2], "KEEP_UNDER_MONITOR", False):  # a sweep's trial
            from mnist_tui.tui.screens.runs import RunSummaryScreen  # escape: back to it

            self.switch_screen(RunSummaryScreen(summary, session.history.evaluated,
                                                session.history))
            return
        self.switch_screen(screen)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker outcomes are handled: results, failures, a pending exit."""
        worker = event.worker
        if worker is not self.session.worker:
            return
        if event.state == WorkerState.SUCCESS:
            self._worker_returned(worker.result)
        elif event.state == WorkerState.ERROR:
            self._worker_failed(worker.error)
        if worker.is_finished:
            self._exit_if_idle()

    def _worker_returned(self, result: object) -> None:
        from mnist_tui.runs.reading import FollowEnd

        if isinstance(result, FollowEnd):
            return  # a watched run: how it ended came as events; "left" is the user's choice
        session = self.session
        if isinstance(result, tuple) and len(result) == 2 and result[0] is not None:
            session.run_dir = Path(result[0])
        if not session.history.finished:
            self._worker_failed(RuntimeError("the run ended without a final event"))

    def _worker_failed(self, error: BaseException | None) -> None:
        message = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        detail = "".join(traceback.format_exception(error)) if error is not None else ""
        history = self.session.history
        if history.finished:
            # Training and its events were complete; something after them broke (saving?).
            self.notify(message, title="After the run", severity="error", timeout=15)
            return
        self.session.failed(message, self.config.to_dict())
        if not self._exit_when_idle and not self._shutting_down:
            self._show_error("Training failed", message, detail)

    def _pop_modals(self) -> None:
        while isinstance(self.screen, ModalScreen) and len(self.screen_stack) > 1:
            self.pop_screen()

    def _show_form(self) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, FormScreen):
            self.pop_screen()

    def _show_error(self, title: str, message: str, detail: str = "") -> None:
        self._show_form()
        self.push_screen(ErrorScreen(title, message, detail))

    def action_train_again(self) -> None:
        """Start a new run with the same settings as the last one."""
        if not self.run_active:
            self.start_run(self.config)

    def action_runs(self) -> None:
        """Show the runs: compare, open, delete, export; a running one opens in the monitor."""
        from mnist_tui.tui.screens.runs import RunsScreen

        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen(self.runs_dir, on_watch=self.follow_run_folder,
                                        on_resume=self.start_resume))

    def action_edit_settings(self) -> None:
        """Back to the form, which still holds the last run's settings."""
        if self.run_active:
            self.notify("Stop the run first (s), or quit (q).", severity="warning")
            return
        self._show_form()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide "train again" and "edit settings" on the summary of a Keras-callback run:
        they would start an MNIST training, which is not what that run was."""
        if action in ("train_again", "edit_settings"):  # only a SummaryScreen has callback_run
            return not getattr(self.screen, "callback_run", False)
        return True

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette: the app's actions for the current screen, then Textual's."""
        from mnist_tui.tui.commands import app_commands

        yield from app_commands(self, screen)
        yield from super().get_system_commands(screen)
