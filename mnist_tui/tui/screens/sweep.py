"""The sweep screen: a sweep's trials live, the best marked, a chart and the importances.

`SweepScreen` reads the sweep's study in a thread once a second (`sweeps.progress`), from
whichever process or machine trains its trials, so it shows a sweep started here, one in the
background and one being watched alike. The table has a row per trial (state, objective,
epochs, time, its parameters), the best so far marked ★; the chart draws the objective
against the trial number; once enough trials are done, Optuna's parameter importances are
bars. Enter opens a trial's run: its live monitor while it trains, else its summary (through
`on_open`); `c` compares the best three.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from mnist_tui.core.fields import FIELD_SPECS
from mnist_tui.core.formatting import format_duration
from mnist_tui.runs.listing import scan_runs
from mnist_tui.sweeps.progress import (
    IMPORTANCE_AFTER,
    SweepStatus,
    TrialRow,
    read_status,
    show_objective,
    show_value,
)
from mnist_tui.sweeps.study import SweepPlace
from mnist_tui.tui.keys import BACK
from mnist_tui.tui.widgets.sweep_chart import SweepChart

POLL_SECONDS = 1.0
IMPORTANCE_SECONDS = 10.0  # Optuna's evaluator fits a forest: not every poll
BAR_WIDTH = 24


def importance_bars(importances: dict[str, float], width: int = BAR_WIDTH) -> str:
    """One line per parameter: its label, a bar as long as its share, the share."""
    if not importances:
        return ""
    lines = []
    for name, weight in importances.items():
        label = FIELD_SPECS[name].label if name in FIELD_SPECS else name
        bar = "█" * max(1, round(weight * width)) if weight > 0 else ""
        lines.append(f"{label:<16} {bar:<{width}} {weight:.2f}")
    return "\n".join(lines)


def importance_text(importances: dict[str, float], status: SweepStatus) -> str:
    """The importance panel: the bars, or why there are none yet."""
    bars = importance_bars(importances)
    if bars:
        return "Parameter importance\n" + bars
    if len(status.plan.space.params) < 2:
        return "Parameter importance: one setting varies, nothing to weigh"
    done = sum(row.state == "done" for row in status.rows)
    return (f"Parameter importance: after {IMPORTANCE_AFTER} trials that ran to the end "
            f"({done} so far; pruned ones do not count)")


def trial_line(row: TrialRow, objective: str) -> str:
    """One line on the trial under the cursor: how it ended and why, or what it waits for."""
    head = f"Trial {row.number} · {row.state}"
    if row.state == "running":
        return f"{head} (epoch {row.epochs} done) · Enter opens its live monitor"
    if row.state == "waiting":
        return f"{head} for a worker"
    if row.reason:  # "pruned at …", "its worker stopped …"
        if row.reason.split(" ", 1)[0] == row.state:
            return f"Trial {row.number} · {row.reason}"
        return f"{head}: {row.reason}"
    figure = show_objective(row.value, objective) if row.value is not None else "no figure"
    run = f" · run {row.run_id} · Enter opens its summary" if row.run_id else ""
    return f"{head}: {objective.replace('_', ' ')} {figure} after {row.epochs} epoch(s){run}"


class SweepScreen(Screen[None]):
    """A sweep, live: its trials, the best one, the objective by trial, the importances.

    `on_open(run_dir)` opens a running trial's live monitor (the app's); a trial that ended
    opens its summary here.
    """

    CSS_PATH = str(Path(__file__).with_name("sweep.tcss"))
    KEEP_UNDER_MONITOR = True  # a trial's monitor opens over it (see MnistApp._show_monitor)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open trial", show=True),
        Binding("c", "compare", "Compare best 3"),
        Binding("q", "app.quit", "Quit"),
        BACK,
    ]

    def __init__(self, place: SweepPlace, *, runs_dir: Path | None = None,
                 on_open: Callable[[Path], None] | None = None) -> None:
        super().__init__()
        self.place = place
        self.runs_dir = runs_dir
        self.on_open = on_open
        self.status: SweepStatus | None = None
        self._importances: dict[str, float] = {}
        self._importance_at = 0.0
        self._columns: list[str] = []

    def compose(self) -> ComposeResult:
        """Title, the trials table, the chart beside the importances, the keys."""
        yield Static(f"Sweep {self.place.name} · reading {self.place.describe_storage()}…",
                     id="sweep-title", classes="title-bar", markup=False)
        yield Static("", id="sweep-space", markup=False)
        yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="sweep-trial", markup=False)
        with Horizontal(id="sweep-lower"):
            yield SweepChart(id="sweep-chart")
            yield Static("", id="sweep-importance", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Read the sweep now and once a second."""
        self.query_one("#sweep-table", DataTable).focus()
        self._poll()
        self.set_interval(POLL_SECONDS, self._poll)

    def _poll(self) -> None:
        due = time.monotonic() - self._importance_at >= IMPORTANCE_SECONDS
        self._read(due)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def _read(self, importance: bool) -> tuple[SweepStatus, bool]:
        return read_status(self.place, importance=importance), importance

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show what the reader read, or why it could not."""
        if event.worker.group == "open" and event.state == WorkerState.ERROR:
            self.notify(f"Cannot read the trial's run: {event.worker.error}", severity="error")
        if event.worker.group != "sweep":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, tuple):
            status, importance = event.worker.result
            if importance:
                self._importance_at = time.monotonic()
                self._importances = status.importances or self._importances
            self.show(status)
        elif event.state == WorkerState.ERROR:
            self.query_one("#sweep-title", Static).update(
                f"Sweep {self.place.name}: cannot read it: {event.worker.error}")

    def show(self, status: SweepStatus) -> None:
        """Put a reading of the sweep on screen."""
        self.status = status
        plan = status.plan
        best = next((r for r in status.rows if r.number == status.best), None)
        best_text = (f" · best {show_objective(best.value, plan.objective)} (trial "
                     f"{best.number})" if best else "")
        word = "done" if status.complete else f"{status.running} running"
        self.query_one("#sweep-title", Static).update(
            f"Sweep {plan.name} · {status.ended}/{plan.trials} trials ended · {word}"
            f"{best_text}")
        self.query_one("#sweep-space", Static).update(
            f"{plan.space.describe()} · {'grid' if plan.space.is_grid else 'TPE'} · pruning "
            f"{plan.describe_pruning()} · {self.place.describe_storage()}")
        self._fill_table(status)
        points = [(r.number, r.value, r.state) for r in status.rows
                  if r.value is not None and r.state in ("done", "pruned")]
        self.query_one("#sweep-chart", SweepChart).show(
            [(n, float(v), s) for n, v, s in points if v is not None], plan.objective,
            plan.direction == "maximize")
        self.query_one("#sweep-importance", Static).update(importance_text(
            self._importances, status))

    def _fill_table(self, status: SweepStatus) -> None:
        table = self.query_one("#sweep-table", DataTable)
        names = list(status.plan.space.params)
        if not self._columns:
            self._columns = names
            table.add_column("", key="best")
            for label in ("#", "state", status.plan.objective.replace("_", " "), "epochs",
                          "time"):
                table.add_column(label, key=label)
            for name in names:
                table.add_column(FIELD_SPECS[name].label.lower(), key=name)
        cursor = table.cursor_row
        table.clear()
        for row in status.rows:
            table.add_row("★" if row.number == status.best else "", str(row.number), row.state,
                          show_objective(row.value, status.plan.objective), str(row.epochs),
                          format_duration(row.seconds, missing="--"),
                          *(show_value(row.params.get(n, "")) for n in names),
                          key=str(row.number))
        if status.rows:
            table.move_cursor(row=min(cursor, len(status.rows) - 1))
        self._show_trial()

    @on(DataTable.RowHighlighted, "#sweep-table")
    def _show_trial(self) -> None:
        """Say how the trial under the cursor ended, and why."""
        table = self.query_one("#sweep-table", DataTable)
        line = ""
        if self.status is not None and self.status.rows:
            row = self.status.rows[min(max(table.cursor_row, 0), len(self.status.rows) - 1)]
            line = trial_line(row, self.status.plan.objective)
        self.query_one("#sweep-trial", Static).update(line)

    @on(DataTable.RowSelected, "#sweep-table")
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        """Open the trial under the cursor: its monitor while it trains, else its summary."""
        table = self.query_one("#sweep-table", DataTable)
        if self.status is None or table.row_count == 0:
            return
        row = self.status.rows[min(table.cursor_row, len(self.status.rows) - 1)]
        if not row.run_dir:
            self.notify(f"Trial {row.number} has no run yet.", severity="warning")
            return
        if row.state == "running" and self.on_open is not None:
            self.on_open(Path(row.run_dir))
            return
        self._read_run(Path(row.run_dir))

    @work(thread=True, exclusive=True, exit_on_error=False, group="open")
    def _read_run(self, run_dir: Path) -> None:
        from mnist_tui.runs.listing import RunNotFound, resolve_run
        from mnist_tui.tui.screens.compare import load_history, summary_of
        from mnist_tui.tui.screens.runs import RunSummaryScreen

        try:
            folder = resolve_run(run_dir)
        except RunNotFound as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        run = next((r for r in scan_runs(folder.parent).runs if r.run_dir == folder), None)
        if run is None:
            self.app.call_from_thread(self.notify, f"{folder} is not a readable run",
                                      severity="error")
            return
        history = load_history(run.run_dir)
        screen = RunSummaryScreen(summary_of(run, history), history.evaluated, history)
        self.app.call_from_thread(self.app.push_screen, screen)

    def action_compare(self) -> None:
        """Compare the best three done trials' runs side by side."""
        from mnist_tui.tui.screens.compare import CompareScreen

        if self.status is None:
            return
        done = [r for r in self.status.rows if r.state == "done" and r.value is not None]
        done.sort(key=lambda r: float(r.value or 0.0),
                  reverse=self.status.plan.direction == "maximize")
        wanted = {r.run_id for r in done[:3]}
        runs = [run for run in scan_runs(self.runs_dir).runs if run.run_id in wanted]
        if len(runs) < 2:
            self.notify("Two trials or more must be done to compare.", severity="warning")
            return
        self.app.push_screen(CompareScreen(runs))

    def action_back(self) -> None:
        """Leave the sweep screen (the sweep goes on)."""
        if len(self.app.screen_stack) > 1:
            self.dismiss(None)
        else:
            self.app.exit()
