"""NotifyingApp: a run's end reaches a user who is in another window.

When a run ends while the app's window is not focused (and the `notify` setting is on), the
bell and a desktop notification (OSC 9 and OSC 777, wrapped for tmux) go straight to the
terminal (`tui/state/end_notice.py` makes the text and the sequences).
"""

from __future__ import annotations

import os

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.summary import RunSummary
from mnist_tui.tui.leaving import LeavingApp


class NotifyingApp(LeavingApp):
    """An app that announces a run's end when it is not focused (see the module)."""

    config: TrainConfig

    def init_notify(self, notify: bool | None) -> None:
        """`notify` overrides the run's config's setting (None: the config says)."""
        self.notify_override = notify

    def announce_end(self, summary: RunSummary) -> None:
        """Ring and send a desktop notification of the run's end, if the app's window is
        not the focused one (and the setting is on)."""
        wanted = self.notify_override
        if wanted is None:
            wanted = bool(self.config.notify)
        if self.app_focus or not wanted or self._driver is None:
            return
        from mnist_tui.tui.state.end_notice import end_notice, notice_sequences

        title, body = end_notice(summary)
        # Straight to the driver: App.bell() writes nothing under a headless driver.
        self._driver.write(notice_sequences(title, body, tmux=bool(os.environ.get("TMUX"))))
        self._driver.flush()
