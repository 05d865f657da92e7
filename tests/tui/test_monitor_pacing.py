"""The monitor keeps up with any event rate: events folded in batches, the UI thread woken once
per burst, charts redrawn only when what they show changed, paced by what a redraw costs."""

from __future__ import annotations

import time

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, EpochEnd, Event, RunFinished
from mnist_tui.tui.screens.monitor import (
    CHART_BUDGET,
    CHART_INTERVAL,
    CHART_MAX_INTERVAL,
    MonitorScreen,
)
from mnist_tui.tui.state.history import ChartData, TrainingHistory
from mnist_tui.tui.state.messages import PendingEvents
from mnist_tui.tui.widgets.charts import MetricChart
from tests.helpers.fake_runs import FakeRunner, wait_for
from tests.helpers.monitor_app import monitor_of, started_app


async def test_events_are_folded_not_drawn_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = FakeRunner(hold_after=1)
    app = started_app(runner, TrainConfig(train_size=60000, epochs=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.step == 1)
        monitor = monitor_of(app)
        history = app.history
        chart = monitor.query_one("#loss-chart", MetricChart)
        folded: list[Event] = []
        drawn: list[ChartData] = []
        fold, show = history.fold, chart.show

        def spy_fold(event: Event) -> None:
            folded.append(event)
            fold(event)

        def spy_show(data: ChartData) -> None:
            drawn.append(data)
            show(data)

        monkeypatch.setattr(history, "fold", spy_fold)
        monkeypatch.setattr(chart, "show", spy_show)
        emit = app.session.pending.emitter(app.post_message)  # as the worker's emit does
        began = time.monotonic()
        for step in range(2, 2002):  # a flood of batches, as a GPU would send
            emit(BatchEnd(step=step, epoch=1, batch=step, loss=1.0, accuracy=0.5,
                          batch_loss=1.0, batch_accuracy=0.5, seen=64 * step,
                          elapsed=0.001 * step))
        await wait_for(pilot, lambda: history.step == 2001)
        # The pause between redraws grows with their cost (up to CHART_MAX_INTERVAL) on a busy
        # machine: wait for the redraw rather than for a fixed time.
        await wait_for(pilot, lambda: bool(drawn))
        took = time.monotonic() - began
        assert 1 <= len(drawn) <= took / CHART_INTERVAL + 2  # paced by the timer, not events
        # Merged deliveries lose no batch and keep their order.
        assert [e.step for e in folded if isinstance(e, BatchEnd)] == list(range(2, 2002))
        assert chart.data is not None  # thinned to what the chart's width can show
        assert len(chart.data.train[0]) == chart.max_points == min(150, chart.size.width)
        runner.release()


def batch_at(step: int) -> BatchEnd:
    return BatchEnd(step=step, epoch=1, batch=step, loss=1.0, accuracy=0.5, batch_loss=1.0,
                    batch_accuracy=0.5, seen=64 * step, elapsed=0.001 * step)


async def test_a_burst_of_events_wakes_the_ui_thread_once() -> None:
    runner = FakeRunner(hold_after=1)
    app = started_app(runner, TrainConfig(train_size=60000, epochs=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.step == 1)
        pending = app.session.pending
        drains: list[int] = []
        drain = pending.drain

        def counted_drain() -> list[Event]:
            events = drain()
            drains.append(len(events))
            return events

        pending.drain = counted_drain  # type: ignore[method-assign]
        emit = pending.emitter(app.post_message)
        for burst in range(10):  # ten bursts of 16 batches, as the trainer reports them
            last = 17 + 16 * burst
            for step in range(last - 15, last + 1):
                emit(batch_at(step))
            await wait_for(pilot, lambda: app.history.step == last)  # noqa: B023 (awaited now)
        assert drains == [16] * 10  # one wake-up per burst, not one per event
        runner.release()


async def test_charts_are_not_rebuilt_when_nothing_they_show_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = FakeRunner(hold_after=1)
    app = started_app(runner, TrainConfig(train_size=60000, epochs=10))  # 7,970 batches
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.step == 1)
        monitor = monitor_of(app)
        monkeypatch.setattr(monitor, "_chart_pause", lambda: 0.0)  # no pacing by time here
        monitor.update_now()
        chart = monitor.query_one("#loss-chart", MetricChart)
        shown: list[ChartData] = []
        show = chart.show

        def spy_show(data: ChartData) -> None:
            shown.append(data)
            show(data)

        monkeypatch.setattr(chart, "show", spy_show)
        emit = app.session.pending.emitter(app.post_message)

        async def fold(*events: Event) -> int:
            """How many times the chart is drawn after `events`, by its timer or at once."""
            before = len(shown)
            for event in events:
                emit(event)
            await wait_for(pilot, lambda: app.session.pending.waiting == 0)  # all folded
            await pilot.pause()
            monitor._refresh_charts()
            return len(shown) - before

        assert await fold() == 0  # nothing new
        # A braille pixel column is 7,970 / (2 * width) batches: fewer move no curve by one.
        column = 7970 / (2 * chart.size.width)
        assert await fold(*(batch_at(step) for step in range(2, int(column)))) == 0
        assert await fold(*(batch_at(step) for step in range(int(column), int(column) + 3))) == 1
        step = app.history.step
        assert await fold(EpochEnd(epoch=1, step=step, loss=1.0, accuracy=0.5, val_loss=0.9,
                                   val_accuracy=0.6, seconds=1.0)) == 1  # a validation point
        assert await fold() == 0
        monitor.smoothing = False  # redraws at once, then nothing is left to draw
        await pilot.pause()
        assert shown[-1].smooth is None and await fold() == 0
        runner.release()


def test_chart_redraws_are_paced_by_what_they_cost() -> None:
    """Charts may take CHART_BUDGET of a core: the median of their recent redraws' CPU over
    it, within CHART_INTERVAL and CHART_MAX_INTERVAL. (No clock: the costs are given.)"""

    class Drawn:
        draw_seconds = 0.0

    monitor = MonitorScreen(TrainingHistory())
    chart = Drawn()
    monitor._charts = [chart]  # type: ignore[list-item]

    def pause_after(cost: float) -> float:
        chart.draw_seconds = cost
        return monitor._chart_pause()

    assert pause_after(0.001) == CHART_INTERVAL  # cheap charts: twice a second at most
    assert pause_after(0.008) == CHART_INTERVAL
    assert pause_after(0.012) == pytest.approx(0.008 / CHART_BUDGET)  # median of 1, 8, 12 ms
    assert pause_after(0.4) == pytest.approx(0.010 / CHART_BUDGET)  # one slow redraw: little
    assert pause_after(0.5) == pytest.approx(0.012 / CHART_BUDGET)
    assert pause_after(0.6) == CHART_MAX_INTERVAL  # slow ones: still every few seconds


async def test_late_events_of_an_old_run_are_ignored() -> None:
    runner = FakeRunner(hold_after=3)
    app = started_app(runner)
    async with app.run_test() as pilot:
        await wait_for(pilot, runner.held.is_set)
        stale = PendingEvents()  # the buffer of an earlier run, whose worker lingers
        stale.emitter(app.post_message)(RunFinished(summary={}))
        await pilot.pause()
        assert app.history is not None and not app.history.finished
        assert isinstance(app.screen, MonitorScreen)
        runner.release()
