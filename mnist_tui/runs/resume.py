"""`mnist-tui resume`: a stopped, died or killed run goes on from its checkpoint, in its folder.

A run belongs to its folder, so a resumed run is the same run: `config.json` gets the new
epochs, `events.jsonl` goes on with a `RunResumed` event (right after the old terminal event,
if there was one, which readers then skip), `process.json` names the new process, and
`summary.json` and `model.keras` are replaced at the end. `summary.json` is removed when the
resume begins, so that `mnist-tui runs` says running (or died) rather than the old outcome.

`plan_resume` checks that a run can go on and to how many epochs: every refusal is a
`ResumeError` that says what is wrong and what is allowed. `begin_resume` opens the folder for
the run to go on; `resume_run` trains it in this process, `resume_detached` in the background.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mnist_tui.core.config import ConfigError, TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import TERMINAL_TYPES, Emit, RunResumed
from mnist_tui.core.fields import MAX_EPOCHS, parse_field
from mnist_tui.core.jsonio import read_json_dict
from mnist_tui.core.summary import RunSummary
from mnist_tui.runs.channel import CONTROL_FILE, STATE_FILE, create_control_file
from mnist_tui.runs.detach import DetachedRun, start_detached
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.reading import process_alive, read_events
from mnist_tui.runs.writer import RunWriter
from mnist_tui.training.checkpoint import CheckpointError, CheckpointInfo, read_checkpoint_info

CALLBACK_SOURCE = "keras callback"  # the `source` MonitorCallback writes into a run's config


class ResumeError(MnistTuiError):
    """The run cannot be resumed as asked; the message says why and what is allowed."""


@dataclass(frozen=True)
class ResumePlan:
    """A run that can go on: its folder, its config with the epochs it goes on to, and the
    checkpoint it goes on from."""

    run_dir: Path
    config: TrainConfig
    checkpoint: CheckpointInfo

    @property
    def run_id(self) -> str:
        """The run's id (its folder's name)."""
        return self.run_dir.name

    @property
    def event(self) -> RunResumed:
        """The `RunResumed` event that marks in the log where the run goes on."""
        where = self.checkpoint.position
        return RunResumed(step=where.step, epoch=where.epoch, batch=where.batch,
                          seen=where.seen, elapsed=where.elapsed, epochs=self.config.epochs,
                          total_batches=self.config.total_batches,
                          batches_per_epoch=self.config.batches_per_epoch)


def parse_epochs(raw: str) -> int:
    """`--epochs` as typed; raises ResumeError with what is allowed."""
    try:
        value = parse_field("epochs", raw)
    except ValueError as exc:
        raise ResumeError(f"--epochs: {exc}") from None
    if not isinstance(value, int):  # pragma: no cover - parse_field gives an int for epochs
        raise ResumeError(f"--epochs must be a whole number, got {raw!r}")
    return value


def _run_config(run_dir: Path) -> TrainConfig:
    """The run's own settings; refuses runs that mnist-tui did not train."""
    name = run_dir.name
    data = read_json_dict(run_dir / "config.json")
    if data is None:
        raise ResumeError(f"run {name} has no readable config.json; it cannot be resumed")
    if data.get("source") == CALLBACK_SOURCE:
        raise ResumeError(f"run {name} was logged by MonitorCallback in a Keras script, not "
                          "trained by mnist-tui: only mnist-tui's own runs can be resumed")
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as exc:
        raise ResumeError(f"run {name} has settings mnist-tui cannot train ({exc}); it "
                          "cannot be resumed") from None


def plan_resume(run_dir: Path, epochs: int | None = None) -> ResumePlan:
    """Check that the run in `run_dir` can go on, to its configured epochs or to `epochs`.

    Refused (ResumeError): a run still running, a run of a Keras script, a multi-worker run,
    a run without a checkpoint, a finished run without more epochs, and epochs fewer than
    the run has begun or above the limit.
    """
    run_dir = Path(run_dir)
    name = run_dir.name
    config = _run_config(run_dir)
    summary = read_json_dict(run_dir / "summary.json")
    if summary is None and process_alive(run_dir):
        raise ResumeError(f"run {name} is still running; stop it first (s in `mnist-tui "
                          f"watch {name}`), then resume it")
    if config.strategy == "multi-worker":
        raise ResumeError(f"run {name} trained on a multi-worker cluster; only runs of one "
                          "process (strategy default or mirrored) can be resumed")
    try:
        info = read_checkpoint_info(run_dir)
    except CheckpointError as exc:
        raise ResumeError(str(exc)) from None
    if info is None:
        raise ResumeError(f"run {name} has no checkpoint to resume from (it ended before its "
                          "first batch, or an older mnist-tui trained it)")
    if info.batches_per_epoch != config.batches_per_epoch:
        raise ResumeError(f"run {name}'s checkpoint does not fit its config.json "
                          f"({info.batches_per_epoch} batches per epoch, not "
                          f"{config.batches_per_epoch}); was the file edited?")
    # A run that never finished may go on to the epochs it has done: evaluated and saved.
    finished = summary is not None and summary.get("status") == "finished"
    least = info.epochs_needed if finished else info.fewest_epochs
    allowed = f"allowed: {least} to {MAX_EPOCHS}"
    where = info.position
    done = (f"has finished {where.epochs_completed} epochs" if where.epochs_completed ==
            where.epoch else f"is in its epoch {where.epoch}")
    if epochs is None:
        if least > config.epochs:
            raise ResumeError(f"run {name} has finished all its {config.epochs} epochs; give "
                              f"--epochs N to train it further ({allowed})")
        epochs = config.epochs
    elif not least <= epochs <= MAX_EPOCHS:
        raise ResumeError(f"--epochs {epochs} does not fit: run {name} {done} ({allowed})")
    return ResumePlan(run_dir, replace(config, epochs=epochs), info)


def begin_resume(plan: ResumePlan) -> RunWriter:
    """Open the run's folder to go on: the new config and process, no stale summary or
    control commands, and `RunResumed` in the log. Returns the writer to train with."""
    run_dir = plan.run_dir
    writer = RunWriter(run_dir.parent, run_dir.name, plan.config, resume=True)
    (run_dir / "summary.json").unlink(missing_ok=True)
    for stale in (CONTROL_FILE, STATE_FILE):  # an old "stop" must not stop the resumed run
        (run_dir / stale).unlink(missing_ok=True)
    create_control_file(run_dir)
    writer.write(plan.event)
    return writer


def resume_run(plan: ResumePlan, emit: Emit, control: RunControl | None = None, *,
               data_path: str | Path | None = None, replay: bool = False
               ) -> tuple[Path | None, RunSummary]:
    """Resume the run in this process; its events go to the log and to `emit`.

    With `replay`, `emit` first gets what the run logged before (not its old ending), so a
    monitor shows one history.
    """
    if replay:
        for event in read_events(plan.run_dir, fold=True):  # for the monitor: read fast
            if not isinstance(event, TERMINAL_TYPES):
                emit(event)
    writer = begin_resume(plan)
    emit(plan.event)
    return execute_run(plan.config, emit, control, writer=writer, data_path=data_path)


def resume_detached(plan: ResumePlan, data_path: str | Path | None = None) -> DetachedRun:
    """Resume the run as a background process of its own (see `detach.start_detached`)."""
    begin_resume(plan).close()
    return start_detached(plan.config, data_path=data_path, resume_dir=plan.run_dir)
