"""TrainingHistory: folding events, smoothing, bounded chart series, speed and ETA."""

from __future__ import annotations

import gc
import math
import threading

import pytest
from textual.message import Message

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Event,
    Phase,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.core.formatting import format_duration, format_percent
from mnist_tui.tui.state.history import BucketSeries, Ema, TrainingHistory
from mnist_tui.tui.state.messages import REMIND_EVERY, EventsPending, PendingEvents
from mnist_tui.tui.state.session import RunSession
from tests.helpers.fake_runs import FakeRunner


def started(total: int = 100, per_epoch: int = 50, epochs: int = 2) -> RunStarted:
    return RunStarted(run_id="r1", config=TrainConfig().to_dict(), total_batches=total,
                      batches_per_epoch=per_epoch, epochs=epochs, train_samples=51_000,
                      val_samples=9_000, test_samples=10_000, params=33_194)


def batch(step: int, loss: float = 1.0, elapsed: float | None = None,
          accuracy: float | None = 0.5) -> BatchEnd:
    return BatchEnd(step=step, epoch=1, batch=step, loss=loss, accuracy=accuracy,
                    batch_loss=loss, batch_accuracy=accuracy, seen=64 * step,
                    elapsed=0.1 * step if elapsed is None else elapsed)


def test_fold_a_whole_fake_run() -> None:
    history = TrainingHistory()
    config = TrainConfig(train_size=6000, epochs=2)
    FakeRunner()(config, history.fold)
    bpe = config.batches_per_epoch
    assert history.run_id == "fake-1"
    assert history.total_batches == 2 * bpe
    assert history.step == 2 * bpe
    assert history.chart("loss", smooth=False, max_points=1000).train[0] == [
        float(step) for step in range(1, 2 * bpe + 1)]
    assert history.val_steps == [bpe, 2 * bpe]  # validation sits on the batch axis
    assert history.evaluated is not None
    assert isinstance(history.outcome, RunFinished)
    assert history.finished
    assert history.summary["status"] == "finished"
    epoch_lines = [line for line in history.log_lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    assert epoch_lines[0].startswith("epoch 1/2  loss ")
    assert "val acc" in epoch_lines[0] and epoch_lines[0].endswith(" s")
    assert "loading MNIST…" in history.log_lines
    assert history.log_lines[-1] == "finished"


def test_epoch_line_shows_percentages_and_seconds() -> None:
    history = TrainingHistory()
    history.fold(started())
    history.fold(EpochEnd(epoch=1, step=50, loss=0.25, accuracy=0.9312, val_loss=0.0712,
                          val_accuracy=0.9784, seconds=61.24))
    assert history.log_lines[-1] == (
        "epoch 1/2  loss 0.2500  acc 93.1%  val loss 0.0712  val acc 97.8%  61.2 s")


def test_versions_change_only_with_what_they_track() -> None:
    history = TrainingHistory()
    history.fold(Phase(phase="loading_data", message="loading"))
    assert (history.version, history.chart_version) == (1, 0)
    history.fold(started())
    history.fold(batch(1))
    assert (history.version, history.chart_version) == (3, 1)
    history.note("paused")
    assert (history.version, history.chart_version) == (4, 1)
    assert history.log_lines[-1] == "paused"


def test_stopped_outcome_is_logged_with_reason() -> None:
    history = TrainingHistory()
    history.fold(RunStopped(reason="stopped by user", summary={"status": "stopped"}))
    assert history.finished
    assert history.log_lines[-1] == "stopped: stopped by user"
    assert history.summary["status"] == "stopped"


def test_debiased_ema_starts_at_the_first_value() -> None:
    ema = Ema(0.9)
    assert ema.update(2.0) == pytest.approx(2.0)  # no bias towards 0
    assert ema.update(2.0) == pytest.approx(2.0)
    value = ema.update(0.0)
    assert 0.0 < value < 2.0
    with pytest.raises(ValueError):
        Ema(1.0)


def test_smoothed_series_is_smoother_than_the_raw_one() -> None:
    history = TrainingHistory()
    history.fold(started(total=200, per_epoch=200, epochs=1))
    for step in range(1, 201):  # fewer points than buckets: raw values stay raw
        history.fold(batch(step, loss=1.0 + (0.5 if step % 2 else -0.5)))
    data = history.chart("loss", smooth=True, max_points=200)
    assert data.smooth is not None
    raw_spread = max(data.train[1]) - min(data.train[1])
    smooth_tail = data.smooth[1][50:]
    assert max(smooth_tail) - min(smooth_tail) < raw_spread / 5
    assert history.chart("loss", smooth=False, max_points=200).smooth is None


def test_bucket_series_keeps_order_means_and_a_bound() -> None:
    series = BucketSeries(capacity=8)
    for i in range(1, 1001):
        series.append(float(i), float(i))
    assert len(series) <= 8
    assert series.count == 1000
    xs, ys = series.points(100)
    assert xs == sorted(xs)
    assert xs == ys  # y = x survives averaging
    assert xs[0] >= 1 and xs[-1] <= 1000
    assert sum(xs) / len(xs) == pytest.approx(500.5, rel=0.05)  # means, not samples
    xs, ys = series.points(3)
    assert len(xs) <= 3


def test_chart_points_stay_bounded_for_a_long_run() -> None:
    history = TrainingHistory()
    total = 50_000
    history.fold(started(total=total, per_epoch=total, epochs=1))
    for step in range(1, total + 1):
        history.fold(batch(step, loss=1.0 / step))
    for metric in ("loss", "accuracy"):
        data = history.chart(metric, smooth=True, max_points=150)
        assert 100 <= len(data.train[0]) <= 150
        assert data.smooth is not None and len(data.smooth[0]) <= 150
        assert data.train[0][-1] > total * 0.99  # the curve reaches the end of the run
        assert data.x_max == total


def test_nan_batches_are_kept_raw_but_not_plotted() -> None:
    history = TrainingHistory()
    history.fold(started())
    history.fold(batch(1, loss=1.0))
    history.fold(batch(2, loss=math.nan))
    assert history.step == 2
    xs, ys = history.chart("loss", smooth=True, max_points=100).train
    assert xs == [1.0] and ys == [1.0]


def test_missing_accuracy_is_skipped() -> None:
    history = TrainingHistory()
    history.fold(started())
    history.fold(batch(1, accuracy=None))
    assert history.chart("accuracy", smooth=False, max_points=10).train == ([], [])
    with pytest.raises(ValueError):
        history.chart("speed", smooth=False, max_points=10)


def test_speed_and_eta_come_from_recent_batches() -> None:
    history = TrainingHistory()
    assert history.samples_per_second() is None and history.eta_seconds() is None
    history.fold(started(total=100, per_epoch=100, epochs=1))
    for step in range(1, 11):  # 64 images every 0.1 s
        history.fold(batch(step))
    assert history.samples_per_second() == pytest.approx(640.0)
    assert history.eta_seconds() == pytest.approx(9.0)  # 90 batches at 10 per second
    for step in range(11, 101):
        history.fold(batch(step))
    assert history.eta_seconds() == 0.0


def test_one_burst_of_batches_does_not_read_as_a_huge_speed() -> None:
    history = TrainingHistory()
    history.fold(started(total=800, per_epoch=800, epochs=1))
    # The first 16 batches come back from TensorFlow together, 1 ms apart, after 2 s.
    for step in range(1, 17):
        history.fold(batch(step, elapsed=2.0 + 0.001 * step))
    speed = history.samples_per_second()
    assert speed is not None and speed == pytest.approx(64 * 16 / 2.016)  # the average
    eta = history.eta_seconds()
    assert eta is not None and eta == pytest.approx((800 - 16) * 2.016 / 16)
    for step in range(17, 161):  # then 10 ms a batch
        history.fold(batch(step, elapsed=2.016 + 0.01 * (step - 16)))
    # Now the window spans 1.455 s: its rate, from the first batch to the last.
    assert history.samples_per_second() == pytest.approx(159 * 64 / (2.016 + 1.44 - 2.001))


def test_speed_window_forgets_a_slow_start() -> None:
    history = TrainingHistory()
    history.fold(started(total=1000, per_epoch=1000, epochs=1))
    history.fold(batch(1, elapsed=5.0))  # the first batch traces the graph: slow
    for step in range(2, 200):
        history.fold(batch(step, elapsed=5.0 + 0.01 * step))
    assert history.samples_per_second() == pytest.approx(6400.0, rel=0.01)


def test_formatting_helpers() -> None:
    assert format_duration(None) == "--:--"
    assert format_duration(5) == "0:05"
    assert format_duration(125.4) == "2:05"
    assert format_duration(3725) == "1:02:05"
    assert format_percent(0.9784) == "97.8%"
    assert format_percent(None) == "—"


def test_a_burst_of_events_wakes_the_ui_once_and_keeps_every_event_in_order() -> None:
    posted: list[EventsPending] = []
    pending = PendingEvents()
    emit = pending.emitter(posted.append)
    events: list[Event] = [batch(1), batch(2), EpochEnd(epoch=1, step=2, loss=1.0, accuracy=0.5,
                                                        val_loss=1.0, val_accuracy=0.5,
                                                        seconds=1.0), RunFinished(summary={})]
    for event in events[:3]:
        emit(event)
    assert len(posted) == 1 and posted[0].pending is pending  # one message for the burst
    emit(events[3])
    assert len(posted) == 2  # the run's last event always posts (see the next test)
    assert pending.drain() == events
    assert pending.drain() == []
    emit(batch(3))  # after a drain, the next event posts again
    emit(batch(4))
    assert len(posted) == 3
    first, later = posted[0], posted[-1]
    assert first.can_replace(later) and later.can_replace(first)  # any message drains them all
    assert [e.step for e in pending.drain() if isinstance(e, BatchEnd)] == [3, 4]
    other = PendingEvents()
    other.emitter(posted.append)(batch(5))
    assert not first.can_replace(posted[-1])  # another run's message stands on its own


def test_a_run_going_on_after_its_app_closed_keeps_only_how_it_ended() -> None:
    """The terminal hung up: a message the closing app took is never handled, and every post
    after it is refused. The worker's events are not kept for nobody, and its summary is."""
    session = RunSession()
    posts: list[bool] = []

    def post(message: Message) -> bool:
        posts.append(not posts)  # the first reached the app as it closed; the rest refused
        return posts[-1]

    emit = session.emitter(post)
    for step in range(1, 3 * REMIND_EVERY):
        emit(batch(step))
    # The 1,024 events after the lost message waited for it; the next one's post was
    # refused, and from then on every event is dropped as it comes.
    assert posts[0] and not any(posts[1:]) and len(posts) == 2 * REMIND_EVERY
    assert session.pending.drain() == []
    emit(RunFinished(summary={"run_id": "r1", "status": "finished"}))
    assert session.pending.drain() == []
    assert session.summary is not None and session.summary["status"] == "finished"


def test_events_from_threads_are_all_delivered_with_one_message_per_burst() -> None:
    posted: list[EventsPending] = []
    pending = PendingEvents()
    emit = pending.emitter(posted.append)
    drained: list[Event] = []

    def worker(first: int) -> None:
        for step in range(first, first + 500):
            emit(batch(step))

    threads = [threading.Thread(target=worker, args=(1 + 500 * n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        drained += pending.drain()  # the UI thread, draining as messages come
    for thread in threads:
        thread.join()
    drained += pending.drain()
    assert sorted(e.step for e in drained if isinstance(e, BatchEnd)) == list(range(1, 2001))
    # Every message stood for a burst that began on an empty buffer: never more messages
    # than drains that found events, and never one per event.
    assert 1 <= len(posted) < 2000
    assert pending.drain() == []


def test_while_a_run_trains_the_collector_leaves_what_existed_when_it_began() -> None:
    session = RunSession()
    session.fold(started())
    assert not session.frozen
    session.fold(batch(1))
    assert session.frozen and gc.get_freeze_count() > 0
    session.fold(batch(2))
    session.fold(RunFinished(summary={}))
    assert not session.frozen and gc.get_freeze_count() == 0  # all of it collectable again
    failing = RunSession()
    failing.fold(batch(1))
    failing.failed("the worker died", {})  # no final event: the failure thaws too
    assert not failing.frozen and gc.get_freeze_count() == 0
