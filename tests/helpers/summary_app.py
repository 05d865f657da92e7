"""A summary screen in a tiny host app, and the summary and evaluation it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from textual.app import App
from textual.widgets import Static

from mnist_tui.core.events import DigitSample, Evaluated
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.themes import load_themes

RUN_DIR = "/tmp/runs/20250101-120000-abcd"


def bar_image(column: int) -> np.ndarray:
    """A synthetic 28x28 "digit": one bright vertical bar."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, column:column + 3] = 255
    return image


def make_evaluated() -> Evaluated:
    """Six samples, two of them wrong, and a plausible confusion matrix."""
    pairs = [(7, 7), (2, 2), (5, 3), (1, 1), (4, 9), (0, 0)]  # (true, predicted)
    samples = tuple(DigitSample.from_image(i, true, pred, 0.9 - i / 20, bar_image(4 + 3 * i))
                    for i, (true, pred) in enumerate(pairs))
    confusion = np.diag([980, 1130, 1020, 1000, 970, 880, 950, 1020, 960, 1000])
    confusion[5, 3] = 12
    confusion[4, 9] = 7
    confusion[7, 2] = 3
    per_class = tuple(float(confusion[i, i] / confusion[i].sum()) for i in range(10))
    return Evaluated(test_loss=0.06213, test_accuracy=0.98004, test_samples=10_000,
                     confusion=tuple(tuple(int(v) for v in row) for row in confusion),
                     per_class_accuracy=per_class, samples=samples)


def make_summary(**changes: Any) -> dict[str, Any]:
    """The summary of a run stopped in its second epoch; `changes` replace its keys."""
    summary: dict[str, Any] = {
        "run_id": "20250101-120000-abcd", "status": "stopped", "reason": "stopped by user",
        "params": 33194, "epochs": 3, "epochs_completed": 1, "stopped_early": True,
        "val_loss": 0.07, "val_accuracy": 0.97843, "test_loss": 0.06213,
        "test_accuracy": 0.98004, "seconds": 82.4, "samples_per_second": 3650.2,
        "train_samples": 51_000, "run_dir": RUN_DIR,
        "config": {"model": "cnn", "optimizer": "rmsprop", "learning_rate": 0.01,
                   "batch_size": 64, "validation_split": 0.15, "seed": None},
    }
    summary.update(changes)
    return summary


class Host(App[None]):
    """Pushes one summary screen and records which app actions its keys call."""

    CSS_PATH = MnistApp.CSS_PATH  # the screens' styles live in the app's stylesheet

    def __init__(self, summary: dict[str, Any], evaluated: Evaluated | None,
                 theme: str = "mnist-dark", history: TrainingHistory | None = None) -> None:
        super().__init__()
        self.summary = summary
        self.evaluated = evaluated
        self.history = history
        self.initial_theme = theme
        self.calls: list[str] = []

    def on_mount(self) -> None:
        themes, errors = load_themes(user_dir=Path("/nonexistent"))
        assert not errors
        for theme in themes:
            self.register_theme(theme)
        self.theme = self.initial_theme
        self.push_screen(SummaryScreen(self.summary, self.evaluated, self.history))

    def action_train_again(self) -> None:
        self.calls.append("train_again")

    def action_edit_settings(self) -> None:
        self.calls.append("edit_settings")

    async def action_quit(self) -> None:
        self.calls.append("quit")


def text_of(app: App[Any], selector: str) -> str:
    """What the Static widget `selector` of the app's screen shows, as plain text."""
    widget = app.screen.query_one(selector, Static)
    return str(widget.render())
