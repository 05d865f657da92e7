"""SweepingApp: the app's side of a sweep: started from the form, shown on its screen.

A sweep from the form runs as a background process of its own (it outlives the app); the
sweep screen follows its study, and a trial opened from it shows in the monitor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.tui.preloading import PreloadingApp

if TYPE_CHECKING:
    from mnist_tui.sweeps.study import SweepPlace
    from mnist_tui.tui.screens.form_sweep import SweepRequested


class SweepingApp(PreloadingApp):
    """An app that starts sweeps and shows them (see the module)."""

    runs_dir: Path | None
    data_path: str | Path | None
    follow_run_folder: Callable[[Path], None]  # the app's: a trial opened from the screen

    def show_sweep(self, place: SweepPlace) -> None:
        """Show a sweep's screen (its trials live); a running trial opens in the monitor."""
        from mnist_tui.tui.screens.sweep import SweepScreen

        self.push_screen(SweepScreen(place, runs_dir=self.runs_dir,
                                     on_open=self.follow_run_folder))

    def on_sweep_requested(self, message: SweepRequested) -> None:
        """The form holds several values: start the sweep in the background (it outlives
        the app) and show its screen."""
        from mnist_tui.sweeps.launch import start_detached_sweep
        from mnist_tui.sweeps.study import create_sweep, storage_url

        try:
            place = create_sweep(message.plan, self.runs_dir, storage_url(None))
            start_detached_sweep(place, parallel=1, runs_dir=self.runs_dir,
                                 data_path=self.data_path)
        except (OSError, MnistTuiError) as exc:
            self.notify(f"Could not start the sweep: {exc}", severity="error")
            return
        self.release_warm()
        self.show_sweep(place)
