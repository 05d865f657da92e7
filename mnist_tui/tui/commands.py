"""The command palette entries of the app's own actions, by screen."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import Screen

from mnist_tui.core.presets import PRESETS
from mnist_tui.tui.screens.form import FormScreen, preset_label
from mnist_tui.tui.screens.monitor import MonitorScreen
from mnist_tui.tui.screens.summary import SummaryScreen

if TYPE_CHECKING:
    from mnist_tui.tui.app import MnistApp


def app_commands(app: MnistApp, screen: Screen[Any]) -> Iterable[SystemCommand]:
    """Start, presets and reset on the form; pause, stop, smoothing on the monitor; train
    again and edit on the summary; the Runs screen everywhere."""
    if isinstance(screen, FormScreen):
        yield SystemCommand("Start training", "Start a run with these settings (Enter)",
                            screen.action_start)
        for name in PRESETS:
            label, description = preset_label(name)
            yield SystemCommand(f"Preset: {label}", description or f"the {label} preset",
                                partial(screen.action_preset, name))
        yield SystemCommand("Reset settings", "Back to the defaults (ctrl+r)",
                            screen.action_reset)
    if isinstance(screen, MonitorScreen) and app.run_active:
        paused = screen.paused
        yield SystemCommand("Resume training" if paused else "Pause training",
                            "Toggle pause (p)",
                            screen.action_resume if paused else screen.action_pause)
        yield SystemCommand("Stop training", "Stop after this batch; still evaluate (s)",
                            screen.action_stop)
        yield SystemCommand("Set learning rate", "From the next batch on (l)",
                            screen.action_learning_rate)
    if isinstance(screen, MonitorScreen):
        yield SystemCommand("Toggle smoothing", "EMA curve over the per-batch values (e)",
                            screen.action_toggle_smoothing)
        if screen.history.shown_digits is not None:
            yield SystemCommand("Show or hide the test digits",
                                "The model's live guesses under the charts (t)",
                                screen.action_toggle_digits)
        yield SystemCommand("Zoom in", "The charts show the latest half of what they show (+)",
                            partial(screen.action_zoom, 1))
        yield SystemCommand("Zoom out", "The charts show twice as much of the run (-)",
                            partial(screen.action_zoom, -1))
        yield SystemCommand("Whole run", "The charts show the whole run again (0)",
                            screen.action_whole_run)
    if isinstance(screen, SummaryScreen) and not screen.callback_run:
        yield SystemCommand("Train again", "Same settings, new run (r)",
                            app.action_train_again)
        yield SystemCommand("Edit settings", "Back to the form (e)",
                            app.action_edit_settings)
    yield SystemCommand("Runs", "Past runs: compare, open, delete, export CSV (ctrl+o)",
                        app.action_runs)
