"""Resumed runs in the log and the monitor: readers skip a superseded ending, the history goes
back to the checkpoint and on from there. Events are written by hand; no Keras."""

from __future__ import annotations

import json
from pathlib import Path

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStopped,
)
from mnist_tui.runs.compare import metric_rows
from mnist_tui.runs.reading import follow, read_events
from mnist_tui.runs.writer import RunWriter
from mnist_tui.tui.state.history import BucketSeries, TrainingHistory


def started(epochs: int = 2) -> RunStarted:
    return RunStarted(run_id="r", config=TrainConfig(epochs=epochs).to_dict(),
                      total_batches=27 * epochs, batches_per_epoch=27, epochs=epochs,
                      train_samples=1700, val_samples=300, test_samples=10_000, params=33_194)


def batch_end(step: int) -> BatchEnd:
    epoch, batch = (step - 1) // 27 + 1, (step - 1) % 27 + 1
    return BatchEnd(step=step, epoch=epoch, batch=batch, loss=1.0, accuracy=0.5,
                    batch_loss=1.0 / step, batch_accuracy=0.5, seen=64 * step,
                    elapsed=0.1 * step)


def resumed(step: int, epoch: int, batch: int, epochs: int = 3) -> RunResumed:
    return RunResumed(step=step, epoch=epoch, batch=batch, seen=64 * step, elapsed=0.1 * step,
                      epochs=epochs, total_batches=27 * epochs, batches_per_epoch=27)


def epoch_end(epoch: int, step: int) -> EpochEnd:
    return EpochEnd(epoch=epoch, step=step, loss=1.0, accuracy=0.5, val_loss=0.9,
                    val_accuracy=0.6, seconds=1.0)


def test_history_goes_back_to_the_checkpoint_and_on_from_there() -> None:
    history = TrainingHistory()
    for event in [started(), *map(batch_end, range(1, 28)), epoch_end(1, 27),
                  *map(batch_end, range(28, 41))]:  # killed at step 40, checkpoint at 32
        history.fold(event)
    history.fold(resumed(32, 2, 5))
    xs, _ = history.chart("loss", smooth=False, max_points=1000).train
    assert xs == [float(s) for s in range(1, 33)]
    assert (history.step, history.epoch, history.batch, history.seen) == (32, 2, 5, 64 * 32)
    assert history.val_steps == [27] and history.epochs == 3 and history.total_batches == 81
    assert not history.finished and history.samples_per_second() is not None
    history.fold(batch_end(33))
    xs, _ = history.chart("loss", smooth=False, max_points=1000).train
    assert xs[-2:] == [32.0, 33.0] and history.batch == 6


def test_a_stopped_epoch_is_dropped_when_the_run_resumes_within_it() -> None:
    history = TrainingHistory()
    for event in [started(), *map(batch_end, range(1, 17)), epoch_end(1, 16),
                  RunStopped(reason="stopped by user")]:
        history.fold(event)
    assert history.finished
    history.fold(resumed(16, 1, 16, epochs=2))
    assert not history.finished and history.evaluated is None
    assert history.epoch_ends == [] and history.val_steps == [], "epoch 1 ends once, later"
    assert "resumed at epoch 1, batch 16 (step 16), to 2 epochs" in history.log_lines


def test_bucketed_series_drop_whole_buckets_after_a_step() -> None:
    series = BucketSeries(capacity=4)
    for x in range(1, 17):  # merged into 4 buckets of 4 points
        series.append(float(x), float(x))
    series.drop_after(8.0)
    assert series.points(10) == ([2.5, 6.5], [2.5, 6.5]) and series.count == 8
    series.append(9.0, 9.0)
    assert series.points(10)[0] == [2.5, 6.5, 9.0]


def test_an_ending_followed_by_a_resume_is_skipped_by_readers(tmp_path: Path) -> None:
    first = RunWriter(tmp_path, "run", TrainConfig())
    for event in (started(), batch_end(1), RunStopped(reason="stopped by user")):
        first.write(event)
    assert [type(e) for e in read_events(tmp_path / "run")][-1] is RunStopped
    with open(tmp_path / "run" / "events.jsonl", "a") as log:
        log.write('{"type": "batch_end", "st')  # a killed writer's half line
    again = RunWriter(tmp_path, "run", TrainConfig(), resume=True)
    for event in (resumed(1, 1, 1), batch_end(2), RunFinished(summary={"status": "finished"})):
        again.write(event)
    kinds = [type(e) for e in follow(tmp_path / "run", wait=True, poll=0.01)]
    assert kinds == [RunStarted, BatchEnd, RunResumed, BatchEnd, RunFinished]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "finished"


def test_an_ending_not_followed_by_a_resume_still_ends_the_log(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, "run", TrainConfig())
    for event in (started(), RunStopped(reason="stopped by user")):
        writer.write(event)
    with open(tmp_path / "run" / "events.jsonl", "a") as log:
        log.write(batch_end(9).to_json() + "\n")
    assert [type(e) for e in read_events(tmp_path / "run")] == [RunStarted, RunStopped]


def test_metrics_csv_of_a_resumed_run_counts_each_batch_once() -> None:
    # Killed at step 40 of 2 epochs (checkpoint at 32), resumed there to 3 epochs, finished.
    events = [started(), *map(batch_end, range(1, 28)), epoch_end(1, 27),
              *map(batch_end, range(28, 41)), resumed(32, 2, 5),
              *map(batch_end, range(33, 55)), epoch_end(2, 54),
              Evaluated(test_loss=0.1, test_accuracy=0.97, test_samples=10_000, confusion=(),
                        per_class_accuracy=())]
    rows = metric_rows(events)
    steps = [row["step"] for row in rows if row["kind"] == "batch"]
    assert steps == list(range(1, 55)), "batches 33-40 once, from the resumed run"
    assert [row["epoch"] for row in rows if row["kind"] == "epoch"] == [1, 2]
    assert [row["kind"] for row in rows].count("test") == 1


def test_metrics_csv_drops_a_stopped_epoch_and_its_evaluation_on_resume() -> None:
    events = [started(), *map(batch_end, range(1, 17)), epoch_end(1, 16),
              Evaluated(test_loss=0.5, test_accuracy=0.8, test_samples=10_000, confusion=(),
                        per_class_accuracy=()),
              RunStopped(reason="stopped by user"), resumed(16, 1, 16, epochs=2),
              *map(batch_end, range(17, 55)), epoch_end(1, 27), epoch_end(2, 54),
              Evaluated(test_loss=0.1, test_accuracy=0.97, test_samples=10_000, confusion=(),
                        per_class_accuracy=())]
    rows = metric_rows(events)
    assert [(row["epoch"], row["step"]) for row in rows if row["kind"] == "epoch"] == [
        (1, 27), (2, 54)], "the stopped epoch 1 (ended at step 16) no longer counts"
    assert [row["accuracy"] for row in rows if row["kind"] == "test"] == [0.97]
