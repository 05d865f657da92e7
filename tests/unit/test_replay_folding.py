"""Reading logs with blocks, and long old logs folded for a replay: charts, counts, exports,
`watch`."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from mnist_tui.core.batch_folding import BatchFolding
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    BatchBlock,
    BatchEnd,
    Emit,
    EpochEnd,
    Event,
    Phase,
    RunFinished,
    RunResumed,
    RunStarted,
)
from mnist_tui.headless import HeadlessConsole, watch_headless
from mnist_tui.runs.compare import metric_rows, write_metrics_csv
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.log_lines import FOLD_FROM, KEEP_EXACT, events_of
from mnist_tui.runs.reading import read_events
from mnist_tui.runs.writer import RunWriter
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.state.series import BucketSeries

EPOCHS = 12
PER_EPOCH = 797
CONFIG = TrainConfig(epochs=EPOCHS)


def write_log(root: Path, run_id: str, *, rate: float, fold: bool,
              extra: list[tuple[int, str]] | None = None) -> Path:
    """A finished run of `EPOCHS` epochs at `rate` batches a second, through the real writer
    (and the producers' folding with `fold`); `extra` lines go in raw after those steps."""
    writer = RunWriter(root, run_id, CONFIG)
    emit: Emit = BatchFolding(writer.write) if fold else writer.write
    emit(Phase(phase="training", message="training"))
    emit(RunStarted(run_id=run_id, config=CONFIG.to_dict(), total_batches=EPOCHS * PER_EPOCH,
                    batches_per_epoch=PER_EPOCH, epochs=EPOCHS, train_samples=51_000,
                    val_samples=9_000, test_samples=10_000, params=33_194))
    raw = dict(extra or [])
    step = 0
    for epoch in range(1, EPOCHS + 1):
        for b in range(1, PER_EPOCH + 1):
            step += 1
            loss = 2.3 * math.exp(-step / 900) + 0.05 + 0.02 * math.sin(step)
            emit(BatchEnd(step=step, epoch=epoch, batch=b, loss=loss, accuracy=1 - loss / 3,
                          batch_loss=loss, batch_accuracy=1 - loss / 3, seen=64 * step,
                          elapsed=step / rate, time=1000 + step / rate))
            if step in raw:
                writer.write(Phase(phase="training", message="flushed"))
                assert writer._file is not None
                writer._file.write(raw[step] + "\n")
        emit(EpochEnd(epoch=epoch, step=step, loss=0.1, accuracy=0.9, val_loss=0.1,
                      val_accuracy=0.95, seconds=PER_EPOCH / rate))
    emit(RunFinished(summary={"status": "finished", "test_accuracy": 0.99}))
    writer.close()
    return writer.run_dir


def covered(events: list[Event]) -> list[int]:
    steps: list[int] = []
    for event in events:
        if isinstance(event, BatchBlock):
            steps.extend(range(event.first_step, event.step + 1))
        elif isinstance(event, BatchEnd):
            steps.append(event.step)
    return steps


def folded_history(events: list[Event]) -> TrainingHistory:
    history = TrainingHistory()
    for event in events:
        history.fold(event)
    return history


@pytest.fixture(scope="module")
def old_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An old-style log: every batch a line (9,564 of them)."""
    return write_log(tmp_path_factory.mktemp("runs"), "20250101-000000-old000", rate=100,
                     fold=False)


def test_a_replay_folds_a_long_old_log_and_keeps_every_batch(old_log: Path) -> None:
    exact = read_events(old_log)
    replay = read_events(old_log, fold=True)
    assert len(exact) > FOLD_FROM and len(replay) < len(exact) / 2
    assert covered(replay) == covered(exact) == list(range(1, EPOCHS * PER_EPOCH + 1))
    assert [e for e in replay if not isinstance(e, BatchEnd)] == [
        e for e in exact if not isinstance(e, BatchEnd)], "every other event as it was"
    tail = exact_batches(exact)[-KEEP_EXACT + 10:]
    assert exact_batches(replay)[-len(tail):] == tail, "the last batches stay exact"
    for block in (e for e in replay if isinstance(e, BatchBlock)):
        inside = exact_batches(exact)[block.first_step - 1:block.step]
        assert block.step == inside[-1].step and block.epoch == inside[0].epoch
        assert block.batch_loss == pytest.approx(
            sum(b.batch_loss for b in inside) / len(inside), rel=1e-12)
        assert block.batch_loss_min == min(b.batch_loss for b in inside)
        assert block.batch_loss_last == inside[-1].batch_loss
        assert (block.loss, block.seen, block.elapsed) == (inside[-1].loss, inside[-1].seen,
                                                           inside[-1].elapsed)


def exact_batches(events: list[Event]) -> list[BatchEnd]:
    return [e for e in events if isinstance(e, BatchEnd)]


def test_a_replay_charts_the_run_as_every_batch_does(old_log: Path) -> None:
    exact = folded_history(read_events(old_log))
    replay = folded_history(read_events(old_log, fold=True))
    assert (replay.step, replay.epoch, replay.seen, replay.finished) == (
        exact.step, exact.epoch, exact.seen, True)
    for metric in ("loss", "accuracy"):
        whole = replay.chart(metric, smooth=True, max_points=60)
        every = exact.chart(metric, smooth=True, max_points=60)
        assert len(whole.train[0]) == len(every.train[0]) == 60
        assert whole.train[1][-1] == pytest.approx(every.train[1][-1], abs=0.01)
        # Zoomed in on the end: the same points, batch by batch.
        assert replay.chart(metric, smooth=True, max_points=60, window=500) == exact.chart(
            metric, smooth=True, max_points=60, window=500)


def test_a_block_counts_as_its_batches_in_a_chart() -> None:
    """Blocks of 8 give the buckets that their 8 batches one by one give."""
    values = [math.sin(k) + k / 10 for k in range(1, 257)]
    one_by_one, in_blocks = BucketSeries(8), BucketSeries(8)
    for step, value in enumerate(values, start=1):
        one_by_one.append(step, value)
    for first in range(0, 256, 8):
        block = values[first:first + 8]
        in_blocks.append(first + 4.5, sum(block) / 8, 8)  # its middle step, its mean
    assert in_blocks.count == one_by_one.count == 256
    for (xs, ys), (xe, ye) in [(in_blocks.points(8), one_by_one.points(8))]:
        assert xs == pytest.approx(xe) and ys == pytest.approx(ye)


def test_single_batches_after_blocks_do_not_crowd_the_chart() -> None:
    series = BucketSeries(16)
    for first in range(0, 16_000, 500):
        series.append(first + 250.5, 1.0, 500)
    for step in range(16_001, 17_001):
        series.append(step, 2.0)
    xs, ys = series.points(16)
    assert len(xs) <= 16
    assert sum(1 for y in ys if y == 2.0) <= 2, "1,000 batches of 17,000: a bucket or two"


def test_a_garbled_line_among_folded_ones_is_skipped(tmp_path: Path) -> None:
    run_dir = write_log(tmp_path, "20250101-000000-garble", rate=100, fold=False,
                        extra=[(100, '{"type":"batch_end","time":1,"step":"oops"}'),
                               (200, "not json at all"),
                               (300, '{"type":"batch_end","time":1.0,"step":3')])
    exact, replay = read_events(run_dir), read_events(run_dir, fold=True)
    assert covered(replay) == covered(exact) == list(range(1, EPOCHS * PER_EPOCH + 1))


def test_a_nan_batch_in_an_old_log_stays_exact_in_a_replay(tmp_path: Path) -> None:
    lines = (write_log(tmp_path, "20250101-000000-nan000", rate=100, fold=False)
             / "events.jsonl").read_text(encoding="utf-8").splitlines()
    at = next(k for k, line in enumerate(lines) if '"step":500,' in line)
    lines[at] = lines[at].replace('"batch_loss":', '"batch_loss":NaN,"x":')  # written before
    replay = list(events_of(lines, fold=True))
    nan = [e for e in replay if isinstance(e, BatchEnd) and math.isnan(e.batch_loss)]
    assert [(type(e), e.step) for e in nan] == [(BatchEnd, 500)]
    assert covered(replay) == list(range(1, EPOCHS * PER_EPOCH + 1))


def test_a_short_log_is_read_as_it_is(old_log: Path) -> None:
    lines = (old_log / "events.jsonl").read_text(encoding="utf-8").splitlines()[:FOLD_FROM - 1]
    assert list(events_of(lines, fold=True)) == list(events_of(lines))


@pytest.fixture(scope="module")
def gpu_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new log of a fast run: its batches folded by the producer."""
    return write_log(tmp_path_factory.mktemp("runs"), "20250101-000000-gpu000", rate=2000,
                     fold=True)


def test_a_folded_log_is_small_and_reads_back_whole(gpu_log: Path) -> None:
    events = read_events(gpu_log)
    assert sum(isinstance(e, BatchBlock) for e in events) > 0
    assert len(events) < EPOCHS * PER_EPOCH / 50
    assert covered(events) == list(range(1, EPOCHS * PER_EPOCH + 1))
    assert read_events(gpu_log, fold=True) == events, "nothing more to fold"
    history = folded_history(events)
    assert history.step == EPOCHS * PER_EPOCH and history.finished
    assert len(history.epoch_ends) == EPOCHS


def test_the_metrics_csv_has_a_row_per_block(gpu_log: Path, old_log: Path) -> None:
    out = io.StringIO()
    runs = [r for r in list_runs(gpu_log.parent) + list_runs(old_log.parent)]
    write_metrics_csv(runs, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    fast = [r for r in rows if r["run_id"] == gpu_log.name and r["kind"] in ("batch", "block")]
    assert sum(int(r["batches"]) for r in fast) == EPOCHS * PER_EPOCH
    block = next(r for r in fast if r["kind"] == "block")
    assert float(block["loss_min"]) <= float(block["loss"]) <= float(block["loss_max"])
    assert float(block["accuracy_min"]) <= float(block["accuracy"]) <= float(
        block["accuracy_max"])
    slow = [r for r in rows if r["run_id"] == old_log.name and r["kind"] == "batch"]
    assert len(slow) == EPOCHS * PER_EPOCH and {r["batches"] for r in slow} == {"1"}


def test_a_resume_drops_the_blocks_after_its_checkpoint(gpu_log: Path) -> None:
    events = read_events(gpu_log)
    cut = next(e for e in events if isinstance(e, BatchBlock) and e.epoch == 3)
    resumed = RunResumed(step=cut.step, epoch=3, batch=cut.batch, seen=cut.seen,
                         elapsed=cut.elapsed, epochs=EPOCHS, total_batches=EPOCHS * PER_EPOCH,
                         batches_per_epoch=PER_EPOCH)
    rows = metric_rows([*events[:events.index(cut) + 5], resumed])
    batch_rows = [r for r in rows if r["kind"] in ("batch", "block")]
    assert batch_rows[-1]["step"] == cut.step
    assert sum(r["batches"] for r in batch_rows) == cut.step
    history = folded_history([*events[:events.index(cut) + 5], resumed])
    assert history.step == cut.step
    assert history.chart("loss", smooth=False, max_points=50).train[0][-1] <= cut.step


def test_headless_watch_reports_a_folded_run(gpu_log: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert watch_headless(gpu_log, stdout=out, stderr=err) == 0
    assert '"status": "finished"' in out.getvalue()
    assert f"epoch {EPOCHS}/{EPOCHS}" in err.getvalue()


def test_the_headless_progress_counts_a_block_as_its_batches() -> None:
    stream = io.StringIO()
    console = HeadlessConsole(stream, interactive=False, interval=0.0)
    console(RunStarted(run_id="r", config=CONFIG.to_dict(), total_batches=4000,
                       batches_per_epoch=4000, epochs=1, train_samples=1, val_samples=1,
                       test_samples=1, params=1))
    console(BatchBlock(step=1500, epoch=1, batch=1500, loss=0.5, accuracy=0.9, batch_loss=0.4,
                       batch_accuracy=0.9, seen=96_000, elapsed=0.75, count=1000,
                       batch_loss_min=0.3, batch_loss_max=0.6, batch_loss_last=0.35))
    assert "batch 1500/4000 (37.5%)" in stream.getvalue()


def test_a_log_without_epoch_ends_folds_each_epoch_apart(old_log: Path) -> None:
    lines = [line for line in (old_log / "events.jsonl").read_text(encoding="utf-8").split("\n")
             if '"type":"epoch_end"' not in line]
    replay = list(events_of(lines, fold=True))
    blocks = [e for e in replay if isinstance(e, BatchBlock)]
    assert len(replay) < len(lines) / 2 and blocks
    assert all((b.first_step - 1) // PER_EPOCH == (b.step - 1) // PER_EPOCH for b in blocks)
    assert covered(replay) == list(range(1, EPOCHS * PER_EPOCH + 1))
