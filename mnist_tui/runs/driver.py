"""Training a config into a run folder: what a front end calls to start a run.

`execute_run` puts the run's `RunWriter` in front of the front end's `emit`, opens the
folder's control channel and hands the rest to the trainer; `Runner` is its signature, so a
front end can be handed a fake in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit, Event
from mnist_tui.core.summary import RunSummary
from mnist_tui.runs.channel import ControlChannel
from mnist_tui.runs.reading import read_events
from mnist_tui.runs.signals import live_run
from mnist_tui.runs.writer import RunWriter, default_runs_dir, new_run_id
from mnist_tui.training.data import MnistData
from mnist_tui.training.trainer import HookMaker, Trainer


class Runner(Protocol):
    """What a front end calls to train a config: `execute_run`, or a fake in tests.

    Returns the run folder (None when none was made) and the run's summary.
    """

    def __call__(self, config: TrainConfig, emit: Emit, control: RunControl | None = None, *,
                 runs_dir: Path | None = None, data_path: str | Path | None = None
                 ) -> tuple[Path | None, RunSummary]:
        """Train `config`, reporting every event to `emit` and obeying `control`."""
        ...


def execute_run(config: TrainConfig, emit: Emit, control: RunControl | None = None, *,
                runs_dir: Path | None = None, data_path: str | Path | None = None,
                run_id: str | None = None, writer: RunWriter | None = None,
                data: MnistData | None = None, hook_makers: Sequence[HookMaker] = ()
                ) -> tuple[Path | None, RunSummary]:
    """Train `config` into a run folder; every event goes to the log and to `emit`.

    The folder is `writer`'s when given, else a new one under `runs_dir`. `data` skips the
    lookup of MNIST (see `load_mnist` for `data_path`). While it trains, the folder's control
    channel feeds `control` (made if not given), so `mnist-tui watch` can pause and stop any
    run, and a second SIGTERM or Ctrl+C can close its log (`signals.live_run`). Returns the
    run folder (None when it could not be made: the run trains all the same, and `emit` is
    told why as a `StorageProblem`) and the summary (which also names the folder, if any, and
    what of it could not be written: `storage_error`). `hook_makers` add the caller's own
    hooks to the training (`Trainer`).
    """
    if writer is None:
        writer = RunWriter(runs_dir or default_runs_dir(), run_id or new_run_id(), config,
                           report=emit)
    else:
        writer.storage.report = emit  # what it cannot write from now on, this front end says
    control = control or RunControl()
    run_dir = writer.run_dir if writer.has_folder else None

    def both(event: Event) -> None:
        writer.write(event)
        emit(event)

    try:
        channel = ControlChannel(writer.run_dir, control).start()
        try:
            with live_run(writer, config):
                earlier = read_events(writer.run_dir) if writer.resume else []
                trainer = Trainer(data_path=data_path, run_dir=run_dir, data=data,
                                  resume=writer.resume, earlier_events=earlier,
                                  hook_makers=hook_makers)
                summary = trainer.run(config, both, control, run_id=writer.run_id)
        finally:
            channel.close()
    finally:
        writer.close()
    problem = writer.storage.problem  # known once the log is closed
    if problem is not None:
        summary = replace(summary, storage_error=problem.message)
    return run_dir, summary
