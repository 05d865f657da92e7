"""Small dialogs: a yes/no question and a readable error screen.

`ConfirmScreen` is a `ModalScreen[bool]` (push it with a callback, or `push_screen_wait` in a
worker). `ErrorScreen` shows what went wrong in words, never a traceback over the terminal;
an optional detail (e.g. the traceback) stays folded away until asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Collapsible, Footer, Static

from mnist_tui.tui.keys import EDIT_SETTINGS, QUIT


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True (yes) or False (no, or escape)."""

    CSS_PATH = str(Path(__file__).with_name("dialogs.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        """The question and two buttons; No has the focus, so a stray Enter changes nothing."""
        with Vertical(id="confirm-dialog"):
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes_label} (y)", variant="primary", id="yes")
                yield Button(f"{self.no_label} (n)", id="no")
        yield Footer()

    def on_mount(self) -> None:
        """Focus the safe answer."""
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Answer the question (bound to y, n and escape)."""
        self.dismiss(answer)


class ErrorScreen(ModalScreen[None]):
    """Say that something went wrong, readably, with keys to go back to the form or quit.

    `e` calls the app's `action_edit_settings` and `q` its `action_quit`; escape just closes
    the dialog. The app decides what "back to the form" does with the screens underneath.
    """

    CSS_PATH = str(Path(__file__).with_name("dialogs.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        EDIT_SETTINGS,
        QUIT,
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, title: str, message: str, detail: str = "") -> None:
        super().__init__()
        self.error_title = title
        self.message = message
        self.detail = detail

    def compose(self) -> ComposeResult:
        """The message, the folded detail if any, and the buttons."""
        with Vertical(id="error-dialog") as dialog:
            dialog.border_title = f"✗ {self.error_title}"
            with VerticalScroll(id="error-message"):
                yield Static(self.message, markup=False)
            if self.detail:
                with Collapsible(title="Details", collapsed=True, id="error-detail"):
                    yield Static(self.detail, markup=False)
            with Horizontal(id="error-buttons"):
                yield Button("Edit settings (e)", variant="primary", id="edit")
                yield Button("Quit (q)", variant="error", id="quit")
        yield Footer()

    def on_mount(self) -> None:
        """Focus the way back to the form."""
        self.query_one("#edit", Button).focus()

    @on(Button.Pressed, "#edit")
    async def _edit(self, event: Button.Pressed) -> None:
        event.stop()
        await self.run_action("app.edit_settings")

    @on(Button.Pressed, "#quit")
    async def _quit(self, event: Button.Pressed) -> None:
        event.stop()
        await self.run_action("app.quit")

    def action_close(self) -> None:
        """Close the dialog and show what is underneath."""
        self.dismiss(None)
