"""The app whose runs are all processes of their own: the app `mnist-tui serve` draws in a tab.

textual-serve starts one app process per browser tab and ends it when the tab closes. A run
trained in the app's worker thread would end with it; here every run is started detached
(`runs.detach.start_detached`: `python -m mnist_tui.headless RUN_DIR` in a session of its own)
and the monitor follows its folder as `mnist-tui watch` does, steering it through the folder's
control channel. Closing the tab, or quitting, leaves the run training to its summary; any
terminal or tab can watch it meanwhile. Resuming from the Runs screen goes the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.screen import Screen

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.form import FormScreen

if TYPE_CHECKING:
    from mnist_tui.runs.resume import ResumePlan


class OutOfProcessApp(MnistApp):
    """`MnistApp` with every run (and resume) in a background process that outlives it.

    Takes `MnistApp`'s arguments; `detach` is always on (the form's Detach box ticked and
    fixed) and nothing is preloaded, since this process never trains.
    """

    def __init__(self, config: TrainConfig | None = None, **kwargs: Any) -> None:
        kwargs.update(detach=True, preload=False)
        super().__init__(config, **kwargs)

    def get_default_screen(self) -> Screen[Any]:
        """The form, its Detach box ticked for good."""
        return FormScreen(self.config, always_detach=True)

    def start_run(self, config: TrainConfig, detach: bool | None = None) -> None:
        """Start `config` as a background run and follow it (whatever `detach` says)."""
        super().start_run(config, detach=True)

    def start_resume(self, plan: ResumePlan) -> None:
        """Resume the run in a background process of its own, and follow it."""
        if self.run_active:
            self.notify("A run is already going.", severity="warning")
            return
        from mnist_tui.runs.resume import resume_detached

        try:
            run = resume_detached(plan, self.data_path)
        except (OSError, MnistTuiError) as exc:
            self.notify(f"Could not resume the run: {exc}", severity="error")
            return
        self.config = plan.config
        self.follow_run_folder(Path(run.run_dir))
