"""Watching a run that another process writes: what the app's watching worker does.

The worker reads the run's log with `runs.follow_run` and hands every event to the same
`emit` a training worker uses, so the monitor cannot tell a watched run from its own. Nothing
here writes into the run's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mnist_tui.core.config import ConfigError, TrainConfig
from mnist_tui.core.events import Emit, RunFailed
from mnist_tui.core.jsonio import read_json_dict
from mnist_tui.core.summary import RunSummary
from mnist_tui.runs.reading import FollowEnd, follow_run


def follow_events(run_dir: Path, emit: Emit, stop: Callable[[], bool],
                  caught_up: Callable[[], None] | None = None) -> FollowEnd:
    """Emit the run's logged events, then new ones as they come, until it ends or `stop()`;
    `caught_up()` once the events logged before have been emitted, if the run goes on.

    A run whose process died without a final event gets a `RunFailed` that says so, and how
    long ago its last event came (emitted here only; the log is left as it is).
    """
    end = follow_run(run_dir, emit, stop=stop, caught_up=caught_up)
    if end.outcome == "died":
        output = Path(run_dir) / "output.log"
        message = end.died_message() + (f" (its output: {output})" if output.exists() else "")
        emit(RunFailed(error=message, summary=RunSummary(
            run_id=Path(run_dir).name, run_dir=str(run_dir), status="failed", reason=message)))
    return end


def watched_config(run_dir: Path) -> TrainConfig | None:
    """The watched run's settings, for the form; None for a run of another Keras model."""
    data = read_json_dict(Path(run_dir) / "config.json")
    try:
        return TrainConfig.from_dict(data) if data is not None else None
    except (ValueError, ConfigError):
        return None


def left_running_note(run_id: str) -> str:
    """What to print after the app exits while a watched run goes on."""
    return (f"mnist-tui: run {run_id} goes on in the background; watch it again with: "
            f"mnist-tui watch {run_id}")
