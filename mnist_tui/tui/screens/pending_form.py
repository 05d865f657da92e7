"""PendingForm: the form's place while the app opens on a run (`mnist-tui watch RUN`).

The form is some 140 widgets: composing, styling and drawing them took a third of the time
`watch` needed to show a finished run's summary, for a screen nobody saw. So an app that
opens on a run starts with this screen under it instead, which says what is being read, and
shows the form (over itself) the first time it would show ("edit settings", an error to show
over the form).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static


class PendingForm(Screen[None]):
    """Stands in for the form until it is first needed; `make_form` builds it then."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
    ]

    def __init__(self, make_form: Callable[[], Screen[Any]], reading: str) -> None:
        super().__init__()
        self.make_form = make_form
        self.reading = reading
        self._covered = False  # whether another screen has been shown over it yet

    def compose(self) -> ComposeResult:
        """A title bar and what the app is reading."""
        yield Static("mnist-tui", classes="title-bar")
        yield Static(self.reading, id="pending-reading", markup=False)

    def on_screen_suspend(self) -> None:
        """A run's screen went over it: from now on, showing it means showing the form."""
        self._covered = True

    def on_screen_resume(self) -> None:
        """Uncovered again: show the form over it (unless another screen went straight back
        over it, as an error does; the form comes when that one goes)."""
        if self._covered:
            self.call_later(self._become_form)

    def _become_form(self) -> None:
        if self.app.screen is self:  # pushed over it: Textual cannot replace a first screen
            self.app.push_screen(self.make_form())
