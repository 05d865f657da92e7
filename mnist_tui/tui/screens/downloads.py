"""Files handed to the browser when the app is served to one (`mnist-tui serve`).

In a browser the summary and the Runs screen offer a run's metrics as CSV and its trained
model as downloads, delivered by Textual's `App.deliver_binary` (textual-serve streams them
to the browser tab). In a terminal there is no browser to hand a file to: the Runs screen
writes its CSV to a path asked for instead (`compare.export_metrics`), and these keys are
hidden (`offered`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.app import App
from textual.screen import Screen

from mnist_tui.runs.compare import write_metrics_csv
from mnist_tui.runs.listing import RunInfo

DOWNLOAD_ACTIONS = frozenset({"download_csv", "download_model"})
"""The screens' actions that deliver a file to the browser (offered only there)."""


def offered(app: App[Any]) -> bool:
    """Whether downloads make sense: the app is drawn in a browser tab."""
    return app.is_web


def csv_name(runs: Sequence[RunInfo]) -> str:
    """The file name the browser saves the metrics of `runs` under."""
    if len(runs) == 1:
        return f"mnist-tui-{runs[0].run_id}.csv"
    return f"mnist-tui-{len(runs)}-runs.csv"


def deliver_metrics_csv(screen: Screen[Any], runs: Sequence[RunInfo]) -> None:
    """Send the runs' metrics (per batch and per epoch, as `mnist-tui runs --csv`'s export)
    to the browser as one CSV file, and say so."""
    text = io.StringIO()
    try:
        rows = write_metrics_csv(runs, text)
    except OSError as exc:
        screen.notify(f"Could not read the runs' logs: {exc}", severity="error")
        return
    name = csv_name(runs)
    screen.app.deliver_binary(io.BytesIO(text.getvalue().encode("utf-8")),
                              save_filename=name, mime_type="text/csv")
    screen.notify(f"{rows:,} rows, sent to your browser as {name}", title="Download")


def deliver_model(screen: Screen[Any], run_id: str, run_dir: Path | str | None) -> None:
    """Send the run's trained model (`model.keras`) to the browser, or say it has none."""
    from mnist_tui.runs.digit_reader import model_file  # brings numpy: not for the summary

    path = model_file(Path(run_dir)) if run_dir else None
    if path is None or not path.is_file():
        what = f"Run {run_id}" if run_id else "This run"
        screen.notify(f"{what} has no saved model (yet).", severity="warning")
        return
    name = f"mnist-tui-{run_id}.keras" if run_id else path.name
    try:
        screen.app.deliver_binary(path, save_filename=name,
                                  mime_type="application/octet-stream")
    except OSError as exc:
        screen.notify(f"Could not read {path}: {exc}", severity="error")
        return
    screen.notify(f"Sent to your browser as {name}", title="Download")


def run_of_summary(summary: Any) -> RunInfo | None:
    """The run a summary is of, as the CSV export takes it (None: it names no folder)."""
    run_dir = summary.get("run_dir")
    if not run_dir:
        return None
    return RunInfo(summary.get("run_id") or Path(run_dir).name, Path(run_dir), {}, None)
