"""The summary of a finished (or stopped) run: accuracies, confusion matrix, test digits.

The key numbers (validation and test accuracy) sit at the top, always visible at 80x24; the
confusion matrix, the digit gallery and the per-epoch log scroll below them. Keys ask the app
to train again, go back to the (prefilled) form, or quit: the screen itself decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Digits, Footer, Static

from mnist_tui.events import Evaluated
from mnist_tui.tui.confusion import ConfusionMatrix
from mnist_tui.tui.digits import DigitGallery, gallery_title

SETTINGS_MIN_WIDTH = 23 + 23 + 34 + 30  # the two accuracy boxes, details, a useful settings box


def format_accuracy(fraction: float | None) -> str:
    """An accuracy fraction as a percentage with one decimal ("97.8%"), as the seed prints it."""
    return "—" if fraction is None else f"{fraction * 100:.1f}%"


def format_loss(value: float | None) -> str:
    """A loss with four decimals, or "—"."""
    return "—" if value is None else f"{value:.4f}"


def format_seconds(seconds: float | None) -> str:
    """A duration for people: "42.5 s", "3m 07s", "1h 02m"."""
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_epochs(summary: Mapping[str, Any]) -> str:
    """"1 of 3 epochs", plus " (stopped early)" when the run stopped before its last epoch."""
    done, total = summary.get("epochs_completed"), summary.get("epochs")
    text = f"{'?' if done is None else done} of {'?' if total is None else total}"
    text += " epoch" if total == 1 else " epochs"
    return text + (" (stopped early)" if summary.get("stopped_early") else "")


def status_line(summary: Mapping[str, Any]) -> str:
    """One line saying how the run ended, with the reason when there is one."""
    status = summary.get("status") or "unknown"
    reason = str(summary.get("reason") or "")
    if status == "finished":
        text = "✓ Training finished"
    elif status == "stopped":
        text = "■ Training stopped early" if summary.get("stopped_early") else (
            "■ Training stopped")
    elif status == "failed":
        text = "✗ Training failed"
    else:
        text = f"Training {status}"
    return f"{text}: {reason}" if reason else text


def format_summary_text(summary: Mapping[str, Any]) -> str:
    """A short plain-text summary for the terminal's scrollback once the app has exited."""
    run_id = summary.get("run_id") or "?"
    lines = [f"mnist-tui run {run_id}: {summary.get('status') or 'unknown'}"
             + (f" ({summary['reason']})" if summary.get("reason") else "")]
    lines.append(f"  validation accuracy {format_accuracy(summary.get('val_accuracy'))}, "
                 f"test accuracy {format_accuracy(summary.get('test_accuracy'))}, "
                 f"test loss {format_loss(summary.get('test_loss'))}")
    rate = summary.get("samples_per_second")
    lines.append(f"  {format_epochs(summary)}, {format_seconds(summary.get('seconds'))} of "
                 "training" + (f", {rate:,.0f} images/s" if rate else ""))
    if summary.get("run_dir"):
        lines.append(f"  run folder: {summary['run_dir']}")
    return "\n".join(lines)


def _digits_value(fraction: float | None) -> str:
    return "--" if fraction is None else format_accuracy(fraction)


class SummaryScreen(Screen[None]):
    """The results of one run, with keys to train again, edit the settings, or quit.

    `summary` is the run's summary dict (see the trainer; `run_dir` added by the front end),
    `evaluated` the test evaluation (None if the run ended before it), `history` the monitor's
    `TrainingHistory` if there is one (its per-epoch lines are listed at the bottom).
    The keys call the app's `action_train_again`, `action_edit_settings` and `action_quit`.
    """

    DEFAULT_CSS = """
    SummaryScreen {
        layout: vertical;
    }
    SummaryScreen #summary-status {
        height: 1;
        padding: 0 1;
        text-style: bold;
        color: $text;
        background: $panel;
    }
    SummaryScreen #summary-status.-finished { color: $text-success; }
    SummaryScreen #summary-status.-stopped { color: $text-warning; }
    SummaryScreen #summary-status.-failed { color: $text-error; }
    SummaryScreen #summary-numbers {
        height: 6;
    }
    SummaryScreen .metric {
        width: 23;
        height: 6;
        border: round $primary;
        padding: 0 1;
        align-horizontal: center;
    }
    SummaryScreen .metric Digits {
        width: 100%;
        text-align: center;
    }
    SummaryScreen #test-metric {
        border: round $success;
    }
    SummaryScreen #test-metric Digits {
        color: $text-success;
        text-style: bold;
    }
    SummaryScreen #val-metric Digits {
        color: $text-primary;
    }
    SummaryScreen .metric-label {
        width: 100%;
        text-align: center;
        color: $text-muted;
    }
    SummaryScreen #summary-settings, SummaryScreen #summary-facts,
    SummaryScreen #summary-status, SummaryScreen #summary-epochs {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    SummaryScreen #summary-settings {
        width: 1fr;
        height: 6;
        border: round $foreground-muted;
        border-title-color: $text;
        padding: 0 1;
    }
    SummaryScreen #summary-facts {
        width: 34;
        height: 6;
        border: round $foreground-muted;
        border-title-color: $text;
        padding: 0 1;
    }
    SummaryScreen #summary-run-dir {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    SummaryScreen #summary-body {
        height: 1fr;
        padding: 0 1;
    }
    SummaryScreen .section-title {
        margin-top: 1;
        text-style: bold;
        color: $text-accent;
    }
    SummaryScreen .note {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "app.train_again", "Train again"),
        Binding("e", "app.edit_settings", "Edit settings"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, summary: Mapping[str, Any], evaluated: Evaluated | None,
                 history: object | None = None, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.summary = dict(summary)
        self.evaluated = evaluated
        self.history = history

    @property
    def val_accuracy(self) -> float | None:
        """The final validation accuracy (fraction), if known."""
        return self.summary.get("val_accuracy")

    @property
    def test_accuracy(self) -> float | None:
        """The test accuracy (fraction), from the summary or else the evaluation."""
        value = self.summary.get("test_accuracy")
        if value is None and self.evaluated is not None:
            value = self.evaluated.test_accuracy
        return value

    @property
    def test_loss(self) -> float | None:
        """The test loss, from the summary or else the evaluation."""
        value = self.summary.get("test_loss")
        if value is None and self.evaluated is not None:
            value = self.evaluated.test_loss
        return value

    def facts(self) -> Text:
        """The small numbers next to the accuracies: loss, epochs, time, throughput."""
        rate = self.summary.get("samples_per_second")
        rows = [
            ("Test loss", format_loss(self.test_loss)),
            ("Epochs", self._epochs_short()),
            ("Time", format_seconds(self.summary.get("seconds"))),
            ("Speed", f"{rate:,.0f} images/s" if rate else "—"),
        ]
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (label, value) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(f"{label:<10}", style="dim")
            text.append(value, style="bold")
        return text

    def settings(self) -> Text:
        """The run's main settings, shown when the screen is wide enough."""
        config = self.summary.get("config") or {}
        params = self.summary.get("params")
        train = self.summary.get("train_samples")

        def value(key: str) -> str:
            return "?" if config.get(key) is None else str(config[key])

        split = config.get("validation_split")
        rows = [
            ("Model", value("model") + (f", {params:,} parameters" if params else "")),
            ("Optimizer", f"{value('optimizer')}, lr {value('learning_rate')}"),
            ("Batch", f"{value('batch_size')} images, seed "
                      + ("random" if config.get("seed") is None else str(config["seed"]))),
            ("Images", (f"{train:,} train" if train else "?")
             + (f", {split:.0%} held out" if isinstance(split, (int, float)) else "")),
        ]
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (label, shown) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(f"{label:<10}", style="dim")
            text.append(shown)
        return text

    def on_resize(self) -> None:
        """Show the settings box only when it has room beside the key numbers."""
        for settings in self.query("#summary-settings"):
            settings.display = self.size.width >= SETTINGS_MIN_WIDTH

    def _run_dir_text(self) -> Text:
        return Text(f"Run folder: {self.summary.get('run_dir') or ''}")

    def set_run_dir(self, run_dir: str) -> None:
        """Show where the run's files are, once the front end knows (no recompose needed)."""
        self.summary["run_dir"] = str(run_dir)
        for line in self.query("#summary-run-dir").results(Static):
            line.update(self._run_dir_text())
            line.display = True

    def _epochs_short(self) -> str:
        done = self.summary.get("epochs_completed")
        total = self.summary.get("epochs")
        text = f"{'?' if done is None else done}/{'?' if total is None else total}"
        return text + (", stopped early" if self.summary.get("stopped_early") else "")

    def compose(self) -> ComposeResult:
        """Key numbers on top; matrix, digits and epoch log in a scrolling body."""
        status = str(self.summary.get("status") or "unknown")
        run_id = self.summary.get("run_id")
        line = status_line(self.summary) + (f" · run {run_id}" if run_id else "")
        yield Static(Text(line, no_wrap=True, overflow="ellipsis"), id="summary-status",
                     classes=f"-{status}")
        with Horizontal(id="summary-numbers"):
            with Vertical(id="val-metric", classes="metric"):
                yield Static("Validation accuracy", classes="metric-label")
                yield Digits(_digits_value(self.val_accuracy), id="val-accuracy")
            with Vertical(id="test-metric", classes="metric"):
                yield Static("Test accuracy", classes="metric-label")
                yield Digits(_digits_value(self.test_accuracy), id="test-accuracy")
            facts = Static(self.facts(), id="summary-facts")
            facts.border_title = "Details"
            yield facts
            settings = Static(self.settings(), id="summary-settings")
            settings.border_title = "Settings"
            settings.display = self.app.size.width >= SETTINGS_MIN_WIDTH
            yield settings
        run_dir = Static(self._run_dir_text(), id="summary-run-dir")
        run_dir.display = bool(self.summary.get("run_dir"))
        yield run_dir
        with VerticalScroll(id="summary-body"):
            yield from self._compose_body()
        yield Footer()

    def _compose_body(self) -> ComposeResult:
        evaluated = self.evaluated
        if evaluated is None:
            yield Static("The run ended before the test evaluation: no confusion matrix or "
                         "test digits to show.", classes="note", markup=False)
        else:
            yield Static("Confusion matrix (rows: true digit, columns: predicted)",
                         classes="section-title", markup=False)
            yield ConfusionMatrix(evaluated.confusion, evaluated.per_class_accuracy,
                                  id="confusion")
            yield Static("Test digits: " + gallery_title(evaluated.samples),
                         classes="section-title", markup=False, id="gallery-title")
            yield DigitGallery(evaluated.samples, id="gallery")
        lines = [line for line in getattr(self.history, "log_lines", ()) if
                 line.startswith("epoch ")]
        if lines:
            yield Static("Epochs", classes="section-title")
            yield Static(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"),
                         id="summary-epochs")

    def on_mount(self) -> None:
        """Focus the scrolling body so the arrow keys and page keys scroll it."""
        self.query_one("#summary-body", VerticalScroll).focus()
