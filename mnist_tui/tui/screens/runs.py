"""The Runs screen: past runs in a table; compare several, open one, delete one, export CSV.

`RunsScreen` lists the run folders (newest first, the same rows as `mnist-tui runs`). Space
marks runs; `c` opens `CompareScreen` on the marked ones (see `compare_screen`). Enter opens
a run's summary, `u` resumes one from its checkpoint (refused as `mnist-tui resume` refuses),
`d` deletes one (after asking), `x` writes the marked runs' metrics as CSV. In a browser
(`mnist-tui serve`) `x` downloads that CSV and `m` the model of the run under the cursor.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.runs.compare import COLUMNS, run_row
from mnist_tui.runs.listing import RunInfo, RunListing, scan_runs
from mnist_tui.runs.resume import ResumePlan, plan_resume
from mnist_tui.runs.writer import default_runs_dir
from mnist_tui.tui.keys import BACK, BACK_Q, EXPORT
from mnist_tui.tui.screens.compare import CompareScreen, export_metrics, load_history, summary_of
from mnist_tui.tui.screens.dialogs import ConfirmScreen
from mnist_tui.tui.screens.downloads import (
    DOWNLOAD_ACTIONS,
    deliver_metrics_csv,
    deliver_model,
    offered,
)
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.history import TrainingHistory

HEADERS = {"learning rate": "lr", "optimizer": "optim", "batch size": "batch",
           "val accuracy": "val acc", "test accuracy": "test acc"}
"""Shorter column labels than `mnist-tui runs` prints, so the table fits 120 columns."""


class RunSummaryScreen(SummaryScreen, inherit_bindings=False):
    """A recorded run's summary, opened from the Runs screen; escape goes back to the list.

    Not the live summary's keys: "train again" there means the app's current settings.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        BACK,
        BACK_Q,
        Binding("x", "download_csv", "Download CSV"),  # in a browser only
        Binding("m", "download_model", "Download model"),
    ]

    def action_back(self) -> None:
        """Back to the runs."""
        self.dismiss(None)


class RunsScreen(Screen[None]):
    """Every run in the runs folder, newest first, with keys to compare, open, delete, export.

    `runs_dir` defaults to the app's runs folder, which is read in a thread (on mount and on
    `r`). Leaving (escape) pops the screen, or ends a host app where it is the only screen.
    """

    CSS_PATH = str(Path(__file__).with_name("runs.tcss"))  # read when first shown

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_mark", "Select"),
        Binding("c", "compare", "Compare"),
        Binding("o", "open", "Open"),
        Binding("u", "resume", "Resume"),
        Binding("d", "delete", "Delete"),
        Binding("x", "download_csv", "Download CSV"),  # in a browser; else EXPORT
        EXPORT,
        Binding("m", "download_model", "Download model"),  # in a browser only
        Binding("r", "refresh", "Refresh"),
        BACK,
    ]

    def __init__(self, runs_dir: Path | None = None,
                 on_watch: Callable[[Path], None] | None = None,
                 on_resume: Callable[[ResumePlan], None] | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir or default_runs_dir())
        self.on_watch = on_watch  # opens the live monitor on a run that is still going
        self.on_resume = on_resume  # resumes a run from its checkpoint, on the monitor
        self.runs: list[RunInfo] = []
        self.marked: list[str] = []  # run ids, in the order they were marked

    def compose(self) -> ComposeResult:
        """Title, the table of runs, a hint when there are none, the keys."""
        yield Static(f"Reading the runs in {self.runs_dir}…", id="runs-title",
                     classes="title-bar", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        empty = Static(f"No runs in {self.runs_dir} yet.", id="runs-empty", markup=False)
        empty.display = False
        yield empty
        yield Footer()

    def on_mount(self) -> None:
        """Fill the table."""
        table = self.query_one("#runs-table", DataTable)
        self._add_columns(table, [])
        self.action_refresh()
        table.focus()

    def action_refresh(self) -> None:
        """Read the runs folder again (statuses change while runs go on)."""
        self._list_runs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def _list_runs(self) -> RunListing:
        return scan_runs(self.runs_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="open")
    def _read_run(self, run: RunInfo) -> tuple[RunInfo, TrainingHistory]:
        return run, load_history(run.run_dir)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show what a worker read (the list, or a run's summary), or why it could not."""
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, RunListing):
            self._show_runs(result.runs)
            if result.problem:
                self.query_one("#runs-title", Static).update(result.problem)
            for note in result.notes():  # what could not be read: listed without it
                self.notify(note[0].upper() + note[1:], title="Runs", timeout=10,
                            severity="error" if note == result.problem else "warning")
        elif event.state == WorkerState.SUCCESS and isinstance(result, tuple):
            run, history = result
            self.app.push_screen(RunSummaryScreen(summary_of(run, history), history.evaluated,
                                                  history))
        elif event.state == WorkerState.ERROR:
            listing = event.worker.group == "list"
            problem = (f"cannot read the runs in {self.runs_dir}" if listing
                       else "cannot read the run") + f": {event.worker.error}"
            if listing:
                self.query_one("#runs-title", Static).update(problem)
            self.notify(problem, title="Runs", severity="error")

    def _show_runs(self, runs: list[RunInfo]) -> None:
        table = self.query_one("#runs-table", DataTable)
        current = self.current_run()
        self.runs = runs
        ids = {run.run_id for run in self.runs}
        self.marked = [run_id for run_id in self.marked if run_id in ids]
        rows = []
        for run in self.runs:
            row = list(run_row(run))
            row[1] = row[1][5:]  # "2025-01-31 12:00" → "01-31 12:00": the year is in the id
            rows.append(row)
        table.clear(columns=True)
        self._add_columns(table, rows)
        for run, row in zip(self.runs, rows, strict=True):
            table.add_row(self._mark(run.run_id), *row, key=run.run_id)
        if current is not None and current.run_id in ids:
            table.move_cursor(row=table.get_row_index(current.run_id))
        self.query_one("#runs-empty").display = not self.runs
        self._update_title()

    @staticmethod
    def _add_columns(table: DataTable[str], rows: list[list[str]]) -> None:
        # Each column as wide as its widest cell, said here: a table left to measure its
        # cells when idle can keep rows drawn at the headers' widths ("20" for a run id).
        table.add_column("✓", key="mark", width=1)
        for index, column in enumerate(COLUMNS):
            label = HEADERS.get(column, column)
            width = max([len(label), *(len(row[index]) for row in rows)])
            table.add_column(label, key=column, width=width)

    def _mark(self, run_id: str) -> str:
        return "●" if run_id in self.marked else ""

    def _update_title(self) -> None:
        marked = f" · {len(self.marked)} selected" if self.marked else ""
        self.query_one("#runs-title", Static).update(
            f"{len(self.runs)} runs in {self.runs_dir}{marked} · space selects, c compares")

    def current_run(self) -> RunInfo | None:
        """The run under the cursor."""
        table = self.query_one("#runs-table", DataTable)
        if not self.runs or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((run for run in self.runs if run.run_id == row_key.value), None)

    def selected_runs(self) -> list[RunInfo]:
        """The marked runs in the order they were marked, else the run under the cursor."""
        by_id = {run.run_id: run for run in self.runs}
        chosen = [by_id[run_id] for run_id in self.marked if run_id in by_id]
        current = self.current_run()
        return chosen or ([current] if current is not None else [])

    def action_toggle_mark(self) -> None:
        """Select or unselect the run under the cursor for comparing and exporting."""
        run = self.current_run()
        if run is None:
            return
        if run.run_id in self.marked:
            self.marked.remove(run.run_id)
        else:
            self.marked.append(run.run_id)
        table = self.query_one("#runs-table", DataTable)
        table.update_cell(run.run_id, "mark", self._mark(run.run_id))
        self._update_title()

    def action_compare(self) -> None:
        """Compare the selected runs (at least two)."""
        runs = self.selected_runs()
        if len(runs) < 2:
            self.notify("Select two runs or more with space, then press c.", severity="warning")
            return
        self.app.push_screen(CompareScreen(runs))

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        """Show the run under the cursor: its summary, from its recorded events, or the live
        monitor (through `on_watch`) when it is still running."""
        run = self.current_run()
        if run is None:
            return
        if run.status == "running" and self.on_watch is not None:
            self.on_watch(run.run_dir)
            return
        self._read_run(run)

    def action_resume(self) -> None:
        """Resume the run under the cursor from its checkpoint, to its configured epochs."""
        run = self.current_run()
        if run is None or self.on_resume is None:
            return
        try:
            plan = plan_resume(run.run_dir)
        except MnistTuiError as exc:
            self.notify(str(exc), title="Cannot resume", severity="error", timeout=10)
            return
        self.on_resume(plan)

    def action_delete(self) -> None:
        """Delete the run under the cursor and its files, after asking."""
        run = self.current_run()
        if run is None:
            return
        if run.status == "running":
            self.notify(f"Run {run.run_id} is still running; stop it before deleting it.",
                        severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                shutil.rmtree(run.run_dir)
            except OSError as exc:
                self.notify(f"Could not delete {run.run_dir}: {exc}", severity="error")
            else:
                self.notify(f"Deleted run {run.run_id}")
            self.action_refresh()

        self.app.push_screen(ConfirmScreen(
            f"Delete run {run.run_id} ({run.status}) and all its files in {run.run_dir}? "
            "This cannot be undone."), answered)

    def action_export(self) -> None:
        """Write the selected runs' metrics (per batch and per epoch) as CSV, to a file asked
        for (in a terminal)."""
        runs = self.selected_runs()
        if runs:
            export_metrics(self, runs)

    def action_download_csv(self) -> None:
        """Send the selected runs' metrics as CSV to the browser (`mnist-tui serve`)."""
        runs = self.selected_runs()
        if runs:
            deliver_metrics_csv(self, runs)

    def action_download_model(self) -> None:
        """Send the trained model of the run under the cursor to the browser."""
        run = self.current_run()
        if run is not None:
            deliver_model(self, run.run_id, run.run_dir)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Downloads only in a browser (`mnist-tui serve`), the export to a file elsewhere."""
        if action in DOWNLOAD_ACTIONS:
            return offered(self.app)
        return not offered(self.app) if action == "export" else True

    def action_back(self) -> None:
        """Leave the runs list."""
        if len(self.app.screen_stack) > 1:
            self.dismiss(None)
        else:
            self.app.exit()
