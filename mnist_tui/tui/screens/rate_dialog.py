"""RateScreen: set a running run's learning rate, from the monitor's `l`.

A small dialog with the current rate in an input: Enter applies the typed rate, Escape
cancels. A rate the form would refuse shows the form's own message (`fields.parse_field`
and `config.check_learning_rate`), and the dialog stays open until it is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from mnist_tui.core.config import check_learning_rate
from mnist_tui.core.fields import parse_field


def parse_rate(text: str) -> tuple[float | None, str]:
    """A typed learning rate: (the rate, "") when the form would take it, else (None, the
    form's message)."""
    try:
        rate = parse_field("learning_rate", text)
    except ValueError as exc:
        return None, str(exc)
    problem = check_learning_rate(rate)
    return (None, problem) if problem else (float(rate), "")


class RateScreen(ModalScreen[float | None]):
    """Ask for a new learning rate; dismisses with it, or None when cancelled."""

    CSS_PATH = str(Path(__file__).with_name("dialogs.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "apply", "Apply", show=True, priority=False),
    ]

    def __init__(self, rate: float | None) -> None:
        super().__init__()
        self.rate = rate

    def compose(self) -> ComposeResult:
        """The question, the input (prefilled with the current rate), its error line."""
        with Vertical(id="rate-dialog") as dialog:
            dialog.border_title = "Learning rate"
            yield Static("Train at this rate from the next batch on:", id="rate-question",
                         markup=False)
            yield Input("" if self.rate is None else f"{self.rate:g}", id="rate-input",
                        select_on_focus=True)
            yield Static("", id="rate-error", markup=False)
            yield Static("Enter applies · Escape cancels", id="rate-help", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Focus the input, its text selected so that typing replaces it."""
        self.query_one("#rate-error", Static).display = False
        self.query_one("#rate-input", Input).focus()

    @property
    def message(self) -> str:
        """The error shown under the input ("" when none)."""
        error = self.query_one("#rate-error", Static)
        return str(error.content) if error.display else ""

    def _show_problem(self, problem: str) -> None:
        error = self.query_one("#rate-error", Static)
        error.update(problem)
        error.display = bool(problem)
        self.query_one("#rate-input", Input).set_class(bool(problem), "-invalid")

    @on(Input.Changed, "#rate-input")
    def _changed(self, event: Input.Changed) -> None:
        """Clear an error as soon as the text is fixed (as the form does)."""
        if self.message:
            self._show_problem(parse_rate(event.value)[1])

    @on(Input.Submitted, "#rate-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def action_apply(self) -> None:
        """Close with the typed rate, or say what is wrong with it and stay."""
        rate, problem = parse_rate(self.query_one("#rate-input", Input).value)
        self._show_problem(problem)
        if rate is not None:
            self.dismiss(rate)

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
