"""The Runs screen in a tiny host app, and what a test reads off it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.widgets import DataTable

from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.compare import CompareScreen
from mnist_tui.tui.screens.runs import RunsScreen
from mnist_tui.tui.themes import load_themes
from tests.helpers.fake_runs import wait_for


class Host(App[None]):
    """Shows one Runs screen, as the app's Runs key does."""

    CSS_PATH = MnistApp.CSS_PATH  # the screens' styles live in the app's stylesheet

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.watched: list[Path] = []
        self.calls: list[str] = []

    def on_mount(self) -> None:
        themes, _ = load_themes(user_dir=Path("/nonexistent"))
        for theme in themes:
            self.register_theme(theme)
        self.theme = "mnist-dark"
        self.push_screen(RunsScreen(self.runs_dir, on_watch=self.watched.append))

    def action_train_again(self) -> None:
        self.calls.append("train_again")

    def action_edit_settings(self) -> None:
        self.calls.append("edit_settings")


def table(app: App[Any]) -> DataTable:
    """The runs table."""
    return app.screen.query_one(DataTable)


def cells(app: App[Any], column: int) -> list[str]:
    """One column of the runs table, top to bottom, as text."""
    grid = table(app)
    return [str(grid.get_row_at(i)[column]) for i in range(grid.row_count)]


def title(app: App[Any]) -> str:
    """The title bar of the screen on top."""
    return str(app.screen.query_one(".title-bar").render())


def notes(app: App[Any]) -> list[str]:
    """The messages of the notifications shown so far."""
    return [notification.message for notification in app._notifications]


async def listed(pilot: Any, app: Host) -> RunsScreen:
    """The Runs screen once it has read the runs folder (in a thread)."""
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: not title(app).startswith("Reading"))
    return screen


async def compared(pilot: Any, app: Host) -> CompareScreen:
    """Press c on the selected runs; the Compare screen once it has read their logs."""
    await pilot.press("c")
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    await wait_for(pilot, lambda: screen.histories is not None)
    await pilot.pause()
    return screen
