"""The summary of a finished (or stopped) run: accuracies, confusion matrix, test digits.

The key numbers (validation and test accuracy) sit at the top, always visible at 80x24; the
confusion matrix, the digit gallery and the per-epoch log scroll below them. Keys ask the app
to train again, go back to the (prefilled) form, or quit: the screen itself decides nothing.
A run of any Keras model logged by `MonitorCallback` without a test evaluation shows its
final training and validation losses instead; one that was tested (`evaluate_test`, or the
script's `model.evaluate`) shows its accuracies like an app run, with the matrix and digits
when the callback evaluated its own test set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Digits, Footer, Static

from mnist_tui.core.events import Evaluated
from mnist_tui.core.formatting import format_loss, format_percent
from mnist_tui.core.summary import RunSummary
from mnist_tui.tui.keys import EDIT_SETTINGS, QUIT
from mnist_tui.tui.screens.downloads import (
    DOWNLOAD_ACTIONS,
    deliver_metrics_csv,
    deliver_model,
    offered,
    run_of_summary,
)
from mnist_tui.tui.screens.summary_text import (
    digits_loss,
    epoch_line,
    format_seconds,
    format_summary_text,
    is_callback_run,
    memory_and_rate_lines,
    reported_metrics,
    status_line,
    warning_lines,
)
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.widgets.confusion import ConfusionMatrix
from mnist_tui.tui.widgets.digits import DigitGallery, gallery_title

__all__ = ["SummaryScreen", "format_summary_text"]

SETTINGS_MIN_WIDTH = 23 + 23 + 34 + 30  # the two accuracy boxes, details, a useful settings box


def _prefer(value: float | None, fallback: float | None) -> float | None:
    return fallback if value is None else value


class SummaryScreen(Screen[None]):
    """The results of one run, with keys to train again, edit the settings, or quit.

    `summary` is the run's summary (a `RunSummary`, or a mapping read as one),
    `evaluated` the test evaluation (None if the run ended before it), `history` the monitor's
    `TrainingHistory` if there is one (its per-epoch lines are listed at the bottom).
    A `MonitorCallback` run (`callback_run`) without a test accuracy shows its final losses
    instead of accuracies.
    The keys call the app's `action_train_again`, `action_edit_settings` and `action_quit`.
    """

    CSS_PATH = str(Path(__file__).with_name("summary.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "app.train_again", "Train again"),
        EDIT_SETTINGS,
        Binding("d", "draw", "Draw"),
        Binding("x", "download_csv", "Download CSV"),  # in a browser only (see check_action)
        Binding("m", "download_model", "Download model"),
        QUIT,
    ]

    def __init__(self, summary: Mapping[str, Any], evaluated: Evaluated | None,
                 history: TrainingHistory | None = None, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.summary = (summary if isinstance(summary, RunSummary)
                        else RunSummary.from_json(summary))
        self.evaluated = evaluated
        self.history = history
        self.callback_run = is_callback_run(self.summary, history)

    @property
    def val_accuracy(self) -> float | None:
        """The final validation accuracy (fraction), if known."""
        return self.summary.get("val_accuracy")

    @property
    def test_accuracy(self) -> float | None:
        """The test accuracy (fraction), from the summary or else the evaluation."""
        evaluated = self.evaluated.test_accuracy if self.evaluated is not None else None
        return _prefer(self.summary.get("test_accuracy"), evaluated)

    @property
    def test_loss(self) -> float | None:
        """The test loss, from the summary or else the evaluation."""
        evaluated = self.evaluated.test_loss if self.evaluated is not None else None
        return _prefer(self.summary.get("test_loss"), evaluated)

    def _val_accuracy(self) -> float | None:
        """The validation accuracy shown in its box (a callback run's from its metrics too)."""
        if self.callback_run:
            return reported_metrics(self.summary, self.history).val_accuracy
        return self.val_accuracy

    def facts(self) -> Text:
        """The small numbers next to the key figures: loss, epochs, time, throughput."""
        rate = self.summary.get("samples_per_second")
        if self.callback_run:
            val_accuracy = reported_metrics(self.summary, self.history).val_accuracy
            rows = []
            if self.test_accuracy is not None:  # the accuracies are the key numbers
                rows.append(("Test loss", format_loss(self.test_loss)))
            elif val_accuracy is not None:
                rows.append(("Val acc", format_percent(val_accuracy)))
            rows += [("Epochs", self._epochs_short()),
                     ("Time", format_seconds(self.summary.get("seconds")))]
            rows += [("Speed", f"{rate:,.0f} samples/s")] if rate else []
        else:
            rows = [
                ("Test loss", format_loss(self.test_loss)),
                ("Epochs", self._epochs_short()),
                ("Time", format_seconds(self.summary.get("seconds"))),
                ("Speed", f"{rate:,.0f} images/s" if rate else "—"),
            ]
        return self._rows_text(rows, bold=True)

    def settings(self) -> Text:
        """The run's main settings, shown when the screen is wide enough."""
        config = self.summary.get("config") or {}
        params = self.summary.get("params")
        if self.callback_run:
            return self._callback_settings(config, params)
        train = self.summary.get("train_samples")

        def value(key: str) -> str:
            return "?" if config.get(key) is None else str(config[key])

        split = config.get("validation_split")
        rows = [
            ("Model", value("model") + (f", {params:,} parameters" if params else "")),
            ("Optimizer", f"{value('optimizer')}, lr {value('learning_rate')}"
             + (f" {config['lr_schedule']}" if config.get("lr_schedule", "constant") !=
                "constant" else "")),
            ("Batch", f"{value('batch_size')} images, seed "
                      + ("random" if config.get("seed") is None else str(config["seed"]))),
            ("Images", (f"{train:,} train" if train else "?")
             + (f", {split:.0%} held out" if isinstance(split, (int, float)) else "")),
        ]
        return self._rows_text(rows, bold=False)

    def _callback_settings(self, config: dict[str, Any], params: int | None) -> Text:
        name, model = config.get("name"), config.get("model")
        batch, steps = config.get("batch_size"), config.get("steps_per_epoch")
        shown = str(name or model or "?")
        if name and model and name != model:
            shown += f" ({model})"
        rows = [
            ("Model", shown + (f", {params:,} parameters" if params else "")),
            ("Optimizer", f"{config.get('optimizer') or '?'}"
                          + (f", lr {config['learning_rate']}"
                             if config.get("learning_rate") is not None else "")),
            ("Batches", (f"{steps:,} per epoch" if steps else "?")
             + (f" of {batch} samples" if batch else "")),
            ("Source", "Keras MonitorCallback"),
        ]
        return self._rows_text(rows, bold=False)

    def _rows_text(self, rows: list[tuple[str, str]], *, bold: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (label, value) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(f"{label:<10}", style="dim")
            text.append(value, style="bold" if bold else None)
        return text

    def on_resize(self) -> None:
        """Show the settings box only when it has room beside the key numbers."""
        for settings in self.query("#summary-settings"):
            settings.display = self.size.width >= SETTINGS_MIN_WIDTH

    def _run_dir_text(self) -> Text:
        return Text(f"Run folder: {self.summary.get('run_dir') or ''}")

    def _epochs_short(self) -> str:
        done = self.summary.get("epochs_completed")
        total = self.summary.get("epochs")
        text = f"{'?' if done is None else done}/{'?' if total is None else total}"
        if self.summary.get("early_stopped_epoch"):
            return text + ", early stop"
        return text + (", stopped early" if self.summary.get("stopped_early") else "")

    def compose(self) -> ComposeResult:
        """Key numbers on top; matrix, digits and epoch log in a scrolling body."""
        status = str(self.summary.get("status") or "unknown")
        run_id = self.summary.get("run_id")
        line = status_line(self.summary) + (f" · run {run_id}" if run_id else "")
        yield Static(Text(line, no_wrap=True, overflow="ellipsis"), id="summary-status",
                     classes=f"title-bar -{status}")
        warnings = warning_lines(self.summary)
        if warnings:
            yield Static(Text("\n".join(f"⚠ {line}" for line in warnings)),
                         id="summary-warning")
        with Horizontal(id="summary-numbers"):
            if self.callback_run and self.test_accuracy is None:
                yield from self._compose_losses()
            else:
                with Vertical(id="val-metric", classes="metric"):
                    yield Static("Validation accuracy", classes="metric-label")
                    yield Digits(format_percent(self._val_accuracy(), "--"), id="val-accuracy")
                with Vertical(id="test-metric", classes="metric"):
                    yield Static("Test accuracy", classes="metric-label")
                    yield Digits(format_percent(self.test_accuracy, "--"), id="test-accuracy")
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
        precision = self.summary.get("precision")  # at every width: it explains the speed
        resources = " · ".join(([f"trained in {precision}"] if precision else [])
                               + memory_and_rate_lines(self.summary))
        extra = Static(Text(resources[:1].upper() + resources[1:], no_wrap=True,
                            overflow="ellipsis"), id="summary-resources")
        extra.display = bool(resources)
        yield extra
        with VerticalScroll(id="summary-body"):
            yield from self._compose_body()
        yield Footer()

    def _compose_losses(self) -> ComposeResult:
        """The key figures of a run without a test evaluation: its final losses."""
        reported = reported_metrics(self.summary, self.history)
        with Vertical(id="train-loss-metric", classes="metric"):
            yield Static("Training loss", classes="metric-label")
            yield Digits(digits_loss(reported.loss), id="train-loss")
        if reported.val_loss is not None:
            with Vertical(id="val-loss-metric", classes="metric"):
                yield Static("Validation loss", classes="metric-label")
                yield Digits(digits_loss(reported.val_loss), id="val-loss")

    def _compose_body(self) -> ComposeResult:
        evaluated = self.evaluated
        if evaluated is None and self.callback_run:
            yield Static("Logged by MonitorCallback: this run reports training and validation "
                         "metrics only, so there is no test evaluation, confusion matrix or "
                         "test digits (MonitorCallback(test_data=..., evaluate_test=True) adds "
                         "them).", classes="note", markup=False, id="summary-note")
        elif evaluated is None:
            yield Static("The run ended before the test evaluation: no confusion matrix or "
                         "test digits to show.", classes="note", markup=False)
        elif not evaluated.confusion:
            yield Static("Tested by the script's model.evaluate: its loss and accuracy only, "
                         "no confusion matrix or test digits (MonitorCallback(test_data=..., "
                         "evaluate_test=True) evaluates the test set itself, with them).",
                         classes="note", markup=False, id="summary-note")
        else:
            yield Static("Confusion matrix (rows: true digit, columns: predicted)",
                         classes="section-title", markup=False)
            yield ConfusionMatrix(evaluated.confusion, evaluated.per_class_accuracy,
                                  id="confusion")
            yield Static("Test digits: " + gallery_title(evaluated.samples),
                         classes="section-title", markup=False, id="gallery-title")
            yield DigitGallery(evaluated.samples, id="gallery")
        lines = self._epoch_lines()
        if lines:
            yield Static("Epochs", classes="section-title")
            yield Static(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"),
                         id="summary-epochs")

    def _epoch_lines(self) -> list[str]:
        history = self.history
        if history is None:
            return []
        if self.callback_run and history.epoch_ends:
            epochs = history.epochs or self.summary.get("epochs")
            return [epoch_line(end, epochs) for end in history.epoch_ends]
        return [line for line in history.log_lines if line.startswith("epoch ")]

    def action_draw(self) -> None:
        """Draw a digit and see what this run's model reads."""
        # Imported here: the draw screen brings numpy and the data module with it.
        from mnist_tui.runs.digit_reader import model_file
        from mnist_tui.tui.screens.draw import DrawScreen

        run_dir = self.summary.get("run_dir")
        if not run_dir or not model_file(Path(run_dir)).is_file():
            self.notify("This run has no saved model to draw with.", severity="warning")
            return
        self.app.push_screen(DrawScreen(Path(run_dir),
                                        data_path=getattr(self.app, "data_path", None)))

    def action_download_csv(self) -> None:
        """Send this run's metrics to the browser as CSV."""
        run = run_of_summary(self.summary)
        if run is None:
            self.notify("This run has no folder to read its metrics from.", severity="warning")
            return
        deliver_metrics_csv(self, [run])

    def action_download_model(self) -> None:
        """Send this run's trained model to the browser."""
        deliver_model(self, self.summary.get("run_id") or "", self.summary.get("run_dir"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No "draw" for a Keras-callback run (its model is not an MNIST reader), nor for a
        run whose summary says why it has no model (a save that failed, a sweep's pruned
        trial). Downloads only in a browser (`mnist-tui serve`)."""
        if action in DOWNLOAD_ACTIONS:
            return offered(self.app)
        if action == "draw":
            unsaved = bool(self.summary.get("model_error")) and not self.summary.get("model_path")
            return not (self.callback_run or unsaved)
        return True

    def on_mount(self) -> None:
        """Focus the scrolling body so the arrow keys and page keys scroll it."""
        self.query_one("#summary-body", VerticalScroll).focus()
