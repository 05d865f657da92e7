"""Runs side by side: overlaid loss and accuracy curves, and what differs between the runs.

`CompareScreen` draws each run's training curve (per batch, smoothed by default) and its
validation points (per epoch) in a colour of its own, against epochs, so that runs with
different batch sizes line up; a table lists the settings that differ and the results. Run
logs are read in a thread worker, never in the UI thread. Also here: the CSV export dialog
and the helpers that rebuild a run's history and summary from its folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from mnist_tui.core.formatting import format_duration, format_loss, format_percent
from mnist_tui.core.summary import RunSummary
from mnist_tui.runs.compare import differing_settings, write_metrics_csv
from mnist_tui.runs.listing import RunInfo
from mnist_tui.runs.reading import read_events
from mnist_tui.tui.keys import BACK, BACK_Q, EXPORT, SMOOTHING
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.theming import ThemeAware, theme_color
from mnist_tui.tui.widgets.charts import MAX_POINTS

PALETTE = (("primary", "blue"), ("warning", "yellow"), ("success", "green"),
           ("error", "red"), ("accent", "magenta"), ("secondary", "cyan"))
"""Theme colours given to compared runs in turn (with fallbacks for ANSI themes)."""

LOG_SCALE_RATIO = 1000.0  # a chart whose values span more than this gets a log y axis


def load_history(run_dir: Path) -> TrainingHistory:
    """A run's recorded events folded into a history, as the monitor would have it (a long
    log's batches read fast, in blocks, as `watch` reads them)."""
    history = TrainingHistory()
    for event in read_events(run_dir, fold=True):
        history.fold(event)
    return history


def summary_of(run: RunInfo, history: TrainingHistory) -> RunSummary:
    """The run's summary: `summary.json`, else its terminal event, else what the log tells
    (see `RunInfo.full_summary`)."""
    return run.full_summary(history.summary if history.finished else None,
                            epochs=history.epochs or None,
                            epochs_completed=len(history.epoch_ends),
                            params=history.params or None)


def default_export_path() -> Path:
    """Where an export goes unless the user says otherwise: the current folder."""
    return Path.cwd() / time.strftime("mnist-tui-metrics-%Y%m%d-%H%M%S.csv")


class ExportScreen(ModalScreen[Path | None]):
    """Ask where to write a CSV file; dismisses with the path, or None when cancelled."""

    CSS_PATH = str(Path(__file__).with_name("dialogs.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, path: Path) -> None:
        super().__init__()
        self.what = what
        self.path = path

    def compose(self) -> ComposeResult:
        """The question, the path (editable), and the buttons."""
        with Vertical(id="export-dialog"):
            yield Static(f"Write {self.what} as CSV to:", markup=False)
            yield Input(str(self.path), id="export-path")
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Cancel", id="cancel")
        yield Footer()

    @on(Input.Submitted)
    @on(Button.Pressed, "#export")
    def _export(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        text = self.query_one("#export-path", Input).value.strip()
        self.dismiss(Path(text).expanduser() if text else None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without writing anything."""
        self.dismiss(None)


def export_metrics(screen: Screen[Any], runs: Sequence[RunInfo]) -> None:
    """Ask for a path, then write the runs' metrics there and say how it went."""
    what = f"the metrics of {len(runs)} run" + ("s" if len(runs) != 1 else "")

    def chosen(path: Path | None) -> None:
        if path is None:
            return
        try:
            with open(path, "w", encoding="utf-8", newline="") as out:
                rows = write_metrics_csv(runs, out)
        except OSError as exc:
            screen.notify(f"Could not write {path}: {exc}", severity="error")
            return
        screen.notify(f"Wrote {rows:,} rows to {path}", title="Exported")

    screen.app.push_screen(ExportScreen(what, default_export_path()), chosen)


@dataclass(frozen=True)
class Curve:
    """One run's curve in a comparison chart: training line and validation points."""

    colour: tuple[int, int, int]
    x: list[float]
    y: list[float]
    val_x: list[float]
    val_y: list[float]


class CompareChart(ThemeAware, PlotextPlot):
    """One metric of several runs overlaid, one colour each, against epochs."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.curves: list[Curve] = []

    def on_mount(self) -> None:
        """Draw the (empty) figure."""
        self.replot()

    def apply_theme(self) -> None:
        """Plot again: the runs' colours are the theme's."""
        self.replot()

    def show(self, curves: list[Curve], title: str | None = None) -> None:
        """Replace the curves (and the title) and redraw once."""
        self.curves = curves
        self.title = title or self.title
        self.replot()

    def replot(self) -> None:
        """Clear the figure (ticks too) and plot every curve."""
        plt: Any = self.plt
        plt.clear_figure()  # the theme and size are set again when it renders
        plt.title(self.title)
        plt.xlabel("epoch")
        curves = self.curves
        values = [v for c in curves for v in (*c.y, *c.val_y)]
        # One diverged run (a loss in the thousands) would flatten every other curve: then
        # the axis is logarithmic. The logs are taken here, not by plotext, whose own log
        # scale transforms its data again on every re-render.
        if values and min(values) > 0 and max(values) / min(values) > LOG_SCALE_RATIO:
            curves = [_logged(c) for c in curves]
            # Only decades well inside the data: plotext prints one at (or past) the lowest
            # value on the x axis's own row, over its labels.
            low, high = math.log10(min(values)), math.log10(max(values))
            margin = (high - low) / 20
            decades = range(math.ceil(low + margin), math.floor(high - margin) + 1)
            plt.yticks(list(decades), [_decade(d) for d in decades])
        for curve in curves:
            if curve.x:
                plt.plot(curve.x, curve.y, marker="braille", color=curve.colour)
            if curve.val_x:
                plt.scatter(curve.val_x, curve.val_y, marker="●", color=curve.colour)
        self.refresh()


def _logged(curve: Curve) -> Curve:
    return Curve(curve.colour, curve.x, [math.log10(v) for v in curve.y], curve.val_x,
                 [math.log10(v) for v in curve.val_y])


def _decade(power: int) -> str:
    value = 10.0 ** power
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


class CompareScreen(Screen[None]):
    """Several runs side by side: overlaid curves and a table of what differs and the results.

    Lines are the training curves per batch (smoothed by default; `e` toggles), dots the
    validation metrics per epoch, in the run's colour.
    """

    CSS_PATH = str(Path(__file__).with_name("runs.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        SMOOTHING,
        EXPORT,
        BACK,
        BACK_Q,
    ]

    def __init__(self, runs: Sequence[RunInfo]) -> None:
        super().__init__()
        self.runs = list(runs)
        self.histories: list[TrainingHistory] | None = None
        self.smoothing = True

    def compose(self) -> ComposeResult:
        """Title, the two charts, the table, the keys."""
        yield Static(f"Comparing {len(self.runs)} runs · loading…", id="compare-title",
                     classes="title-bar", markup=False)
        with Horizontal(id="compare-charts"):
            yield CompareChart("loss", id="compare-loss")
            yield CompareChart("accuracy", id="compare-accuracy")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        """Read the runs' logs in a thread."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> list[TrainingHistory]:
        return [load_history(run.run_dir) for run in self.runs]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Draw the runs once read, or say why they could not be read."""
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, list):
            self._loaded(result)
        elif event.state == WorkerState.ERROR:
            problem = f"cannot read the runs: {event.worker.error}"
            self.query_one("#compare-title", Static).update(
                f"Comparing {len(self.runs)} runs · {problem}")
            self.notify(problem, title="Compare", severity="error")

    def _loaded(self, histories: list[TrainingHistory]) -> None:
        self.histories = histories
        self.query_one("#compare-title", Static).update(
            f"Comparing {len(self.runs)} runs · lines: training per batch"
            f"{' (smoothed)' if self.smoothing else ''} · dots: validation per epoch")
        self._fill_table()
        self._draw()

    def _colour(self, index: int) -> tuple[int, int, int]:
        name, fallback = PALETTE[index % len(PALETTE)]
        return theme_color(self.app, name, fallback).rgb

    def curves(self, metric: str) -> list[Curve]:
        """Each run's curve of "loss" or "accuracy" (empty lists where it has none)."""
        curves = []
        for index, history in enumerate(self.histories or []):
            data = history.chart(metric, smooth=self.smoothing, max_points=MAX_POINTS)
            xs, ys = data.smooth if data.smooth is not None else data.train
            per_epoch = history.batches_per_epoch or 1
            curves.append(Curve(self._colour(index), [x / per_epoch for x in xs], list(ys),
                                [x / per_epoch for x in data.val[0]], list(data.val[1])))
        return curves

    def _draw(self) -> None:
        loss, accuracy = self.curves("loss"), self.curves("accuracy")
        self.query_one("#compare-loss", CompareChart).show(loss)
        missing = not any(c.x or c.val_x for c in accuracy)
        self.query_one("#compare-accuracy", CompareChart).show(
            accuracy, "accuracy (not reported by these runs)" if missing else "accuracy")

    def _fill_table(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        keys = differing_settings(self.runs)
        table.add_columns("", "run", *(k.replace("_", " ") for k in keys), "status", "epochs",
                          "val acc", "test acc", "test loss", "time")
        for index, (run, history) in enumerate(zip(self.runs, self.histories or [],
                                                   strict=True)):
            summary = summary_of(run, history)
            ended = run.summary is not None or history.finished
            red, green, blue = self._colour(index)
            marker = Text("■", style=f"bold rgb({red},{green},{blue})")
            table.add_row(
                marker, run.run_id, *(_cell(run.config.get(k)) for k in keys),
                summary.status if ended else run.status,  # "died", "running", "incomplete"
                f"{summary.get('epochs_completed')}/{summary.get('epochs')}",
                format_percent(summary.get("val_accuracy")),
                format_percent(summary.get("test_accuracy")),
                format_loss(summary.get("test_loss")),
                format_duration(summary.get("seconds")), key=run.run_id)

    def action_toggle_smoothing(self) -> None:
        """Switch between smoothed and raw per-batch training curves."""
        self.smoothing = not self.smoothing
        if self.histories is not None:
            self._loaded(self.histories)

    def action_export(self) -> None:
        """Write the compared runs' metrics as CSV."""
        export_metrics(self, self.runs)

    def action_back(self) -> None:
        """Back to the runs."""
        self.dismiss(None)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)
