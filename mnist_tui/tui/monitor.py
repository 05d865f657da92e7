"""MonitorScreen: a run as it trains: progress, loss and accuracy charts, a per-epoch log.

The screen never redraws per event. The app folds events into a `TrainingHistory`; two timers
here redraw from it, only what changed: the progress line up to 4 times a second (each frame
costs Textual a millisecond or two, whatever changed), the charts up to twice a second.
Watching must cost the run next to nothing, because every millisecond here is taken from
TensorFlow's threads (and holds the GIL the training thread needs): a chart whose curves have
not moved by a pixel column is not rebuilt, and the charts are kept under `CHART_BUDGET` of
one core, so big charts on a busy machine redraw every second or two (never less often than
every `CHART_MAX_INTERVAL` while they change).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from mnist_tui.control import Controller
from mnist_tui.formatting import format_duration
from mnist_tui.tui.charts import AccuracyChart, LossChart, MetricChart, legend_markup
from mnist_tui.tui.history import TrainingHistory
from mnist_tui.tui.keys import QUIT, SMOOTHING
from mnist_tui.tui.progress import RunProgress

PROGRESS_INTERVAL = 0.25  # seconds between progress redraws (at most)
CHART_INTERVAL = 0.5  # seconds between chart redraws (at most)
CHART_BUDGET = 0.01  # share of a core the charts may take; big charts redraw less often
CHART_MAX_INTERVAL = 2.5  # seconds: however slow, charts that change redraw this often


class MonitorScreen(Screen[None]):
    """Live view of one run, drawn from `history`; `control` (if any) takes pause and stop.

    Without a control (a recorded run) the pause and stop keys are hidden. Quitting goes
    through the app's `quit` action, which asks first while a run is going.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
        Binding("s", "stop", "Stop"),
        SMOOTHING,
        QUIT,
    ]

    smoothing: var[bool] = var(True, init=False)
    """Whether the charts draw the EMA-smoothed curve over the raw per-batch one."""

    def __init__(self, history: TrainingHistory, control: Controller | None = None, *,
                 name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.history = history
        self.control = control
        self._progress_key: tuple[int, bool, bool] | None = None
        self._chart_key: tuple[int, bool, int, int] | None = None
        self._chart_step = self._chart_version = 0  # the history the charts last drew
        self._log_index = 0
        self._charts: list[MetricChart] = []
        self._chart_time = 0.0
        self._chart_costs: deque[float] = deque(maxlen=5)  # CPU seconds of recent redraws

    def compose(self) -> ComposeResult:
        """Header line, progress bar and stats, the two charts side by side, the log."""
        yield Static("", id="run-info", classes="title-bar", markup=False)
        yield RunProgress(id="progress")
        yield Static("", id="stats", markup=False)
        yield Static(legend_markup(self.smoothing), id="legend")
        with Horizontal(id="charts"):
            yield LossChart(id="loss-chart")
            yield AccuracyChart(id="accuracy-chart")
        yield Log(id="log", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        """Draw what is known now and start the redraw timers."""
        self._info = self.query_one("#run-info", Static)
        self._bar = self.query_one("#progress", RunProgress)
        self._stats = self.query_one("#stats", Static)
        self._log = self.query_one("#log", Log)
        self._charts = list(self.query(MetricChart).results(MetricChart))
        self.update_now()
        self.set_interval(PROGRESS_INTERVAL, self._refresh_progress)
        self.set_interval(CHART_INTERVAL, self._refresh_charts)

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
            self._bar.update(total=max(1, history.total_batches), progress=history.step)
            self._set_line(self._stats, self.stats_text())
            new_lines = history.log_lines[self._log_index:]
            if new_lines:
                self._log.write_lines(new_lines)
                self._log_index += len(new_lines)

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
        with self.app.batch_update():
            for chart in self._charts:
                data = history.chart(chart.METRIC, smooth=self.smoothing,
                                     max_points=chart.max_points)
                # A Keras run without an accuracy metric (MonitorCallback) says so.
                chart.note = ("not reported by this run" if history.step
                              and not data.train[0] and not data.val[0] else "")
                chart.show(data)

    def _chart_pause(self) -> float:
        """Seconds to leave between chart redraws: their recent cost over `CHART_BUDGET`
        (the median, so that one slow redraw, say a garbage collection in it, counts little),
        within `CHART_INTERVAL` and `CHART_MAX_INTERVAL`."""
        cost = sum(chart.draw_seconds for chart in self._charts)
        if not self._chart_costs or cost != self._chart_costs[-1]:
            self._chart_costs.append(cost)  # the redraw before this one is done and measured
        pause = statistics.median(self._chart_costs) / CHART_BUDGET
        return min(CHART_MAX_INTERVAL, max(CHART_INTERVAL, pause))

    def _chart_state(self) -> tuple[int, bool, int, int]:
        history = self.history
        return (history.chart_marks_version, self.smoothing, self._charts[0].size.width,
                history.total_batches)

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
        x_max = max(history.total_batches, history.step, 1)
        return new_steps * 2 * max(1, self._charts[0].size.width) >= x_max

    def info_text(self) -> str:
        """The header line: run id, model and size, data."""
        history = self.history
        started = history.started
        if started is None:
            return f"mnist-tui · {history.phase_message or 'starting…'}"
        model = history.config.get("model", "?")
        data = f" · {started.data_source}" if started.data_source else ""
        images = (f" · {started.train_samples:,} train / {started.val_samples:,} val images"
                  if started.val_samples else "")  # unknown to a Keras callback's run
        devices = [d.rsplit("device:", 1)[-1] for d in started.devices]
        where = ""
        if started.strategy and started.strategy != "default":
            where = f" · {started.strategy} on {', '.join(devices) or '?'}"
        elif devices:
            where = f" · {devices[0]}"
        if started.precision:
            where += f" · {started.precision}"
        return (f"run {history.run_id} · {model}, {history.params:,} params{where}{images}"
                f"{data}")

    def stats_text(self) -> str:
        """The line under the bar: batch n/N, epoch e/E, elapsed, ETA, samples/s, state."""
        history = self.history
        if history.started is None:
            return history.phase_message or "starting…"
        rate = history.samples_per_second()
        parts = [
            f"batch {history.step:,}/{history.total_batches:,}",
            f"epoch {max(history.epoch, 1)}/{history.epochs}",
            f"elapsed {format_duration(history.elapsed)}",
            f"ETA {format_duration(history.eta_seconds())}",
            f"{rate:,.0f} img/s" if rate is not None else "— img/s",
        ]
        # The state goes first so that a narrow terminal never cuts it off.
        if history.finished:
            parts.insert(0, history.log_lines[-1] if history.log_lines else "done")
        elif self.paused:
            parts.insert(0, "PAUSED")
        elif self.stopping:
            parts.insert(0, "stopping…")
        elif history.phase not in ("training", ""):
            parts.insert(0, history.phase_message)
        return " · ".join(parts)

    @property
    def live(self) -> bool:
        """Whether the run can be steered: it has a control and has not ended."""
        return self.control is not None and not self.history.finished

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show Pause or Resume (not both), and hide run keys when there is no live run."""
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
