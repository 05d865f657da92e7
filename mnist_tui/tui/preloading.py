"""PreloadingApp: runs got ready while the form is on screen (`mnist-tui --preload`).

Once the form is all drawn, a background thread starts this process's warmup
(`training/warmup.py`): MNIST loaded, TensorFlow imported and a model traced for the form's
settings, so that Enter goes straight to training. It is asked for, not the default:
TensorFlow's import holds Python's lock for seconds at a time, and the form answers keys
later while it runs (benchmarks/enter_to_batch.py measures both).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_tui.core.config import TrainConfig
from mnist_tui.tui.notifying import NotifyingApp
from mnist_tui.tui.screens.form import FormScreen

if TYPE_CHECKING:
    from mnist_tui.training.warmup import Warmup

PRELOAD_DELAY = 0.25
"""Seconds from the form's first complete frame (`FormScreen.Drawn`) to the start of the
preload, so that the frame is on the terminal before the preload's imports compete with it
(benchmarks/first_frame.py)."""


class PreloadingApp(NotifyingApp):
    """An app that can get its next run ready in the background (see the module)."""

    def init_preload(self, preload: bool, config: TrainConfig,
                     data_path: str | Path | None) -> None:
        """Set up the preload: on when `preload`, for `config` until the form says more."""
        self.preload = preload
        self.warmup: Warmup | None = None  # made by the preload thread
        self._preload_started = False
        self._preload_data = data_path
        self._wanted = config  # the settings a run will likely have (the form's)

    def on_form_screen_drawn(self) -> None:
        """The form is all on screen: start the preload (once), a moment later, so that the
        frame is written before the preload's imports compete with it."""
        if self.preload and not self._preload_started:
            self._preload_started = True
            self.set_timer(PRELOAD_DELAY, self._start_preload)

    def _start_preload(self) -> None:
        threading.Thread(target=self._preload, name="mnist-tui-preload", daemon=True).start()

    def _preload(self) -> None:
        """The preload thread: start this process's warmup for the form's settings (its
        modules are imported here too, off the UI thread)."""
        from mnist_tui.training.warmup import start_warmup

        self.warmup = start_warmup(self._preload_data)
        self.warmup.want(self._wanted)  # read after `warmup` is set: see `want_ready`

    def want_ready(self, config: TrainConfig) -> None:
        """The next run will likely train `config`: have the warmup get it ready."""
        self._wanted = config
        if self.warmup is not None:
            self.warmup.want(config)

    def on_form_screen_settings_changed(self, message: FormScreen.SettingsChanged) -> None:
        """The form's settings changed (and are valid): get a run of them ready."""
        self.want_ready(message.config)
