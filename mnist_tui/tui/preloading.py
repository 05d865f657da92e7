"""PreloadingApp: the next run got ready in a process of its own while the form is on screen.

Once the form is all drawn (and `PRELOAD_DELAY` later), the app starts a run process
(`runs/warm_process.py`), in a session of its own and at a lower CPU priority: it imports
TensorFlow, loads MNIST and traces a model for the form's settings (sent to it whenever they
change), while the app stays free to answer keys (TensorFlow's import, with Python's lock
held for seconds, is that process's, not the app's). On Enter the run trains there: the app
reads its events from a pipe (`_stream`) into the same monitor, and steers it through its
folder (`channel.RemoteControl`); the run belongs to its folder, so a killed app or a
closed terminal leaves it training to its summary. Once it ends, the next process gets
"train again" ready while the summary is on screen.

On by default in `mnist-tui` (`--no-preload` turns it off; benchmarks/enter_to_batch.py
measures it). Off (`--no-preload`, `--start`, a test's runner, detached and resumed runs, a
run asked for before the process was there): the run trains in a thread of the app
(`MnistApp._train`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.worker import get_current_worker

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.tui.notifying import NotifyingApp
from mnist_tui.tui.screens.form import FormScreen

if TYPE_CHECKING:
    from mnist_tui.core.events import Emit
    from mnist_tui.core.summary import RunSummary
    from mnist_tui.runs.driver import Runner
    from mnist_tui.runs.warm_process import ProcessRun, WarmProcess

PRELOAD_DELAY = 0.1
"""Seconds from the form's first complete frame (`FormScreen.Drawn`), or a run's end, to
the start of the run process, so that the frame is on the terminal first
(benchmarks/first_frame.py); short, as the process takes no time of the app's own."""


class PreloadingApp(NotifyingApp):
    """An app that gets its next run ready in a process of its own (see the module)."""

    runner: Runner | None
    runs_dir: Path | None
    data_path: str | Path | None
    _begin: Callable[..., None]  # the app's: (session, start, *, monitor=True)
    _steering_failed: Callable[[str], None]  # the app's

    def init_preload(self, preload: bool, config: TrainConfig) -> None:
        """Set up the preload: on when `preload`, for `config` until the form says more."""
        self.preload = preload
        self.warm: WarmProcess | None = None  # the process ready for the next run
        self._preload_started = False
        self._warm_lock = threading.Lock()
        self._wanted = config  # the settings a run will likely have (the form's)
        self._closed = False

    def on_form_screen_drawn(self) -> None:
        """The form is all on screen: start the run process (once), a moment later, so that
        the frame is written before the process competes with it."""
        if self.preload and not self._preload_started:
            self._preload_started = True
            self.set_timer(PRELOAD_DELAY, self._start_preload)

    def _start_preload(self) -> None:
        if self.preload and self.runner is None and not self.session.active and not (
                self._shutting_down or self._exit_when_idle or self._closed):
            threading.Thread(target=self._preload, name="mnist-tui-preload",
                             daemon=True).start()

    def _preload(self) -> None:
        """Start the run process (off the UI thread: its modules are imported here too)."""
        from mnist_tui.runs.warm_process import WarmProcess

        try:
            warm = WarmProcess.start(self.data_path)
        except MnistTuiError as exc:  # a bad $MNIST_TUI_WARM_NICE
            self.call_from_thread(self.notify, f"{exc}; runs start after Enter",
                                  title="Nothing preloaded", severity="warning", timeout=20)
            return
        except OSError:
            return  # runs train in the app's thread, as without the preload
        with self._warm_lock:
            closed = self._closed
            old, self.warm = self.warm, (None if closed else warm)
        if old is not None:
            old.close()
        if closed:
            warm.close()  # the app went while it started
            return
        warm.want(self._wanted)  # read after `warm` is set: see `want_ready`

    def want_ready(self, config: TrainConfig) -> None:
        """The next run will likely train `config`: have the run process get it ready."""
        self._wanted = config
        warm = self.warm
        if warm is not None:
            warm.want(config)

    def on_form_screen_settings_changed(self, message: FormScreen.SettingsChanged) -> None:
        """The form's settings changed (and are valid): get a run of them ready."""
        self.want_ready(message.config)

    def start_warm_run(self, config: TrainConfig) -> bool:
        """Train `config` in the run process, if one is ready, and show the monitor;
        whether it did (False: the app trains it in its own thread)."""
        self._wanted = config  # after this run, "train again" gets it ready too
        if self.runner is not None:
            return False
        with self._warm_lock:
            warm, self.warm = self.warm, None
        if warm is None:
            return False
        from mnist_tui.runs.channel import RemoteControl
        from mnist_tui.runs.warm_process import WarmProcessGone
        from mnist_tui.tui.state.session import RunSession

        try:
            run = warm.run(config, runs_dir=self.runs_dir)
        except WarmProcessGone:
            return False  # it died while it waited: the app's thread trains, and says why
        except (OSError, MnistTuiError) as exc:
            self.notify(f"Could not start the run: {exc}", severity="error")
            return True
        control = RemoteControl(run.run_dir, on_error=self._steering_failed)
        session = RunSession(control=control, run_dir=run.run_dir)
        self._begin(session, lambda emit: self._stream(run, session.stop_following, emit))
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _stream(self, run: ProcessRun, stop: threading.Event, emit: Emit
                ) -> tuple[Path, RunSummary | None]:
        """The worker of a run in its process: emit its events as a training worker would,
        until it ends (or the app stops following: the run goes on)."""
        from mnist_tui.core.events import RunFailed, RunFinished, RunStopped
        from mnist_tui.core.summary import RunSummary

        worker = get_current_worker()
        summary: RunSummary | None = None
        for event in run.events(lambda: stop.is_set() or worker.is_cancelled):
            emit(event)
            if isinstance(event, (RunFinished, RunStopped, RunFailed)):
                summary = event.summary
        if stop.is_set() or worker.is_cancelled:
            return run.run_dir, summary
        if summary is None:  # the process died before the run's end
            code = run.wait(5.0)
            how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exit code {code}")
            message = (f"the run's process ended before its run did ({how}); its output is "
                       f"in {run.run_dir / 'output.log'}")
            emit(RunFailed(error=message, detail=run.output(), summary=RunSummary(
                run_id=run.run_id, run_dir=str(run.run_dir), status="failed", reason=message)))
        self.call_from_thread(self.set_timer, PRELOAD_DELAY, self._start_preload)
        return run.run_dir, summary

    def on_unmount(self) -> None:
        """The app is going: the run process waiting for a run leaves too."""
        self.release_warm()

    def release_warm(self) -> None:
        """End the run process waiting for a run, and start no other (a sweep's trials want
        the cores and the memory); later runs train in the app's thread."""
        with self._warm_lock:
            self._closed = True
            warm, self.warm = self.warm, None
        if warm is not None:
            warm.close()
