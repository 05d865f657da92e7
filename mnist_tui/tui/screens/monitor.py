"""MonitorScreen: a run as it trains: progress, system load, loss and accuracy charts, the
model's guesses for a few test digits, a per-epoch log; keys to steer the run.

The screen never redraws per event. The app folds events into a `TrainingHistory`; two timers
here redraw from it, only what changed: the progress line up to 4 times a second (each frame
costs Textual a millisecond or two, whatever changed), the charts up to twice a second.
Watching must cost the run next to nothing, because every millisecond here is taken from
TensorFlow's threads (and holds the GIL the training thread needs): a chart whose curves have
not moved by a pixel column is not rebuilt, and the charts are kept under `CHART_BUDGET` of
one core, so big charts on a busy machine redraw every second or two (never less often than
every `CHART_MAX_INTERVAL` while they change). The load line and the digit strip ride on the
progress timer, and redraw only when the history holds a new sample or new guesses.

`+`, `-` (or the mouse wheel over a chart) zoom the charts in on the latest batches, each
level halving the span shown; `0` shows the whole run again.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import MouseScrollDown, MouseScrollUp, Resize
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Static

from mnist_tui.core.control import Controller
from mnist_tui.tui.keys import QUIT, SMOOTHING
from mnist_tui.tui.screens.monitor_lines import header_line, progress_line
from mnist_tui.tui.screens.rate_dialog import RateScreen
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.widgets.charts import AccuracyChart, LossChart, MetricChart, legend_markup
from mnist_tui.tui.widgets.following_log import FollowingLog
from mnist_tui.tui.widgets.load_line import LoadLine
from mnist_tui.tui.widgets.prediction_strip import PredictionStrip
from mnist_tui.tui.widgets.progress import RunProgress

PROGRESS_INTERVAL = 0.25  # seconds between progress redraws (at most)
CHART_INTERVAL = 0.5  # seconds between chart redraws (at most)
CHART_BUDGET = 0.01  # share of a core the charts may take; big charts redraw less often
CHART_MAX_INTERVAL = 2.5  # seconds: however slow, charts that change redraw this often
MAX_ZOOM = 6  # zoom levels: each halves the span of batches the charts show
MIN_WINDOW = 16  # batches: however far zoomed in, the charts show at least this many
ZOOM = Binding.Group("Zoom", compact=True)
COMPACT_FOOTER_WIDTH = 100  # columns: narrower, the footer's keys need its compact form


class MonitorScreen(Screen[None]):
    """Live view of one run, drawn from `history`; `control` (if any) takes pause and stop.

    Without a control (a recorded run) the pause, stop and learning-rate keys are hidden.
    Quitting goes through the app's `quit` action, which asks first while a run is going.
    """

    CSS_PATH = str(Path(__file__).with_name("monitor.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
        Binding("s", "stop", "Stop"),
        # Priority: the dialog is up before the keys typed after `l` are handed out.
        Binding("l", "learning_rate", "Rate", priority=True),
        Binding("t", "toggle_digits", "Digits"),
        SMOOTHING,
        Binding("plus", "zoom(1)", "Zoom in", key_display="+", group=ZOOM),
        Binding("minus", "zoom(-1)", "Zoom out", key_display="-", group=ZOOM),
        Binding("0", "whole_run", "Whole run", group=ZOOM),
        QUIT,
    ]

    smoothing: var[bool] = var(True, init=False)
    """Whether the charts draw the EMA-smoothed curve over the raw per-batch one."""

    zoom: var[int] = var(0, init=False)
    """How far the charts are zoomed in on the latest batches: 0 shows the whole run, each
    level up to `MAX_ZOOM` halves the span shown."""

    digits_hidden: var[bool] = var(False, init=False)
    """Whether the user hid the test digits strip (`t`)."""

    def __init__(self, history: TrainingHistory, control: Controller | None = None, *,
                 name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.history = history
        self.control = control
        self._progress_key: tuple[int, bool, bool] | None = None
        self._chart_key: tuple[int, bool, int, int, int] | None = None
        self._chart_step = self._chart_version = 0  # the history the charts last drew
        self._log_index = 0
        self._had_digits = False
        self._charts: list[MetricChart] = []
        self._chart_time = 0.0
        self._chart_costs: deque[float] = deque(maxlen=5)  # CPU seconds of recent redraws

    def compose(self) -> ComposeResult:
        """Header line, progress bar and stats, the load line, the two charts side by side,
        the test digits strip, the log."""
        yield Static("", id="run-info", classes="title-bar", markup=False)
        yield RunProgress(id="progress")
        yield Static("", id="stats", markup=False)
        yield LoadLine(id="load")
        yield Static(legend_markup(self.smoothing), id="legend")
        with Horizontal(id="charts"):
            yield LossChart(id="loss-chart")
            yield AccuracyChart(id="accuracy-chart")
        strip = PredictionStrip(id="digits")
        strip.display = False  # until the run says which digits it shows
        yield strip
        yield FollowingLog(id="log", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        """Draw what is known now and start the redraw timers."""
        self._info = self.query_one("#run-info", Static)
        self._bar = self.query_one("#progress", RunProgress)
        self._stats = self.query_one("#stats", Static)
        self._load = self.query_one("#load", LoadLine)
        self._strip = self.query_one("#digits", PredictionStrip)
        self._log = self.query_one("#log", FollowingLog)
        self._charts = list(self.query(MetricChart).results(MetricChart))
        self.update_now()
        self.set_interval(PROGRESS_INTERVAL, self._refresh_progress)
        self.set_interval(CHART_INTERVAL, self._refresh_charts)

    def on_resize(self, event: Resize) -> None:
        """A narrow footer leaves out the spaces between its keys, so that they all fit."""
        for footer in self.query(Footer):
            footer.compact = event.size.width < COMPACT_FOOTER_WIDTH

    def update_now(self) -> None:
        """Redraw everything at once (after a key press, or in tests), not waiting for timers."""
        if not self._charts:
            return  # not mounted yet; on_mount draws
        self._refresh_progress(force=True)
        self._refresh_charts(force=True)

    @property
    def paused(self) -> bool:
        """Whether a pause of the run is requested."""
        return self.control is not None and self.control.paused

    @property
    def stopping(self) -> bool:
        """Whether a stop of the run is requested."""
        return self.control is not None and self.control.stop_requested

    def _refresh_progress(self, force: bool = False) -> None:
        history = self.history
        key = (history.version, self.paused, self.stopping)
        if (key == self._progress_key and not force) or not self._charts:
            return
        self._progress_key = key
        with self.app.batch_update():
            self._set_line(self._info, self.info_text())
            self._bar.update(total=history.total_batches, progress=history.step)
            self._set_line(self._stats, self.stats_text())
            self._update_extras()
            new_lines = history.log_lines[self._log_index:]
            if new_lines:
                self._log.write_lines(new_lines)
                self._log_index += len(new_lines)

    def _update_extras(self) -> None:
        """The load line and the digits strip: each redraws only when its sample or its
        guesses changed (they compare them themselves, by identity). The strip shows when
        the run has digits and the user wants it; the load line from the first sample."""
        history = self.history
        self._load.show(history.load, history.peak_memory)
        shown = history.shown_digits
        visible = shown is not None and not self.digits_hidden
        if self._strip.display != visible:
            self._strip.display = visible
        if visible:
            self._strip.show(shown, history.predictions)
        if (shown is not None) != self._had_digits:
            self._had_digits = shown is not None
            self.refresh_bindings()  # "Digits" appears with them

    @staticmethod
    def _set_line(widget: Static, text: str) -> None:
        # One-line widgets of fixed size: redraw only on change, and skip the layout pass.
        if text != widget.content:
            widget.update(text, layout=False)

    def _refresh_charts(self, force: bool = False) -> None:
        if not self._charts or (not force and not self._charts_moved()):
            return
        now = time.monotonic()
        if not force and now - self._chart_time < self._chart_pause():
            return
        history = self.history
        self._chart_key, self._chart_time = self._chart_state(), now
        self._chart_step, self._chart_version = history.step, history.chart_version
        window = self.chart_window()
        zoomed = f"last {window:,} batches" if window is not None else ""
        with self.app.batch_update():
            for chart in self._charts:
                data = history.chart(chart.METRIC, smooth=self.smoothing,
                                     max_points=chart.max_points, window=window)
                # A Keras run without an accuracy metric (MonitorCallback) says so.
                chart.note = ("not reported by this run" if history.step
                              and not data.train[0] and not data.val[0] else zoomed)
                chart.show(data)

    def chart_window(self) -> int | None:
        """How many of the latest batches the charts show (None: the whole run)."""
        if self.zoom <= 0:
            return None
        history = self.history
        x_max = max(history.total_batches, history.step, 1)
        return max(MIN_WINDOW, x_max >> self.zoom)

    def _chart_pause(self) -> float:
        """Seconds to leave between chart redraws: their recent cost over `CHART_BUDGET`
        (the median, so that one slow redraw, say a garbage collection in it, counts little),
        within `CHART_INTERVAL` and `CHART_MAX_INTERVAL`."""
        cost = sum(chart.draw_seconds for chart in self._charts)
        if not self._chart_costs or cost != self._chart_costs[-1]:
            self._chart_costs.append(cost)  # the redraw before this one is done and measured
        pause = statistics.median(self._chart_costs) / CHART_BUDGET
        return min(CHART_MAX_INTERVAL, max(CHART_INTERVAL, pause))

    def _chart_state(self) -> tuple[int, bool, int, int, int]:
        history = self.history
        return (history.chart_marks_version, self.smoothing, self._charts[0].size.width,
                history.total_batches, self.zoom)

    def _charts_moved(self) -> bool:
        """Whether the charts would draw anything new: something besides training batches
        changed, or the curves went on by a braille pixel column (half a cell) at least.

        Within a column, a long run's new batches would only move the curves' last point a
        little; they are drawn once the curves reach the next column, or the run ends.
        """
        history = self.history
        if self._chart_state() != self._chart_key:
            return True
        if history.chart_version == self._chart_version:
            return False
        new_steps = abs(history.step - self._chart_step)
        if history.finished:
            return new_steps > 0
        span = self.chart_window() or max(history.total_batches, history.step, 1)
        return new_steps * 2 * max(1, self._charts[0].size.width) >= span

    def info_text(self) -> str:
        """The header line (see `monitor_lines.header_line`)."""
        return header_line(self.history)

    def stats_text(self) -> str:
        """The line under the bar: batch n/N, epoch e/E, elapsed, ETA, samples/s, state."""
        return progress_line(self.history, paused=self.paused, stopping=self.stopping)

    @property
    def live(self) -> bool:
        """Whether the run can be steered: it has a control and has not ended."""
        return self.control is not None and not self.history.finished

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show Pause or Resume (not both), hide run keys when there is no live run, and
        Digits when the run shows none."""
        if action == "learning_rate":
            return self.live
        if action == "toggle_digits":
            return self.history.shown_digits is not None
        if action == "pause":
            return self.live and not self.paused
        if action == "resume":
            return self.live and self.paused
        if action == "stop":
            return None if self.live and self.stopping else self.live
        return True

    def action_pause(self) -> None:
        """Pause training at the end of the current batch."""
        self._steer(lambda control: control.pause(), "paused")

    def action_resume(self) -> None:
        """Let a paused run go on."""
        self._steer(lambda control: control.resume(), "resumed")

    def action_stop(self) -> None:
        """Stop after the current batch; the test evaluation and the summary still follow."""
        if not self.stopping:
            self._steer(lambda control: control.stop("stopped by user"),
                        "stopping after this batch; the test set is still evaluated")

    def action_learning_rate(self) -> None:
        """Ask for a new learning rate and send it to the run (from its next batch on).

        A run whose rate cannot change (say, a schedule sets it every batch) says why instead.
        """
        if not self.live:
            return
        started = self.history.started
        if started is None:
            self.notify("The run has not started training yet.", severity="warning")
            return
        if started.rate_locked:
            self.notify(started.rate_locked, title="The learning rate cannot change",
                        severity="warning")
            return
        self.app.push_screen(RateScreen(self.history.learning_rate), self._rate_chosen)

    def _rate_chosen(self, rate: float | None) -> None:
        if rate is not None:
            self._steer(lambda control: control.set_learning_rate(rate),
                        f"learning rate → {rate:g} asked; applies from the next batch")

    def _steer(self, request: Callable[[Controller], None], note: str) -> None:
        """Send `request` to a live run, log `note`, and show the new state at once."""
        if self.control is None or self.history.finished:
            return
        request(self.control)
        self.history.note(note)
        self.refresh_bindings()
        self._refresh_progress()

    def action_toggle_smoothing(self) -> None:
        """Switch the EMA curve over the raw per-batch values on or off."""
        self.smoothing = not self.smoothing

    def watch_smoothing(self, smooth: bool) -> None:
        """Redraw the charts and their legend at once when smoothing is switched."""
        self.query_one("#legend", Static).update(legend_markup(smooth), layout=False)
        self._refresh_charts(force=True)

    def action_toggle_digits(self) -> None:
        """Hide or show the test digits strip."""
        self.digits_hidden = not self.digits_hidden

    def watch_digits_hidden(self) -> None:
        """Show or hide the strip at once."""
        if self._charts:
            self._update_extras()

    def action_zoom(self, step: int) -> None:
        """Zoom the charts in (`step` 1) or out (-1) by a level."""
        self.zoom = max(0, min(MAX_ZOOM, self.zoom + step))

    def action_whole_run(self) -> None:
        """Show the whole run on the charts again."""
        self.zoom = 0

    def watch_zoom(self) -> None:
        """Redraw the charts at once for the new span."""
        self._refresh_charts(force=True)

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        """The wheel up over a chart zooms in."""
        if isinstance(event.widget, MetricChart):
            event.stop()
            self.action_zoom(1)

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        """The wheel down over a chart zooms out."""
        if isinstance(event.widget, MetricChart):
            event.stop()
            self.action_zoom(-1)
