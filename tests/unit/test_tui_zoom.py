"""Zoomed charts: the latest part of the run, from whole points or the run's buckets, with the
steps where the learning rate changed marked; a zoom never goes through more points than a
whole-run chart."""

from __future__ import annotations

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, EpochEnd, LearningRateChanged, RunResumed, RunStarted
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.state.series import RECENT_POINTS, RecentPoints
from mnist_tui.tui.widgets.charts import step_ticks


def run_history(steps: int, total: int = 4000) -> TrainingHistory:
    history = TrainingHistory()
    history.fold(RunStarted(run_id="z", config=TrainConfig().to_dict(), total_batches=total,
                            batches_per_epoch=total // 2, epochs=2, train_samples=51_000,
                            val_samples=9_000, test_samples=10_000, params=33_194))
    for step in range(1, steps + 1):
        loss = 1.0 / step
        history.fold(BatchEnd(step=step, epoch=1 + step // (total // 2), batch=step,
                              loss=loss, accuracy=0.5, batch_loss=loss, batch_accuracy=0.5,
                              seen=64 * step, elapsed=0.01 * step))
        if step == total // 2:
            history.fold(EpochEnd(epoch=1, step=step, loss=0.1, accuracy=0.9, val_loss=0.2,
                                  val_accuracy=0.9, seconds=5.0))
    return history


def test_whole_run_by_default() -> None:
    data = run_history(3000).chart("loss", smooth=True, max_points=100)
    assert (data.x_min, data.x_max) == (0, 4000)
    assert data.train[0][0] < 50 and data.train[0][-1] > 2900


@pytest.mark.parametrize("window", [16, 100, 500])
def test_a_small_window_shows_the_latest_batches_whole(window: int) -> None:
    data = run_history(3000).chart("loss", smooth=True, max_points=1000, window=window)
    assert (data.x_min, data.x_max) == (3000 - window, 3000)
    assert data.train[0] == [float(s) for s in range(3000 - window, 3001)]
    assert data.train[1][-1] == pytest.approx(1 / 3000)
    assert data.smooth is not None and data.smooth[0][0] == 3000 - window
    assert data.val == ([], [])  # the epoch end at 2000 is outside


def test_a_wide_window_uses_the_buckets_and_stays_bounded() -> None:
    history = run_history(3000)
    whole = history.chart("loss", smooth=False, max_points=150)
    data = history.chart("loss", smooth=False, max_points=150, window=2000)
    assert (data.x_min, data.x_max) == (1000, 3000)
    assert len(data.train[0]) <= 150 and len(whole.train[0]) <= 150
    assert all(1000 <= x <= 3000 for x in data.train[0])
    assert data.val[0] == [2000.0]


def test_window_wider_than_the_run_is_the_whole_run() -> None:
    data = run_history(300).chart("loss", smooth=False, max_points=150, window=8000)
    assert (data.x_min, data.x_max) == (0, 4000)


def test_early_in_a_run_the_window_starts_at_zero() -> None:
    data = run_history(40).chart("loss", smooth=False, max_points=150, window=100)
    assert (data.x_min, data.x_max) == (0, 100)
    assert data.train[0][0] == 1.0


def test_rate_changes_are_marked_where_they_show() -> None:
    history = run_history(3000)
    history.fold(LearningRateChanged(step=1200, epoch=1, previous=0.01, rate=0.002))
    history.fold(LearningRateChanged(step=2900, epoch=2, previous=0.002, rate=0.001))
    assert history.chart("loss", smooth=False, max_points=150).marks == (1200, 2900)
    assert history.chart("loss", smooth=False, max_points=150, window=500).marks == (2900,)
    assert history.learning_rate == 0.001
    assert "0.002 → 0.001 (set by you) from batch 2,901" in history.log_lines[-1]


def test_a_resume_drops_the_recent_points_and_marks_after_its_checkpoint() -> None:
    history = run_history(3000)
    history.fold(LearningRateChanged(step=2900, epoch=2, previous=0.01, rate=0.002))
    history.fold(RunResumed(step=2500, epoch=2, batch=500, seen=64 * 2500, elapsed=25.0,
                            epochs=2, total_batches=4000, batches_per_epoch=2000))
    data = history.chart("loss", smooth=False, max_points=1000, window=100)
    assert data.x_max == 2500 and data.train[0][-1] == 2500.0
    assert data.marks == () and history.rate_changes == []


def test_recent_points_keep_between_one_and_two_windows() -> None:
    recent = RecentPoints()
    for x in range(5 * RECENT_POINTS):
        recent.append(x, x)
        assert len(recent.xs) <= 2 * RECENT_POINTS
    assert len(recent.xs) >= RECENT_POINTS and recent.xs[-1] == 5 * RECENT_POINTS - 1
    assert not recent.covers(0)


def test_ticks_of_a_zoomed_axis_are_round_and_inside() -> None:
    assert step_ticks(1500, 10, 1000) == list(range(1000, 1501, 50))
    ticks = step_ticks(3000, 6, 2984)
    assert ticks[0] >= 2984 and ticks[-1] <= 3000 and len(ticks) <= 7
